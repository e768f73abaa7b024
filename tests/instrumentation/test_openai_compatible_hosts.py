"""OpenAI-compatible hosts get their own provider name from the client's base URL (so prices and
dashboards attribute them); real `openai` clients, no request sent."""

from __future__ import annotations

import openai
import pytest
from llmsight.collector.pricing import Pricer
from llmsight.openai._provider import client_attributes

HOSTS = [
    ("https://api.groq.com/openai/v1", "groq", "llama-3.3-70b-versatile"),
    ("https://api.together.xyz/v1", "together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ("https://api.deepseek.com", "deepseek", "deepseek-chat"),
    ("https://api.fireworks.ai/inference/v1", "fireworks", "accounts/fireworks/models/gpt-oss-120b"),
    ("https://openrouter.ai/api/v1", "openrouter", "openai/gpt-4o"),
    ("https://api.x.ai/v1", "x_ai", "grok-3"),
    ("https://api.perplexity.ai", "perplexity", "sonar"),
    ("https://api.mistral.ai/v1", "mistral_ai", "mistral-small-latest"),
    ("https://generativelanguage.googleapis.com/v1beta/openai/", "gcp.gemini", "gemini-2.5-flash"),
    ("https://api.openai.com/v1", "openai", "gpt-4o"),
]


@pytest.mark.parametrize(("base_url", "provider", "model"), HOSTS)
def test_provider_name_from_base_url_host(base_url, provider, model) -> None:
    values = client_attributes(openai.OpenAI(base_url=base_url, api_key="test"))
    assert values["gen_ai.provider.name"] == provider


@pytest.mark.parametrize(("base_url", "provider", "model"), HOSTS)
def test_each_host_name_is_known_to_the_normaliser_and_priced(base_url, provider, model) -> None:
    from datetime import datetime, timezone

    from llmsight.collector.normalise import variants
    from llmsight.collector.record import CallRecord

    assert variants.PROVIDER_NAMES[provider] == provider
    record = CallRecord(ts=datetime(2026, 11, 20, tzinfo=timezone.utc), trace_id="a" * 32, span_id="b" * 16,
                        provider=provider, request_model=model, input_tokens=1000, output_tokens=100)
    Pricer().price(record)
    assert record.total_cost is not None and record.total_cost > 0, (provider, model)

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


SELF_HOSTED_URLS = [
    "http://127.0.0.1:8000/v1",  # vLLM on this machine
    "http://localhost:11434/v1",  # Ollama
    "http://[::1]:8080/v1",
    "http://10.0.0.7/v1",
    "http://192.168.1.20:1234/v1",  # LM Studio on the LAN
    "http://172.20.0.5:8000/v1",
    "http://100.101.102.103/v1",  # a tailnet (shared address space)
    "http://[fd12:3456::1]/v1",
    "http://vllm:8000/v1",  # a compose service name
    "http://ollama.local/v1",
    "http://host.docker.internal:11434/v1",
    "http://gpu-box.lan/v1",
]


@pytest.mark.parametrize("base_url", SELF_HOSTED_URLS)
def test_local_and_private_hosts_are_self_hosted(base_url) -> None:
    values = client_attributes(openai.OpenAI(base_url=base_url, api_key="test"))
    assert values["gen_ai.provider.name"] == "self_hosted"


def test_an_unknown_public_host_keeps_the_wire_formats_vendor() -> None:
    values = client_attributes(openai.OpenAI(base_url="https://llm-gateway.example.com/v1", api_key="test"))
    assert values["gen_ai.provider.name"] == "openai"
    assert values["server.address"] == "llm-gateway.example.com"


def test_declared_hosts_win_over_every_built_in_rule() -> None:
    declared = (("llm-gateway.example.com", "anthropic"), ("10.0.0.*", "vllm"), ("127.0.0.1:8001", "openai"))
    cases = {
        "https://llm-gateway.example.com/v1": "anthropic",
        "http://10.0.0.7/v1": "vllm",
        "http://127.0.0.1:8001/v1": "openai",  # host:port pattern
        "http://127.0.0.1:8002/v1": "self_hosted",  # another port: the built-in rule
        "https://api.groq.com/openai/v1": "groq",
    }
    for base_url, provider in cases.items():
        values = client_attributes(openai.OpenAI(base_url=base_url, api_key="test"), declared)
        assert values["gen_ai.provider.name"] == provider, base_url


def test_a_client_reused_under_another_declaration_is_renamed() -> None:
    client = openai.OpenAI(base_url="http://127.0.0.1:8001/v1", api_key="test")
    assert client_attributes(client)["gen_ai.provider.name"] == "self_hosted"
    assert client_attributes(client, (("127.0.0.1", "openai"),))["gen_ai.provider.name"] == "openai"


def test_provider_hosts_reach_the_span_from_settings_and_environment(tracer_provider, span_exporter,
                                                                     provider_server, monkeypatch) -> None:
    """End to end through `instrument()`: undeclared, the local server is self-hosted; declared by argument or
    by LLMSIGHT_PROVIDER_HOSTS (JSON), it is what the declaration says."""
    import llmsight

    def provider_of_one_call() -> str:
        span_exporter.clear()
        client = openai.OpenAI(base_url=provider_server.openai_base_url, api_key="test", max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        (span,) = [s for s in span_exporter.get_finished_spans() if "gen_ai.provider.name" in (s.attributes or {})]
        return span.attributes["gen_ai.provider.name"]

    monkeypatch.delenv("LLMSIGHT_PROVIDER_HOSTS", raising=False)
    for declaration, expected in (({}, "self_hosted"), ({"provider_hosts": {"127.0.0.1": "openai"}}, "openai")):
        llmsight.instrument(tracer_provider=tracer_provider, **declaration)
        try:
            assert provider_of_one_call() == expected
        finally:
            llmsight.uninstrument()
    monkeypatch.setenv("LLMSIGHT_PROVIDER_HOSTS", '{"127.0.0.1:*": "vllm"}')
    llmsight.instrument(tracer_provider=tracer_provider)
    try:
        assert provider_of_one_call() == "vllm"
    finally:
        llmsight.uninstrument()

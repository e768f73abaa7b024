"""The provider table (llmsight/providers.py) against genai-prices' own provider data: each provider's API hosts
are the ones genai-prices' `api_pattern` gives to the same provider id, and each id is one of genai-prices' ids.
A host on a span and the price list that bills it so never disagree (the pricer bills by host: a disagreement
prices a call as another vendor's, marked `+inferred-provider`)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

import anthropic
import genai_prices
import pytest
from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

from llmsight import providers
from llmsight.collector.normalise.variants import PROVIDER_NAMES
from llmsight.collector.pricing import Pricer
from llmsight.collector.pricing.price_table import unit_prices
from llmsight.provider_hosts import provider_for

# Base URLs from each provider's documentation of its OpenAI-compatible (or native) API.
DOCUMENTED_URLS = {
    "openai": ("https://api.openai.com/v1",),
    "azure.ai.openai": ("https://my-resource.openai.azure.com/openai/v1",
                        "https://my-resource.cognitiveservices.azure.com/openai/v1",
                        "https://my-gateway.azure-api.net/openai/v1"),
    "anthropic": ("https://api.anthropic.com/v1/",),
    "cohere": ("https://api.cohere.ai/compatibility/v1", "https://api.cohere.com/compatibility/v1"),
    "azure.ai.inference": ("https://my-resource.services.ai.azure.com/models",),
    "groq": ("https://api.groq.com/openai/v1",),
    "deepseek": ("https://api.deepseek.com",),
    "mistral_ai": ("https://api.mistral.ai/v1",),
    "x_ai": ("https://api.x.ai/v1",),
    "gcp.gemini": ("https://generativelanguage.googleapis.com/v1beta/openai/",),
    "openrouter": ("https://openrouter.ai/api/v1",),
    "together": ("https://api.together.xyz/v1",),
    "fireworks": ("https://api.fireworks.ai/inference/v1",),
    "perplexity": ("https://api.perplexity.ai",),
    "cerebras": ("https://api.cerebras.ai/v1",),
    "aws.bedrock": ("https://bedrock-runtime.us-east-1.amazonaws.com",
                    "https://bedrock-runtime.eu-west-3.amazonaws.com/openai/v1"),
    "gcp.vertex_ai": ("https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/endpoints/openapi",
                      "https://aiplatform.googleapis.com/v1/projects/p/locations/global/endpoints/openapi"),
}
EXAMPLES = [(name, url) for name, urls in DOCUMENTED_URLS.items() for url in urls]
BY_NAME = {p.name: p for p in providers.PROVIDERS}
GENAI_PRICES = get_snapshot().providers


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


@pytest.mark.parametrize(("name", "url"), EXAMPLES)
def test_a_documented_host_is_its_provider_here_and_in_genai_prices(name: str, url: str) -> None:
    host = _host(url)
    matching = [(part, p.name) for p in providers.PROVIDERS for part in p.hosts if part in host]
    assert len(matching) == 1, f"{host}: one host part must name it, found {matching}"
    assert provider_for(host, None, False) == name
    # genai-prices' own data: the first provider whose api_pattern matches (its find_provider rule).
    matched = next((p.id for p in GENAI_PRICES if re.match(p.api_pattern, url)), None)
    assert matched == BY_NAME[name].prices_id, f"genai-prices bills {url} as {matched}"
    # The pricer bills a span of this provider at this host as its own provider, nothing inferred.
    assert Pricer().billing_provider(name, host) == (BY_NAME[name].prices_id, "")


def test_every_host_part_has_a_documented_host() -> None:
    hosts = [_host(url) for _, url in EXAMPLES]
    untested = [(p.name, part) for p in providers.PROVIDERS for part in p.hosts if not any(part in h for h in hosts)]
    assert untested == [], "add a documented base URL to DOCUMENTED_URLS"
    assert set(DOCUMENTED_URLS) <= set(BY_NAME)


@pytest.mark.parametrize("provider", [p for p in providers.PROVIDERS if p.prices_id], ids=lambda p: p.name)
def test_each_prices_id_is_genai_prices_own_id(provider: providers.Provider) -> None:
    """An exact id, not one genai-prices' fuzzy `provider_match` happens to resolve; and the pricer bills a span
    naming the provider (no server) with it."""
    found = find_provider_by_id(GENAI_PRICES, provider.prices_id or "")
    assert found is not None and found.id == provider.prices_id
    assert Pricer().billing_provider(provider.name, "") == (provider.prices_id, "")


def test_a_provider_without_a_list_price_is_never_priced_by_name() -> None:
    for provider in (p for p in providers.PROVIDERS if p.prices_id is None):
        for name in (provider.name, *provider.aliases):
            assert find_provider_by_id(GENAI_PRICES, name) is None, name
        assert Pricer().billing_provider(provider.name, "") is None


def test_every_name_belongs_to_one_provider_and_is_found_by_the_normaliser() -> None:
    names = [name for p in providers.PROVIDERS for name in (p.name, *p.aliases)]
    assert len(names) == len(set(names)), "a name given to two providers"
    assert all(name == name.lower() for name in names), "the normaliser looks names up in lowercase"
    for provider in providers.PROVIDERS:
        for name in (provider.name, *provider.aliases):
            assert PROVIDER_NAMES[name] == provider.name


def test_the_anthropic_cloud_clients_are_the_sdks_classes() -> None:
    clients = [c for p in providers.PROVIDERS for c in p.anthropic_clients]
    assert clients and all(isinstance(getattr(anthropic, c, None), type) for c in clients), clients


@pytest.mark.parametrize("provider", [p for p in providers.PROVIDERS if p.cheaper_model], ids=lambda p: p.name)
def test_each_cheaper_model_has_a_list_price(provider: providers.Provider) -> None:
    at = datetime(2026, 11, 20, tzinfo=timezone.utc)
    assert unit_prices(Pricer(), provider.name, provider.cheaper_model or "", at) is not None
    assert genai_prices.calc_price(genai_prices.Usage(input_tokens=1), provider.cheaper_model or "",
                                   provider_id=provider.prices_id).total_price > 0

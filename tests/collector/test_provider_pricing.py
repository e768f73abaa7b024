"""Spans from the google-genai, boto3 (Bedrock) and mistralai SDKs, instrumented by llmsight, through a
real collector: normalised and priced by genai-prices, checked against hand arithmetic for one cached
call per provider (list prices per million tokens from the genai-prices 0.2.3 data)."""

from __future__ import annotations

import boto3
import genai_prices
import pytest
from google import genai
from mistralai.client import Mistral

from .test_ingest import app_provider  # noqa: F401 - the fixture: llmsight instrumented, exporting to the collector

GEMINI_25_FLASH = {"input": 0.30, "cached": 0.03, "output": 2.50}
# Bedrock's us. cross-region profile of Claude Sonnet 4.5 ("regional" prices, 10% above the global ones).
BEDROCK_US_SONNET_45 = {"input": 3.3, "read": 0.33, "write_5m": 4.125, "write_1h": 6.6, "output": 16.5}
MISTRAL_SMALL = {"input": 0.15, "cached": 0.015, "output": 0.6}
POLICY = "Policy: answer from the knowledge base only, cite the article id, never guess. " * 70


def assert_costs(row: dict, expected: dict[str, float]) -> None:
    for column, value in expected.items():
        assert row[column] == pytest.approx(value, rel=1e-9, abs=1e-12), column
    assert row["total_cost"] == pytest.approx(sum(expected.values()), rel=1e-9)
    # The local provider is a server declared in the collector's prices file: priced at the vendor's list price.
    assert row["price_source"] == f"genai-prices@{genai_prices.__version__}+server:prices.yaml#servers[0]"


@pytest.mark.usefixtures("app_provider")
def test_gemini_implicit_cache_read_is_priced(collector, provider_server) -> None:
    client = genai.Client(api_key="test", http_options={"base_url": provider_server.gemini_base_url})
    for question in ("Where is my order?", "Can I return it?"):
        client.models.generate_content(
            model="gemini-2.5-flash", contents=question,
            config={"system_instruction": POLICY, "thinking_config": {"thinking_budget": 128}},
        )
    collector.wait_stored(2)
    rows = sorted(collector.rows(), key=lambda r: r["ts"])
    billed = provider_server.ledger.entries()
    cached = rows[1]
    entry = billed[1]
    assert entry.cache_read_tokens > 1024 and entry.reasoning_tokens > 0
    assert cached["provider"] == "gcp.gemini" and cached["response_model"] == "gemini-2.5-flash"
    assert (cached["input_tokens"], cached["cache_read_tokens"], cached["output_tokens"], cached["reasoning_tokens"]) == (
        entry.input_tokens, entry.cache_read_tokens, entry.output_tokens, entry.reasoning_tokens
    )
    # promptTokenCount includes the cached tokens; output = candidates + thoughts, all at the output price.
    assert_costs(cached, {
        "input_cost": (entry.input_tokens - entry.cache_read_tokens) * GEMINI_25_FLASH["input"] / 1e6,
        "cache_read_cost": entry.cache_read_tokens * GEMINI_25_FLASH["cached"] / 1e6,
        "cache_write_cost": 0.0,
        "output_cost": entry.output_tokens * GEMINI_25_FLASH["output"] / 1e6,
    })


@pytest.mark.usefixtures("app_provider")
def test_bedrock_region_prefixed_converse_cache_write_and_read_are_priced(collector, provider_server) -> None:
    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=provider_server.bedrock_endpoint_url,
                          aws_access_key_id="test", aws_secret_access_key="test")
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    system = [{"text": POLICY}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
    for question in ("Where is my order?", "Can I return it?"):
        client.converse(modelId=model, system=system, messages=[{"role": "user", "content": [{"text": question}]}])
    collector.wait_stored(2)
    rows = sorted(collector.rows(), key=lambda r: r["ts"])
    write, read = provider_server.ledger.entries()
    assert write.cache_write_1h_tokens > 1024 and read.cache_read_tokens == write.cache_write_1h_tokens
    for row, entry in zip(rows, (write, read), strict=True):
        assert row["provider"] == "aws.bedrock" and row["request_model"] == model
        assert row["model_tier"] == "standard"
        assert (row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"], row["cache_write_1h_tokens"]) == (
            entry.input_tokens, entry.cache_read_tokens, entry.cache_write_1h_tokens, entry.cache_write_1h_tokens
        )
        # Converse's inputTokens excluded the cache; the row's input includes it, so uncached = input - cache.
        uncached = entry.input_tokens - entry.cache_read_tokens - entry.cache_write_1h_tokens
        assert_costs(row, {
            "input_cost": uncached * BEDROCK_US_SONNET_45["input"] / 1e6,
            "cache_read_cost": entry.cache_read_tokens * BEDROCK_US_SONNET_45["read"] / 1e6,
            "cache_write_cost": entry.cache_write_1h_tokens * BEDROCK_US_SONNET_45["write_1h"] / 1e6,
            "output_cost": entry.output_tokens * BEDROCK_US_SONNET_45["output"] / 1e6,
        })


@pytest.mark.usefixtures("app_provider")
def test_mistral_cached_prompt_is_priced(collector, provider_server) -> None:
    client = Mistral(api_key="test", server_url=provider_server.mistral_server_url)
    for question in ("Where is my order?", "Can I return it?"):
        client.chat.complete(model="mistral-small-latest",
                             messages=[{"role": "system", "content": POLICY}, {"role": "user", "content": question}])
    collector.wait_stored(2)
    row = sorted(collector.rows(), key=lambda r: r["ts"])[1]
    entry = provider_server.ledger.entries()[1]
    assert entry.cache_read_tokens >= 1024
    assert row["provider"] == "mistral_ai" and row["response_model"] == "mistral-small-latest"
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (
        entry.input_tokens, entry.cache_read_tokens, entry.output_tokens
    )
    # prompt_tokens includes the cached tokens.
    assert_costs(row, {
        "input_cost": (entry.input_tokens - entry.cache_read_tokens) * MISTRAL_SMALL["input"] / 1e6,
        "cache_read_cost": entry.cache_read_tokens * MISTRAL_SMALL["cached"] / 1e6,
        "cache_write_cost": 0.0,
        "output_cost": entry.output_tokens * MISTRAL_SMALL["output"] / 1e6,
    })

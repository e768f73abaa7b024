"""Costs against genai-prices' own calculator and hand arithmetic (per-million prices written out as literals, from
the genai-prices 0.2.3 data and the providers' price pages), overrides and their error messages."""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import genai_prices
import pytest

from llmsight.collector.pricing import OverridesError, Pricer
from llmsight.collector.record import CallRecord

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def call(provider: str, model: str, **usage: int | str) -> CallRecord:
    return CallRecord(ts=NOW, trace_id="a" * 32, span_id="b" * 16, provider=provider, request_model=model, **usage)


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


def costs(record: CallRecord) -> tuple[float | None, ...]:
    return (record.input_cost, record.cache_read_cost, record.cache_write_cost, record.output_cost, record.total_cost)


def test_openai_cached_tokens_are_inside_prompt_tokens(pricer: Pricer) -> None:
    # gpt-4o: $2.50 input, $1.25 cached input, $10 output per million. 10,000 prompt tokens of which 6,000
    # cached: 4,000 × 2.50 + 6,000 × 1.25 + 500 × 10.
    record = call("openai", "gpt-4o", input_tokens=10_000, cache_read_tokens=6_000, output_tokens=500)
    pricer.price(record)
    assert costs(record) == pytest.approx((0.010, 0.0075, 0.0, 0.005, 0.0225))
    assert record.price_source.startswith("genai-prices@")


def test_anthropic_five_minute_and_one_hour_writes(pricer: Pricer) -> None:
    # claude-sonnet-4-5: $3 input, $0.30 cache read, $3.75 5-min write (1.25×), $6 1-hour write (2×), $15 output.
    record = call(
        "anthropic", "claude-sonnet-4-5",
        input_tokens=10_000, cache_read_tokens=2_000, cache_write_tokens=3_000, cache_write_1h_tokens=1_000,
        output_tokens=500,
    )
    pricer.price(record)
    uncached = 10_000 - 2_000 - 3_000
    expected_write = (2_000 * 3.75 + 1_000 * 6.0) / 1e6
    assert costs(record) == pytest.approx(
        (uncached * 3 / 1e6, 2_000 * 0.30 / 1e6, expected_write, 500 * 15 / 1e6,
         uncached * 3 / 1e6 + 2_000 * 0.30 / 1e6 + expected_write + 500 * 15 / 1e6)
    )


def test_long_context_tier_reprices_the_whole_request(pricer: Pricer) -> None:
    # Above 200k input tokens Sonnet 4.5 costs $6 input / $22.50 output for the WHOLE request.
    under = call("anthropic", "claude-sonnet-4-5", input_tokens=200_000, output_tokens=1_000)
    over = call("anthropic", "claude-sonnet-4-5", input_tokens=300_000, output_tokens=1_000)
    pricer.price(under)
    pricer.price(over)
    assert under.total_cost == pytest.approx(200_000 * 3 / 1e6 + 1_000 * 15 / 1e6)
    assert over.total_cost == pytest.approx(300_000 * 6 / 1e6 + 1_000 * 22.5 / 1e6)


def test_batch_calls_cost_half(pricer: Pricer) -> None:
    standard = call("openai", "gpt-4o", input_tokens=10_000, output_tokens=500)
    batch = call("openai", "gpt-4o", input_tokens=10_000, output_tokens=500, service_tier="batch")
    pricer.price(standard)
    pricer.price(batch)
    assert batch.total_cost == pytest.approx(standard.total_cost / 2)
    assert batch.total_cost == pytest.approx(10_000 * 1.25 / 1e6 + 500 * 5 / 1e6)


def test_unknown_model_is_unpriced_not_free(pricer: Pricer) -> None:
    record = call("openai", "our-private-finetune-xyz", input_tokens=1_000, output_tokens=10)
    pricer.price(record)
    assert costs(record) == (None, None, None, None, None)
    assert record.price_source == ""


def test_overrides_private_model_discount_and_dates(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "models:\n"
        "  - provider: openai\n"
        "    model: our-private-*\n"
        "    input_mtok: 0.5\n"
        "    output_mtok: 1.5\n"
        "    from: 2026-01-01\n"
        "discounts:\n"
        "  - provider: openai\n"
        "    model: gpt-4o\n"
        "    percent: 20\n"
        "    from: 2026-11-01\n"
    )
    pricer = Pricer(prices)
    private = call("openai", "our-private-finetune-xyz", input_tokens=1_000_000, output_tokens=1_000_000)
    pricer.price(private)
    assert private.total_cost == pytest.approx(0.5 + 1.5)
    assert private.price_source == "override:prices.yaml#models[0]"
    discounted = call("openai", "gpt-4o", input_tokens=10_000, output_tokens=500)
    pricer.price(discounted)
    assert discounted.total_cost == pytest.approx((10_000 * 2.5 + 500 * 10) / 1e6 * 0.8)
    assert discounted.price_source.endswith("+discount:prices.yaml#discounts[0]")
    before = CallRecord(ts=datetime(2026, 10, 1, tzinfo=timezone.utc), trace_id="a" * 32, span_id="b" * 16,
                        provider="openai", request_model="gpt-4o", input_tokens=10_000, output_tokens=500)
    pricer.price(before)
    assert before.total_cost == pytest.approx((10_000 * 2.5 + 500 * 10) / 1e6)  # discount not yet in force


def test_bad_overrides_file_names_the_line(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "models:\n"
        "  - provider: openai\n"
        "    model: ok-model\n"
        "    input_mtok: 1\n"
        "  - provider: openai\n"
        "    model: bad-model\n"
        "    input_mtok: -3\n"
        "discounts:\n"
        "  - provider: openai\n"
        "    percent: 150\n"
    )
    with pytest.raises(OverridesError) as raised:
        Pricer(prices)
    message = str(raised.value)
    assert f"{prices}:7: models.1.input_mtok" in message
    assert f"{prices}:10: discounts.0.percent" in message
    prices.write_text("models: [\n")
    with pytest.raises(OverridesError, match=r"prices.yaml:\d+: not valid YAML"):
        Pricer(prices)


def genai_total(record: CallRecord, provider_id: str, context: dict[str, str] | None = None) -> float:
    """The same call priced by genai-prices' own public calculator, at the call's start time."""
    writes_1h = record.cache_write_1h_tokens
    usage = genai_prices.Usage(
        input_tokens=record.input_tokens, cache_read_tokens=record.cache_read_tokens,
        cache_write_tokens=record.cache_write_tokens, cache_write_5m_tokens=record.cache_write_tokens - writes_1h,
        cache_write_1h_tokens=writes_1h, output_tokens=record.output_tokens,
    )
    return float(genai_prices.calc_price(usage, record.request_model, provider_id=provider_id,
                                         genai_request_timestamp=record.ts, price_context=context).total_price)


def test_costs_equal_genai_prices_own_calculation(pricer: Pricer) -> None:
    cases = [
        (call("anthropic", "claude-sonnet-4-5", input_tokens=250_000, cache_read_tokens=100_000, cache_write_tokens=30_000,
              cache_write_1h_tokens=10_000, output_tokens=2_000), "anthropic", None),
        (call("openai", "gpt-4o", input_tokens=9_000, cache_read_tokens=4_096, output_tokens=700, service_tier="batch"),
         "openai", {"processing": "batch"}),
        (call("openai", "gpt-4o-mini", input_tokens=3_000, output_tokens=50, service_tier="priority"),
         "openai", {"service_tier": "priority"}),
        (call("openai", "gpt-5", input_tokens=3_000, cache_read_tokens=1_024, output_tokens=900, reasoning_tokens=600,
              service_tier="flex"), "openai", {"service_tier": "flex"}),
        # A per-request fee ($12 per thousand requests) lands in total_cost: 2,000 × $1 + 300 × $1 per million + $0.012.
        (call("perplexity", "sonar", input_tokens=2_000, output_tokens=300), "perplexity", None),
    ]
    for record, provider_id, context in cases:
        pricer.price(record)
        assert record.total_cost == pytest.approx(genai_total(record, provider_id, context), rel=1e-12), record.request_model
    assert cases[-1][0].total_cost == pytest.approx((2_000 + 300) / 1e6 + 12 / 1000)
    assert cases[-1][0].input_cost + cases[-1][0].output_cost == pytest.approx(2_300 / 1e6)
    # gpt-5 flex: half of $1.25 input / $0.125 cached / $10 output per million.
    assert cases[3][0].total_cost == pytest.approx((1_976 * 0.625 + 1_024 * 0.0625 + 900 * 5) / 1e6)


def test_price_at_the_calls_start_time_including_time_of_day(pricer: Pricer) -> None:
    # deepseek-chat: $0.27 input / $0.07 cached / $1.10 output per million from 00:30 to 16:30 UTC, half that
    # ($0.135 / $0.035 / $0.55) off-peak. Same day, four moments; the window is [00:30, 16:30).
    def at(hour: int, minute: int, second: int = 0) -> CallRecord:
        record = CallRecord(ts=datetime(2026, 11, 20, hour, minute, second, tzinfo=timezone.utc), trace_id="a" * 32,
                            span_id="b" * 16, provider="deepseek", request_model="deepseek-chat",
                            input_tokens=10_000, cache_read_tokens=4_000, output_tokens=1_000)
        pricer.price(record)
        return record

    peak = 6_000 * 0.27 / 1e6 + 4_000 * 0.07 / 1e6 + 1_000 * 1.10 / 1e6
    off_peak = 6_000 * 0.135 / 1e6 + 4_000 * 0.035 / 1e6 + 1_000 * 0.55 / 1e6
    moments = {(0, 29, 59): off_peak, (0, 30, 0): peak, (10, 0): peak, (16, 29, 59): peak, (16, 30, 0): off_peak,
               (20, 0): off_peak}
    for moment, expected in moments.items():
        record = at(*moment)
        assert record.total_cost == pytest.approx(expected), moment
        assert record.total_cost == pytest.approx(genai_total(record, "deepseek")), moment
    assert at(10, 0).price_source == pricer.source  # the provider was stated: nothing inferred


def test_a_fully_cached_call_saves_money(pricer: Pricer) -> None:
    # claude-sonnet-4-5: 10,000 input tokens, all read from cache. Uncached they cost 10,000 × $3 = $0.03; read
    # they cost 10,000 × $0.30 = $0.003; saved $0.027. There is no uncached input (input_cost 0).
    record = call("anthropic", "claude-sonnet-4-5", input_tokens=10_000, cache_read_tokens=10_000, output_tokens=200)
    pricer.price(record)
    assert record.input_cost == 0.0
    assert record.cache_read_cost == pytest.approx(0.003)
    assert record.cache_savings == pytest.approx(0.027)
    # gpt-4o, fully cached: 8,192 × ($2.50 - $1.25) = $0.01024.
    openai_record = call("openai", "gpt-4o", input_tokens=8_192, cache_read_tokens=8_192, output_tokens=10)
    pricer.price(openai_record)
    assert openai_record.cache_savings == pytest.approx(8_192 * 1.25 / 1e6)


def test_savings_count_the_write_premium(pricer: Pricer) -> None:
    # 2,000 reads save 2,000 × ($3 - $0.30); 3,000 5-minute writes cost 3,000 × ($3.75 - $3) extra and 1,000
    # 1-hour writes 1,000 × ($6 - $3) extra.
    record = call("anthropic", "claude-sonnet-4-5", input_tokens=10_000, cache_read_tokens=2_000,
                  cache_write_tokens=4_000, cache_write_1h_tokens=1_000, output_tokens=500)
    pricer.price(record)
    assert record.cache_savings == pytest.approx((2_000 * 2.7 - 3_000 * 0.75 - 1_000 * 3.0) / 1e6)
    unpriced = call("openai", "our-private-finetune-xyz", input_tokens=1_000, cache_read_tokens=1_000)
    pricer.price(unpriced)
    assert unpriced.cache_savings is None


def on(server: str, provider: str, model: str, **usage: int) -> CallRecord:
    record = call(provider, model, **usage)
    record.attributes["server.address"] = server
    return record


def test_self_hosted_servers_are_never_priced_as_a_vendor(pricer: Pricer) -> None:
    # gpt-oss-20b served by vLLM on our own machines, called through the OpenAI SDK (provider "openai"): genai-prices
    # lists an OpenAI price for that model name, but nobody bills these calls at it.
    # Peers name such calls "openai"; llmsight names them "self_hosted".
    for server, provider in itertools.product(("10.0.0.7", "localhost", "127.0.0.1", "vllm.internal"),
                                              ("openai", "self_hosted")):
        record = on(server, provider, "gpt-oss-20b", input_tokens=1_000, output_tokens=100)
        pricer.price(record)
        assert costs(record) == (None, None, None, None, None) and record.price_source == "", (server, provider)
    # The same model on OpenAI's own API is priced.
    vendor = on("api.openai.com", "openai", "gpt-oss-20b", input_tokens=1_000, output_tokens=100)
    pricer.price(vendor)
    assert vendor.total_cost == pytest.approx(genai_total(vendor, "openai"))
    assert vendor.price_source == pricer.source
    # An OpenAI-compatible client pointed at Groq reports provider "openai" (openai-v2 does): the host decides,
    # and the price says it was inferred. llama-3.3-70b-versatile on Groq: $0.59 in / $0.79 out per million.
    groq = on("api.groq.com", "openai", "llama-3.3-70b-versatile", input_tokens=1_000, output_tokens=100)
    pricer.price(groq)
    assert groq.total_cost == pytest.approx((1_000 * 0.59 + 100 * 0.79) / 1e6)
    assert groq.price_source == f"{pricer.source}+inferred-provider"
    # No server and no provider: a model name alone never selects a vendor's price.
    anonymous = call("", "gpt-4o", input_tokens=1_000, output_tokens=100)
    pricer.price(anonymous)
    assert anonymous.total_cost is None


def test_declared_servers_and_overrides_price_non_vendor_servers(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "servers:\n"
        "  - address: llm-gateway.corp\n"  # a gateway billed at the vendor's list price of the span's provider
        "  - address: '*.azure-proxy.corp'\n"
        "    provider: azure.ai.openai\n"
        "models:\n"
        "  - provider: openai\n"
        "    model: gpt-oss-20b\n"  # our own vLLM: what a million tokens costs us
        "    server: '10.0.0.*'\n"
        "    input_mtok: 0.05\n"
        "    output_mtok: 0.20\n"
        "  - provider: '*'\n"  # one server priced whatever the span calls its provider
        "    model: 'llama-*'\n"
        "    server: 'gpu-*.lan'\n"
        "    input_mtok: 0.10\n"
        "    output_mtok: 0.30\n"
    )
    pricer = Pricer(prices)
    gateway = on("llm-gateway.corp", "anthropic", "claude-sonnet-4-5", input_tokens=1_000, output_tokens=100)
    pricer.price(gateway)
    assert gateway.total_cost == pytest.approx((1_000 * 3 + 100 * 15) / 1e6)
    assert gateway.price_source == f"{pricer.source}+server:prices.yaml#servers[0]"
    proxied = on("eu.azure-proxy.corp", "openai", "gpt-4o", input_tokens=1_000, output_tokens=100)
    pricer.price(proxied)
    assert proxied.total_cost == pytest.approx(genai_total(proxied, "azure"))
    assert proxied.price_source.endswith("+server:prices.yaml#servers[1]")
    own = on("10.0.0.7", "openai", "gpt-oss-20b", input_tokens=1_000_000, output_tokens=1_000_000)
    pricer.price(own)
    assert own.total_cost == pytest.approx(0.25)
    assert own.price_source == "override:prices.yaml#models[0]"
    for provider in ("self_hosted", "openai"):  # llmsight's name for it, and a peer's
        llama = on("gpu-1.lan", provider, "llama-3.3-70b", input_tokens=1_000_000, output_tokens=1_000_000)
        pricer.price(llama)
        assert llama.total_cost == pytest.approx(0.40) and llama.price_source == "override:prices.yaml#models[1]"
    elsewhere = on("10.9.9.9", "self_hosted", "llama-3.3-70b", input_tokens=1_000, output_tokens=100)
    pricer.price(elsewhere)
    assert elsewhere.total_cost is None  # the glob is scoped to its servers
    # The override is for our servers only: the same model on OpenAI's API keeps OpenAI's list price.
    vendor = on("api.openai.com", "openai", "gpt-oss-20b", input_tokens=1_000_000, output_tokens=1_000_000)
    pricer.price(vendor)
    assert vendor.price_source == pricer.source
    assert vendor.total_cost == pytest.approx(genai_total(vendor, "openai"))


def prices_show(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmsight.cli", "prices", "show", *args],
                          capture_output=True, text=True, timeout=60)


def test_prices_show_prints_the_base_price_and_every_tier() -> None:
    out = prices_show("claude-sonnet-4-5", "--provider", "anthropic", "--at", "2026-11-20T12:00")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"anthropic/claude-sonnet-4-5 at 2026-11-20 12:00 UTC (genai-prices@{genai_prices.__version__}):"
    assert "  input: $3 per million tokens; above 200,000 input tokens: $6" in lines
    assert "  output: $15 per million tokens; above 200,000 input tokens: $22.5" in lines
    assert "  cache_read: $0.3 per million tokens; above 200,000 input tokens: $0.6" in lines
    assert "  cache_write_1h: $6 per million tokens; above 200,000 input tokens: $12" in lines
    night = prices_show("deepseek-chat", "--provider", "deepseek", "--at", "2026-11-20T20:00")
    assert "  input: $0.135 per million tokens" in night.stdout.splitlines()
    assert "time of day (UTC) at 00:30, 16:30" in night.stdout
    day = prices_show("deepseek-chat", "--provider", "deepseek", "--at", "2026-11-20T10:00")
    assert "  input: $0.27 per million tokens" in day.stdout.splitlines()
    batch = prices_show("gpt-4o", "--service-tier", "batch", "--at", "2026-11-20")
    assert "  input: $1.25 per million tokens" in batch.stdout.splitlines()
    self_hosted = prices_show("gpt-oss-20b", "--server", "10.0.0.7")
    assert self_hosted.returncode == 1 and "no price for openai/gpt-oss-20b at 10.0.0.7" in self_hosted.stderr


def test_a_price_genai_prices_rejects_leaves_the_call_unpriced(pricer: Pricer) -> None:
    from decimal import Decimal

    from genai_prices.types import ModelPrice

    assert pricer.rates(ModelPrice(input_mtok=Decimal("-1")), 1_000) is None  # genai-prices refuses a negative price
    rates = pricer.rates(ModelPrice(input_mtok=Decimal("2"), output_mtok=Decimal("8"), requests_kcount=Decimal("5")), 10)
    assert rates is not None
    assert (rates.input, rates.cache_read, rates.output, rates.request) == pytest.approx((2e-6, 2e-6, 8e-6, 0.005))

"""Costs against hand-computed list-price arithmetic (per-million prices written out as literals, from
the genai-prices 0.2.3 data and the providers' price pages), overrides and their error messages."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

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

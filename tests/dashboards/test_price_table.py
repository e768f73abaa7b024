"""The model_prices table the savings panels read: written through the collector's own Pricer (genai-prices and the
overrides file), once per (provider, model), and never at the cost of pricing the calls."""

from __future__ import annotations

import socket
from datetime import datetime, timezone
from pathlib import Path

import pytest

from llmsight.collector.pricing import Pricer
from llmsight.collector.pricing.price_table import PricingWithPriceTable
from llmsight.collector.record import CallRecord
from llmsight.collector.store import Store

from .seed import PRICES, write_prices


def call(provider: str, model: str) -> CallRecord:
    return CallRecord(ts=datetime.now(timezone.utc), trace_id="a" * 32, span_id="b" * 16, provider=provider, request_model=model,
                      input_tokens=1000, output_tokens=10)


@pytest.fixture
def store(tmp_path: Path):
    opened = Store.open(f"chdb://{tmp_path / 'store'}")
    opened.ensure_schema()
    yield opened
    opened.close()


def test_rows_hold_the_prices_the_collector_charges(store: Store, tmp_path: Path) -> None:
    pricing = PricingWithPriceTable(Pricer(write_prices(tmp_path)), store, {"acme": "acme-small", "openai": "gpt-4o-mini"})
    record = call("acme", "acme-large")
    pricing.price(record)
    assert record.total_cost == pytest.approx((1000 * PRICES["acme-large"]["input"] + 10 * PRICES["acme-large"]["output"]) / 1e6)
    pricing.price(call("openai", "gpt-4o"))
    pricing.price(call("acme", "acme-large"))  # seen: not written again
    rows = {(r[0], r[1]): r[2:] for r in store.query(
        "SELECT provider, model, input_per_token, cache_read_per_token, output_per_token, batch_input_per_token, "
        "batch_output_per_token, cheaper_alternative FROM llmsight.model_prices").rows}
    assert set(rows) == {("acme", "acme-large"), ("acme", "acme-small"), ("openai", "gpt-4o"), ("openai", "gpt-4o-mini")}
    large = PRICES["acme-large"]
    assert rows[("acme", "acme-large")] == pytest.approx(
        (large["input"] / 1e6, large["read"] / 1e6, large["output"] / 1e6, None, None, False))  # overrides: no batch price
    assert rows[("acme", "acme-small")][-1] is True and rows[("openai", "gpt-4o-mini")][-1] is True
    input_price, _, output_price, batch_input, batch_output, cheaper = rows[("openai", "gpt-4o")]
    assert (input_price, output_price) == pytest.approx((2.5e-6, 10e-6))  # genai-prices' list price
    assert (batch_input, batch_output) == pytest.approx((input_price / 2, output_price / 2)) and cheaper is False


def test_a_store_that_is_down_delays_the_rows_not_the_calls(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = Store.open(f"http://127.0.0.1:{port}", lazy=True, connect_timeout=0.2)
    pricing = PricingWithPriceTable(Pricer(write_prices(tmp_path)), down, {})
    record = call("acme", "acme-small")
    pricing.price(record)  # does not raise
    assert record.total_cost is not None
    assert ("acme", "acme-small") in pricing.pending  # kept for a later call

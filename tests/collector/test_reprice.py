"""`llmsight reprice`: stored costs recomputed after a prices file changes; raw rows and rollup agree."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmsight.collector.pricing import Pricer
from llmsight.collector.record import CallRecord
from llmsight.collector.store import Store


def test_reprice_applies_a_new_discount_to_raw_rows_and_rollup(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store = Store.open(f"chdb://{data_dir / 'store'}")
    store.ensure_schema()
    now = datetime.now(timezone.utc)
    records = [CallRecord(ts=now - timedelta(hours=i % 5, minutes=i), trace_id=f"{i:032x}", span_id=f"{i + 1:016x}",
                          provider="openai", request_model="gpt-4o", input_tokens=10_000, output_tokens=500, status="ok")
               for i in range(40)]
    records.append(CallRecord(ts=now - timedelta(days=3), trace_id="f" * 32, span_id="e" * 16, provider="openai",
                              request_model="gpt-4o", input_tokens=10_000, output_tokens=500))  # outside the window
    pricer = Pricer()
    for record in records:
        pricer.price(record)
    store.insert(records, "seed")
    store.close()
    list_price = (10_000 * 2.5 + 500 * 10) / 1e6
    prices = tmp_path / "prices.yaml"
    prices.write_text("discounts:\n  - provider: openai\n    model: gpt-4o\n    percent: 25\n")
    out = subprocess.run([sys.executable, "-m", "llmsight.cli", "reprice", "--since", "1d", "--data-dir", str(data_dir),
                          "--prices-file", str(prices)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "40 changed" in out.stderr
    store = Store.open(f"chdb://{data_dir / 'store'}")
    try:
        raw = store.query("SELECT count(), sum(total_cost) FROM llmsight.llm_calls").rows[0]
        assert raw[0] == 41
        assert raw[1] == pytest.approx(40 * list_price * 0.75 + list_price)
        rollup = store.query("SELECT sum(calls), sum(total_cost) FROM llmsight.llm_calls_hourly").rows[0]
        assert rollup[0] == 41 and rollup[1] == pytest.approx(raw[1])
        sources = {r[0] for r in store.query("SELECT DISTINCT price_source FROM llmsight.llm_calls").rows}
        assert any(s.endswith("+discount:prices.yaml#discounts[0]") for s in sources)
    finally:
        store.close()

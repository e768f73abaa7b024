"""`llmsight reprice`: stored costs recomputed after a prices file changes; raw rows and rollup agree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmsight.collector.pricing import Pricer
from llmsight.collector.pricing.reprice import PAUSE_ENV, SLICE_ROWS_ENV
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


def _seed(data_dir: Path, rows: int, days: int) -> float:
    """`rows` priced gpt-4o calls spread over the last `days` days; returns the list price of one."""
    data_dir.mkdir(exist_ok=True)
    store = Store.open(f"chdb://{data_dir / 'store'}")
    store.ensure_schema()
    now = datetime.now(timezone.utc) - timedelta(hours=1)
    pricer = Pricer()
    records = []
    for i in range(rows):
        record = CallRecord(ts=now - timedelta(seconds=i * days * 86_400 // rows), trace_id=f"{i:032x}",
                            span_id=f"{i + 1:016x}", provider="openai", request_model="gpt-4o",
                            input_tokens=10_000, output_tokens=500, status="ok")
        pricer.price(record)
        records.append(record)
    for offset in range(0, rows, 50_000):
        store.insert(records[offset:offset + 50_000], f"seed:{offset}")
    store.close()
    return (10_000 * 2.5 + 500 * 10) / 1e6


def _reprice(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmsight.cli", "reprice", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=300)


def _totals(data_dir: Path) -> tuple[int, int, float, int, float]:
    store = Store.open(f"chdb://{data_dir / 'store'}")
    try:
        count, distinct, cost = store.query(
            "SELECT count(), uniqExact(trace_id, span_id), sum(total_cost) FROM llmsight.llm_calls").rows[0]
        calls, rollup_cost = store.query("SELECT sum(calls), sum(total_cost) FROM llmsight.llm_calls_hourly").rows[0]
        return count, distinct, cost, calls, rollup_cost
    finally:
        store.close()


def _discount(tmp_path: Path, percent: int) -> Path:
    prices = tmp_path / f"prices-{percent}.yaml"
    prices.write_text(f"discounts:\n  - provider: openai\n    model: gpt-4o\n    percent: {percent}\n")
    return prices


def test_reprice_twice_with_other_prices_keeps_every_row_and_restore_puts_the_old_costs_back(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    price = _seed(data_dir, 300, days=3)
    for percent in (25, 50, 50):  # the last run changes nothing: still idempotent
        out = _reprice(data_dir, "--since", "7d", "--prices-file", str(_discount(tmp_path, percent)))
        assert out.returncode == 0, out.stderr
        count, distinct, cost, calls, rollup_cost = _totals(data_dir)
        assert count == distinct == calls == 300
        assert cost == pytest.approx(300 * price * (100 - percent) / 100) == pytest.approx(rollup_cost)
    backups = sorted(path for path in (data_dir / "reprice-backups").iterdir() if path.is_dir())
    assert len(backups) == 2  # one per run that changed something
    first = min(backups, key=lambda p: p.stat().st_mtime)
    # Only the calls the run changed, each once: all 300.
    assert sum(len(path.read_text().splitlines()) - 1 for path in first.glob("*.jsonl")) == 300
    out = _reprice(data_dir, "--restore", str(first))
    assert out.returncode == 0, out.stderr
    count, distinct, cost, calls, rollup_cost = _totals(data_dir)
    assert count == distinct == calls == 300
    assert cost == pytest.approx(300 * price) == pytest.approx(rollup_cost)


# Where each run is killed (LLMSIGHT_TEST_REPRICE_PAUSE, slices numbered from 1): while a slice's mutations run,
# after a slice's backup and before its mutations, between two slices. (Killed between the last mutation and the
# rollup correction: test_a_rollup_that_disagrees_with_the_raw_rows_is_corrected_by_the_next_run.)
KILL_POINTS = ("queued:1", "backed-up:2", "written:1")


def _killed_at(data_dir: Path, prices: Path, point: str) -> None:
    """`llmsight reprice` run until it reaches `point`, then killed with SIGKILL there."""
    env = {**os.environ, PAUSE_ENV: point, SLICE_ROWS_ENV: "400"}
    process = subprocess.Popen(
        [sys.executable, "-m", "llmsight.cli", "reprice", "--data-dir", str(data_dir), "--since", "30d",
         "--prices-file", str(prices)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        lines = []
        for line in process.stderr:  # ends when the process does: then it never reached the point
            lines.append(line)
            if f"reprice paused at {point}" in line:
                break
        assert process.poll() is None, f"the run ended before {point}: {''.join(lines)[-2000:]}"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)


def test_reprice_killed_mid_way_then_run_again_gives_the_same_rows_and_right_costs(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    rows = 800  # over 10 days: slices of at most 400 calls (whole hours) make 3
    price = _seed(data_dir, rows, days=10)
    for attempt, point in enumerate(KILL_POINTS):
        percent = 20 if attempt % 2 else 40  # other prices each time: every run has work
        _killed_at(data_dir, _discount(tmp_path, percent), point)
        count, distinct, *_ = _totals(data_dir)
        assert count == distinct == rows, f"killed at {point}: {count} rows, {distinct} distinct"
        if point.startswith("written"):  # slice 1 has the new costs, the others still the previous runs'
            store = Store.open(f"chdb://{data_dir / 'store'}")
            try:
                costs = store.query("SELECT round(total_cost, 9) AS cost, count() FROM llmsight.llm_calls "
                                    "GROUP BY cost ORDER BY cost").rows
            finally:
                store.close()
            assert round(price * (100 - percent) / 100, 9) in dict(costs) and len(costs) > 1, costs
    out = _reprice(data_dir, "--since", "30d", "--prices-file", str(_discount(tmp_path, 40)))
    assert out.returncode == 0, out.stderr
    count, distinct, cost, calls, rollup_cost = _totals(data_dir)
    assert count == distinct == calls == rows
    assert cost == pytest.approx(rows * price * 0.6) == pytest.approx(rollup_cost)


def test_pricing_calls_that_were_unpriced_lowers_the_rollups_unpriced_count_to_zero_and_a_rerun_corrects_nothing(
    tmp_path: Path,
) -> None:
    """unpriced_calls is a UInt64 sum: the rollup's correction is negative there, written modulo 2^64."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store = Store.open(f"chdb://{data_dir / 'store'}")
    store.ensure_schema()
    now = datetime.now(timezone.utc) - timedelta(hours=1)
    records = [CallRecord(ts=now - timedelta(minutes=7 * i), trace_id=f"{i:032x}", span_id=f"{i + 1:016x}",
                          provider="acme", request_model="house-model-1", input_tokens=1_000 + i, output_tokens=100,
                          status="ok") for i in range(60)]
    pricer = Pricer()
    for record in records:
        pricer.price(record)
    assert all(record.total_cost is None for record in records)
    store.insert(records, "seed")
    store.close()
    assert _totals(data_dir)[3] == 60
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  - provider: acme\n    model: house-model-1\n    input_mtok: 2\n    output_mtok: 8\n")
    first = _reprice(data_dir, "--since", "2d", "--prices-file", str(prices))
    assert first.returncode == 0, first.stderr
    expected = sum((1_000 + i) * 2 + 100 * 8 for i in range(60)) / 1e6
    store = Store.open(f"chdb://{data_dir / 'store'}")
    try:
        unpriced, rollup_cost, calls = store.query(
            "SELECT sum(unpriced_calls), sum(total_cost), sum(calls) FROM llmsight.llm_calls_hourly").rows[0]
        raw_cost = store.query("SELECT sum(total_cost) FROM llmsight.llm_calls").rows[0][0]
    finally:
        store.close()
    assert (unpriced, calls) == (0, 60)
    assert rollup_cost == pytest.approx(expected) == pytest.approx(raw_cost)
    again = _reprice(data_dir, "--since", "2d", "--prices-file", str(prices))
    assert again.returncode == 0, again.stderr
    assert "(0 changed)" in again.stderr and "; 0 rollup rows corrected" in again.stderr


def test_a_rollup_that_disagrees_with_the_raw_rows_is_corrected_by_the_next_run(tmp_path: Path) -> None:
    """What a run killed between the mutation and the rollup correction leaves (raw rows repriced, rollup not):
    the next run has no call to reprice and still brings the rollup's costs back to the raw rows."""
    data_dir = tmp_path / "data"
    price = _seed(data_dir, 500, days=2)
    prices = _discount(tmp_path, 50)
    assert _reprice(data_dir, "--since", "7d", "--prices-file", str(prices)).returncode == 0
    store = Store.open(f"chdb://{data_dir / 'store'}")
    try:  # the rollup's cost sums counted twice: as if the rows' old costs were still in it
        store.command("INSERT INTO llmsight.llm_calls_hourly (hour, service, environment, provider, request_model, "
                      "model_tier, service_tier, task, prompt_name, prompt_version, tenant, streaming, total_cost, "
                      "input_cost, output_cost) SELECT hour, service, environment, provider, request_model, model_tier, "
                      "service_tier, task, prompt_name, prompt_version, tenant, streaming, total_cost, input_cost, "
                      "output_cost FROM llmsight.llm_calls_hourly SETTINGS insert_deduplicate = 0")
    finally:
        store.close()
    assert _totals(data_dir)[4] == pytest.approx(500 * price)
    out = _reprice(data_dir, "--since", "7d", "--prices-file", str(prices))
    assert out.returncode == 0, out.stderr
    assert "(0 changed)" in out.stderr and "; 0 rollup rows corrected" not in out.stderr
    count, distinct, cost, calls, rollup_cost = _totals(data_dir)
    assert count == distinct == calls == 500
    assert cost == pytest.approx(500 * price / 2) == pytest.approx(rollup_cost)


def test_a_mutation_clickhouse_refuses_fails_the_run_cleanly_and_the_next_run_after_the_fix_completes(
    tmp_path: Path,
) -> None:
    """A cost a column of the table refuses (a materialized column that throws over a cap, recomputed when the
    mutation writes total_cost): ClickHouse fails the mutation and would retry it forever.
    The run stops it, exits 1 naming the reason, leaves no mutation or table behind, and every row keeps its old
    costs; once the column is gone the same command completes."""
    data_dir = tmp_path / "data"
    price = _seed(data_dir, 200, days=2)
    store = Store.open(f"chdb://{data_dir / 'store'}")
    try:
        store.command("ALTER TABLE llmsight.llm_calls ADD COLUMN cost_cap UInt8 "
                      "MATERIALIZED throwIf(ifNull(total_cost, 0) > 0.05, 'over the cost_cap')")
    finally:
        store.close()
    prices = tmp_path / "prices.yaml"  # twice the list price: 0.06 per call, over the cap
    prices.write_text("models:\n  - provider: openai\n    model: gpt-4o\n    input_mtok: 5\n    output_mtok: 20\n")
    out = _reprice(data_dir, "--since", "7d", "--prices-file", str(prices))
    assert out.returncode == 1
    assert "could not apply the new costs" in out.stderr and "cost_cap" in out.stderr
    assert "Traceback" not in out.stderr
    count, distinct, cost, calls, rollup_cost = _totals(data_dir)
    assert count == distinct == calls == 200
    assert cost == pytest.approx(200 * price) == pytest.approx(rollup_cost)
    store = Store.open(f"chdb://{data_dir / 'store'}")
    try:
        assert store.query("SELECT count() FROM system.mutations WHERE database = 'llmsight' AND NOT is_done").rows[0][0] == 0
        assert store.query("SELECT count() FROM system.tables WHERE database = 'llmsight' "
                           "AND name LIKE 'llm_calls_reprice_%'").rows[0][0] == 0
        store.command("ALTER TABLE llmsight.llm_calls DROP COLUMN cost_cap")
    finally:
        store.close()
    out = _reprice(data_dir, "--since", "7d", "--prices-file", str(prices))
    assert out.returncode == 0, out.stderr
    count, distinct, cost, calls, rollup_cost = _totals(data_dir)
    assert count == distinct == calls == 200
    assert cost == pytest.approx(200 * price * 2) == pytest.approx(rollup_cost)


def test_a_calls_table_that_takes_no_mutation_is_refused_before_anything_is_priced(tmp_path: Path) -> None:
    """A cluster's llm_calls is a Distributed table (no mutations); a Merge table stands in for it here."""
    data_dir = tmp_path / "data"
    _seed(data_dir, 20, days=1)
    store = Store.open(f"chdb://{data_dir / 'store'}")
    try:
        store.command("RENAME TABLE llmsight.llm_calls TO llmsight.llm_calls_local")
        store.command("CREATE TABLE llmsight.llm_calls AS llmsight.llm_calls_local "
                      "ENGINE = Merge(llmsight, '^llm_calls_local$')")
    finally:
        store.close()
    out = _reprice(data_dir, "--since", "7d", "--prices-file", str(_discount(tmp_path, 50)))
    assert out.returncode == 1
    assert "is a Merge table: reprice runs against the embedded store or one ClickHouse server" in " ".join(out.stderr.split())
    assert not (data_dir / "reprice-backups").exists()  # refused before the backup: nothing priced, nothing written


def test_a_window_is_repriced_a_slice_at_a_time_each_with_its_backup_file_and_restored_from_the_directory(
    tmp_path: Path,
) -> None:
    """Memory holds one slice (SLICE_ROWS calls in production, 100 here): each slice is priced, backed up and
    written on its own, whole hours at a time."""
    from llmsight.collector.pricing.reprice import reprice, restore

    data_dir = tmp_path / "data"
    price = _seed(data_dir, 1_000, days=2)
    store = Store.open(f"chdb://{data_dir / 'store'}")
    try:
        slices: list[tuple[str, int, int]] = []
        result = reprice(store, Pricer(_discount(tmp_path, 30)), datetime.now(timezone.utc) - timedelta(days=3),
                         work_dir=data_dir, slice_rows=100, progress=lambda phase, done, total: slices.append((phase, done, total)))
        assert (result.rows, result.changed) == (1_000, 1_000)
        assert result.backup is not None
        files = sorted(result.backup.glob("*.jsonl"))
        counts = [len(path.read_text().splitlines()) - 1 for path in files]
        assert sum(counts) == 1_000 and len(files) >= 10
        assert max(counts) <= 100  # whole hours (about 21 calls each here) up to the slice size
        assert [done for phase, done, _ in slices if phase == "repricing"][-1] == 1_000  # progress reached the total
        assert store.query("SELECT sum(total_cost) FROM llmsight.llm_calls").rows[0][0] == pytest.approx(1_000 * price * 0.7)
        assert restore(store, result.backup) == 1_000
    finally:
        store.close()
    count, distinct, cost, calls, rollup_cost = _totals(data_dir)
    assert count == distinct == calls == 1_000
    assert cost == pytest.approx(1_000 * price) == pytest.approx(rollup_cost)

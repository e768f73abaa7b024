"""The schema and the Store on real chDB: idempotent migrations, exact readback, insert deduplication in
the raw table AND the rollup, rollup = raw aggregates, cluster DDL that ClickHouse parses."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from llmsight.collector.record import RECORD_FIELDS, CallRecord
from llmsight.collector.store import Store, StoreLockedError, StoreUnavailableError
from llmsight.collector.store.schema import SCHEMA_VERSION, cluster_ddl


def records(count: int, seed: int = 1) -> list[CallRecord]:
    rng = random.Random(seed)
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    out = []
    for i in range(count):
        inputs = rng.randint(100, 5000)
        priced = rng.random() > 0.1
        out.append(CallRecord(
            ts=base + timedelta(minutes=i * 7), trace_id=f"{seed:016x}{i:016x}", span_id=f"{i + 1:016x}",
            service="api", environment="prod", provider=rng.choice(["openai", "anthropic"]),
            operation="chat", request_model="gpt-4o", response_model="gpt-4o-2024-08-06", model_tier="standard",
            service_tier="default", streaming=bool(i % 2), stream_completed=True,
            status="error" if i % 9 == 0 else "ok", error_type="RateLimitError" if i % 9 == 0 else "",
            http_status=429 if i % 9 == 0 else 200, retries=i % 3, input_tokens=inputs,
            cache_read_tokens=inputs // 4, cache_write_tokens=inputs // 8, cache_write_1h_tokens=inputs // 16,
            output_tokens=rng.randint(10, 500), reasoning_tokens=0, ttft_ms=float(rng.randint(50, 900)) if i % 2 else None,
            duration_ms=float(rng.randint(200, 5000)), input_cost=0.001 * i if priced else None,
            cache_read_cost=0.0001 if priced else None, cache_write_cost=0.0002 if priced else None,
            output_cost=0.002 if priced else None, total_cost=0.001 * i + 0.0023 if priced else None,
            price_source="genai-prices@0.2.3" if priced else "", task=f"task{i % 3}", prompt_name="kb",
            prompt_version=str(i % 2), prompt_prefix_hash=f"{i % 4:016x}", tenant=f"t{i % 5}",
            finish_reason="length" if i % 11 == 0 else "stop", instrumentation="llmsight.openai",
            attributes={"k": str(i)},
        ))
    return out


def test_schema_is_idempotent(store: Store) -> None:
    assert store.ensure_schema() == store.ensure_schema() == SCHEMA_VERSION
    tables = {row[0] for row in store.query("SHOW TABLES FROM llmsight").rows}
    assert {"llm_calls", "llm_calls_hourly", "llm_calls_hourly_mv", "model_prices", "schema_version"} <= tables


def test_every_column_reads_back_exactly(store: Store) -> None:
    batch = records(20)
    store.insert(batch, "t1")
    rows = store.query("SELECT * FROM llmsight.llm_calls ORDER BY span_id").dicts()
    assert len(rows) == 20
    for row, record in zip(rows, sorted(batch, key=lambda r: r.span_id), strict=True):
        assert row["ts"] == record.ts.replace(tzinfo=None)  # DateTime64(6, 'UTC') reads back as naive UTC
        for name in RECORD_FIELDS[1:]:
            assert row[name] == getattr(record, name), name


def test_same_token_is_stored_once_in_raw_and_rollup(store: Store) -> None:
    batch = records(50)
    store.insert(batch, "batch-1")
    store.insert(batch, "batch-1")  # a replay after a crash
    store.insert(batch[:5], "batch-2")  # a different batch is stored
    assert store.query("SELECT count() FROM llmsight.llm_calls").rows == [(55,)]
    assert store.query("SELECT sum(calls) FROM llmsight.llm_calls_hourly").rows == [(55,)]


def test_rollup_equals_raw_aggregates(store: Store) -> None:
    batch = records(120, seed=4)
    store.insert(batch, "b")
    (calls, errors, limited, truncated, unpriced, retries, inputs, reads, cost, p50) = store.query(
        "SELECT sum(calls), sum(error_calls), sum(rate_limited_calls), sum(truncated_calls), sum(unpriced_calls), "
        "sum(retries), sum(input_tokens), sum(cache_read_tokens), sum(total_cost), "
        "quantilesTDigestMerge(0.5, 0.95, 0.99)(ttft_ms_q)[1] FROM llmsight.llm_calls_hourly"
    ).rows[0]
    assert calls == 120
    assert errors == sum(r.status == "error" for r in batch)
    assert limited == sum(r.http_status == 429 for r in batch)
    assert truncated == sum(r.finish_reason == "length" for r in batch)
    assert unpriced == sum(r.total_cost is None and r.status == "ok" for r in batch)
    assert retries == sum(r.retries for r in batch)
    assert inputs == sum(r.input_tokens for r in batch)
    assert reads == sum(r.cache_read_tokens for r in batch)
    assert cost == pytest.approx(sum(r.total_cost or 0 for r in batch))
    ttfts = sorted(r.ttft_ms for r in batch if r.ttft_ms is not None)
    assert abs(p50 - ttfts[len(ttfts) // 2]) <= 0.05 * ttfts[-1]  # t-digest is approximate


def test_embedded_store_has_one_owner(store: Store) -> None:
    with pytest.raises(StoreLockedError, match="in use by pid"):
        Store.open(store.dsn)


def test_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailableError, match="cannot connect to ClickHouse at http://127.0.0.1:9"):
        Store.open("http://127.0.0.1:9", connect_timeout=1)
    lazy = Store.open("http://user:secret@127.0.0.1:9", connect_timeout=1, lazy=True)
    with pytest.raises(StoreUnavailableError) as raised:
        lazy.query("SELECT 1")
    assert "secret" not in str(raised.value)


def test_cluster_ddl_parses(store: Store) -> None:
    statements = cluster_ddl("llmsight_cluster")
    assert any("ReplicatedMergeTree" in s for s in statements) and any("Distributed(" in s for s in statements)
    for statement in statements:
        formatted = store.query("SELECT formatQuery({q:String})", {"q": statement}).rows[0][0]
        assert "ON CLUSTER llmsight_cluster" in formatted

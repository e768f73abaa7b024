"""Schema migrations on a store created by an earlier version: columns added where a fresh store has them, the
rollup view switched in place, old rows kept (their new columns NULL/0), new rows flowing into the new sums."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import clickhouse_connect
import pytest

from llmsight.collector.columns import (
    ADDED_CALL_COLUMNS,
    ADDED_HOURLY_COLUMNS,
    CALL_COLUMNS,
    CONTENT_COLUMN,
    HOURLY_KEY_COLUMNS,
    HOURLY_QUANTILE_COLUMNS,
    HOURLY_SUM_COLUMNS,
    MATERIALIZED_CALL_COLUMNS,
)
from llmsight.collector.record import CallRecord
from llmsight.collector.store import Store, schema

# Every column added after version 1 (content has a migration of its own, with its TTL).
LATER_CALL_COLUMNS = (
    *(name for _, name in ADDED_CALL_COLUMNS), CONTENT_COLUMN, *(name for _, name, _, _ in MATERIALIZED_CALL_COLUMNS)
)
LATER_HOURLY_COLUMNS = tuple(name for _, name in ADDED_HOURLY_COLUMNS)


def _without(ddl: str, names: tuple[str, ...]) -> str:
    """A generated DDL statement as version 1 wrote it: without the lines that mention later columns."""
    kept = (line for line in ddl.splitlines()
            if not line.strip().startswith("INDEX ")  # call_id's index came with call_id
            and not any(f" AS {n}" in line or line.strip().startswith(f"{n} ") for n in names))
    return "\n".join(kept).replace(",\n)", "\n)")


def _version_1_store(path: Path) -> None:
    client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
    for statement in schema.bootstrap_ddl():
        client.command(statement)
    client.command(_without(schema.calls_table_ddl(), LATER_CALL_COLUMNS))
    client.command(_without(schema.hourly_table_ddl(), LATER_HOURLY_COLUMNS))
    view = schema.hourly_view_ddl()
    for name in LATER_HOURLY_COLUMNS:
        view = view.replace(f",\n    {schema._HOURLY_SUMS[name]} AS {name}", "")
    client.command(view)
    client.command(f"INSERT INTO {schema.DATABASE}.schema_version (version) VALUES (1)")
    client.command(
        "INSERT INTO llmsight.llm_calls (ts, trace_id, span_id, provider, request_model, input_tokens, retries, total_cost) "
        "VALUES (now64(6) - INTERVAL 1 HOUR, repeat('a', 32), repeat('b', 16), 'openai', 'gpt-4o', 100, 2, 0.5)"
    )
    client.close()


@pytest.fixture
def migrated(tmp_path: Path) -> Iterator[Store]:
    _version_1_store(tmp_path / "store")
    store = Store.open(f"chdb://{tmp_path / 'store'}")
    yield store
    store.close()


def test_version_1_store_migrates_in_place(migrated: Store) -> None:
    columns = [row[0] for row in migrated.query("DESCRIBE TABLE llmsight.llm_calls").rows]
    assert "cache_savings" not in columns
    assert migrated.ensure_schema() == schema.SCHEMA_VERSION == migrated.ensure_schema()
    # Same columns in the same order as a fresh store (chDB opens one path per process: compare with the lists).
    assert [r[0] for r in migrated.query("DESCRIBE TABLE llmsight.llm_calls").rows] == [
        *(n for n, _ in CALL_COLUMNS), *(n for _, n, _, _ in MATERIALIZED_CALL_COLUMNS)
    ]
    assert [r[0] for r in migrated.query("DESCRIBE TABLE llmsight.llm_calls_hourly").rows] == [
        *HOURLY_KEY_COLUMNS, *HOURLY_SUM_COLUMNS, *HOURLY_QUANTILE_COLUMNS
    ]
    old = migrated.query("SELECT total_cost, cache_savings FROM llmsight.llm_calls").rows
    assert old == [(0.5, None)]  # the row written before the migration survives; its savings are unknown
    migrated.insert([CallRecord(ts=datetime.now(timezone.utc) - timedelta(minutes=5), trace_id="c" * 32, span_id="d" * 16,
                                provider="openai", request_model="gpt-4o", input_tokens=10, retries=1, total_cost=0.25,
                                cache_savings=0.125, attributes={"llmsight.api_key.hint": "sk-proj-...wxyz"})],
                    dedup_token="after-migration")
    # The key hint column (v6) is computed from the span's attribute: '' for the old row, the hint for the new one.
    hints = migrated.query("SELECT api_key_hint FROM llmsight.llm_calls ORDER BY ts").rows
    assert hints == [("",), ("sk-proj-...wxyz",)]
    rollup = migrated.query("SELECT sum(calls), sum(retried_calls), sum(total_cost), sum(cache_savings) "
                            "FROM llmsight.llm_calls_hourly").rows[0]
    assert rollup == (2, 1, 0.75, 0.125)  # the old row predates retried_calls; the new row feeds both new sums

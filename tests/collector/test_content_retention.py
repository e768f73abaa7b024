"""Captured prompts and completions (opt-in on the app side) are kept apart from the 90-day `attributes`, in a
`content` column whose own TTL (content_ttl_days, 7 by default) empties them while the row stays."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from msgspec.structs import replace  # CallRecord is a msgspec Struct

from llmsight import attributes as attr
from llmsight.collector.columns import CALL_COLUMNS
from llmsight.collector.normalise import spans as normalise
from llmsight.collector.record import CallRecord
from llmsight.collector.store import Store, schema
from tests.collector.test_migrations import LATER_CALL_COLUMNS, _version_1_store
from tests.collector.test_normalise import _request, _span

MESSAGES = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "my secret question"}]}])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"chdb://{tmp_path / 'store'}")
    yield opened
    opened.close()


def _record(days_ago: int, index: int, content: dict[str, str]) -> CallRecord:
    return CallRecord(ts=datetime.now(timezone.utc) - timedelta(days=days_ago), trace_id=f"{index:032x}",
                      span_id=f"{index:016x}", provider="openai", request_model="m", attributes={"app.k": "v"},
                      content=content)


def _stored(store: Store) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    rows = store.query("SELECT span_id, attributes, content FROM llmsight.llm_calls").rows
    return {span_id: (attributes, content) for span_id, attributes, content in rows}


def test_content_attributes_go_to_the_content_map() -> None:
    span = _span({"gen_ai.request.model": "m", attr.GEN_AI_INPUT_MESSAGES: MESSAGES, "gen_ai.prompt.0.content": "hi",
                  "app.feature": "search"})
    (record,) = normalise.normalise_request(_request(span)).records
    assert record.content == {attr.GEN_AI_INPUT_MESSAGES: MESSAGES, "gen_ai.prompt.0.content": "hi"}
    assert record.attributes == {"app.feature": "search"}
    long = _span({"gen_ai.request.model": "m", attr.GEN_AI_OUTPUT_MESSAGES: "x" * 100_000})
    (record,) = normalise.normalise_request(_request(long)).records
    assert len(record.content[attr.GEN_AI_OUTPUT_MESSAGES]) == normalise.MAX_CONTENT_VALUE


def test_expired_content_is_emptied_and_the_row_stays(store: Store) -> None:
    assert store.ensure_schema() == schema.SCHEMA_VERSION
    store.insert([_record(30, 1, {"gen_ai.prompt.0.content": "old"}), _record(0, 2, {"gen_ai.prompt.0.content": "new"})],
                 dedup_token="t1")
    store.command("OPTIMIZE TABLE llmsight.llm_calls FINAL")
    stored = _stored(store)
    assert stored[f"{1:016x}"] == ({"app.k": "v"}, {})  # 30 days > 7: content gone, the analytics row kept
    assert stored[f"{2:016x}"] == ({"app.k": "v"}, {"gen_ai.prompt.0.content": "new"})


def test_a_changed_content_ttl_applies_to_the_existing_table(store: Store) -> None:
    store.ensure_schema()
    store.insert([_record(3, 1, {"gen_ai.prompt.0.content": "three days old"})], dedup_token="t1")
    store.ensure_schema(content_ttl_days=2)
    create = store.query("SELECT create_table_query FROM system.tables WHERE name = 'llm_calls'").rows[0][0]
    assert "TTL toDateTime(ts) + toIntervalDay(2)" in create
    store.command("OPTIMIZE TABLE llmsight.llm_calls FINAL")
    assert _stored(store)[f"{1:016x}"][1] == {}


def test_migration_moves_content_out_of_attributes(tmp_path: Path) -> None:
    """A store created before the content column kept content in `attributes`, under the 90-day TTL."""
    path = tmp_path / "store"
    _version_1_store(path)  # the real version-1 schema: calls table, rollup and its view
    later = set(LATER_CALL_COLUMNS)
    version_1_columns = tuple(column for column in CALL_COLUMNS if column[0] not in later)
    old = replace(_record(1, 1, {}), attributes={"app.k": "v", "gen_ai.input.messages": MESSAGES})
    columns = [name for name, _ in version_1_columns]
    # Closed whatever happens: chDB holds one store per process, and the next test in this worker opens its own.
    store = Store.open(f"chdb://{path}")
    try:
        store._connected().insert("llmsight.llm_calls", [[getattr(old, name) for name in columns]], column_names=columns)
        assert store.ensure_schema() == schema.SCHEMA_VERSION
        assert _stored(store)[f"{1:016x}"] == ({"app.k": "v"}, {"gen_ai.input.messages": MESSAGES})
    finally:
        store.close()

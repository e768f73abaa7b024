"""The call row is defined once (CallRecord), and its three views agree: the column list the DDL is made from, the
spool's frames, and what the store gives back. Every column, with a value that is not its default, goes through a
real spool frame into a real chDB store and comes back equal and of the right type; frames written by a collector
with other fields are read by name."""

from __future__ import annotations

import types
import typing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest

from llmsight.collector.columns import ADDED_CALL_COLUMNS, CALL_COLUMNS, CONTENT_COLUMN
from llmsight.collector.record import RECORD_COLUMNS, RECORD_FIELDS, CallRecord, field_defaults
from llmsight.collector.spool import Spool, read_frames
from llmsight.collector.spool_format import FORMAT_VERSION, HEADER, MARKER, checksum, decode_payload
from llmsight.collector.store import Store
from llmsight.collector.store.schema import SCHEMA_VERSION

# The Python type each ClickHouse type of the call row is read and written as.
_PYTHON_TYPES = {
    "String": str, "FixedString": str, "Bool": bool, "UInt16": int, "UInt64": int, "Float64": float,
    "DateTime64": datetime, "Map": dict,
}


def _python_type(ch_type: str) -> tuple[type, bool]:
    """(Python type, nullable) of a ClickHouse column type."""
    nullable = ch_type.startswith("Nullable(")
    inner = ch_type.removeprefix("Nullable(").removeprefix("LowCardinality(")
    return _PYTHON_TYPES[inner.split("(")[0].rstrip(")")], nullable


def _declared(name: str) -> tuple[type, bool]:
    hint = typing.get_type_hints(CallRecord)[name]
    arguments = typing.get_args(hint)
    if isinstance(hint, types.UnionType):
        (inner,) = [a for a in arguments if a is not type(None)]
        return inner, True
    return typing.get_origin(hint) or hint, False


def test_the_column_list_is_the_record_in_order_with_matching_types() -> None:
    assert tuple(name for name, _ in CALL_COLUMNS) == RECORD_FIELDS
    for name, ch_type in CALL_COLUMNS:
        assert _declared(name) == _python_type(ch_type), name
    added = {name for _, name in ADDED_CALL_COLUMNS}
    assert added == {name for name, column in RECORD_COLUMNS if column.added_in > 1} - {CONTENT_COLUMN}
    assert max(column.added_in for _, column in RECORD_COLUMNS) <= SCHEMA_VERSION


def test_a_record_is_built_by_name_only() -> None:
    with pytest.raises(TypeError):
        CallRecord(datetime.now(timezone.utc), "a" * 32, "b" * 16)  # type: ignore[misc]


def _distinct_record(index: int) -> CallRecord:
    """Every field set to a value that is not its default, so a field that is dropped or moved shows."""
    defaults = field_defaults()
    values: dict[str, Any] = {}
    for position, (name, ch_type) in enumerate(CALL_COLUMNS):
        python_type, _ = _python_type(ch_type)
        if python_type is datetime:
            # Recent: the content column's TTL empties older rows.
            values[name] = datetime.now(timezone.utc).replace(microsecond=123456) - timedelta(minutes=10 - index)
        elif ch_type.startswith("FixedString"):
            width = int(ch_type.split("(")[1].rstrip(")"))
            values[name] = f"{index:0{width // 2}x}{position:0{width - width // 2}x}"
        elif python_type is str:
            values[name] = f"{name}-{index}"
        elif python_type is bool:
            values[name] = not defaults[name]
        elif python_type is int:
            values[name] = 7 + position + index
        elif python_type is float:
            values[name] = 0.25 + position + index
        else:
            values[name] = {f"{name}.key": f"value-{index}"}
        if name in defaults:
            assert values[name] != defaults[name], name
    return CallRecord(**values)


def test_every_column_round_trips_through_a_spool_frame_into_the_store(tmp_path: Path, store: Store) -> None:
    written = [_distinct_record(index) for index in range(3)]
    spool = Spool(tmp_path / "spool")
    spool.append(written)
    (frame,) = list(spool.read(0, 0, 0))
    spool.close()
    assert frame.error == "" and frame.records == written
    store.insert(frame.records, "round-trip")
    rows = store.query(f"SELECT {', '.join(RECORD_FIELDS)} FROM llmsight.llm_calls ORDER BY ts").dicts()
    assert len(rows) == len(written)
    for row, record in zip(rows, written, strict=True):
        for name, ch_type in CALL_COLUMNS:
            expected = getattr(record, name)
            value = row[name]
            if name == "ts":  # DateTime64(6, 'UTC') reads back naive UTC
                value = value.replace(tzinfo=timezone.utc)
            assert value == expected and type(value) is type(expected), (name, ch_type, value, expected)


def _frame(names: list[str], rows: list[list[Any]], version: int = FORMAT_VERSION) -> bytes:
    payload = msgspec.msgpack.encode([names, rows])
    return HEADER.pack(MARKER, version, len(payload), checksum(version, payload)) + payload


def test_frames_of_a_collector_with_other_fields_are_read_by_name(tmp_path: Path) -> None:
    record = _distinct_record(1)
    older = [name for name in RECORD_FIELDS if name not in ("call_id", "cache_savings")][::-1]  # other order, fewer
    newer = [*RECORD_FIELDS, "a_future_column"]
    directory = tmp_path / "spool"
    directory.mkdir()
    segment = directory / "000000000000.wal"
    segment.write_bytes(
        _frame(older, [[getattr(record, name) for name in older]])
        + _frame(newer, [[*(getattr(record, name) for name in RECORD_FIELDS), "kept out"]])
    )
    first, second = read_frames(directory, (0, segment.stat().st_size), 0, 0, 0)
    defaults = field_defaults()
    assert first.error == "" and first.records == [
        msgspec.structs.replace(record, call_id=defaults["call_id"], cache_savings=defaults["cache_savings"])
    ]
    assert second.error == "" and second.records == [record]


@pytest.mark.parametrize(("names", "rows", "version", "reason"), [
    (list(RECORD_FIELDS), [["not a time", *[""] * (len(RECORD_FIELDS) - 1)]], FORMAT_VERSION, "wrong type"),
    (["ts", "trace_id", "span_id", "retries"], [[datetime.now(timezone.utc), "a", "b", "three"]], FORMAT_VERSION,
     "(retries)"),
    (["ts", "trace_id"], [[datetime.now(timezone.utc), "a"]], FORMAT_VERSION, "missing field(s) span_id"),
    (["ts", "trace_id", "span_id"], [[datetime.now(timezone.utc), "a"]], FORMAT_VERSION, "2 values for 3 fields"),
    (list(RECORD_FIELDS), [], FORMAT_VERSION + 1, f"spool format {FORMAT_VERSION + 1}"),
])
def test_a_frame_that_cannot_be_read_says_why(names: list[str], rows: list[list[Any]], version: int, reason: str) -> None:
    frame = _frame(names, rows, version)
    with pytest.raises(ValueError, match=None) as caught:
        decode_payload(version, frame[HEADER.size:])
    assert reason in str(caught.value)

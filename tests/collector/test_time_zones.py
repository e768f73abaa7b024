"""Every aware time is converted to UTC, whatever its offset: `--since`/`--until`, the read API's window, and the
stored-row lookup dead-letter replay makes (a file whose times carry +05:00 is not replayed twice)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmsight.collector.app import read_api_operations
from llmsight.collector.dead_letter import replay, write_rows
from llmsight.collector.instants import parse_instant
from llmsight.collector.read_api import ReportRequest
from llmsight.collector.record import CallRecord
from llmsight.collector.report.queries import build_report
from llmsight.collector.report.window import Window
from llmsight.collector.store import Store

# 2026-12-04T10:10-10:00 is 20:10 UTC.
AT_UTC = datetime(2026, 12, 4, 20, 15, tzinfo=timezone.utc)


def _call(number: int, ts: datetime) -> CallRecord:
    return CallRecord(ts=ts, trace_id=f"{number:032x}", span_id=f"{number:016x}", provider="openai",
                      request_model="gpt-4o", call_id=f"{number + 1000:032x}", input_tokens=10)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"chdb://{tmp_path / 'store'}")
    opened.ensure_schema(ttl_days=3650)
    yield opened
    opened.close()


def test_parse_instant_converts_every_offset_to_utc() -> None:
    assert parse_instant("2026-12-04T10:10-10:00") == datetime(2026, 12, 4, 20, 10, tzinfo=timezone.utc)
    assert parse_instant("2026-12-04T10:10+05:30").utcoffset() == timedelta(0)
    assert parse_instant("2026-12-04T10:10") == datetime(2026, 12, 4, 10, 10, tzinfo=timezone.utc)  # naive: UTC


def test_report_window_with_an_offset_finds_the_calls_inside_it(store: Store) -> None:
    store.insert([_call(1, AT_UTC)], dedup_token="tz")
    window = Window.parse("2026-12-04T10:10-10:00", "2026-12-04T10:20-10:00")
    assert window.start == datetime(2026, 12, 4, 20, 10, tzinfo=timezone.utc)
    assert build_report(store.query, window)["totals"]["calls"] == 1
    # The read API's request carries the times as the client wrote them, offsets included.
    request = ReportRequest.model_validate_json('{"start": "2026-12-04T10:10-10:00", "end": "2026-12-04T10:20-10:00"}')
    operations = read_api_operations(store.read)
    report = operations.report(request, operations.limited())
    assert report["totals"]["calls"] == 1 and report["window"]["start"] == "2026-12-04T20:10:00+00:00"


def test_dead_letter_with_offset_times_is_not_replayed_twice(store: Store, tmp_path: Path) -> None:
    plus_five = timezone(timedelta(hours=5))
    rows = [_call(n, (AT_UTC + timedelta(minutes=n)).astimezone(plus_five)) for n in range(15)]
    letter = tmp_path / "dead-letter" / "batch.jsonl"
    write_rows(letter, rows, {"reason": "test", "token": "batch"})
    assert "+05:00" in letter.read_text().splitlines()[1]
    copy = shutil.copy(letter, tmp_path / "copy.jsonl")
    first = replay(store, letter)
    assert (first.inserted, first.already_stored) == (15, 0)
    again = replay(store, Path(shutil.move(copy, letter)))
    assert (again.inserted, again.already_stored) == (0, 15)
    assert store.query("SELECT count(), uniqExact(span_id) FROM llmsight.llm_calls").rows[0] == (15, 15)
    assert json.loads(letter.parent.joinpath("replayed", "batch.jsonl").read_text().splitlines()[0])["rows"] == 15

"""Dead-letter replay counts what the store really holds after its insert: files that share a header token (a file
split by hand) or a name (two folders) are each stored, and a row the store does not keep is reported, with the
file left in place and exit code 1 — never "1 of 1 rows inserted"."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from llmsight.collector.dead_letter import replay, write_rows
from llmsight.collector.record import CallRecord
from llmsight.collector.store import Store

BASE = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)


def _calls(first: int, count: int, *, with_call_id: bool = True) -> list[CallRecord]:
    return [
        CallRecord(ts=BASE + timedelta(seconds=n), trace_id=f"{n:032x}", span_id=f"{n:016x}", provider="openai",
                   request_model="gpt-4o", input_tokens=10 + n, call_id=f"{n + 7000:032x}" if with_call_id else "")
        for n in range(first, first + count)
    ]


def _stored(store: Store) -> int:
    return int(store.query("SELECT count() FROM llmsight.llm_calls").rows[0][0])


def test_a_file_split_by_hand_is_stored_whole(store: Store, tmp_path: Path) -> None:
    letters = tmp_path / "dead-letter"
    write_rows(letters / "part1.jsonl", _calls(0, 4), {"reason": "split", "token": "seg-1:0-100"})
    write_rows(letters / "part2.jsonl", _calls(4, 4), {"reason": "split", "token": "seg-1:0-100"})  # same token
    results = [replay(store, letters / "part1.jsonl"), replay(store, letters / "part2.jsonl")]
    assert [(r.inserted, r.not_stored) for r in results] == [(4, 0), (4, 0)]
    assert _stored(store) == 8


def test_token_less_files_with_one_name_in_two_folders_are_both_stored(store: Store, tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "batch.jsonl", tmp_path / "b" / "batch.jsonl"
    write_rows(first, _calls(0, 4, with_call_id=False), {"reason": "x"})  # no token: the name stands in for it
    write_rows(second, _calls(10, 4, with_call_id=False), {"reason": "x"})
    assert replay(store, first).inserted == 4
    assert replay(store, second).inserted == 4
    assert _stored(store) == 8


def test_a_row_the_store_does_not_keep_is_reported_and_its_file_stays(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    store = Store.open(f"chdb://{data_dir / 'store'}")
    store.ensure_schema()
    store.close()
    letter = data_dir / "dead-letter" / "far.jsonl"
    far = _calls(0, 2)
    far[1].ts = datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc)  # beyond what the store can hold
    write_rows(letter, far, {"reason": "x", "token": "far"})
    run = subprocess.run([sys.executable, "-m", "llmsight.cli", "dead-letter", "replay", "--data-dir", str(data_dir)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run
    assert "1 of 2 rows stored" in run.stderr and "1 row the store did not keep" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert letter.exists() and not (letter.parent / "replayed" / letter.name).exists()
    store = Store.open(f"chdb://{data_dir / 'store'}")
    try:
        assert _stored(store) == 1
    finally:
        store.close()

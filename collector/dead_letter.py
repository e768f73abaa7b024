"""Dead letters: rows the store refused for what they hold, kept as readable JSON lines in the data dir
(the same row-file format holds `llmsight reprice` backups).

`DATA_DIR/dead-letter/<token>.jsonl`: a first line `{"reason", "token", "rows", "written_at"}`, then one
call per line with the column names of `llmsight.llm_calls`. The name comes from the batch's deduplication
token, so a batch replayed after a crash rewrites the same file rather than adding a second. Fix the cause
(or the rows), then `llmsight dead-letter replay` inserts them again (`replay` below) and moves the file to
`dead-letter/replayed/`.

Spool frames the writer could not read (corrupted, another format, a frame of the pickle format) are kept in
`DATA_DIR/dead-letter/frames/`: `<name>.frame`, the frame's bytes as they were in the spool, and `<name>.json`,
why it could not be read and where it was. They are not rows: nothing replays them automatically.

Replaying is safe to repeat and to run beside other collectors: rows whose call is already stored are left
out (the same `call_id` lookup the writer makes), and each block is inserted under a token derived from the
block's own rows, so ClickHouse drops a block a crashed replay had already inserted, and only that: two files
that share a header token or a name (a file split by hand, two folders) hold different rows, hence different
tokens. What counts as inserted is what the store holds afterwards (a row it silently does not keep, such as a
time beyond its range, is reported and the file stays where it is).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from llmsight.collector.columns import CALLS_TABLE, DATABASE
from llmsight.collector.durable import replace_durably
from llmsight.collector.instants import parse_instant, utc_parameter
from llmsight.collector.normalise.merge import drop_stored
from llmsight.collector.record import RECORD_FIELDS, CallRecord, record_from_mapping
from llmsight.collector.store.store import Store, insert_blocks
from llmsight.errors import LLMSightError

DEAD_LETTER_DIR = "dead-letter"
REPLAYED_DIR = "replayed"
FRAMES_DIR = "frames"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def write_dead_letter(directory: Path, records: Sequence[CallRecord], token: str, reason: str) -> Path:
    """Write (fsync'd, atomically) and return the file. Raises OSError when it cannot (the caller retries)."""
    path = directory / f"{_UNSAFE.sub('_', token)}.jsonl"
    write_rows(path, records, {"reason": reason, "token": token})
    return path


def write_dead_frame(directory: Path, name: str, data: bytes, reason: str, where: dict[str, Any]) -> Path:
    """Keep a spool frame that could not be read: its bytes and, beside them, the reason (both fsync'd and renamed
    into place; the same name again rewrites them). Returns the reason file's path."""
    frames = directory / FRAMES_DIR
    frames.mkdir(parents=True, exist_ok=True)
    replace_durably(frames / f"{name}.frame", lambda handle: handle.write(data))
    info = {"reason": reason, **where, "bytes": len(data), "written_at": datetime.now(timezone.utc).isoformat()}
    path = frames / f"{name}.json"
    replace_durably(path, lambda handle: handle.write((json.dumps(info) + "\n").encode()))
    return path


def dead_frames(directory: Path) -> list[Path]:
    """The reason files of the spool frames kept in `directory`, oldest first."""
    return sorted((directory / FRAMES_DIR).glob("*.json"), key=lambda path: (path.stat().st_mtime, path.name))


def read_dead_letter(path: Path) -> tuple[dict[str, Any], list[CallRecord]]:
    """(header, records) of a dead-letter file."""
    return read_rows(path)


@dataclass(frozen=True)
class ReplayResult:
    path: Path  # where the file is now: dead-letter/replayed/… once every row is stored, else where it was
    rows: int  # rows in the file
    inserted: int  # rows inserted and found in the store afterwards
    already_stored: int  # left out: their call is stored (an earlier replay, or another collector)
    not_stored: int = 0  # inserted without an error, yet not in the store (a time it cannot hold, …)

    @property
    def complete(self) -> bool:
        return self.not_stored == 0


def dead_letters(directory: Path) -> list[Path]:
    """The dead-letter files waiting in `directory`, oldest first."""
    return sorted(directory.glob("*.jsonl"), key=lambda path: (path.stat().st_mtime, path.name))


def replay(store: Store, path: Path) -> ReplayResult:
    """Insert a dead-letter file's rows again, count them in the store, and move the file under `replayed/` when
    all are there. Raises StoreDataError when the store still refuses them (the file stays where it is) and
    StoreError when it is unavailable."""
    _, records = read_dead_letter(path)
    kept, merged, replayed = drop_stored(store, records)
    for suffix, rows in insert_blocks(kept):
        store.insert(rows, f"replay:{suffix}:{_digest(rows)}")
    found = count_stored(store, kept)
    result = ReplayResult(path, len(records), found, merged + replayed, len(kept) - found)
    if not result.complete:
        return result
    done = path.parent / REPLAYED_DIR / path.name
    done.parent.mkdir(exist_ok=True)
    os.replace(path, done)
    return ReplayResult(done, result.rows, result.inserted, result.already_stored)


def _digest(records: Sequence[CallRecord]) -> str:
    """What the block holds, as its deduplication token: the same rows again are dropped, other rows never are."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(_row(record), default=str, sort_keys=True).encode())
    return digest.hexdigest()[:32]


_COUNT_CHUNK = 5_000  # span ids per look-up query


def count_stored(store: Store, records: Sequence[CallRecord]) -> int:
    """How many of `records` the store holds as written: the same trace id, span id and time."""
    wanted = [(r.trace_id, r.span_id, utc_parameter(r.ts)) for r in records]
    if not wanted:
        return 0
    low, high = min(ts for _, _, ts in wanted), max(ts for _, _, ts in wanted)
    found: set[tuple[str, str, object]] = set()
    span_ids = sorted({span for _, span, _ in wanted})
    for offset in range(0, len(span_ids), _COUNT_CHUNK):
        result = store.query(
            f"SELECT trace_id, span_id, ts FROM {DATABASE}.{CALLS_TABLE} "
            "WHERE ts >= {low:DateTime64(6)} AND ts <= {high:DateTime64(6)} AND span_id IN {ids:Array(String)}",
            {"low": low, "high": high, "ids": span_ids[offset:offset + _COUNT_CHUNK]},
        )
        found.update((trace, span, utc_parameter(ts)) for trace, span, ts in result.rows)
    return sum(key in found for key in wanted)


def write_rows(path: Path, records: Sequence[CallRecord], header: dict[str, Any]) -> None:
    """A header line, then one JSON object per call; fsync'd and renamed into place (never half written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {**header, "rows": len(records), "written_at": datetime.now(timezone.utc).isoformat()}

    def fill(handle: BinaryIO) -> None:
        handle.write((json.dumps(header) + "\n").encode())
        for record in records:
            handle.write((json.dumps(_row(record), default=str) + "\n").encode())

    replace_durably(path, fill)


class RowFileError(LLMSightError, ValueError):
    """A row file that `write_rows` did not write as it stands (edited by hand, truncated): `FILE:LINE: what`."""


def read_rows(path: Path) -> tuple[dict[str, Any], list[CallRecord]]:
    """(header, records) of a file written by `write_rows`; raises RowFileError naming the line at fault."""
    with open(path) as handle:
        number = 1
        try:
            header = json.loads(handle.readline())
            if not isinstance(header, dict):
                raise ValueError("the first line is not a header object")
            records = []
            for number, line in enumerate(handle, start=2):  # noqa: B007 - the except clause names the line
                if line.strip():
                    row = json.loads(line)
                    row["ts"] = parse_instant(row["ts"])
                    records.append(record_from_mapping(row))
        except (ValueError, TypeError, KeyError) as exc:  # bad JSON, a missing or unknown column, a bad time
            raise RowFileError(f"{path}:{number}: not a row of this file format ({type(exc).__name__}: {exc})") from None
    return header, records


def _row(record: CallRecord) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in RECORD_FIELDS}  # not asdict(): no deep copy
    row["ts"] = record.ts.isoformat()
    return row

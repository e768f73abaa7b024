"""Dead letters: rows the store refused for what they hold, kept as readable JSON lines in the data dir
(the same row-file format holds `llmsight reprice` backups).

`DATA_DIR/dead-letter/<token>.jsonl`: a first line `{"reason", "token", "rows", "written_at"}`, then one
call per line with the column names of `llmsight.llm_calls`. The name comes from the batch's deduplication
token, so a batch replayed after a crash rewrites the same file rather than adding a second. Fix the cause
(or the rows), then `read_dead_letter` gives `CallRecord`s to insert again.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmsight.collector.record import RECORD_FIELDS, CallRecord

DEAD_LETTER_DIR = "dead-letter"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def write_dead_letter(directory: Path, records: Sequence[CallRecord], token: str, reason: str) -> Path:
    """Write (fsync'd, atomically) and return the file. Raises OSError when it cannot (the caller retries)."""
    path = directory / f"{_UNSAFE.sub('_', token)}.jsonl"
    write_rows(path, records, {"reason": reason, "token": token})
    return path


def read_dead_letter(path: Path) -> tuple[dict[str, Any], list[CallRecord]]:
    """(header, records) of a dead-letter file."""
    return read_rows(path)


def write_rows(path: Path, records: Sequence[CallRecord], header: dict[str, Any]) -> None:
    """A header line, then one JSON object per call; fsync'd and renamed into place (never half written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {**header, "rows": len(records), "written_at": datetime.now(timezone.utc).isoformat()}
    tmp = path.with_suffix(".tmp")
    try:
        with open(tmp, "w") as handle:
            handle.write(json.dumps(header) + "\n")
            for record in records:
                handle.write(json.dumps(_row(record), default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_rows(path: Path) -> tuple[dict[str, Any], list[CallRecord]]:
    """(header, records) of a file written by `write_rows`."""
    with open(path) as handle:
        header = json.loads(handle.readline())
        records = []
        for line in handle:
            if line.strip():
                row = json.loads(line)
                row["ts"] = datetime.fromisoformat(row["ts"])
                records.append(CallRecord(**row))
    return header, records


def _row(record: CallRecord) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in RECORD_FIELDS}  # not asdict(): no deep copy
    row["ts"] = record.ts.isoformat()
    return row

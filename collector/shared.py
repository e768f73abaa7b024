"""Counters and spool positions shared by the collector's two processes.

The receiver process (OTLP in → normalise → spool) and the store process (spool → price → ClickHouse,
read API, alerts) each run Python on their own core; they meet in the spool on disk and in this block of
shared memory (a small memory-mapped file in the data directory, rewritten at each start). Each slot has
exactly one writing process, and every value is one aligned 64-bit word, so neither side needs a lock the
other could be left holding by a `kill -9`.
"""

from __future__ import annotations

import mmap
import threading
from pathlib import Path
from typing import Any

INGEST_COUNTERS = (
    "requests", "bad_requests", "spans_received", "genai_spans", "ignored_spans", "rejected_spans",
    "duplicate_spans", "backpressure", "merged_spans",
)
# Written by the receiver process.
ACCEPT_COUNTERS = ("submitted", "duplicates", "pending_bytes", "spool_write_errors", "spool_repaired_bytes")
# Written by the store process.
STORE_COUNTERS = (
    "stored", "batches", "insert_errors", "writer_errors", "dead_letter_batches", "dead_lettered_rows",
    "corrupt_frames", "corrupt_bytes", "merged_calls", "already_stored", "batch_submissions", "undecodable_frames",
)
# Written by the store process's alert evaluator (reported under "alerts", without the prefix).
ALERT_COUNTERS = (
    "alert_evaluations", "alert_evaluation_failures", "alert_rule_failures", "alert_notifications",
    "alert_notification_failures",
)
_POSITIONS = ("durable", "committed")  # (segment << 32 | byte offset): one word, never torn
_SLOTS = {
    name: index
    for index, name in enumerate(INGEST_COUNTERS + ACCEPT_COUNTERS + STORE_COUNTERS + ALERT_COUNTERS + _POSITIONS)
}
_ERROR_BYTES = 512
# Last error of each side, '' once it works again: the store process's writer, the receiver's spool appends.
_ERRORS = ("store", "spool")
_SEGMENT_SHIFT = 32


class SharedState:
    """`create` in the store process (zeroed), `attach` in the receiver process."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        size = len(_SLOTS) * 8 + _ERROR_BYTES * len(_ERRORS)
        if create:
            path.write_bytes(bytes(size))
        with open(path, "r+b") as handle:
            self._map = mmap.mmap(handle.fileno(), size)
        self._words = memoryview(self._map)[: len(_SLOTS) * 8].cast("q")
        self._lock = threading.Lock()  # `+=` on shared memory is read-then-write: one thread at a time
        if create:
            self._words[_SLOTS["durable"]] = -1  # nothing known durable until the receiver has opened the spool

    @classmethod
    def create(cls, path: Path) -> SharedState:
        return cls(path, create=True)

    @classmethod
    def attach(cls, path: Path) -> SharedState:
        return cls(path, create=False)

    # --- counters ---
    def add(self, **counts: int) -> None:
        """Add to counters this process owns."""
        words = self._words
        with self._lock:
            for name, value in counts.items():
                words[_SLOTS[name]] += value

    def set(self, name: str, value: int) -> None:
        self._words[_SLOTS[name]] = value

    def error(self, side: str) -> str:
        start = len(_SLOTS) * 8 + _ERRORS.index(side) * _ERROR_BYTES
        return self._map[start : start + _ERROR_BYTES].split(b"\0", 1)[0].decode("utf-8", "replace")

    def set_error(self, side: str, message: str) -> None:
        """Only the process that owns `side` writes it."""
        start = len(_SLOTS) * 8 + _ERRORS.index(side) * _ERROR_BYTES
        data = message.encode("utf-8", "replace")[: _ERROR_BYTES - 1]
        self._map[start : start + _ERROR_BYTES] = data.ljust(_ERROR_BYTES, b"\0")

    @property
    def last_error(self) -> str:
        return self.error("store")

    @last_error.setter
    def last_error(self, message: str) -> None:
        self.set_error("store", message)

    def health(self) -> dict[str, Any]:
        """'ok', or 'degraded' with the reasons while the spool cannot be written or the store not reached
        (spans are refused with 503 / kept in the spool meanwhile; nothing acknowledged is dropped)."""
        problems = [f"{side}: {message}" for side in _ERRORS if (message := self.error(side))]
        return {"status": "degraded" if problems else "ok", "problems": problems}

    def metrics(self) -> dict[str, dict[str, Any]]:
        words = self._words
        ingest = {name: int(words[_SLOTS[name]]) for name in INGEST_COUNTERS}
        pipeline: dict[str, Any] = {name: int(words[_SLOTS[name]]) for name in ACCEPT_COUNTERS + STORE_COUNTERS}
        pipeline["pending_bytes"] = self._pending_bytes(pipeline["pending_bytes"])
        pipeline["last_error"] = self.last_error
        pipeline["last_spool_error"] = self.error("spool")
        alerts = {name.removeprefix("alert_"): int(words[_SLOTS[name]]) for name in ALERT_COUNTERS}
        return {"ingest": ingest, "pipeline": pipeline, "alerts": alerts, "health": self.health()}

    def _pending_bytes(self, at_last_submit: int) -> int:
        """Bytes in the spool not yet stored, now. The receiver counts them when it accepts a request (against
        the store's position then), so that count goes stale as the store catches up: where the positions say
        more, they win: 0 once everything durable is committed, the exact gap within one segment."""
        durable, committed = self.position("durable"), self.position("committed")
        if durable is None or committed is None:
            return at_last_submit
        if committed >= durable:
            return 0
        if committed[0] == durable[0]:
            return durable[1] - committed[1]
        return at_last_submit

    # --- spool positions ---
    def set_position(self, name: str, segment: int, offset: int) -> None:
        self._words[_SLOTS[name]] = (segment << _SEGMENT_SHIFT) | offset

    def position(self, name: str) -> tuple[int, int] | None:
        """(segment, byte offset), or None when not set yet."""
        word = int(self._words[_SLOTS[name]])
        if word < 0:
            return None
        return word >> _SEGMENT_SHIFT, word & ((1 << _SEGMENT_SHIFT) - 1)

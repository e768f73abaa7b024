"""Accepting spans: drop resends, make the rest durable in the spool, or push back when behind.

`Acceptor.submit()` returns once the records are fsync'd in the spool (the receiver acknowledges the
exporter only then), raises `Backpressure` when the un-stored backlog is over its bound, and
`SpoolUnavailable` (a `Backpressure`: 503 / UNAVAILABLE, retried by the exporters) when the spool cannot be
written, e.g. the disk is full; the failed append is rolled back, so nothing half-written stays. It runs in
the receiver process; the store process reads the spool (collector/pipeline.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmsight.collector.record import CallRecord
from llmsight.collector.shared import SharedState
from llmsight.collector.spool import Spool, SpoolWriteError
from llmsight.errors import LLMSightError


class Backpressure(LLMSightError):
    """The backlog is over its bound: tell the exporter to retry later."""

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__(f"collector is catching up; retry in {retry_after_seconds:.1f}s")
        self.retry_after_seconds = retry_after_seconds


class SpoolUnavailable(Backpressure):
    """The spool cannot be written (disk full, I/O error): nothing was acknowledged, the exporter retries."""

    RETRY_AFTER_S = 5.0

    def __init__(self, reason: str) -> None:
        super().__init__(self.RETRY_AFTER_S)
        self.args = (f"collector cannot store spans right now ({reason}); retry in {self.RETRY_AFTER_S:.0f}s",)


@dataclass
class AcceptLimits:
    max_spool_bytes: int = 1024 * 1024 * 1024  # 1 GiB of un-stored spans, then backpressure
    recent_span_ids: int = 500_000  # exporters' retries of an acknowledged request are dropped
    # Spans must start within this window around the receiver's clock (CollectorSettings.accept_past_days /
    # accept_future_minutes): older ones would land in partitions the TTL drops at once, later ones are
    # clock errors, and either could make one insert touch more day partitions than ClickHouse allows.
    max_span_age_s: float = 30 * 86_400.0
    max_span_lead_s: float = 3_600.0


class RecentSpans:
    """Bounded memory of recently accepted spans: an exporter that resends a request it did not see
    acknowledged must not be counted twice. Keys are trace id + span id as one string (no tuple per
    span for the garbage collector to walk)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add_new(self, records: Sequence[CallRecord]) -> list[CallRecord]:
        ids, fresh = self._ids, []
        for record in records:
            key = record.trace_id + record.span_id
            if key in ids:
                continue
            ids[key] = None
            fresh.append(record)
        self._trim()
        return fresh

    def forget(self, records: Sequence[CallRecord]) -> None:
        """Records that were not made durable after all: a resend of them must get in."""
        for record in records:
            self._ids.pop(record.trace_id + record.span_id, None)

    def remember(self, keys: Any) -> None:
        self._ids.update((key, None) for key in keys)
        self._trim()

    def _trim(self) -> None:
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


class Acceptor:
    def __init__(self, spool: Spool, shared: SharedState, limits: AcceptLimits | None = None) -> None:
        self.spool = spool
        self.shared = shared
        self.limits = limits or AcceptLimits()
        self.recent = RecentSpans(self.limits.recent_span_ids)
        self._lock = threading.Lock()  # one spool append per request, in arrival order, dedup consistent
        self._spool_failing = False
        self.shared.add(spool_repaired_bytes=spool.repaired_bytes)
        self._seed_recent_from_spool()

    def submit(self, records: Sequence[CallRecord]) -> int:
        """Make `records` durable; returns how many were new (resent spans are dropped)."""
        committed = self.shared.position("committed") or (0, 0)
        pending = self.spool.pending_bytes(*committed)
        self.shared.set("pending_bytes", pending)
        if pending > self.limits.max_spool_bytes:
            raise Backpressure(retry_after_seconds=min(30.0, 1.0 + pending / self.limits.max_spool_bytes))
        with self._lock:
            fresh = self.recent.add_new(records)
            if fresh:
                try:
                    self.spool.append(fresh)
                except SpoolWriteError as exc:
                    self.recent.forget(fresh)
                    self.shared.add(spool_write_errors=1)
                    self.shared.set_error("spool", str(exc))
                    self._spool_failing = True
                    raise SpoolUnavailable(str(exc)) from exc
                if self._spool_failing:
                    self.shared.set_error("spool", "")
                self._spool_failing = False
        self.shared.add(submitted=len(fresh), duplicates=len(records) - len(fresh))
        return len(fresh)

    def _seed_recent_from_spool(self) -> None:
        """Spans still in the spool were acknowledged: a resend of them after a restart is a duplicate."""
        for segment in self.spool.segments():
            for frame in self.spool.read(segment, 0, 0):
                self.recent.remember(record.trace_id + record.span_id for record in frame.records)

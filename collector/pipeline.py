"""Pipeline: accepted records → durable spool → priced, batched, deduplicated inserts into ClickHouse.

`submit()` returns once the records are fsync'd in the spool (the receiver acknowledges the exporter
only then) or raises `Backpressure` when the un-stored backlog is over its bound. One writer thread reads
the spool in order, prices each record, inserts batches (size/time flush policy) with a deterministic
deduplication token, and advances the checkpoint. While ClickHouse is down the spool grows (bounded) and
the writer retries with backoff; on restart, everything not yet committed is replayed — a batch that was
inserted but not checkpointed carries the same token, so ClickHouse drops the copy.
"""

from __future__ import annotations

import logging
import operator
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from llmsight.collector.config import CollectorSettings
from llmsight.collector.record import RECORD_FIELDS, CallRecord
from llmsight.collector.spool import Checkpoint, Position, Spool
from llmsight.collector.store import Store, StoreError

_FIELDS_OF = operator.attrgetter(*RECORD_FIELDS)  # a record as a tuple: one C call, for the spool

logger = logging.getLogger("llmsight.collector")


class Pricer(Protocol):
    def price(self, record: CallRecord) -> None: ...


class Backpressure(Exception):
    """The backlog is over its bound: tell the exporter to retry later."""

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__(f"collector is catching up; retry in {retry_after_seconds:.1f}s")
        self.retry_after_seconds = retry_after_seconds


@dataclass
class PipelineStats:
    submitted: int = 0
    duplicates: int = 0
    stored: int = 0
    batches: int = 0
    insert_errors: int = 0
    pending_bytes: int = 0
    last_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PipelineLimits:
    batch_rows: int = 20_000
    flush_interval_s: float = 1.0
    max_spool_bytes: int = 1024 * 1024 * 1024  # 1 GiB of un-stored spans, then backpressure
    retry_initial_s: float = 0.2
    retry_max_s: float = 10.0
    recent_span_ids: int = 500_000  # exporters' retries of an acknowledged request are dropped


class RecentSpans:
    """Bounded memory of recently accepted (trace_id, span_id): an exporter that resends a request it
    did not see acknowledged must not be counted twice."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def add_new(self, records: Sequence[CallRecord]) -> list[CallRecord]:
        fresh = []
        with self._lock:
            for record in records:
                key = (record.trace_id, record.span_id)
                if key in self._ids:
                    continue
                self._ids[key] = None
                fresh.append(record)
            while len(self._ids) > self.capacity:
                self._ids.popitem(last=False)
        return fresh

    def remember(self, keys: Any) -> None:
        with self._lock:
            self._ids.update((key, None) for key in keys)


class Pipeline:
    def __init__(
        self, settings: CollectorSettings, store: Store, pricer: Pricer, limits: PipelineLimits | None = None
    ) -> None:
        self.store = store
        self.pricer = pricer
        self.limits = limits or PipelineLimits()
        self.stats = PipelineStats()
        self.spool = Spool(settings.spool_dir)
        self.checkpoint = Checkpoint(settings.spool_dir / "checkpoint.json")
        self.recent = RecentSpans(self.limits.recent_span_ids)
        self._seed_recent_from_spool()
        self._wake = threading.Condition()
        self._flush_requested = False
        self._closing = False
        self._submit_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="llmsight-writer", daemon=True)
        self._thread.start()

    # --- receiving side ---
    def submit(self, records: Sequence[CallRecord]) -> int:
        """Make `records` durable; returns how many were new (resent spans are dropped)."""
        pending = self.spool.pending_bytes(self.checkpoint.committed)
        self.stats.pending_bytes = pending
        if pending > self.limits.max_spool_bytes:
            raise Backpressure(retry_after_seconds=min(30.0, 1.0 + pending / self.limits.max_spool_bytes))
        with self._submit_lock:  # one spool append per request, in arrival order, dedup consistent
            fresh = self.recent.add_new(records)
            if fresh:
                self.spool.append(list(map(_FIELDS_OF, fresh)))
        self.stats.submitted += len(fresh)
        self.stats.duplicates += len(records) - len(fresh)
        if fresh:
            with self._wake:
                self._wake.notify()
        return len(fresh)

    def _seed_recent_from_spool(self) -> None:
        trace_index, span_index = RECORD_FIELDS.index("trace_id"), RECORD_FIELDS.index("span_id")
        for segment in self.spool.segments():
            for frame in self.spool.read(segment, 0, 0):
                self.recent.remember((row[trace_index], row[span_index]) for row in frame.payload)

    # --- writer side ---
    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted so far is stored (False on timeout)."""
        deadline = time.monotonic() + timeout
        target = self.spool.durable
        with self._wake:
            self._flush_requested = True
            self._wake.notify()
        started = time.monotonic()
        while time.monotonic() < deadline:
            committed = self.checkpoint.committed
            if (committed.segment, committed.offset) >= target:
                return True
            if self.stats.last_error and time.monotonic() - started > 2.0:
                return False  # the store is down: what is left stays in the spool for the next run
            time.sleep(0.01)
        return False

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(timeout)
        self.spool.close()

    def _token(self, start: Position, end: Position) -> str:
        return f"{self.spool.id}:{start.segment}:{start.frame}-{end.frame}"

    def _run(self) -> None:
        if self.checkpoint.in_flight is not None:  # a batch that may or may not have been inserted
            start, end = self.checkpoint.in_flight
            frames = [f for f in self.spool.read(start.segment, start.offset, start.frame) if f.index < end.frame]
            self._insert_until_done(frames, start, end)
        while True:
            with self._wake:
                if self._closing:
                    return
            committed = self.checkpoint.committed
            frames, rows = [], 0
            first_seen = time.monotonic()
            for frame in self.spool.read(committed.segment, committed.offset, committed.frame):
                frames.append(frame)
                rows += len(frame.payload)
                if rows >= self.limits.batch_rows:
                    break
            if not frames:
                if committed.segment < self.spool.durable[0]:  # finished a segment: move on
                    self.checkpoint.commit(Position(committed.segment + 1, 0, 0))
                    self.spool.drop_before(committed.segment + 1)
                    continue
                with self._wake:
                    self._flush_requested = False
                    self._wake.wait(timeout=self.limits.flush_interval_s)
                continue
            full = rows >= self.limits.batch_rows
            if not full and not self._flush_requested and not self._closing:
                # Wait a little for more rows (fewer, larger inserts), then flush what there is.
                with self._wake:
                    self._wake.wait(timeout=max(0.0, self.limits.flush_interval_s - (time.monotonic() - first_seen)))
                if not self._flush_requested and not self._closing:
                    more = list(self.spool.read(frames[-1].segment, frames[-1].end_offset, frames[-1].index + 1))
                    for frame in more:
                        if rows >= self.limits.batch_rows:
                            break
                        frames.append(frame)
                        rows += len(frame.payload)
            start = committed
            last = frames[-1]
            end = Position(last.segment, last.index + 1, last.end_offset)
            self.checkpoint.begin(start, end)
            self._insert_until_done(frames, start, end)

    def _insert_until_done(self, frames: list[Any], start: Position, end: Position) -> None:
        records = [CallRecord(*row) for frame in frames for row in frame.payload]
        for record in records:
            try:
                self.pricer.price(record)
            except Exception:
                logger.exception("pricing failed for a %s/%s call; stored unpriced", record.provider, record.request_model)
        token = self._token(start, end)
        delay = self.limits.retry_initial_s
        while True:
            try:
                self.store.insert(records, token)
                break
            except StoreError as exc:
                self.stats.insert_errors += 1
                self.stats.last_error = str(exc)
                logger.warning("insert failed (%s); spooled, retrying in %.1fs", exc, delay)
                with self._wake:
                    if self._closing:
                        return
                    self._wake.wait(timeout=delay)
                delay = min(delay * 2, self.limits.retry_max_s)
        self.checkpoint.commit(end)
        self.stats.stored += len(records)
        self.stats.batches += 1
        self.stats.last_error = ""

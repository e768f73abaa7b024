"""Pipeline: the durable spool → priced, batched, deduplicated inserts into ClickHouse.

One writer thread in the store process reads the spool in order (only what the receiver process has
fsync'd), prices each record, inserts batches (size/time flush policy) with a deterministic
deduplication token, and advances the checkpoint. While ClickHouse is down the spool grows (bounded by
the receiver's backpressure) and the writer retries with backoff; on restart, everything not yet committed
is replayed — a batch that was inserted but not checkpointed carries the same (journalled) token, so
ClickHouse drops the copy. A batch is inserted in blocks of one day partition each, so no insert exceeds
ClickHouse's partitions-per-insert limit; rows the store refuses for what they hold (not for being down)
are isolated by halving the block and written to the dead-letter directory, never blocking the rows behind.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from llmsight.collector.batches import attribute_results, split_submissions, store_submissions
from llmsight.collector.config import CollectorSettings
from llmsight.collector.dead_letter import DEAD_LETTER_DIR, FRAMES_DIR, write_dead_frame, write_dead_letter
from llmsight.collector.normalise.merge import drop_stored, merge_calls
from llmsight.collector.record import CallRecord
from llmsight.collector.shared import SharedState
from llmsight.collector.spool import Checkpoint, Frame, Position, SpoolReader
from llmsight.collector.store import Store, StoreDataError, StoreError
from llmsight.collector.store.store import MAX_INSERT_ROWS, insert_blocks

logger = logging.getLogger("llmsight.collector")


class Pricer(Protocol):
    def price(self, record: CallRecord) -> None: ...


@dataclass
class PipelineLimits:
    batch_rows: int = 20_000
    flush_interval_s: float = 1.0
    poll_interval_s: float = 0.02  # how often an idle writer looks for newly durable frames
    quiet_s: float = 0.1  # no new frame for this long: insert what there is
    retry_initial_s: float = 0.2
    retry_max_s: float = 10.0
    insert_rows: int = MAX_INSERT_ROWS  # rows per insert block (each block is also one day partition)
    max_split_depth: int = 10  # halvings to isolate rows the store refuses (blocks of ~1/1000 dead-lettered at worst)


class Pipeline:
    def __init__(
        self, settings: CollectorSettings, store: Store, pricer: Pricer, shared: SharedState,
        limits: PipelineLimits | None = None,
    ) -> None:
        self.store = store
        self.pricer = pricer
        self.shared = shared
        self.limits = limits or PipelineLimits()
        # (spans merged into another row, spans already stored, batch submissions) of the last batch
        self._batch_merges = (0, 0, 0)
        self.spool = SpoolReader(settings.spool_dir, lambda: shared.position("durable"))
        self.checkpoint = Checkpoint(settings.spool_dir / "checkpoint.json")
        self.dead_letter_dir = settings.data_dir / DEAD_LETTER_DIR
        self._publish_committed()
        self._wake = threading.Condition()
        self._flush_requested = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="llmsight-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _publish_committed(self) -> None:
        committed = self.checkpoint.committed
        self.shared.set_position("committed", committed.segment, committed.offset)

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
            if self.shared.last_error and time.monotonic() - started > 2.0:
                return False  # the store is down: what is left stays in the spool for the next run
            time.sleep(0.01)
        return False

    def close(self, timeout: float = 30.0) -> None:
        if self._thread.is_alive():
            self.flush(timeout)
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _token(self, start: Position, end: Position) -> str:
        """The token a batch journalled by an earlier version (without a token of its own) was inserted with."""
        return f"{self.spool.id}:{start.segment}:{start.frame}-{end.frame}"

    def _one_row_per_call(self, records: list[CallRecord]) -> tuple[list[CallRecord], int, int, int]:
        """Spans of one call that reached this batch separately, or whose call is already stored (by an
        earlier batch, or another collector), become one row (normalise/merge.py); batch submissions go to their
        own table and batch results take their submission's attribution (collector/batches.py). Returns (records,
        merged, already stored: the same span inserted before, e.g. resent to another collector, submissions)."""
        submissions, records = split_submissions(records)
        records, merged = merge_calls(records)
        delay = self.limits.retry_initial_s
        while True:
            try:
                try:
                    store_submissions(self.store, submissions)
                except StoreDataError as exc:  # refused for what they hold: retrying cannot help, the calls go on
                    logger.error("the store refused %d batch submissions (%s); their results keep the readers' tags",
                                 len(submissions), str(exc)[:300])
                    self.shared.add(insert_errors=1)
                    submissions = []
                attribute_results(self.store, records, submissions)
                records, stored_before, replayed = drop_stored(self.store, records)
                return records, merged + stored_before, replayed, len(submissions)
            except StoreError as exc:  # ClickHouse is down: wait like an insert would
                self.shared.add(insert_errors=1)
                self.shared.last_error = str(exc)
                with self._wake:
                    if self._closing:
                        return records, merged, 0, len(submissions)
                    self._wake.wait(timeout=delay)
                delay = min(delay * 2, self.limits.retry_max_s)

    def _run(self) -> None:
        """The writer: it never dies. Whatever fails (the store, a full disk under the checkpoint) is counted,
        shown in /metrics and /healthz, and retried with backoff; the spool keeps every span meanwhile."""
        delay = self.limits.retry_initial_s
        while True:
            with self._wake:
                if self._closing:
                    return
            try:
                self._step()
                delay = self.limits.retry_initial_s
            except Exception as exc:  # noqa: BLE001 - see above
                logger.exception("the spool writer failed; retrying in %.1fs", delay)
                self.shared.add(writer_errors=1)
                self.shared.last_error = f"writer: {exc}"
                with self._wake:
                    self._wake.wait(timeout=delay)
                delay = min(delay * 2, self.limits.retry_max_s)

    def _step(self) -> None:
        """One unit of work: finish the batch in flight, or journal the next one."""
        checkpoint = self.checkpoint
        if checkpoint.in_flight is not None:  # journalled: inserted or not, it goes in under its own token
            start, end = checkpoint.in_flight
            token = checkpoint.token or self._token(start, end)
            frames = list(self.spool.read(start.segment, start.offset, start.frame, until=end.offset))
            if self._insert(frames, token):
                checkpoint.commit(end)
                self._committed(frames)
            return
        committed = checkpoint.committed
        frames = self._collect_batch(committed)
        if not frames:
            if committed.segment < self.spool.durable[0]:  # finished a segment: move on
                checkpoint.commit(Position(committed.segment + 1, 0, 0))
                self._publish_committed()
                self.spool.drop_before(committed.segment + 1)
                return
            with self._wake:
                self._flush_requested = False
                # The receiver process appends without telling: look again shortly.
                self._wake.wait(timeout=self.limits.poll_interval_s)
            return
        last = frames[-1]
        checkpoint.begin(committed, Position(last.segment, last.index + 1, last.end_offset))

    def _collect_batch(self, committed: Position) -> list[Any]:
        """Frames for the next insert, all from one segment. The batch is sent when it has `batch_rows`,
        when `flush_interval_s` has passed since its first frame, when the receiver has gone quiet for
        `quiet_s` (no point waiting for rows nobody is sending), or when a flush is asked for."""
        limits = self.limits
        frames: list[Any] = []
        rows = 0
        segment, offset, index = committed.segment, committed.offset, committed.frame
        first_seen = last_growth = 0.0
        while True:
            grew = False
            for frame in self.spool.read(segment, offset, index):
                frames.append(frame)
                rows += len(frame.records)
                grew = True
                if rows >= limits.batch_rows:
                    return frames
            if not frames:
                return frames
            now = time.monotonic()
            if grew:
                last = frames[-1]
                offset, index = last.end_offset, last.index + 1
                last_growth = now
                first_seen = first_seen or now
            with self._wake:
                if self._flush_requested or self._closing:
                    return frames
                if now - first_seen >= limits.flush_interval_s or now - last_growth >= limits.quiet_s:
                    return frames
                self._wake.wait(timeout=limits.poll_interval_s)

    def _insert(self, frames: list[Frame], token: str) -> bool:
        """Insert the batch's rows, split per day partition; rows the store refuses for what they hold go to
        the dead-letter directory. False when the collector is closing first (the batch stays journalled)."""
        for frame in frames:
            if frame.error:
                self._set_aside(frame)
        records = [record for frame in frames for record in frame.records]
        records, merged, already, submissions = self._one_row_per_call(records)
        self._batch_merges = (merged, already, submissions)  # counted once the batch is committed
        for record in records:
            try:
                self.pricer.price(record)
            except Exception:
                logger.exception("pricing failed for a %s/%s call; stored unpriced", record.provider, record.request_model)
        blocks = insert_blocks(records, self.limits.insert_rows)
        for suffix, rows in blocks:
            # One block keeps the batch's own token: a batch journalled before blocks existed replays the same.
            if not self._insert_block(rows, token if len(blocks) == 1 else f"{token}:{suffix}", 0):
                return False
        return True

    def _insert_block(self, records: list[CallRecord], token: str, depth: int) -> bool:
        delay = self.limits.retry_initial_s
        while True:
            try:
                self.store.insert(records, token)
                return True
            except StoreDataError as exc:  # retrying cannot help: find the rows it is about, keep the rest
                self.shared.add(insert_errors=1)
                if len(records) > 1 and depth < self.limits.max_split_depth:
                    half = len(records) // 2
                    return self._insert_block(records[:half], f"{token}/a", depth + 1) and self._insert_block(
                        records[half:], f"{token}/b", depth + 1
                    )
                self._dead_letter(records, token, str(exc))
                return True
            except StoreError as exc:
                self.shared.add(insert_errors=1)
                self.shared.last_error = str(exc)
                logger.warning("insert failed (%s); spooled, retrying in %.1fs", exc, delay)
                with self._wake:
                    if self._closing:
                        return False
                    self._wake.wait(timeout=delay)
                delay = min(delay * 2, self.limits.retry_max_s)

    def _dead_letter(self, records: list[CallRecord], token: str, reason: str) -> None:
        path = write_dead_letter(self.dead_letter_dir, records, token, reason)
        self.shared.add(dead_letter_batches=1, dead_lettered_rows=len(records))
        logger.error("the store refused %d rows (%s); kept in %s", len(records), reason[:300], path)

    def _set_aside(self, frame: Frame) -> None:
        """Keep a frame that cannot be read in the dead-letter directory, named by where it was in the spool (a
        batch replayed after a crash rewrites the same files). Raises OSError when it cannot (the writer retries)."""
        name = f"spool-{self.spool.id}-{frame.segment:012d}-{frame.offset:012d}"
        where = {"spool": self.spool.id, "segment": frame.segment, "offset": frame.offset, "frame": frame.index}
        write_dead_frame(self.dead_letter_dir, name, frame.data, frame.error, where)

    def _committed(self, frames: list[Frame]) -> None:
        self._publish_committed()
        rows = 0
        for frame in frames:
            rows += len(frame.records)
            if frame.corrupt_bytes:
                self.shared.add(corrupt_frames=1, corrupt_bytes=frame.corrupt_bytes)
            elif frame.error:
                self.shared.add(undecodable_frames=1)
            if frame.error:
                logger.error(
                    "spool segment %d: frame %d at offset %d (%d bytes) could not be read (%s); kept in %s, the frames "
                    "after it were stored", frame.segment, frame.index, frame.offset, len(frame.data), frame.error,
                    self.dead_letter_dir / FRAMES_DIR,
                )
        merged, already, submissions = self._batch_merges
        # Rows inserted: the batch's spans less those merged into another span's row or already stored, and the
        # batch submissions (rows of their own table).
        self.shared.add(stored=rows - merged - already - submissions, batches=1, merged_calls=merged,
                        already_stored=already, batch_submissions=submissions)
        self.shared.last_error = ""

"""The write-ahead spool: every accepted span is on disk (fsync'd) before the exporter is told so.

Layout under `spool_dir`: segment files `NNNNNNNNNNNN.wal` of frames (collector/spool_format.py: a marker, the
format version, the length, a CRC and the records as MessagePack), and `checkpoint.json` with the last committed frame and the batch in flight (with its deduplication token).
A frame holds the records of one export request. The writer inserts frames in batches whose bounds and
token are journalled before the insert, so a batch replayed after a crash carries the same
insert-deduplication token and ClickHouse drops the copy: stored exactly once.

Faults it survives:
- A write or fsync that fails (disk full, I/O error) is rolled back: the segment is truncated to the last
  durable frame and the request is refused (the exporter retries), so no torn frame sits in the middle of
  the spool with acknowledged frames after it.
- A corrupted frame (bad CRC, impossible length) is skipped by looking for the next frame marker with a whole
  frame behind it; every reader treats the same bytes the same way. A frame with a valid CRC that is not
  records this version can read (another format version, values of the wrong type, a frame of the pickle
  format earlier versions wrote) is never executed or guessed at. Either costs that frame only: the writer
  keeps its bytes in the dead-letter directory with the reason, logs and counts it.
- Repair at start-up never truncates below the committed position, and segment numbers never go back.

Two processes share it: the receiver process appends (`Spool`, the only writer, guarded by a lock file),
the store process reads what is durable and deletes what is committed (`SpoolReader`).
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmsight.collector.durable import fsync_dir, replace_durably
from llmsight.collector.lockfile import lock_exclusively
from llmsight.collector.record import CallRecord
from llmsight.collector.spool_format import (
    HEADER,
    MARKER,
    MAX_PAYLOAD_BYTES,
    FrameDecodeError,
    checksum,
    decode_payload,
    encode_frame,
)
from llmsight.errors import LLMSightError

logger = logging.getLogger("llmsight.collector")
_PICKLE_HEADER = struct.Struct("<II")  # the format before spool format 1: [u32 length][u32 crc32][pickle]
PICKLE_FORMAT = (
    "a frame of the pickle spool format written by llmsight before spool format 1; not read, because unpickling "
    "can run code: replay it with the version that wrote it, or delete it"
)
SEGMENT_MAX_BYTES = 64 * 1024 * 1024
LOCK_WAIT_S = 15.0  # a receiver process of a collector just killed may take a moment to go


class SpoolWriteError(LLMSightError, OSError):
    """An append could not be made durable (and was rolled back): nothing of it is in the spool."""


@dataclass(frozen=True, slots=True)
class Position:
    segment: int
    frame: int  # frame index within the segment (informational: tokens do not depend on it)
    offset: int  # byte offset of the frame after this one


@dataclass(frozen=True, slots=True)
class Frame:
    segment: int
    index: int
    end_offset: int
    records: list[CallRecord]
    corrupt_bytes: int = 0  # > 0: not a frame but a corrupted region skipped (records empty)
    offset: int = 0  # where the frame (or region) starts
    error: str = ""  # why its records could not be read (records empty): a corrupted region or an undecodable frame
    data: bytes = b""  # the bytes of a frame or region that could not be read, kept for the dead-letter directory


def spool_id(directory: Path) -> str:
    """The spool's random id (created on first use)."""
    directory.mkdir(parents=True, exist_ok=True)
    id_file = directory / "spool.id"
    if not id_file.exists():
        replace_durably(id_file, lambda handle: handle.write(uuid.uuid4().hex.encode()))
    return id_file.read_text().strip()


def segment_path(directory: Path, segment: int) -> Path:
    return directory / f"{segment:012d}.wal"


def segments(directory: Path) -> list[int]:
    return sorted(int(p.stem) for p in directory.glob("*.wal") if p.stem.isdigit())


@dataclass
class _Waiter:
    """One append waiting for its fsync (group commit: the first waiter fsyncs for all)."""

    segment: int
    done: bool = False
    error: OSError | None = None


class Spool:
    """The appending side. `on_durable(segment, size)` is told each time more of the spool is on disk."""

    def __init__(self, directory: Path, on_durable: Callable[[int, int], None] | None = None) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = lock_exclusively(directory / ".append.lock", what=f"the spool {directory}", wait_s=LOCK_WAIT_S)
        self._on_durable = on_durable
        self._lock = threading.Lock()  # file writes and the bookkeeping below
        self._sync_lock = threading.Lock()  # one fsync at a time; the others wait for its result
        self._pending: list[_Waiter] = []
        # (segment, byte size) known to be on disk: the reader never reads past it, so nothing reaches
        # ClickHouse that a crash could take back from the spool.
        self.durable: tuple[int, int] = (0, 0)
        self.repaired_bytes = 0  # corrupted or torn bytes found at start-up (logged)
        self._segment, self._frame_count, self._file_size = self._repair(Checkpoint(directory / "checkpoint.json").committed)
        self._fd = self._open(self._segment)
        os.ftruncate(self._fd, self._file_size)  # a torn or corrupted tail: never a whole acknowledged frame
        os.fsync(self._fd)
        fsync_dir(directory)
        self._publish((self._segment, self._file_size))
        # Sizes of the finished segments, so backpressure checks on every request need no syscalls.
        self._closed_sizes = {s: segment_path(directory, s).stat().st_size for s in self.segments() if s != self._segment}

    def _repair(self, committed: Position) -> tuple[int, int, int]:
        """(segment to append to, its frame count, its valid size). Only the part after the committed
        position is scanned and only the tail after the last whole frame is cut: committed frames are
        never touched, and a corrupted frame in the middle is left for the reader to skip (and count)."""
        existing = self.segments()
        last = max(existing[-1] if existing else 0, committed.segment)  # files gone: never reuse a number
        path = segment_path(self.dir, last)
        size = path.stat().st_size if path.exists() else 0
        start, index = (committed.offset, committed.frame) if last == committed.segment else (0, 0)
        if size < start:
            # Shorter than what was committed from it (lost or cut by hand): a fresh segment, never a rewrite.
            logger.error("spool segment %d is shorter than its committed position %d; continuing in a new segment", last, start)
            return last + 1, 0, 0
        valid_end, count = start, index
        corrupt: list[Frame] = []
        with open(path, "a+b") as handle:
            for frame in iter_frames(handle, last, start, index, None, decode=False):
                if frame.corrupt_bytes:
                    corrupt.append(frame)
                else:
                    valid_end, count = frame.end_offset, frame.index + 1
        for frame in corrupt:
            if frame.offset >= valid_end:
                continue  # the tail after the last whole frame: cut below
            self.repaired_bytes += frame.corrupt_bytes
            logger.error(
                "spool segment %d: %d corrupted bytes at offset %d (frame %d); the writer skips and counts them",
                last, frame.corrupt_bytes, frame.offset, frame.index,
            )
        if valid_end < size:
            self.repaired_bytes += size - valid_end
            logger.warning(
                "spool segment %d: cutting %d bytes after the last whole frame at offset %d (a write that was never "
                "acknowledged, or a corrupted tail)", last, size - valid_end, valid_end,
            )
        return last, count, valid_end

    def _open(self, segment: int) -> int:
        return os.open(segment_path(self.dir, segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def _publish(self, durable: tuple[int, int]) -> None:
        self.durable = durable
        if self._on_durable is not None:
            self._on_durable(*durable)

    def segments(self) -> list[int]:
        return segments(self.dir)

    def append(self, records: Sequence[CallRecord]) -> None:
        """Append one frame and return once it is durable (group commit: concurrent appends share fsyncs).
        Raises SpoolWriteError, with the frame rolled back, when it cannot be written or synced."""
        frame = encode_frame(records)
        with self._lock:
            if self._file_size + len(frame) > SEGMENT_MAX_BYTES and self._frame_count:
                self._rotate()
            start = self._file_size
            try:
                _write_all(self._fd, frame)
            except OSError as exc:
                self._truncate(start)  # nothing torn stays behind for later frames to follow
                raise SpoolWriteError(exc.errno, f"cannot write to the spool: {exc.strerror or exc}") from exc
            self._file_size += len(frame)
            self._frame_count += 1
            waiter = _Waiter(self._segment)
            self._pending.append(waiter)
        self._sync(waiter)

    def _sync(self, waiter: _Waiter) -> None:
        while not waiter.done:
            with self._sync_lock:
                if waiter.done:  # another thread's sync may have covered it meanwhile
                    break  # type: ignore[unreachable]
                with self._lock:
                    batch, self._pending = self._pending, []
                    durable = (self._segment, self._file_size)
                    fd = self._fd
                try:
                    os.fsync(fd)
                except OSError as exc:
                    self._fail(batch, exc)
                    break
                for each in batch:
                    each.done = True
                with self._lock:
                    if durable > self.durable:
                        self._publish(durable)
        if waiter.error is not None:
            raise SpoolWriteError(waiter.error.errno, f"cannot sync the spool: {waiter.error.strerror or waiter.error}")

    def _fail(self, batch: list[_Waiter], exc: OSError) -> None:
        """An fsync failed: what it covered is not known to be on disk. Cut the segment back to the last
        durable frame and fail every append after it (their exporters retry)."""
        with self._lock:
            failed = batch + self._pending
            self._pending = []
            base = self.durable[1] if self.durable[0] == self._segment else 0
            if all(w.segment == self._segment for w in failed):
                self._truncate(base)
        for each in failed:
            each.error = exc
            each.done = True

    def _truncate(self, size: int) -> None:
        try:
            os.ftruncate(self._fd, size)
            self._file_size = size
            self._frame_count = self._frame_count if size else 0
        except OSError:
            logger.exception("cannot cut spool segment %d back to %d bytes", self._segment, size)

    def _rotate(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise SpoolWriteError(exc.errno, f"cannot sync the spool: {exc.strerror}") from exc
        fd = self._open(self._segment + 1)  # raises (nothing changed) when the directory is full
        fsync_dir(self.dir)
        os.close(self._fd)
        if (self._segment, self._file_size) > self.durable:
            self._publish((self._segment, self._file_size))
        self._closed_sizes[self._segment] = self._file_size
        self._segment += 1
        self._fd = fd
        self._frame_count = 0
        self._file_size = 0

    def read(self, segment: int, offset: int, first_index: int) -> Iterator[Frame]:
        """Durable frames of `segment` from byte `offset` on."""
        return read_frames(self.dir, self.durable, segment, offset, first_index)

    def pending_bytes(self, committed_segment: int, committed_offset: int) -> int:
        """Bytes in the spool not yet committed to ClickHouse."""
        with self._lock:
            for old in [segment for segment in self._closed_sizes if segment < committed_segment]:
                del self._closed_sizes[old]  # the reader has deleted it
            sizes = [*self._closed_sizes.items(), (self._segment, self._file_size)]
        total = 0
        for segment, size in sizes:
            if segment >= committed_segment:
                total += size - committed_offset if segment == committed_segment else size
        return max(total, 0)

    def close(self) -> None:
        with self._lock:
            try:
                os.fsync(self._fd)
            except OSError:
                logger.exception("cannot sync the spool on close")
            os.close(self._fd)
        self._lock_file.close()


class SpoolReader:
    """The reading side: frames up to what the appending process reports durable, in order."""

    def __init__(self, directory: Path, durable: Callable[[], tuple[int, int] | None]) -> None:
        self.dir = directory
        self.id = spool_id(directory)
        self._durable = durable

    @property
    def durable(self) -> tuple[int, int]:
        return self._durable() or (-1, 0)

    def segments(self) -> list[int]:
        return segments(self.dir)

    def read(self, segment: int, offset: int, first_index: int, until: int | None = None) -> Iterator[Frame]:
        return read_frames(self.dir, self.durable, segment, offset, first_index, until)

    def drop_before(self, segment: int) -> None:
        """Delete fully committed segments."""
        for old in self.segments():
            if old < segment:
                segment_path(self.dir, old).unlink(missing_ok=True)


def read_frames(
    directory: Path, durable: tuple[int, int], segment: int, offset: int, first_index: int, until: int | None = None
) -> Iterator[Frame]:
    """Frames of `segment` from byte `offset` on, never past `durable` (segment, size) nor `until`."""
    durable_segment, durable_size = durable
    if segment > durable_segment:
        return
    limit = durable_size if segment == durable_segment else None
    if until is not None:
        limit = until if limit is None else min(limit, until)
    path = segment_path(directory, segment)
    if not path.exists():
        return
    with open(path, "rb") as handle:
        yield from iter_frames(handle, segment, offset, first_index, limit)


def iter_frames(
    handle: Any, segment: int, offset: int, first_index: int, limit: int | None, *, decode: bool = True
) -> Iterator[Frame]:
    """Whole frames with a matching CRC from `offset` up to `limit` (end of file when None), their records decoded
    (unless `decode` is False: the scan at start-up only needs the bounds). A region that is not a whole frame is
    yielded as one `corrupt_bytes` entry, and reading goes on at the next whole frame; a whole frame whose records
    cannot be read is yielded with its `error`. Either way it costs that frame, not the spool after it."""
    handle.seek(0, os.SEEK_END)
    end = handle.tell() if limit is None else min(limit, handle.tell())
    index = first_index
    handle.seek(offset)
    while offset < end:
        frame = _read_frame(handle, segment, index, offset, end, decode)
        if frame is None:
            resume = _next_frame(handle, offset + 1, end)
            handle.seek(offset)
            data = handle.read(resume - offset) if decode else b""
            frame = Frame(segment, index, resume, [], resume - offset, offset, "corrupted: not a whole frame", data)
        yield frame
        index += 1
        offset = frame.end_offset
        handle.seek(offset)


def _read_frame(handle: Any, segment: int, index: int, offset: int, end: int, decode: bool) -> Frame | None:
    """The whole frame at `offset` (the handle is there), or None when the bytes there are not one."""
    header = handle.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    marker, version, length, crc = HEADER.unpack(header)
    if marker != MARKER:
        return _pickle_frame(handle, segment, index, offset, end, header, decode)
    frame_end = offset + HEADER.size + length
    if length > MAX_PAYLOAD_BYTES or frame_end > end:
        return None
    data = handle.read(length)
    if checksum(version, data) != crc:
        return None
    if not decode:
        return Frame(segment, index, frame_end, [], 0, offset)
    try:
        return Frame(segment, index, frame_end, decode_payload(version, data), 0, offset)
    except FrameDecodeError as exc:
        return Frame(segment, index, frame_end, [], 0, offset, str(exc), data)


def _pickle_frame(handle: Any, segment: int, index: int, offset: int, end: int, header: bytes, decode: bool) -> Frame | None:
    """A whole frame of the pickle format at `offset`, recognised (never unpickled) so that it is set aside alone
    with a reason that says what it is; None when the bytes there are not one either."""
    length, crc = _PICKLE_HEADER.unpack_from(header)
    frame_end = offset + _PICKLE_HEADER.size + length
    if length > MAX_PAYLOAD_BYTES or frame_end > end or header[_PICKLE_HEADER.size:_PICKLE_HEADER.size + 1] != b"\x80":
        return None
    handle.seek(offset + _PICKLE_HEADER.size)
    data = handle.read(length)
    if zlib.crc32(data) != crc:
        return None
    return Frame(segment, index, frame_end, [], 0, offset, PICKLE_FORMAT, data if decode else b"")


def _next_frame(handle: Any, offset: int, end: int) -> int:
    """Offset of the next whole frame after a corrupted one (or `end`): the next marker with a whole frame behind
    it and a matching CRC."""
    handle.seek(offset)
    region = handle.read(end - offset)
    position = 0
    while True:
        start = region.find(MARKER, position)
        if start < 0:
            return end
        if start + HEADER.size <= len(region):
            _, version, length, crc = HEADER.unpack_from(region, start)
            payload = memoryview(region)[start + HEADER.size:start + HEADER.size + length]
            if length <= MAX_PAYLOAD_BYTES and len(payload) == length and checksum(version, payload) == crc:
                return int(offset + start)
        position = start + 1


class Checkpoint:
    """`committed`: the position after the last frame stored in ClickHouse. `in_flight`: a batch being
    inserted (start, end and its deduplication token), journalled before the insert so a crash replays the
    same batch with the same token. Tokens are `epoch:sequence`: the sequence only grows, and the epoch is
    new whenever the checkpoint had to be created afresh, so no token is ever used for two batches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.committed = Position(0, 0, 0)
        self.in_flight: tuple[Position, Position] | None = None
        self.token = ""
        self.epoch = ""
        self.sequence = 0
        try:
            state = json.loads(path.read_text())
            self.committed = Position(*state["committed"])
            flight = state.get("in_flight")
            self.in_flight = (Position(*flight[0]), Position(*flight[1])) if flight else None
            self.token = state.get("token", "")
            self.epoch = state.get("epoch", "")
            self.sequence = int(state.get("sequence", 0))
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            logger.error("spool checkpoint %s is unreadable (%s): replaying the whole spool under new tokens", path, exc)
        self.epoch = self.epoch or uuid.uuid4().hex

    def _save(self, committed: Position, in_flight: tuple[Position, Position] | None, token: str, sequence: int) -> None:
        state = {
            "committed": list(_as_tuple(committed)),
            "in_flight": [list(_as_tuple(p)) for p in in_flight] if in_flight else None,
            "token": token,
            "epoch": self.epoch,
            "sequence": sequence,
        }
        replace_durably(self.path, lambda handle: handle.write(json.dumps(state).encode()))  # raises (state unchanged) on a full disk
        self.committed, self.in_flight, self.token, self.sequence = committed, in_flight, token, sequence

    def begin(self, start: Position, end: Position) -> str:
        """Journal the batch [start, end) and return its deduplication token."""
        sequence = self.sequence + 1
        token = f"{self.epoch}:{sequence}"
        self._save(self.committed, (start, end), token, sequence)
        return token

    def commit(self, end: Position) -> None:
        self._save(end, None, "", self.sequence)


def _as_tuple(position: Position) -> tuple[int, int, int]:
    return (position.segment, position.frame, position.offset)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]

"""The write-ahead spool: every accepted span is on disk (fsync'd) before the exporter is told so.

Layout under `spool_dir`: `spool.id` (random id, part of every dedup token, so a new spool never
collides with an old one's tokens), segment files `NNNNNNNNNNNN.wal` of frames
`[u32 length][u32 crc32][pickle payload]`, and `checkpoint.json` with the last committed frame and the
batch in flight. A frame holds the records of one export request. The writer inserts frames in batches
whose bounds are journalled before the insert, so a batch replayed after a crash carries the same
insert-deduplication token and ClickHouse drops the copy: stored exactly once.

Two processes share it: the receiver process appends (`Spool`, the only writer, guarded by a lock file),
the store process reads what is durable and deletes what is committed (`SpoolReader`). Pickle is used
because the spool is private to the collector's own data directory; it is the fastest stdlib codec for
tuples of str/int/float/datetime.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmsight.collector.lockfile import lock_exclusively

_HEADER = struct.Struct("<II")
SEGMENT_MAX_BYTES = 64 * 1024 * 1024
LOCK_WAIT_S = 15.0  # a receiver process of a collector just killed may take a moment to go


@dataclass(frozen=True, slots=True)
class Position:
    segment: int
    frame: int  # frame index within the segment
    offset: int  # byte offset of the frame after this one


@dataclass(frozen=True, slots=True)
class Frame:
    segment: int
    index: int
    end_offset: int
    payload: list[Any]


def spool_id(directory: Path) -> str:
    """The spool's random id (created on first use): part of every dedup token, so a new spool never
    collides with an old one's tokens."""
    directory.mkdir(parents=True, exist_ok=True)
    id_file = directory / "spool.id"
    if not id_file.exists():
        _atomic_write(id_file, uuid.uuid4().hex)
    return id_file.read_text().strip()


def segment_path(directory: Path, segment: int) -> Path:
    return directory / f"{segment:012d}.wal"


def segments(directory: Path) -> list[int]:
    return sorted(int(p.stem) for p in directory.glob("*.wal"))


class Spool:
    """The appending side. `on_durable(segment, size)` is told each time more of the spool is on disk."""

    def __init__(self, directory: Path, on_durable: Callable[[int, int], None] | None = None) -> None:
        self.dir = directory
        self.id = spool_id(directory)
        self._lock_file = lock_exclusively(directory / ".append.lock", what=f"the spool {directory}", wait_s=LOCK_WAIT_S)
        self._on_durable = on_durable
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._synced = 0  # write sequence number known durable
        self._written = 0
        # (segment, byte size) known to be on disk: the reader never reads past it, so nothing reaches
        # ClickHouse that a crash could take back from the spool.
        self.durable: tuple[int, int] = (0, 0)
        existing = self.segments()
        self._segment = existing[-1] if existing else 0
        self._frame_count = 0
        if existing:
            self._frame_count, valid_end = _scan(self._path(self._segment))
            with open(self._path(self._segment), "r+b") as handle:
                handle.truncate(valid_end)  # a torn write at the tail was never acknowledged
        self._file = open(self._path(self._segment), "ab")  # noqa: SIM115 - kept open for appends
        self._file_size = self._file.tell()
        self._publish((self._segment, self._file_size))
        # Sizes of the finished segments, so backpressure checks on every request need no syscalls.
        self._closed_sizes = {segment: self._path(segment).stat().st_size for segment in existing if segment != self._segment}

    def _publish(self, durable: tuple[int, int]) -> None:
        self.durable = durable
        if self._on_durable is not None:
            self._on_durable(*durable)

    def _path(self, segment: int) -> Path:
        return segment_path(self.dir, segment)

    def segments(self) -> list[int]:
        return segments(self.dir)

    def append(self, payload: list[Any]) -> None:
        """Append one frame and return once it is durable (group commit: concurrent appends share fsyncs)."""
        data = pickle.dumps(payload, protocol=5)
        frame = _HEADER.pack(len(data), zlib.crc32(data)) + data
        with self._lock:
            if self._file_size + len(frame) > SEGMENT_MAX_BYTES and self._frame_count:
                self._rotate()
            self._file.write(frame)
            self._file.flush()
            self._file_size += len(frame)
            self._frame_count += 1
            self._written += 1
            ticket = self._written
            file = self._file
        self._sync(ticket, file)

    def _sync(self, ticket: int, file: Any) -> None:
        if self._synced >= ticket:
            return
        with self._sync_lock:
            if self._synced >= ticket:
                return
            with self._lock:
                target = self._written
                durable = (self._segment, self._file_size)
            os.fsync(file.fileno())
            self._synced = max(self._synced, target)
            if file is self._file or durable[0] > self.durable[0]:
                self._publish(max(self.durable, durable))

    def _rotate(self) -> None:
        os.fsync(self._file.fileno())
        self._file.close()
        self._publish(max(self.durable, (self._segment, self._file_size)))
        self._closed_sizes[self._segment] = self._file_size
        self._segment += 1
        self._frame_count = 0
        self._file = open(self._path(self._segment), "ab")  # noqa: SIM115
        self._file_size = 0
        _fsync_dir(self.dir)

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
            os.fsync(self._file.fileno())
            self._file.close()
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

    def read(self, segment: int, offset: int, first_index: int) -> Iterator[Frame]:
        return read_frames(self.dir, self.durable, segment, offset, first_index)

    def drop_before(self, segment: int) -> None:
        """Delete fully committed segments."""
        for old in self.segments():
            if old < segment:
                segment_path(self.dir, old).unlink(missing_ok=True)


def read_frames(directory: Path, durable: tuple[int, int], segment: int, offset: int, first_index: int) -> Iterator[Frame]:
    """Frames of `segment` from byte `offset` on, never past `durable` (segment, size)."""
    durable_segment, durable_size = durable
    if segment > durable_segment:
        return
    limit = durable_size if segment == durable_segment else None
    path = segment_path(directory, segment)
    if not path.exists():
        return
    with open(path, "rb") as handle:
        handle.seek(offset)
        for index, (end_offset, data) in enumerate(_valid_frames(handle, offset, limit), start=first_index):
            yield Frame(segment, index, end_offset, pickle.loads(data))


def _valid_frames(handle: Any, offset: int, limit: int | None) -> Iterator[tuple[int, bytes]]:
    """(offset after the frame, payload bytes) for each whole frame with a matching CRC, up to `limit`."""
    while limit is None or offset < limit:
        header = handle.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        length, crc = _HEADER.unpack(header)
        data = handle.read(length)
        if len(data) < length or zlib.crc32(data) != crc:
            return
        offset += _HEADER.size + length
        yield offset, data


class Checkpoint:
    """`committed`: the position after the last frame stored in ClickHouse. `in_flight`: a batch being
    inserted (start and end), journalled before the insert so a crash replays the same batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.committed = Position(0, 0, 0)
        self.in_flight: tuple[Position, Position] | None = None
        if path.exists():
            state = json.loads(path.read_text())
            self.committed = Position(*state["committed"])
            flight = state.get("in_flight")
            self.in_flight = (Position(*flight[0]), Position(*flight[1])) if flight else None

    def _save(self) -> None:
        state = {
            "committed": [self.committed.segment, self.committed.frame, self.committed.offset],
            "in_flight": [list(_as_tuple(p)) for p in self.in_flight] if self.in_flight else None,
        }
        _atomic_write(self.path, json.dumps(state))

    def begin(self, start: Position, end: Position) -> None:
        self.in_flight = (start, end)
        self._save()

    def commit(self, end: Position) -> None:
        self.committed = end
        self.in_flight = None
        self._save()


def _as_tuple(position: Position) -> tuple[int, int, int]:
    return (position.segment, position.frame, position.offset)


def _scan(path: Path) -> tuple[int, int]:
    """(valid frame count, byte offset after the last valid frame)."""
    count = offset = 0
    with open(path, "rb") as handle:
        for offset, _ in _valid_frames(handle, 0, None):
            count += 1
    return count, offset


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

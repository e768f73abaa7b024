"""A spool frame is data, never code: frames the collector cannot read (a crafted or truncated pickle left by an
earlier version or by someone who could write the data directory, rows of another shape, random bytes with a
valid checksum) cost that frame only: kept in dead-letter/frames/ with the reason, counted, logged. The collector
starts, runs no code from the spool, and stores every span around the bad frame."""

from __future__ import annotations

import pickle
import struct
import zlib
from pathlib import Path

import pytest

from .conftest import CollectorProcess
from .spans import genai_request, post_protobuf


class _RunsCode:
    """Unpickling this calls open(path, "w"): proof that the spool ran code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def _pickle_frame(payload: bytes) -> bytes:
    """A frame of the spool's former format, `[u32 length][u32 crc32][pickle]`, with a valid checksum."""
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def _segment(data_dir: Path) -> Path:
    return sorted((data_dir / "spool").glob("*.wal"))[-1]


def _stored_then_stopped(data_dir: Path, batches: range) -> CollectorProcess:
    collector = CollectorProcess(data_dir, []).start()
    for batch in batches:
        assert post_protobuf(collector.http_endpoint, genai_request(batch, spans=20)) == 200
    collector.wait_stored(len(batches) * 20)
    assert collector.stop() == 0
    return collector


def _restart_and_send_more(collector: CollectorProcess) -> None:
    """The collector starts over the bad frame, and spans sent after it are stored."""
    collector.start()
    for batch in range(5, 10):
        assert post_protobuf(collector.http_endpoint, genai_request(batch, spans=20)) == 200
    collector.wait_stored(200, timeout=20)


def _log(collector: CollectorProcess) -> str:
    assert collector.stop() == 0
    assert collector.process is not None and collector.process.stdout is not None
    return collector.process.stdout.read().decode()


def test_a_crafted_pickle_in_the_spool_runs_no_code(tmp_path: Path) -> None:
    data_dir, ran = tmp_path / "data", tmp_path / "code-ran"
    collector = _stored_then_stopped(data_dir, range(5))
    with open(_segment(data_dir), "ab") as segment:
        segment.write(_pickle_frame(pickle.dumps([_RunsCode(ran)], protocol=5)))
    _restart_and_send_more(collector)
    assert not ran.exists(), "the collector unpickled a spool frame: code from the data directory ran"
    log = _log(collector)
    assert "pickle" in log, log


def test_a_truncated_pickle_in_the_spool_neither_stops_the_collector_nor_the_spans_after_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    collector = _stored_then_stopped(data_dir, range(5))
    rows = [("x",) * 44] * 3
    with open(_segment(data_dir), "ab") as segment:
        segment.write(_pickle_frame(pickle.dumps(rows, protocol=5)[:-20]))
    _restart_and_send_more(collector)
    assert collector.metrics()["pipeline"]["undecodable_frames"] == 1
    _log(collector)


@pytest.mark.parametrize("width", [30, 50])
def test_pickled_rows_of_another_length_never_stall_the_writer(tmp_path: Path, width: int) -> None:
    """A spool written by another version: rows shorter or longer than this version's record."""
    from datetime import datetime, timezone

    data_dir = tmp_path / "data"
    collector = _stored_then_stopped(data_dir, range(5))
    row = (datetime.now(timezone.utc), "a" * 32, "b" * 16, *[""] * (width - 3))
    with open(_segment(data_dir), "ab") as segment:
        segment.write(_pickle_frame(pickle.dumps([row], protocol=5)))
    _restart_and_send_more(collector)
    frames = sorted((data_dir / "dead-letter" / "frames").glob("*.json"))
    assert len(frames) == 1, frames
    assert "pickle" in frames[0].read_text()

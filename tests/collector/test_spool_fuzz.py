"""The spool decoder as a fuzz target: whatever bytes a segment holds (random, mutated, truncated, a crafted
payload with a valid checksum), reading it never raises, and every frame that was not damaged comes back whole.
Then the same kinds of damage under a real collector: it starts, stores every span around them, and keeps each
damaged frame in dead-letter/frames/ with its reason."""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmsight.collector.record import CallRecord
from llmsight.collector.spool import iter_frames
from llmsight.collector.spool_format import FORMAT_VERSION, HEADER, MARKER, checksum, encode_frame

from .conftest import CollectorProcess
from .spans import genai_request, post_protobuf

_BASE = datetime(2026, 12, 1, tzinfo=timezone.utc)
_text = st.text(max_size=12)
_records = st.builds(
    CallRecord,
    ts=st.integers(0, 10**9).map(lambda us: _BASE + timedelta(microseconds=us)),
    trace_id=st.text("0123456789abcdef", min_size=32, max_size=32),
    span_id=st.text("0123456789abcdef", min_size=16, max_size=16),
    provider=_text, request_model=_text, input_tokens=st.integers(0, 2**63 - 1),
    ttft_ms=st.none() | st.floats(allow_nan=False), attributes=st.dictionaries(_text, _text, max_size=3),
)
_frames = st.lists(st.lists(_records, min_size=1, max_size=3), min_size=1, max_size=6)


def _with_checksum(payload: bytes, version: int = FORMAT_VERSION) -> bytes:
    return HEADER.pack(MARKER, version, len(payload), checksum(version, payload)) + payload


@st.composite
def _damage(draw: st.DrawFn, frame: bytes) -> bytes:
    """One frame, damaged in one of the ways a disk, a crash or an attacker damages it."""
    kind = draw(st.sampled_from(["flip", "truncate", "random", "crafted", "version", "pickle"]))
    if kind == "flip":  # bytes changed in place, anywhere in the frame (header included)
        data = bytearray(frame)
        for position in draw(st.lists(st.integers(0, len(frame) - 1), min_size=1, max_size=4)):
            data[position] ^= draw(st.integers(1, 255))
        return bytes(data)
    if kind == "truncate":
        return frame[:draw(st.integers(0, len(frame) - 1))]
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=200))
    if kind == "crafted":  # a valid checksum over bytes that are not records: random, or MessagePack of other shapes
        payload = draw(st.binary(max_size=200) | st.builds(
            msgspec.msgpack.encode,
            st.recursive(st.none() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8) | st.binary(max_size=8),
                         lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                         max_leaves=12),
        ))
        return _with_checksum(payload)
    if kind == "version":
        return _with_checksum(frame[HEADER.size:], draw(st.integers(0, 65535).filter(lambda v: v != FORMAT_VERSION)))
    payload = draw(st.binary(max_size=100))  # a frame of the pickle format (never unpickled)
    return struct.pack("<II", len(payload) + 1, zlib.crc32(b"\x80" + payload)) + b"\x80" + payload


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=_frames, data=st.data())
def test_damage_costs_the_damaged_frame_only(frames: list[list[CallRecord]], data: st.DataObject) -> None:
    encoded = [encode_frame(records) for records in frames]
    damaged = data.draw(st.integers(0, len(encoded) - 1))
    segment = list(encoded)
    segment[damaged] = data.draw(_damage(encoded[damaged]))
    read = list(iter_frames(io.BytesIO(b"".join(segment)), 0, 0, 0, None))
    records = [record for frame in read for record in frame.records]
    for index, frame_records in enumerate(frames):
        if index != damaged:
            for record in frame_records:
                assert record in records
    assert all(record in [r for f in frames for r in f] for record in records)
    assert sum(frame.corrupt_bytes for frame in read) <= len(segment[damaged])
    assert all(not frame.records for frame in read if frame.error)


@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(data: bytes) -> None:
    for frame in iter_frames(io.BytesIO(data), 0, 0, 0, None):
        assert frame.end_offset > frame.offset


def test_a_collector_over_a_damaged_spool_starts_stores_the_rest_and_keeps_each_damaged_frame(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    collector = CollectorProcess(data_dir, []).start()
    for batch in range(3):
        assert post_protobuf(collector.http_endpoint, genai_request(batch, spans=20)) == 200
    collector.wait_stored(60)
    assert collector.stop() == 0
    good = encode_frame([CallRecord(ts=datetime.now(timezone.utc), trace_id="f" * 32, span_id="e" * 16)])
    flipped = bytearray(good)
    flipped[HEADER.size + 20] ^= 0xFF
    damaged = [
        _with_checksum(b"\x92\x90\x91\x93\x01\x02\x03"),  # valid MessagePack, not records
        _with_checksum(msgspec.msgpack.encode([["ts", "trace_id", "span_id"], [["not a time", "a", "b"]]])),
        _with_checksum(good[HEADER.size:], FORMAT_VERSION + 1),  # a newer collector's
        struct.pack("<II", 5, zlib.crc32(pickle.dumps(1)[:5])) + pickle.dumps(1)[:5],  # a (truncated) pickle frame
        bytes(flipped),  # bad CRC
        b"\x00" * 100,
    ]
    segment = sorted((data_dir / "spool").glob("*.wal"))[-1]
    with open(segment, "ab") as handle:
        handle.write(b"".join(damaged) + good)
    collector.start()
    for batch in range(3, 6):
        assert post_protobuf(collector.http_endpoint, genai_request(batch, spans=20)) == 200
    collector.wait_stored(121, timeout=20)
    pipeline = collector.metrics()["pipeline"]
    assert (pipeline["undecodable_frames"], pipeline["corrupt_frames"]) == (4, 1), pipeline  # the zeros join the flip
    reasons = sorted((data_dir / "dead-letter" / "frames").glob("*.json"))
    assert len(reasons) == 5 and len(list((data_dir / "dead-letter" / "frames").glob("*.frame"))) == 5
    assert collector.stop() == 0

"""Spool frames: how call records are written into the spool and read back. Data, never code.

A frame is `[marker "\\xc1LSF"][u16 format version][u32 payload length][u32 crc32][payload]`, the CRC over the
version, the length and the payload. The marker lets a reader find the next whole frame after a damaged region
(0xC1 is the one byte MessagePack never uses as a type). Format 1's payload is a MessagePack array
`[field names, rows]`: the writer's CallRecord field names once, then each record as an array of its values
in that order. A frame written by a collector with other fields (an older or newer version) is read by name:
missing fields take their defaults, fields this version does not have are dropped (and said so). Every value
is type-checked as it is decoded (msgspec), so a frame either gives well-typed records or a reason why not.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import msgspec

from llmsight.collector.record import RECORD_FIELDS, CallRecord, name_fields, record_from_mapping
from llmsight.errors import LLMSightError

logger = logging.getLogger("llmsight.collector")

MARKER = b"\xc1LSF"
FORMAT_VERSION = 1
HEADER = struct.Struct("<4sHII")  # marker, format version, payload length, crc32
_CHECKED = struct.Struct("<HI")  # the header fields the CRC covers besides the payload
MAX_PAYLOAD_BYTES = 1 << 30  # a length above this is damage, not a frame (the spool's segments are 64 MiB)

_ENCODER = msgspec.msgpack.Encoder()
# The frame's array header (2 items) and the field names, encoded once: every frame of this version starts so.
_PREFIX = b"\x92" + _ENCODER.encode(RECORD_FIELDS)
_FRAME = msgspec.msgpack.Decoder(tuple[list[str], msgspec.Raw])
_ROWS = msgspec.msgpack.Decoder(list[CallRecord])
_ANY_ROWS = msgspec.msgpack.Decoder(list[list[Any]])


class FrameDecodeError(LLMSightError, ValueError):
    """A frame whose checksum matches but whose content is not records this collector can read: why."""


def checksum(version: int, payload: bytes | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(_CHECKED.pack(version, len(payload))))


def encode_frame(records: Sequence[CallRecord]) -> bytes:
    """One frame holding `records` (one export request's)."""
    payload = _PREFIX + _ENCODER.encode(records)
    return HEADER.pack(MARKER, FORMAT_VERSION, len(payload), checksum(FORMAT_VERSION, payload)) + payload


def decode_payload(version: int, payload: bytes) -> list[CallRecord]:
    """The records of a frame whose checksum matched. Raises FrameDecodeError saying why it cannot be read."""
    if version != FORMAT_VERSION:
        raise FrameDecodeError(
            f"spool format {version}, which this llmsight does not read (it reads format {FORMAT_VERSION}): "
            "written by a newer collector"
        )
    try:
        names, rows = _FRAME.decode(payload)
        if tuple(names) == RECORD_FIELDS:  # written by this version: typed decoding straight into records
            return _ROWS.decode(rows)
        return _by_name(names, _ANY_ROWS.decode(rows))
    except msgspec.ValidationError as exc:
        raise FrameDecodeError(f"a value of the wrong type: {name_fields(str(exc))}") from None
    except msgspec.DecodeError as exc:
        raise FrameDecodeError(f"not a MessagePack frame of format {version}: {exc}") from None


def _by_name(names: list[str], rows: list[list[Any]]) -> list[CallRecord]:
    """Rows written by a collector with other fields, mapped by field name."""
    if len(set(names)) != len(names):
        raise FrameDecodeError("a field name appears twice in the frame's header")
    dropped = [name for name in names if name not in RECORD_FIELDS]
    if dropped:
        logger.warning("spool frame written with field(s) this version does not store: %s (dropped)", ", ".join(dropped))
    records = []
    for number, row in enumerate(rows):
        if len(row) != len(names):
            raise FrameDecodeError(f"row {number} has {len(row)} values for {len(names)} fields")
        try:
            records.append(record_from_mapping({name: value for name, value in zip(names, row, strict=True) if name not in dropped}))
        except ValueError as exc:
            raise FrameDecodeError(f"row {number}: {exc}") from None
    return records

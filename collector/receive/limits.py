"""Bounds on what one OTLP request, and all requests at once, may cost the receiver process. Together they
bound its memory whatever the traffic (README: "Limits"; `bench/ingest.py --hostile` measures it):
HTTP bodies held at once total at most MAX_BODIES_BYTES; at most MAX_CONCURRENT_REQUESTS requests per
transport are decoded at once, each at most MAX_BODY_BYTES on the wire, MAX_DECOMPRESSED_BYTES decoded and
MAX_SPANS_PER_REQUEST spans, and decoded without building more objects than its spans need
(collector/receive/decode.py: bytes alone do not bound a parser)."""

from __future__ import annotations

import zlib

from llmsight.collector.receive.ingest import BadRequest
from llmsight.errors import LLMSightError

MAX_BODY_BYTES = 8 * 1024 * 1024  # as sent: compressed or not
MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024  # no zip bombs; also gRPC's max_receive_message_length
# OTel SDK exporters send 512 spans per request by default (max_export_batch_size); 16 times that is plenty.
MAX_SPANS_PER_REQUEST = 8192
MAX_CONCURRENT_REQUESTS = 4  # per transport (HTTP, gRPC): requests decoded at once
MAX_GRPC_STREAMS = 2 * MAX_CONCURRENT_REQUESTS  # gRPC calls open at once, waiting for their message or decoding
MAX_BODIES_BYTES = 64 * 1024 * 1024  # HTTP bodies held at once, all connections together; past it 503 (retried)
REQUEST_READ_TIMEOUT_S = 10.0  # request head, and each piece of a body


class TooLarge(LLMSightError, ValueError):
    """Over a per-request bound: 413 / INVALID_ARGUMENT, not retried (the exporter must send less)."""


def gunzip(body: bytes) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, MAX_DECOMPRESSED_BYTES)
    except zlib.error as exc:
        raise BadRequest(f"gzip body is corrupt: {exc}") from None
    if decompressor.unconsumed_tail:
        raise TooLarge(f"decompressed body exceeds {MAX_DECOMPRESSED_BYTES} bytes")
    if not decompressor.eof or decompressor.unused_data:
        raise BadRequest("gzip body is corrupt: truncated, or followed by other bytes")
    return data

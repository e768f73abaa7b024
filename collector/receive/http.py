"""OTLP/HTTP receiver: `POST /v1/traces`, protobuf or JSON, optionally gzip'd, plus /healthz and /metrics.

Status codes follow the OTLP/HTTP spec so the real exporters behave: 200 (with partial_success when
some spans were rejected), 400 with a `google.rpc.Status` reason for undecodable bodies, 401 for a missing
or wrong bearer token, 413 for oversized bodies, 503 + Retry-After under backpressure (retried).
"""

from __future__ import annotations

import hmac
import json
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.rpc import status_pb2

from llmsight.collector.accept import Backpressure
from llmsight.collector.receive.ingest import BadRequest, Ingest, decode_json, decode_protobuf
from llmsight.collector.http_server import BackgroundHTTPServer

MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_DECOMPRESSED_BYTES = 128 * 1024 * 1024  # no zip bombs


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    ingest: Ingest
    auth_token: str | None
    metrics: Callable[[], dict[str, Any]]


def _gunzip(body: bytes) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, MAX_DECOMPRESSED_BYTES)
    except zlib.error as exc:
        raise BadRequest(f"gzip body is corrupt: {exc}") from None
    if decompressor.unconsumed_tail:
        raise BadRequest(f"decompressed body exceeds {MAX_DECOMPRESSED_BYTES} bytes")
    return data


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, as_json: bool, headers: dict[str, str] | None = None) -> None:
        error = status_pb2.Status(code=3 if status == 400 else 0, message=message)
        if as_json:
            self._reply(status, json_format.MessageToJson(error).encode(), "application/json", headers)
        else:
            self._reply(status, error.SerializeToString(), "application/x-protobuf", headers)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/healthz":
            self._reply(200, b'{"status":"ok"}', "application/json")
        elif self.path == "/metrics":
            self._reply(200, json.dumps(self.server.metrics()).encode(), "application/json")
        else:
            self._reply(404, b'{"error":"not found"}', "application/json")

    def do_POST(self) -> None:  # noqa: N802
        content_type = (self.headers.get("content-type") or "").split(";")[0].strip().lower()
        is_protobuf = content_type in ("application/x-protobuf", "application/protobuf", "")
        as_json = not is_protobuf  # errors go back in the request's encoding, JSON when unknown
        length = int(self.headers.get("content-length") or 0)
        if self.path != "/v1/traces":
            self._drain(length)
            self._error(404, f"no OTLP endpoint at {self.path}; traces go to /v1/traces", as_json)
            return
        token = self.server.auth_token
        if token and not hmac.compare_digest(self.headers.get("authorization") or "", f"Bearer {token}"):
            self._drain(length)
            self._error(401, "missing or wrong bearer token", as_json, {"www-authenticate": "Bearer"})
            return
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._error(413, f"body of {length} bytes exceeds {MAX_BODY_BYTES}", as_json)
            return
        body = self.rfile.read(length)
        try:
            if (self.headers.get("content-encoding") or "").lower() == "gzip":
                body = _gunzip(body)
            if content_type == "application/json":
                request = decode_json(body)
            elif is_protobuf:
                request = decode_protobuf(body)
            else:
                raise BadRequest(f"unsupported content-type {content_type!r}: use application/x-protobuf or application/json")
            response = self.server.ingest.export(request)
        except BadRequest as exc:
            self.server.ingest.stats.add(bad_requests=1)
            self._error(400, str(exc), as_json)
            return
        except Backpressure as exc:
            retry = str(max(1, round(exc.retry_after_seconds)))
            self._error(503, str(exc), as_json, {"retry-after": retry})
            return
        if as_json:
            self._reply(200, json_format.MessageToJson(response).encode(), "application/json")
        else:
            self._reply(200, response.SerializeToString(), "application/x-protobuf")

    def _drain(self, length: int) -> None:
        if 0 < length <= MAX_BODY_BYTES:
            self.rfile.read(length)
        else:
            self.close_connection = True


class OtlpHttpReceiver(BackgroundHTTPServer):
    def __init__(
        self, ingest: Ingest, host: str, port: int, *, auth_token: str | None, metrics: Callable[[], dict[str, Any]]
    ) -> None:
        try:
            server = _Server((host, port), _Handler)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot bind OTLP/HTTP on {host}:{port}: {exc.strerror}") from None
        server.ingest = ingest
        server.auth_token = auth_token
        server.metrics = metrics
        super().__init__(server, "llmsight-otlp-http")

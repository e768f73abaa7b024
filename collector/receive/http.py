"""OTLP/HTTP receiver: `POST /v1/traces`, protobuf or JSON, optionally gzip'd, plus /healthz and /metrics.

Status codes follow the OTLP/HTTP spec so the real exporters behave: 200 (with partial_success when
some spans were rejected), 400 with a `google.rpc.Status` reason for undecodable bodies, 401 for a missing
or wrong bearer token (also on /metrics when a token is set; /healthz stays open for load balancers),
413 for bodies or span counts over the limits (collector/receive/limits.py), 415 for an unknown
content-type or content-encoding, 408 for a body that stops arriving, and 503 + Retry-After (retried)
under backpressure or when every request slot is busy.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from google.protobuf import json_format
from google.rpc import status_pb2

from llmsight.collector.accept import Backpressure
from llmsight.collector.http_server import (
    BackgroundHTTPServer,
    BodyTimeout,
    BodyTooLarge,
    ByteBudget,
    ClientGone,
    ConnectionLimits,
    OverBudget,
    Receive,
    Scope,
    Send,
    bearer_ok,
    header,
    media_type,
    read_body,
    respond,
)
from llmsight.collector.receive import limits
from llmsight.collector.receive.decode import json_groups, protobuf_groups
from llmsight.collector.receive.ingest import BadRequest, Ingest

_PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf", "")
# (status, body, content type, extra headers)
Reply = tuple[int, bytes, str, tuple[tuple[str, str], ...]]


def _error(status: int, message: str, as_json: bool, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    error = status_pb2.Status(code=3 if status in (400, 413) else 0, message=message)
    if as_json:
        return status, json_format.MessageToJson(error).encode(), "application/json", headers
    return status, error.SerializeToString(), "application/x-protobuf", headers


class OtlpHttpApp:
    def __init__(
        self, ingest: Ingest, *, auth_token: str | None, metrics: Callable[[], dict[str, Any]],
        read_timeout_s: float = limits.REQUEST_READ_TIMEOUT_S,
    ) -> None:
        self.ingest = ingest
        self.auth_token = auth_token
        self.metrics = metrics
        self.read_timeout_s = read_timeout_s
        self._pool = ThreadPoolExecutor(limits.MAX_CONCURRENT_REQUESTS, thread_name_prefix="llmsight-otlp-http")
        self._bodies = ByteBudget(limits.MAX_BODIES_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        content_type = media_type(scope)
        as_json = content_type not in _PROTOBUF_TYPES  # errors go back in the request's encoding, JSON when unknown
        if path == "/healthz" and method == "GET":
            # 200 while the process serves; the body says 'degraded' (and why) while the spool cannot be
            # written or the store not reached. Open without a token: load balancers probe it.
            await respond(send, 200, json.dumps(self.metrics()["health"]).encode(), "application/json")
        elif path == "/metrics" and method == "GET":
            if not bearer_ok(scope, self.auth_token):
                await self._reply(send, _error(401, "missing or wrong bearer token", True, (("www-authenticate", "Bearer"),)))
            else:
                await respond(send, 200, json.dumps(self.metrics()).encode(), "application/json")
        elif path != "/v1/traces":
            await self._reply(send, _error(404, f"no OTLP endpoint at {path}; traces go to /v1/traces", as_json), close=True)
        elif method != "POST":
            await self._reply(send, _error(405, "POST OTLP traces to /v1/traces", as_json, (("allow", "POST"),)), close=True)
        elif not bearer_ok(scope, self.auth_token):
            await self._reply(send, _error(401, "missing or wrong bearer token", as_json, (("www-authenticate", "Bearer"),)),
                              close=True)
        else:
            await self._export(scope, receive, send, content_type, as_json)

    async def _export(self, scope: Scope, receive: Receive, send: Send, content_type: str, as_json: bool) -> None:
        declared = int(header(scope, b"content-length") or 0)  # the HTTP parser has validated it
        if declared > limits.MAX_BODY_BYTES:
            await self._reply(send, _error(413, f"body of {declared} bytes exceeds {limits.MAX_BODY_BYTES}", as_json), close=True)
            return
        try:
            body = await read_body(receive, limits.MAX_BODY_BYTES, self.read_timeout_s, self._bodies)
        except BodyTooLarge:
            await self._reply(send, _error(413, f"body exceeds {limits.MAX_BODY_BYTES} bytes", as_json), close=True)
            return
        except OverBudget:
            self.ingest.stats.add(backpressure=1)
            await self._reply(send, _error(503, "collector is busy; retry", as_json, (("retry-after", "1"),)), close=True)
            return
        except BodyTimeout:
            await self._reply(send, _error(408, "the request body stopped arriving", as_json), close=True)
            return
        except ClientGone:
            return
        encoding = (header(scope, b"content-encoding") or b"").strip().lower()
        try:
            # At most MAX_CONCURRENT_REQUESTS decode at once; the others wait here with their bodies, in budget.
            reply = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._handle, body, encoding, content_type, as_json
            )
        finally:
            self._bodies.give(len(body))
        await self._reply(send, reply)

    def _handle(self, body: bytes, encoding: bytes, content_type: str, as_json: bool) -> Reply:
        """Decode and store one request (blocking: runs in the bounded pool)."""
        try:
            if encoding == b"gzip":
                body = limits.gunzip(body)
            elif encoding not in (b"", b"identity"):
                return _error(415, f"unsupported content-encoding {encoding.decode('latin-1')!r}: use gzip", as_json)
            if content_type == "application/json":
                groups = json_groups(body)
            elif content_type in _PROTOBUF_TYPES:
                groups = protobuf_groups(body)
            else:
                return _error(415, f"unsupported content-type {content_type!r}: use application/x-protobuf or application/json",
                              as_json)
            response = self.ingest.export(groups)
        except limits.TooLarge as exc:
            self.ingest.stats.add(bad_requests=1)
            return _error(413, str(exc), as_json)
        except BadRequest as exc:
            self.ingest.stats.add(bad_requests=1)
            return _error(400, str(exc), as_json)
        except Backpressure as exc:
            retry = str(max(1, round(exc.retry_after_seconds)))
            return _error(503, str(exc), as_json, (("retry-after", retry),))
        if as_json:
            return 200, json_format.MessageToJson(response).encode(), "application/json", ()
        return 200, response.SerializeToString(), "application/x-protobuf", ()

    @staticmethod
    async def _reply(send: Send, reply: Reply, *, close: bool = False) -> None:
        status, body, content_type, headers = reply
        await respond(send, status, body, content_type, headers, close=close)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class OtlpHttpReceiver(BackgroundHTTPServer):
    def __init__(
        self, ingest: Ingest, host: str, port: int, *, auth_token: str | None, metrics: Callable[[], dict[str, Any]],
        read_timeout_s: float = limits.REQUEST_READ_TIMEOUT_S,
    ) -> None:
        self.app = OtlpHttpApp(ingest, auth_token=auth_token, metrics=metrics, read_timeout_s=read_timeout_s)
        super().__init__(self.app, host, port, name="OTLP/HTTP", limits=ConnectionLimits(read_timeout_s=read_timeout_s))

    def stop(self) -> None:
        super().stop()
        self.app.close()

"""HTTP served from a background thread, for both of the collector's HTTP servers (the OTLP/HTTP receiver and
the read API): uvicorn running a small ASGI app on an event loop of its own.

Why a real HTTP stack: hand-parsed framing got chunked bodies, negative or non-numeric Content-Length and
pipelining wrong. uvicorn's h11 protocol parses HTTP/1.1 by the RFC (chunked bodies, Content-Length validated,
a request head bounded to `MAX_HEAD_BYTES`), and an event loop holds no thread per connection. Blocking work
(decoding, fsync, queries) runs in a bounded thread pool the app owns.

What uvicorn does not bound on its own, this module does:
- a connection that has not sent a whole request head within `read_timeout_s` is closed (uvicorn only times
  out a keep-alive connection *after* a response, so a half-open connection would be held forever);
- request bodies are read by `read_body` with the same idle timeout and a size limit, chunked or not;
- at most `max_connections` connections; past that, uvicorn answers 503;
- a request head over `MAX_HEAD_BYTES` is answered 431: h11 bounds only a head still arriving, so one that
  arrives whole in a single read (up to uvicorn's 64 KiB and more) would otherwise be served.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from llmsight.errors import LLMSightError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_HEAD_BYTES = 16 * 1024  # request line + headers
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ConnectionLimits:
    read_timeout_s: float = 10.0  # for a request head, and between two pieces of a body
    keep_alive_s: float = 30.0  # an idle kept-alive connection is closed after this
    max_connections: int = 256  # open connections (and requests in progress) at once; then 503


class BodyTooLarge(LLMSightError):
    pass


class BodyTimeout(LLMSightError):
    pass


class ClientGone(LLMSightError):
    pass


class OverBudget(LLMSightError):
    """Bodies in memory across all requests would exceed their budget: answer 503 (retried)."""


class ByteBudget:
    """Bytes of request bodies held at once, across all connections (used from the event loop only).
    Bounds memory without a slot per request, so slow or stalled senders crowd out nobody."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> None:
        if self.used + size > self.limit:
            raise OverBudget
        self.used += size

    def give(self, size: int) -> None:
        self.used -= size


def _protocol(read_timeout_s: float) -> type[H11Protocol]:
    class HeadTimeoutProtocol(H11Protocol):
        """Closes a connection with no request in progress once `read_timeout_s` has passed since it opened
        or since its last response (so a half-sent head, or nothing at all, cannot hold it)."""

        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(read_timeout_s, self._expire)

        def _expire(self) -> None:
            if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
                self.transport.close()

    return HeadTimeoutProtocol


def head_bytes(scope: Scope) -> int:
    """The size of a request's head as sent: request line and header lines."""
    line = len(scope["method"]) + len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b"")) + 12
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


def _bounded_heads(app: App) -> App:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and head_bytes(scope) > MAX_HEAD_BYTES:
            body = f"request head over {MAX_HEAD_BYTES} bytes".encode()
            await respond(send, 431, body, "text/plain", close=True)
            return
        await app(scope, receive, send)

    return guarded


def bind(host: str, port: int, what: str) -> socket.socket:
    """A listening socket, or an OSError that names the address."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:  # a host name
        family = socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(512)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot bind {what} on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(False)
    return sock


class BackgroundHTTPServer:
    def __init__(self, app: App, host: str, port: int, *, name: str, limits: ConnectionLimits | None = None) -> None:
        limits = limits or ConnectionLimits()
        self._socket = bind(host, port, name)
        config = uvicorn.Config(
            _bounded_heads(app), http=_protocol(limits.read_timeout_s), loop="asyncio", lifespan="off", interface="asgi3",
            log_config=None, access_log=False, server_header=False, date_header=False, proxy_headers=False,
            limit_concurrency=limits.max_connections, timeout_keep_alive=int(limits.keep_alive_s),
            h11_max_incomplete_event_size=MAX_HEAD_BYTES, timeout_graceful_shutdown=5,
        )
        # Protocol errors from clients ("Invalid HTTP request received") are answered with 400: not our errors.
        logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, name=name, daemon=True)

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the HTTP server {self._thread.name} did not start")
            time.sleep(0.01)

    def begin_exit(self) -> None:
        """Stop accepting and wind down in the background (uvicorn notices within its 0.1 s tick); `stop` waits."""
        self._server.should_exit = True

    def stop(self) -> None:
        self.begin_exit()
        if self._thread.is_alive():
            self._thread.join(10)
        self._socket.close()


# --- small ASGI helpers both apps use ---


def header(scope: Scope, name: bytes) -> bytes | None:
    """A request header's raw value (the last one, if repeated)."""
    value = None
    for key, item in scope["headers"]:
        if key == name:
            value = item
    return value


def media_type(scope: Scope) -> str:
    """The request's media type: its Content-Type without parameters, lower case (media types ignore case)."""
    return (header(scope, b"content-type") or b"").split(b";")[0].strip().lower().decode("latin-1")


def bearer_ok(scope: Scope, token: str | None) -> bool:
    """True when no token is required, or the request carries it. Byte comparison: a non-ASCII header
    value is simply wrong (401), never an exception."""
    if not token:
        return True
    return hmac.compare_digest(header(scope, b"authorization") or b"", b"Bearer " + token.encode())


async def read_body(receive: Receive, limit: int, timeout_s: float, budget: ByteBudget | None = None) -> bytes:
    """The whole request body (chunked or not), at most `limit` bytes, each piece within `timeout_s`. With a
    budget, the bytes are taken from it as they arrive: the caller gives back len(result) when done with it
    (on an exception, this gives back what it took)."""
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            try:
                message = await asyncio.wait_for(receive(), timeout_s)
            except asyncio.TimeoutError:
                raise BodyTimeout from None
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            if size + len(chunk) > limit:
                raise BodyTooLarge
            if budget is not None:
                budget.take(len(chunk))
            size += len(chunk)
            parts.append(chunk)
            if not message.get("more_body", False):
                break
    except BaseException:
        if budget is not None:
            budget.give(size)
        raise
    body = b"".join(parts)
    return body


async def respond(
    send: Send, status: int, body: bytes, content_type: str, headers: Iterable[tuple[str, str]] = (), *, close: bool = False
) -> None:
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(name.encode(), value.encode()) for name, value in headers]
    if close:  # the rest of the request is not read: do not parse it as the next one
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})

"""The collector's read API: llmsight's own read operations over HTTP on loopback, so `llmsight report` and
`llmsight alerts check` work while the running collector owns the embedded store.

    POST /v1/report        {"start": ISO time, "end": ISO time}  →  the report (collector/report/queries.py)
    POST /v1/alerts/check  {}                                    →  {"transitions": [...]} (rules evaluated once)

It runs no SQL from its clients, by design. An earlier version accepted "read-only" SQL (readonly=2): that
still reached file(), url(), remote() and system.* — read any file the collector can read, send data out,
see other clients' queries. ClickHouse can restrict a user with grants and profiles, but the embedded store
(chDB) has one user and its grants are one setting away from the attacker's SQL; an allow-list of SQL shapes
is a parser we would have to get right forever. The CLI needs two operations, so the API offers exactly
those, computed here by the same code that runs against a store opened directly; there is nothing to escape.

Defence in depth, because it listens on a port any local process (or a web page, by DNS rebinding or a
"simple" cross-site POST) can reach:
- a per-run random token in a 0600 file in the data directory (`read_api.token`), sent as a bearer token;
- `application/json` bodies only (415), which a page cannot send cross-site without a CORS preflight, and
  no CORS headers ever; a request with an `Origin` header (browsers send it) is refused (403);
- the `Host` header must name a loopback address with this port (else 421), which defeats DNS rebinding;
- each operation's queries run with readonly=1 (no table functions, no writes, no setting changes) and
  execution-time, memory and result-size limits (READ_LIMITS), on a read client of their own so inserts
  and shutdown are never blocked behind a long read (Store.read); at most MAX_OPERATIONS run at once;
  when the client disconnects, the operation's query in progress is killed (KILL QUERY on its marker).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from llmsight.collector.http_server import (
    BackgroundHTTPServer,
    BodyTimeout,
    BodyTooLarge,
    ClientGone,
    ConnectionLimits,
    Receive,
    Scope,
    Send,
    bearer_ok,
    header,
    read_body,
    respond,
)
from llmsight.collector.store import QueryResult, StoreError

STATE_FILE = "collector.json"
TOKEN_FILE = "read_api.token"
LOOPBACK = "127.0.0.1"
MAX_OPERATIONS = 2  # at once; more wait up to QUEUE_WAIT_S, then 503
QUEUE_WAIT_S = 10.0
MAX_REQUEST_BYTES = 64 * 1024
OPERATION_TIMEOUT_S = 30.0  # all of one operation's queries together
# Settings on every query an operation runs (readonly=1 also forbids changing any of them).
READ_LIMITS: dict[str, Any] = {
    "max_memory_usage": 1024 * 1024 * 1024,
    "max_result_rows": 100_000,
    "max_result_bytes": 64 * 1024 * 1024,
    "result_overflow_mode": "throw",
}
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")

Read = Callable[..., QueryResult]  # Store.read
Kill = Callable[[str], None]  # Store.kill_reads


class OperationTimeout(StoreError):
    pass


class OperationCancelled(StoreError):
    pass


class LimitedQuery:
    """`query(sql, parameters)` for one operation: read-only, bounded, and all its queries together within
    OPERATION_TIMEOUT_S (each gets what is left of it as max_execution_time). `cancel()` (from another
    thread) kills the query in progress and refuses the rest: each is marked with the operation's id."""

    def __init__(self, read: Read, timeout_s: float = OPERATION_TIMEOUT_S, kill: Callable[[str], None] | None = None) -> None:
        self._read = read
        self._kill = kill
        self._deadline = time.monotonic() + timeout_s
        self.marker = f"llmsight-read:{secrets.token_hex(8)}"
        self.cancelled = False

    def __call__(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        left = self._deadline - time.monotonic()
        if self.cancelled:
            raise OperationCancelled("the client went away")
        if left <= 0:
            raise OperationTimeout(f"the operation exceeded {OPERATION_TIMEOUT_S:g}s")
        settings = {**READ_LIMITS, "max_execution_time": max(1, int(left)), "readonly": 1}
        return self._read(f"/* {self.marker} */ {sql}", parameters, settings=settings)

    def cancel(self) -> None:
        self.cancelled = True
        if self._kill is not None:
            self._kill(self.marker)


# Times a report window may name: the store's DateTime64 range, with room for the week before (the report's
# comparison). Year 1 once overflowed in that arithmetic and answered 500.
EARLIEST_TIME = datetime(1970, 1, 8, tzinfo=timezone.utc)
LATEST_TIME = datetime(2200, 1, 1, tzinfo=timezone.utc)


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _in_range(cls, moment: datetime) -> datetime:
        aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        if not EARLIEST_TIME <= aware <= LATEST_TIME:
            raise ValueError(f"must be between {EARLIEST_TIME:%Y-%m-%d} and {LATEST_TIME:%Y-%m-%d}")
        return moment


class AlertsCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Operations:
    """What the read API can do; each runs its queries through the LimitedQuery it is given."""

    def __init__(self, read: Read, kill: Kill | None = None, alerts_config: Any = None) -> None:
        self.read = read
        self.kill = kill
        self.alerts_config = alerts_config

    def limited(self) -> LimitedQuery:
        return LimitedQuery(self.read, kill=self.kill)

    def report(self, request: ReportRequest, query: LimitedQuery) -> dict[str, Any]:
        from llmsight.collector.report.queries import build_report
        from llmsight.collector.report.window import Window

        return build_report(query, Window(request.start, request.end))

    def check_alerts(self, request: AlertsCheckRequest, query: LimitedQuery) -> dict[str, Any]:
        from llmsight.alerts.evaluator import AlertEvaluator
        from llmsight.alerts.rules import AlertsConfig

        evaluator = AlertEvaluator(query, self.alerts_config or AlertsConfig())
        return {"transitions": [t.as_json() for t in evaluator.evaluate_once()]}


_ROUTES: dict[str, tuple[type[BaseModel], str]] = {
    "/v1/report": (ReportRequest, "report"),
    "/v1/alerts/check": (AlertsCheckRequest, "check_alerts"),
}


def _problem(status: int, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": message}).encode()


class ReadApiApp:
    def __init__(self, operations: Operations, token: str, port: Callable[[], int]) -> None:
        self.operations = operations
        self.token = token
        self._port = port
        self._pool = ThreadPoolExecutor(MAX_OPERATIONS, thread_name_prefix="llmsight-read-api")
        self._slots: asyncio.Semaphore | None = None
        self._active: set[LimitedQuery] = set()  # operations in progress, cancelled at shutdown

    def _host_ok(self, scope: Scope) -> bool:
        host = (header(scope, b"host") or b"").decode("latin-1").lower()
        return host in {f"{name}:{self._port()}" for name in _LOOPBACK_NAMES}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        status, body = await self._answer(scope, receive)
        await respond(send, status, body, "application/json", close=status >= 400)

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        if not self._host_ok(scope):
            return _problem(421, f"the read API answers only to Host 127.0.0.1:{self._port()} (or localhost, [::1])")
        if header(scope, b"origin") is not None:
            return _problem(403, "the read API is not for browsers (no cross-origin requests)")
        if not bearer_ok(scope, self.token):
            return _problem(401, f"missing or wrong bearer token (it is in the data directory's {TOKEN_FILE})")
        route = _ROUTES.get(scope["path"])
        if route is None:
            return _problem(404, f"no such operation; the read API runs no SQL. Operations: {', '.join(_ROUTES)}")
        if scope["method"] != "POST":
            return _problem(405, "operations are POSTs")
        content_type = (header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
        if content_type != b"application/json":
            return _problem(415, "the body must be application/json")
        try:
            raw = await read_body(receive, MAX_REQUEST_BYTES, 10.0)
        except BodyTooLarge:
            return _problem(413, f"request over {MAX_REQUEST_BYTES} bytes")
        except (BodyTimeout, ClientGone):
            return _problem(408, "the request body stopped arriving")
        model, operation = route
        try:
            request = model.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            return _problem(400, f"bad request for {scope['path']}: {exc.errors(include_url=False, include_input=False)}")
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_OPERATIONS)
        try:
            await asyncio.wait_for(self._slots.acquire(), QUEUE_WAIT_S)
        except asyncio.TimeoutError:
            return _problem(503, "the read API is busy; retry")
        query = self.operations.limited()
        self._active.add(query)
        try:
            work = asyncio.get_running_loop().run_in_executor(self._pool, getattr(self.operations, operation), request, query)
            gone = asyncio.ensure_future(receive())  # after the body, the next message is the disconnect
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                query.cancel()  # the client went away: kill its query rather than run it to the time limit
            else:
                gone.cancel()
            result = await work
        except StoreError as exc:
            return _problem(504 if isinstance(exc, OperationTimeout) else 400, str(exc))
        finally:
            self._active.discard(query)
            self._slots.release()
        return 200, json.dumps(result, default=str).encode()

    def close(self) -> None:
        """At shutdown: kill the operations in progress (SIGTERM must not wait for a long report)."""
        for query in list(self._active):
            query.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


class QueryApiServer(BackgroundHTTPServer):
    """The read API, on loopback only, always."""

    def __init__(self, operations: Operations, port: int, token: str) -> None:
        self.app = ReadApiApp(operations, token, lambda: self.port)
        super().__init__(self.app, LOOPBACK, port, name="the read API", limits=ConnectionLimits(max_connections=32))

    def stop(self) -> None:
        super().stop()
        self.app.close()


# --- the collector's state files, and the client the CLI uses ---


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600 from the start, then an atomic rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def new_token(data_dir: Path) -> str:
    token = secrets.token_urlsafe(32)
    write_private(data_dir / TOKEN_FILE, token)
    return token


class ReadApiClient:
    """The running collector's read API, with typed operations."""

    def __init__(self, port: int, token: str, timeout: float = OPERATION_TIMEOUT_S + 30) -> None:
        self.url = f"http://{LOOPBACK}:{port}"
        self.token = token
        self.timeout = timeout

    def _post(self, path: str, payload: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.url + path, data=json.dumps(payload, default=str).encode(), method="POST",
            headers={"content-type": "application/json", "authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
            except ValueError:
                detail = exc.reason
            raise StoreError(f"the collector's read API answered {exc.code}: {detail}") from None
        except OSError as exc:
            raise StoreError(f"the collector's read API at {self.url} is unreachable: {exc}") from None

    def report(self, start: datetime, end: datetime) -> dict[str, Any]:
        return dict(self._post("/v1/report", {"start": start.isoformat(), "end": end.isoformat()}))

    def check_alerts(self) -> list[dict[str, Any]]:
        return list(self._post("/v1/alerts/check", {})["transitions"])


def running_collector(data_dir: Path) -> ReadApiClient | None:
    """A client for the collector that runs on this data dir (None if none, or if it died)."""
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
        token = (data_dir / TOKEN_FILE).read_text().strip()
        port = int(state["query_port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2):
            pass
    except OSError:
        return None
    return ReadApiClient(port, token)

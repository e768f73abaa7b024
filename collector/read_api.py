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
- a per-run random token in a 0600 file in the data directory (`read_api.token`), sent as a bearer token, and
  only to the collector that holds it: the client first checks that the process collector.json names is alive and
  that what answers on the port proves it holds the token (`/v1/hello`: an HMAC of the client's nonce), so state
  left by a `kill -9` never hands the token to whatever listens on that port now;
- `application/json` bodies only (415), which a page cannot send cross-site without a CORS preflight, and
  no CORS headers ever; a request with an `Origin` header (browsers send it) is refused (403);
- the `Host` header must name a loopback address with this port (else 421), which defeats DNS rebinding;
- each operation's queries run with readonly=1 (no table functions, no writes, no setting changes) and
  execution-time, memory and result-size limits (READ_LIMITS), on a read client of their own so inserts
  and shutdown are never blocked behind a long read (Store.read); at most MAX_OPERATIONS run at once;
  when the client disconnects, the operation's query in progress is killed (KILL QUERY on its marker);
- at shutdown, new requests get 503 and the operations in progress are killed (and reads queued behind them
  refused), so their clients get 503 within moments rather than waiting for the operation's time limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
    media_type,
    read_body,
    respond,
)
from llmsight.collector.report.window import in_range
from llmsight.collector.store import QueryResult, StoreError, StoreUnavailableError
from llmsight.collector.store.store import READ_MARKER
from llmsight.errors import LLMSightError

STATE_FILE = "collector.json"
TOKEN_FILE = "read_api.token"
LOOPBACK = "127.0.0.1"
MAX_OPERATIONS = 2  # at once; more wait up to QUEUE_WAIT_S, then 503
QUEUE_WAIT_S = 10.0
STOP_WAIT_S = 1.5  # at shutdown, for killed operations to end and their 503s to go out
MAX_REQUEST_BYTES = 64 * 1024
OPERATION_TIMEOUT_S = 30.0  # all of one operation's queries together
# The store process's memory bound (docs/collector.md) = what it holds without reads + the reads running at once ×
# each one's max_memory_usage. Reads run one at a time (Store.read holds one lock, the alert evaluator's too);
# STORE_BASE_MIB is the process's RSS beyond the query limit when a read hits it (bench/read_memory.py: 818 MiB
# with a 1 GiB limit), rounded up.
STORE_MEMORY_BOUND_MIB = 1536
STORE_BASE_MIB = 1024
READS_AT_ONCE = 1
READ_MEMORY_MIB = (STORE_MEMORY_BOUND_MIB - STORE_BASE_MIB) // READS_AT_ONCE
# Settings on every query an operation runs (readonly=1 also forbids changing any of them). Aggregations and
# sorts past half the memory limit spill to disk, so a large report is slower rather than refused.
READ_LIMITS: dict[str, Any] = {
    "max_memory_usage": READ_MEMORY_MIB * 1024 * 1024,
    "max_bytes_before_external_group_by": READ_MEMORY_MIB * 1024 * 1024 // 2,
    "max_bytes_before_external_sort": READ_MEMORY_MIB * 1024 * 1024 // 2,
    "max_result_rows": 100_000,
    "max_result_bytes": 64 * 1024 * 1024,
    "result_overflow_mode": "throw",
}
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_TIMEOUT_EXCEEDED = 159  # ClickHouse's error code when max_execution_time is reached

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
        self.marker = f"{READ_MARKER}:{secrets.token_hex(8)}"
        self.cancelled = False

    def __call__(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        left = self._deadline - time.monotonic()
        if self.cancelled:
            raise OperationCancelled("the client went away")
        if left <= 0:
            raise OperationTimeout(f"the operation exceeded {OPERATION_TIMEOUT_S:g}s")
        settings = {**READ_LIMITS, "max_execution_time": max(1, int(left)), "readonly": 1}
        # Waiting for another read (they run one at a time) counts against the same deadline.
        return self._read(f"/* {self.marker} */ {sql}", parameters, settings=settings, wait_s=left)

    def cancel(self) -> None:
        self.cancelled = True
        if self._kill is not None:
            self._kill(self.marker)


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _utc_in_range(cls, moment: datetime) -> datetime:  # whatever offset the client wrote
        return in_range(moment)


class AlertsCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HelloRequest(BaseModel):
    """Who answers here? The only operation without the token: it proves the server holds it."""

    model_config = ConfigDict(extra="forbid")
    nonce: str = Field(min_length=32, max_length=128, pattern=r"^[0-9a-f]+$")


def proof_of_token(token: str, nonce: str, pid: int) -> str:
    """What only the holder of the token can compute for a client's nonce (and the pid it claims)."""
    return hmac.new(token.encode(), f"llmsight-read-api-hello:{nonce}:{pid}".encode(), hashlib.sha256).hexdigest()


Operation = Callable[[Any, "LimitedQuery"], dict[str, Any]]
"""One read-API operation: (validated request, the bounded query to run its SQL through) → its JSON answer."""


class OperationNotWiredError(LLMSightError, RuntimeError):
    """This read API was built without the operation asked for."""


def _not_wired(request: Any, query: LimitedQuery) -> dict[str, Any]:
    raise OperationNotWiredError(f"this read API has no operation for a {type(request).__name__}")


class Operations:
    """What the read API can do; each runs its queries through the LimitedQuery it is given. The operations
    themselves (report, reconciliation, alert check) are wired in by the collector's composition root
    (collector/app.py `read_api_operations`), so the read API depends on none of them."""

    def __init__(
        self, read: Read, kill: Kill | None = None, *, report: Operation = _not_wired, reconcile: Operation = _not_wired,
        check_alerts: Operation = _not_wired,
    ) -> None:
        self.read = read
        self.kill = kill
        self._report, self._reconcile, self._check_alerts = report, reconcile, check_alerts

    def limited(self) -> LimitedQuery:
        return LimitedQuery(self.read, kill=self.kill)

    def report(self, request: ReportRequest, query: LimitedQuery) -> dict[str, Any]:
        return self._report(request, query)

    def reconcile(self, request: ReportRequest, query: LimitedQuery) -> dict[str, Any]:
        return self._reconcile(request, query)

    def check_alerts(self, request: AlertsCheckRequest, query: LimitedQuery) -> dict[str, Any]:
        return self._check_alerts(request, query)


_ROUTES: dict[str, tuple[type[BaseModel], str]] = {
    "/v1/report": (ReportRequest, "report"),
    "/v1/alerts/check": (AlertsCheckRequest, "check_alerts"),
    "/v1/reconcile": (ReportRequest, "reconcile"),
}


def _problem(status: int, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": message}).encode()


_STOPPING = _problem(503, "the collector is stopping; retry once it runs again")


class ReadApiApp:
    def __init__(
        self, operations: Operations, token: str, port: Callable[[], int], cancel_reads: Callable[[], None] | None = None
    ) -> None:
        self.operations = operations
        self.token = token
        self._port = port
        self._cancel_reads = cancel_reads  # Store.cancel_reads: refuses new reads, kills those running
        self._pool = ThreadPoolExecutor(MAX_OPERATIONS, thread_name_prefix="llmsight-read-api")
        self._slots: asyncio.Semaphore | None = None
        # Operations whose worker has not returned yet: shutdown cancels them until they really end.
        self._active: set[LimitedQuery] = set()
        self._answering = 0  # requests not fully answered yet
        self._lock = threading.Lock()
        self.stopping = threading.Event()  # set by begin_stop: new operations get 503

    def _host_ok(self, scope: Scope) -> bool:
        host = (header(scope, b"host") or b"").decode("latin-1").lower()
        return host in {f"{name}:{self._port()}" for name in _LOOPBACK_NAMES}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        with self._lock:
            self._answering += 1
        try:
            status, body = await self._answer(scope, receive)
            await respond(send, status, body, "application/json", close=status >= 400)
        finally:
            with self._lock:
                self._answering -= 1

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        if not self._host_ok(scope):
            return _problem(421, f"the read API answers only to Host 127.0.0.1:{self._port()} (or localhost, [::1])")
        if header(scope, b"origin") is not None:
            return _problem(403, "the read API is not for browsers (no cross-origin requests)")
        if scope["path"] == "/v1/hello":
            return await self._hello(scope, receive)
        if not bearer_ok(scope, self.token):
            return _problem(401, f"missing or wrong bearer token (it is in the data directory's {TOKEN_FILE})")
        route = _ROUTES.get(scope["path"])
        if route is None:
            return _problem(404, f"no such operation; the read API runs no SQL. Operations: {', '.join(_ROUTES)}")
        if scope["method"] != "POST":
            return _problem(405, "operations are POSTs")
        if media_type(scope) != "application/json":
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
        if self.stopping.is_set():
            return _STOPPING
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_OPERATIONS)
        try:
            await asyncio.wait_for(self._slots.acquire(), QUEUE_WAIT_S)
        except asyncio.TimeoutError:
            return _problem(503, "the read API is busy; retry")
        query = self.operations.limited()
        run = getattr(self.operations, operation)

        def work_then_release() -> Any:
            try:
                return run(request, query)
            finally:
                with self._lock:
                    self._active.discard(query)

        with self._lock:
            self._active.add(query)
        try:
            work = asyncio.get_running_loop().run_in_executor(self._pool, work_then_release)
            gone = asyncio.ensure_future(receive())  # after the body, the next message is the disconnect
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                query.cancel()  # the client went away: kill its query rather than run it to the time limit
            else:
                gone.cancel()
            result = await work
        except Exception as exc:
            if self.stopping.is_set():  # killed by the shutdown, whatever it raised
                return _STOPPING
            if isinstance(exc, OperationTimeout) or getattr(exc, "code", None) == _TIMEOUT_EXCEEDED:
                return _problem(504, str(exc))
            if isinstance(exc, StoreUnavailableError):
                return _problem(503, str(exc))
            if isinstance(exc, StoreError):
                return _problem(400, str(exc))
            raise
        finally:
            self._slots.release()
        from llmsight.collector.report.render import json_safe

        return 200, json.dumps(json_safe(result), default=str, allow_nan=False).encode()

    async def _hello(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        if scope["method"] != "POST" or media_type(scope) != "application/json":
            return _problem(415, "POST application/json {\"nonce\": hex}")
        try:
            request = HelloRequest.model_validate_json(await read_body(receive, 1024, 10.0) or b"{}")
        except (BodyTooLarge, BodyTimeout, ClientGone, ValidationError):
            return _problem(400, "POST application/json {\"nonce\": 32 to 128 hex digits}")
        pid = os.getpid()
        return 200, json.dumps({"pid": pid, "proof": proof_of_token(self.token, request.nonce, pid)}).encode()

    def begin_stop(self) -> None:
        """At shutdown, first: refuse new operations (503), kill the queries of those in progress and of reads
        queued behind them, and give their clients their 503s (SIGTERM must not wait for a long report)."""
        self.stopping.set()
        deadline = time.monotonic() + STOP_WAIT_S
        with self._lock:
            active = list(self._active)
        for query in active:
            query.cancel()
        while True:
            if self._cancel_reads is not None:
                self._cancel_reads()  # again each round: a read that was about to start when the last KILL ran
            with self._lock:
                done = not self._active and self._answering == 0
            if done or time.monotonic() > deadline:
                return
            time.sleep(0.05)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ReadApiServer(BackgroundHTTPServer):
    """The read API, on loopback only, always."""

    def __init__(
        self, operations: Operations, port: int, token: str, *, cancel_reads: Callable[[], None] | None = None
    ) -> None:
        self.app = ReadApiApp(operations, token, lambda: self.port, cancel_reads)
        super().__init__(self.app, LOOPBACK, port, name="the read API", limits=ConnectionLimits(max_connections=32))

    def begin_stop(self) -> None:
        """Operations refused and answered (see ReadApiApp.begin_stop), then the server winds down while the
        collector stops its other parts."""
        self.app.begin_stop()
        self.begin_exit()

    def stop(self) -> None:
        self.app.begin_stop()
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

    def reconcile(self, start: datetime, end: datetime) -> dict[str, Any]:
        return dict(self._post("/v1/reconcile", {"start": start.isoformat(), "end": end.isoformat()}))

    def check_alerts(self) -> list[dict[str, Any]]:
        return list(self._post("/v1/alerts/check", {})["transitions"])


def running_collector(data_dir: Path) -> ReadApiClient | None:
    """A client for the collector that runs on this data dir: None if none runs (no state, or the process it names
    is gone: state left by a `kill -9`). Raises StoreError, without having sent the token, when that process lives
    but what answers on its port cannot prove it holds the token."""
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
        token = (data_dir / TOKEN_FILE).read_text().strip()
        port = int(state.get("read_api_port", state.get("query_port")))  # query_port: a collector of 0.1.0
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(pid):
        return None
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2):
            pass
    except OSError:
        return None
    if not _proves_token(port, token, pid):
        raise StoreError(
            f"something answers on the read API's port {port}, but it cannot prove it is the collector (pid {pid}) "
            f"named in {data_dir / STATE_FILE}; the token was not sent. Stop it, or remove that file if no collector runs"
        )
    return ReadApiClient(port, token)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: not ours, but the proof decides
        return True
    return True


def _proves_token(port: int, token: str, pid: int) -> bool:
    """Ask the server on `port` to prove it holds `token` for a fresh nonce; the token itself is never sent."""
    nonce = secrets.token_hex(16)
    request = urllib.request.Request(
        f"http://{LOOPBACK}:{port}/v1/hello", data=json.dumps({"nonce": nonce}).encode(), method="POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read(4096))
        claimed = int(answer["pid"])
        proof = str(answer["proof"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return claimed == pid and hmac.compare_digest(proof, proof_of_token(token, nonce, pid))

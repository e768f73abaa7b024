"""Read-only SQL over HTTP on loopback, so the CLI report and alert checks can query an embedded store
that the running collector owns; and `open_reader()`, which finds that collector or opens the store.

    POST /v1/query  {"sql": "SELECT …", "parameters": {…}}  →  {"columns": […], "rows": […]}
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from llmsight.collector.config import CollectorSettings
from llmsight.collector.store import QueryResult, Store, StoreError
from llmsight.collector.http_server import BackgroundHTTPServer

_READ_ONLY = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN)\b", re.IGNORECASE)
STATE_FILE = "collector.json"


class Reader(Protocol):
    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult: ...

    def close(self) -> None: ...


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return value.decode(errors="replace")
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    store: Store


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
            sql, parameters = request["sql"], request.get("parameters") or None
        except (ValueError, KeyError, TypeError):
            self._reply(400, {"error": 'body must be JSON: {"sql": "...", "parameters": {...}}'})
            return
        if self.path != "/v1/query":
            self._reply(404, {"error": "POST /v1/query"})
            return
        if not isinstance(sql, str) or not _READ_ONLY.match(sql):
            self._reply(400, {"error": "only read-only statements (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN)"})
            return
        sql = sql.strip().rstrip(";")
        if ";" in sql:
            self._reply(400, {"error": "one statement per query (read-only)"})
            return
        try:
            result = self.server.store.query(sql, parameters, settings={"readonly": 2})
        except StoreError as exc:
            self._reply(400, {"error": str(exc)})
            return
        self._reply(200, {"columns": result.column_names, "rows": _jsonable(result.rows)})


class QueryApiServer(BackgroundHTTPServer):
    def __init__(self, store: Store, host: str, port: int) -> None:
        server = _Server((host, port), _Handler)
        server.store = store
        super().__init__(server, "llmsight-query-api")


class HttpReader:
    """Queries through a running collector's read API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        body = json.dumps({"sql": sql, "parameters": parameters or {}}, default=str).encode()
        request = urllib.request.Request(self.url, data=body, headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
            raise StoreError(f"query failed: {detail}") from None
        except OSError as exc:
            raise StoreError(f"the collector's read API at {self.url} is unreachable: {exc}") from None
        return QueryResult(payload["columns"], [tuple(row) for row in payload["rows"]])

    def close(self) -> None:
        pass


def running_collector(data_dir: Path) -> dict[str, Any] | None:
    """The state file of a collector that runs on this data dir (None if none, or if it died)."""
    path = data_dir / STATE_FILE
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{state['query_port']}/v1/query", timeout=2):
            pass
    except urllib.error.HTTPError:
        return state  # it answered (405/404/400): alive
    except (OSError, KeyError):
        return None
    return state


def open_reader(settings: CollectorSettings) -> Reader:
    """The running collector's read API when one owns the embedded store, else the store itself."""
    if not settings.clickhouse_dsn:
        state = running_collector(settings.data_dir)
        if state is not None:
            return HttpReader(f"http://127.0.0.1:{state['query_port']}/v1/query")
    return Store.open(settings.effective_dsn)

"""State left behind by a `kill -9` never hands the read-API token to whoever listens on the port now: the CLI
checks that the collector named in collector.json is alive and proves it holds the token (an HMAC of the client's
nonce) before it sends the token."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llmsight.collector.read_api import STATE_FILE, TOKEN_FILE
from llmsight.collector.record import CallRecord
from llmsight.collector.store import Store

TOKEN = "the-collectors-secret-token"
FORGED = {"window": {}, "totals": {"calls": 999_999, "total_cost": 12345.0}}


class Squatter(ThreadingHTTPServer):
    """Whatever took the read API's port after the collector died: answers a forged report to anyone."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SquatterHandler)
        self.authorizations: list[str] = []
        self.requests = 0


class _SquatterHandler(BaseHTTPRequestHandler):
    server: Squatter

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.server.requests += 1
        self.server.authorizations.append(self.headers.get("authorization", ""))
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps({**FORGED, "pid": 1, "proof": "00" * 32, "transitions": []}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def squatter() -> Iterator[Squatter]:
    server = Squatter()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _data_dir_left_by_kill_9(tmp_path: Path, pid: int, port: int) -> Path:
    """An embedded store with one call, and the collector's state and token files as a kill -9 leaves them."""
    data_dir = tmp_path / "data"
    store = Store.open(f"chdb://{data_dir / 'store'}")
    store.ensure_schema()
    store.insert([CallRecord(ts=datetime.now(timezone.utc) - timedelta(minutes=5), trace_id="1" * 32, span_id="2" * 16,
                             provider="openai", request_model="gpt-4o", input_tokens=7)], dedup_token="one")
    store.close()
    (data_dir / STATE_FILE).write_text(json.dumps({"pid": pid, "read_api_port": port, "otlp_http_port": 0,
                                                   "otlp_grpc_port": 0, "dsn": "chdb://…"}))
    (data_dir / TOKEN_FILE).write_text(TOKEN)
    return data_dir


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmsight.cli", *args], capture_output=True, text=True, timeout=120)


def test_report_after_kill_9_reads_the_store_and_never_sends_the_token_to_a_squatter(tmp_path: Path, squatter: Squatter) -> None:
    data_dir = _data_dir_left_by_kill_9(tmp_path, _dead_pid(), squatter.server_address[1])
    run = _cli("report", "--data-dir", str(data_dir), "--since", "1h", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["totals"]["calls"] == 1  # the store's own answer, not the forged one
    assert not any(TOKEN in value for value in squatter.authorizations)


def test_a_live_pid_with_something_else_on_the_port_is_refused_without_the_token(tmp_path: Path, squatter: Squatter) -> None:
    # collector.json names a live process (this test), but what answers on the port cannot prove it holds the token.
    data_dir = _data_dir_left_by_kill_9(tmp_path, pid=__import__("os").getpid(), port=squatter.server_address[1])
    for args in (("report", "--since", "1h", "--json"), ("alerts", "check")):
        run = _cli(*args, "--data-dir", str(data_dir))
        assert run.returncode == 1, run
        said = " ".join(run.stderr.split())
        assert "999999" not in run.stdout and "cannot prove" in said and "Traceback" not in said, run.stderr
    assert not any(TOKEN in value for value in squatter.authorizations)

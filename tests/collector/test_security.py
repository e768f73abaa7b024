"""The collector's exposure, tested against real collector processes: the read API runs no SQL and refuses
page-style requests; its queries are bounded and never block inserts; non-loopback binds need a token;
DSN passwords stay out of output and state files."""

from __future__ import annotations

import itertools
import json
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmsight.cli import app as cli_app
from llmsight.collector.read_api import STATE_FILE, TOKEN_FILE, LimitedQuery
from llmsight.collector.store import Store, StoreError

from .conftest import CollectorProcess
from .rawhttp import exchange, request
from .spans import genai_request, post_protobuf

CLI = [sys.executable, "-m", "llmsight.cli"]


@pytest.fixture
def collector(shared_collector: CollectorProcess) -> CollectorProcess:
    """The read API tests only send requests: they share the module's collector."""
    return shared_collector


def _token(collector: CollectorProcess) -> str:
    return (collector.data_dir / TOKEN_FILE).read_text().strip()


def _read_api(collector: CollectorProcess, path: str, body: bytes, **overrides: str | None) -> tuple[int | None, bytes]:
    """A POST to the read API; `overrides` replace (or, with None, drop) the headers the CLI sends."""
    port = collector.read_api_port
    headers = {"host": f"127.0.0.1:{port}", "content-type": "application/json", "authorization": f"Bearer {_token(collector)}",
               "content-length": str(len(body))}
    for name, value in overrides.items():
        headers.pop(name.replace("_", "-"), None)
        if value is not None:
            headers[name.replace("_", "-")] = value
    raw = f"POST {path} HTTP/1.1\r\n".encode() + b"".join(
        f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n" + body
    return exchange(port, raw)


_batches = itertools.count(100)  # a new span each time: the shared collector drops a resent one as a duplicate


def _still_ingests(collector: CollectorProcess) -> None:
    before = collector.stored_calls()
    assert post_protobuf(collector.http_endpoint, genai_request(next(_batches), spans=1)) == 200
    collector.wait_stored(before + 1)


EXFILTRATION = [
    "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT * FROM url('http://127.0.0.1:9/x', 'LineAsString')",
    "SELECT * FROM remote('127.0.0.1:9000', system.one)",
    "SELECT query FROM system.processes",
]


@pytest.mark.parametrize("sql", EXFILTRATION)
def test_the_read_api_has_no_sql_path(collector: CollectorProcess, sql: str) -> None:
    body = json.dumps({"sql": sql}).encode()
    for path in ("/v1/query", "/v1/sql", "/"):
        status, answer = _read_api(collector, path, body)
        assert status == 404, answer
    status, answer = _read_api(collector, "/v1/report", body)  # SQL smuggled into an operation's body
    assert status == 400 and b"root:" not in answer
    status, answer = _read_api(collector, "/v1/report", json.dumps({"start": sql, "end": sql}).encode())
    assert status == 400 and b"root:" not in answer
    _still_ingests(collector)


def test_page_style_requests_are_refused(collector: CollectorProcess) -> None:
    port = collector.read_api_port
    now = datetime.now(timezone.utc)
    body = json.dumps({"start": (now - timedelta(hours=1)).isoformat(), "end": now.isoformat()}).encode()
    assert _read_api(collector, "/v1/report", body)[0] == 200  # the CLI's request works
    cases = {
        "no token": ({"authorization": None}, 401),
        "wrong token": ({"authorization": "Bearer guess"}, 401),
        "non-ASCII token": ({"authorization": "Bearer é"}, 401),
        "text/plain (a simple cross-site POST)": ({"content_type": "text/plain"}, 415),
        "form post": ({"content_type": "application/x-www-form-urlencoded"}, 415),
        "foreign Origin": ({"origin": "http://evil.example"}, 403),
        "null Origin": ({"origin": "null"}, 403),
        "DNS rebinding (foreign Host)": ({"host": f"evil.example:{port}"}, 421),
        "loopback Host, wrong port": ({"host": "127.0.0.1:1"}, 421),
        "no Host": ({"host": None}, (400, 421)),  # HTTP/1.1 requires one: the parser may refuse first
    }
    for name, (overrides, expected) in cases.items():
        status, answer = _read_api(collector, "/v1/report", body, **overrides)
        assert status in (expected if isinstance(expected, tuple) else (expected,)), (name, answer)
        assert b"access-control-allow" not in answer.lower(), name  # no CORS, ever
    # Everything a page could do at once.
    status, _ = _read_api(collector, "/v1/report", body, authorization=None, content_type="text/plain",
                          origin="http://evil.example", host=f"evil.example:{port}")
    assert status in (401, 403, 415, 421)
    assert exchange(port, request("GET", "/v1/report", port, {}))[0] in (401, 405)
    _still_ingests(collector)


def test_report_and_alerts_check_through_the_running_collector_match_the_store(tmp_path: Path) -> None:
    alerts_file = tmp_path / "alerts.yaml"
    alerts_file.write_text("params: {daily_budget_usd: 0.000001, tenant_daily_budget_usd: 0.000001}\n")
    collector = CollectorProcess(tmp_path / "data", ["--alerts-file", str(alerts_file)]).start()
    for batch in range(3):
        assert post_protobuf(collector.http_endpoint, genai_request(batch, spans=20)) == 200
    collector.wait_stored(60)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    window = ["--since", (now - timedelta(hours=2)).isoformat(), "--until", (now + timedelta(hours=1)).isoformat()]
    common = ["--data-dir", str(collector.data_dir)]
    commands = [["report", *window, *common, *fmt] for fmt in (["--json"], ["--csv"], [])]
    commands.append(["alerts", "check", *common, "--alerts-file", str(alerts_file)])
    # The CLI's commands run in this process (the same app as `llmsight`; no interpreter start-up each).
    runner = CliRunner()
    live = [runner.invoke(cli_app, command) for command in commands]
    for out in live:
        assert out.exit_code == 0, out.output[-2000:]
    assert json.loads(live[0].stdout)["totals"]["calls"] == 60
    assert "Alerts firing now" in live[-1].stdout and "tenant-3" in live[-1].stdout
    assert collector.stop() == 0
    # The same commands on the store itself (no collector running) print exactly the same.
    direct = [runner.invoke(cli_app, command) for command in commands]
    assert [o.exit_code for o in direct] == [0] * len(commands), [o.output[-2000:] for o in direct]
    assert [o.stdout for o in live] == [o.stdout for o in direct]


def test_state_and_token_files_are_private_and_hold_no_password(tmp_path: Path) -> None:
    # A ClickHouse server that is down (port 9): the collector starts and spools; its DSN has a password.
    collector = CollectorProcess(tmp_path / "data", ["--dsn", "http://llm:hunter2@127.0.0.1:9/?password=hunter2"]).start()
    try:
        for name in (STATE_FILE, TOKEN_FILE):
            mode = stat.S_IMODE((collector.data_dir / name).stat().st_mode)
            assert mode == 0o600, (name, oct(mode))
        assert stat.S_IMODE(collector.data_dir.stat().st_mode) == 0o700
        state = (collector.data_dir / STATE_FILE).read_text()
        assert "hunter2" not in state and "llm:***@127.0.0.1:9" in state
        assert len(_token(collector)) >= 32
        deadline = time.monotonic() + 20
        while collector.metrics()["pipeline"]["insert_errors"] == 0 and time.monotonic() < deadline:
            assert post_protobuf(collector.http_endpoint, genai_request(0, spans=1)) == 200
            time.sleep(0.2)
        assert "hunter2" not in collector.metrics()["pipeline"]["last_error"]
    finally:
        assert collector.stop() == 0
    assert collector.process is not None and collector.process.stdout is not None
    output = collector.process.stdout.read().decode()
    assert "store: http://llm:***@127.0.0.1:9" in output and "hunter2" not in output
    assert not (collector.data_dir / TOKEN_FILE).exists()  # per run
    bad = subprocess.run([*CLI, "collector", "--data-dir", str(tmp_path / "d2"), "--dsn", "ftp://u:hunter2@h"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "hunter2" not in bad.stdout + bad.stderr


def test_a_dsn_access_token_shows_nowhere(tmp_path: Path) -> None:
    """clickhouse-connect's `access_token=` is a credential like a password: not in the state file, any other file
    of the data directory (the shared-memory file), the output, /metrics or a read-API error."""
    secret = "tok3n-0123456789abcdef"
    collector = CollectorProcess(tmp_path / "data", ["--dsn", f"http://127.0.0.1:9/?access_token={secret}"]).start()
    try:
        deadline = time.monotonic() + 20
        while collector.metrics()["pipeline"]["insert_errors"] == 0 and time.monotonic() < deadline:
            assert post_protobuf(collector.http_endpoint, genai_request(0, spans=1)) == 200
            time.sleep(0.2)
        metrics = json.dumps(collector.metrics())
        assert "access_token=***" in (collector.data_dir / STATE_FILE).read_text()
        assert secret not in metrics and "127.0.0.1:9" in metrics
        now = datetime.now(timezone.utc)
        status, answer = _read_api(collector, "/v1/report", json.dumps(
            {"start": (now - timedelta(hours=1)).isoformat(), "end": now.isoformat()}).encode())
        assert status != 200 and secret.encode() not in answer
        for path in collector.data_dir.rglob("*"):
            if path.is_file() and "store" not in path.parts:
                assert secret.encode() not in path.read_bytes(), path
    finally:
        assert collector.stop() == 0
    assert collector.process is not None and collector.process.stdout is not None
    output = collector.process.stdout.read().decode()
    assert "access_token=***" in output and secret not in output


def test_secrets_are_read_from_private_files_and_kept_off_the_command_line(tmp_path: Path) -> None:
    token_file, dsn_file = tmp_path / "token", tmp_path / "dsn"
    token_file.write_text("s3cret-from-a-file\n")
    dsn_file.write_text("http://llm:hunter2@127.0.0.1:9/\n")
    for path in (token_file, dsn_file):
        path.chmod(0o644)
        refused = subprocess.run([*CLI, "collector", "--data-dir", str(tmp_path / "d0"), "--auth-token-file", str(token_file),
                                  "--dsn-file", str(dsn_file)], capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and "chmod 600" in refused.stderr and "hunter2" not in refused.stderr
        path.chmod(0o600)
    collector = CollectorProcess(tmp_path / "data", ["--auth-token-file", str(token_file), "--dsn-file", str(dsn_file)]).start()
    try:
        assert collector.process is not None
        command_lines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in (collector.process.pid, collector.receiver_pid())]
        assert not any(b"s3cret" in line or b"hunter2" in line for line in command_lines)
        assert post_protobuf(collector.http_endpoint, genai_request(0, spans=1)) == 401
        assert post_protobuf(collector.http_endpoint, genai_request(0, spans=1),
                             headers={"authorization": "Bearer s3cret-from-a-file"}) == 200
        assert "llm:***@127.0.0.1:9" in (collector.data_dir / STATE_FILE).read_text()
    finally:
        assert collector.stop() == 0
    both = subprocess.run([*CLI, "collector", "--data-dir", str(tmp_path / "d1"), "--auth-token", "x",
                           "--auth-token-file", str(token_file)], capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "not both" in both.stderr


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "example.com"])
def test_a_non_loopback_bind_needs_a_token_or_insecure(tmp_path: Path, bind: str) -> None:
    refused = subprocess.run([*CLI, "collector", "--data-dir", str(tmp_path / "data"), "--bind", bind,
                              "--http-port", "0", "--grpc-port", "0", "--read-api-port", "0"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "--auth-token" in refused.stderr + refused.stdout and "--insecure" in refused.stderr + refused.stdout
    assert not (tmp_path / "data" / STATE_FILE).exists()


def test_a_non_loopback_bind_with_a_token_requires_it_everywhere(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "data", ["--bind", "0.0.0.0", "--auth-token", "s3cret"]).start()
    try:
        assert post_protobuf(collector.http_endpoint, genai_request(0, spans=1)) == 401
        assert post_protobuf(collector.http_endpoint, genai_request(0, spans=1), headers={"authorization": "Bearer s3cret"}) == 200
        port = collector.http_port
        assert exchange(port, request("GET", "/metrics", port, {}))[0] == 401
        assert exchange(port, request("GET", "/metrics", port, {"authorization": "Bearer s3cret"}))[0] == 200
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

        with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Export(genai_request(1, spans=1), timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            stub.Export(genai_request(1, spans=1), timeout=10, metadata=(("authorization", "Bearer s3cret"),))
        collector.wait_stored(2)
    finally:
        assert collector.stop() == 0


def test_insecure_allows_an_open_bind(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "data", ["--bind", "0.0.0.0", "--insecure"]).start()
    try:
        assert post_protobuf(collector.http_endpoint, genai_request(0, spans=1)) == 200
        collector.wait_stored(1)
    finally:
        assert collector.stop() == 0


# --- the limits on the read path, on a real embedded store ---


@pytest.fixture
def store(tmp_path: Path):
    store = Store.open(f"chdb://{tmp_path / 'store'}")
    store.ensure_schema()
    yield store
    store.close()


def test_read_queries_are_read_only_and_bounded(store: Store) -> None:
    query = LimitedQuery(store.read)
    assert query("SELECT count() FROM llmsight.llm_calls").rows == [(0,)]
    with pytest.raises(StoreError, match="readonly|READONLY"):
        query("SELECT * FROM file('/etc/passwd', 'LineAsString')")
    with pytest.raises(StoreError, match="readonly|READONLY"):
        query("INSERT INTO llmsight.schema_version (version) VALUES (999)")
    with pytest.raises(StoreError, match="readonly|READONLY|Cannot modify"):
        query("SELECT 1 SETTINGS max_execution_time = 100000")
    with pytest.raises(StoreError, match="TOO_MANY_ROWS|Limit for result"):
        query("SELECT number FROM numbers(1000000)")
    with pytest.raises(StoreError, match="TIMEOUT_EXCEEDED|Timeout"):
        LimitedQuery(store.read, timeout_s=1)("SELECT count() FROM numbers(100000000000) WHERE number % 7 = 3")


LONG_READ = "SELECT count() FROM numbers(100000000000) WHERE number % 7 = 3"


def _wait_until_running(store: Store, sql: str) -> None:
    """Until ClickHouse lists `sql` among the queries it is running."""
    deadline = time.monotonic() + 30
    running = ("SELECT count() FROM system.processes WHERE position(query, {sql:String}) > 0 "
               "AND position(query, 'system.processes') = 0")
    while store.query(running, {"sql": sql}).rows[0][0] == 0:
        assert time.monotonic() < deadline, "the read never started"
        time.sleep(0.02)


def test_a_long_read_does_not_block_inserts(store: Store) -> None:
    from llmsight.collector.normalise import normalise_request
    from tests.collector.spans import genai_request as request_of

    records = normalise_request(request_of(0, spans=10), default_service="x").records
    store.insert(records[:1], dedup_token="warm")  # the first insert pays one-off imports
    errors: list[Exception] = []

    def long_read() -> None:
        try:
            LimitedQuery(store.read, timeout_s=4)(LONG_READ)
        except StoreError as exc:
            errors.append(exc)

    reader = threading.Thread(target=long_read)
    reader.start()
    _wait_until_running(store, LONG_READ)
    started = time.monotonic()
    store.insert(records[1:], dedup_token="during-read")
    assert store.query("SELECT count() FROM llmsight.llm_calls").rows == [(10,)]
    assert time.monotonic() - started < 2.0, "the insert waited for the read"
    assert reader.is_alive()
    reader.join(30)
    assert errors and "TIMEOUT" in str(errors[0]).upper()


def test_a_cancelled_operation_kills_its_query_and_runs_no_more(store: Store) -> None:
    query = LimitedQuery(store.read, kill=store.kill_reads)
    errors: list[Exception] = []

    def long_read() -> None:
        try:
            query(LONG_READ)
        except StoreError as exc:
            errors.append(exc)

    reader = threading.Thread(target=long_read)
    started = time.monotonic()
    reader.start()
    _wait_until_running(store, LONG_READ)
    query.cancel()  # what the read API does when its client disconnects
    reader.join(20)
    assert time.monotonic() - started < 10, "the query ran on instead of being killed"
    assert errors and "CANCELLED" in str(errors[0]).upper()
    with pytest.raises(StoreError, match="went away"):
        query("SELECT 1")
    assert LimitedQuery(store.read)("SELECT 1").rows == [(1,)]  # other operations are unaffected

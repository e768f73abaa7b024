"""Nothing acknowledged is lost or counted twice: kill -9 mid-stream, ClickHouse down, resends."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from .conftest import CollectorProcess
from .spans import genai_request, post_protobuf, readable_spans

pytestmark = pytest.mark.destructive  # every test kills, restarts or competes for its collector's data dir


def test_kill_9_mid_stream_then_restart_stores_every_acknowledged_span_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    collector = CollectorProcess(data_dir, []).start()
    acknowledged: list[int] = []
    stop = threading.Event()

    def sender() -> None:
        batch = 0
        while not stop.is_set():
            request = genai_request(batch, spans=50)
            try:
                status = post_protobuf(f"http://127.0.0.1:{collector.http_port}/v1/traces", request)
            except OSError:
                status = 0  # connection refused / reset: not acknowledged, the exporter would retry
            if status == 200:
                acknowledged.append(batch)
                batch += 1
            elif status == 0:
                time.sleep(0.05)

    thread = threading.Thread(target=sender)
    thread.start()
    while len(acknowledged) < 40:
        time.sleep(0.01)
    collector.stop(signal.SIGKILL)  # mid-stream, no chance to flush
    killed_at = len(acknowledged)
    collector.start()  # same data dir: the spool is replayed
    while len(acknowledged) < killed_at + 20:
        time.sleep(0.01)
    stop.set()
    thread.join()
    expected = len(set(acknowledged)) * 50
    collector.wait_stored(expected)
    # query() stops the collector first (SIGTERM: everything pending is written), so a late duplicate is in there.
    count, distinct = collector.query("SELECT count(), uniqExact(trace_id, span_id) FROM llmsight.llm_calls").rows[0]
    assert count == distinct == expected
    assert collector.query("SELECT sum(calls) FROM llmsight.llm_calls_hourly").rows[0][0] == expected
    assert collector.stop() == 0


def test_clickhouse_down_spools_then_replays_in_order(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # ClickHouse is down (nothing listens on port 9): the collector still starts and acknowledges spans
    # once they are in its spool; every insert fails and is retried.
    down = CollectorProcess(data_dir, ["--dsn", "http://127.0.0.1:9"]).start()
    for batch in range(10):
        assert post_protobuf(f"http://127.0.0.1:{down.http_port}/v1/traces", genai_request(batch, spans=20)) == 200
    deadline = time.monotonic() + 20
    while down.metrics()["pipeline"]["insert_errors"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    pipeline = down.metrics()["pipeline"]
    assert pipeline["insert_errors"] > 0 and pipeline["stored"] == 0 and pipeline["submitted"] == 200
    assert down.stop() == 0  # a clean stop keeps what could not be stored
    # The store is back (here: the embedded one on the same data dir): the spool is replayed in order.
    collector = CollectorProcess(data_dir, []).start()
    collector.wait_stored(200)
    assert collector.metrics()["pipeline"]["stored"] == 200
    rows = collector.query("SELECT trace_id FROM llmsight.llm_calls ORDER BY ts, trace_id").rows
    assert len(rows) == 200
    assert [r[0] for r in rows][:3] == sorted(r[0] for r in rows)[:3]
    assert collector.stop() == 0


def test_real_exporter_retries_through_a_restart(tmp_path: Path) -> None:
    """The real OTLP/HTTP exporter, sending while the collector restarts (an upgrade) on the same port: its
    connection is refused, it retries, and the batch is stored once; a resent batch is dropped as a duplicate."""
    data_dir = tmp_path / "data"
    collector = CollectorProcess(data_dir, []).start()
    port = collector.http_port
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=60)
    first = readable_spans(0, 5)
    assert exporter.export(first).name == "SUCCESS"
    assert exporter.export(first).name == "SUCCESS"  # resent: dropped as a duplicate
    collector.wait_stored(5)
    assert collector.metrics()["ingest"]["duplicate_spans"] == 5
    assert collector.stop() == 0
    retrying = threading.Event()

    class Retries(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "retrying in" in record.getMessage():
                retrying.set()

    handler = Retries()
    logging.getLogger("opentelemetry.exporter.otlp").addHandler(handler)
    try:
        results: list[str] = []
        with socket.socket() as down:  # the port held, not listening, until the exporter has been refused
            down.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            down.bind(("127.0.0.1", port))
            sender = threading.Thread(target=lambda: results.append(exporter.export(readable_spans(1, 5)).name))
            sender.start()
            assert retrying.wait(30), "the exporter did not retry"
        collector = CollectorProcess(data_dir, ["--http-port", str(port)]).start()
        sender.join(60)
        assert results == ["SUCCESS"]
    finally:
        logging.getLogger("opentelemetry.exporter.otlp").removeHandler(handler)
    collector.wait_stored(10)
    count, distinct = collector.query("SELECT count(), uniqExact(trace_id, span_id) FROM llmsight.llm_calls").rows[0]
    assert count == distinct == 10


def _receiver_pid(collector: CollectorProcess) -> int:
    assert collector.process is not None
    tasks = Path(f"/proc/{collector.process.pid}/task")
    # Any thread may have spawned it (a restart comes from the watcher thread).
    (child,) = [pid for task in tasks.iterdir() for pid in (task / "children").read_text().split()]
    return int(child)


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":  # exited, waiting for its parent to reap it
            return True
        time.sleep(0.05)
    return False


def test_receiver_process_killed_is_restarted_on_the_same_ports_and_nothing_is_lost(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "data", []).start()
    for batch in range(10):
        assert post_protobuf(collector.http_endpoint, genai_request(batch, spans=50)) == 200
    receiver = _receiver_pid(collector)
    os.kill(receiver, signal.SIGKILL)
    assert _gone(receiver, 5)
    deadline = time.monotonic() + 30
    batch = 10
    while batch < 20 and time.monotonic() < deadline:  # the same endpoint answers again once restarted
        try:
            if post_protobuf(collector.http_endpoint, genai_request(batch, spans=50)) == 200:
                batch += 1
        except OSError:
            time.sleep(0.1)
    assert batch == 20, "the receiver did not come back on its port"
    assert _receiver_pid(collector) != receiver
    collector.wait_stored(20 * 50)
    count, distinct = collector.query("SELECT count(), uniqExact(trace_id, span_id) FROM llmsight.llm_calls").rows[0]
    assert count == distinct == 20 * 50
    assert collector.stop() == 0


def test_store_process_killed_takes_its_receiver_with_it(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "data", []).start()
    receiver = _receiver_pid(collector)
    collector.stop(signal.SIGKILL)
    assert _gone(receiver, 5), "the receiver process outlived the collector"
    # Its ports are free again: nothing listens there any more (a socket still listening would refuse the bind).
    for port in (collector.http_port, collector.grpc_port):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past connections' TIME_WAIT
            probe.bind(("127.0.0.1", port))


def test_store_process_killed_mid_traffic_takes_its_receiver_within_a_second_and_a_restart_starts(tmp_path: Path) -> None:
    """Whatever the receiver is doing — decoding large requests, a request whose body is still arriving — it exits
    with the store process, so the spool is free for the collector started right after."""
    data_dir = tmp_path / "data"
    collector = CollectorProcess(data_dir, []).start()
    receiver = _receiver_pid(collector)
    stop = threading.Event()
    sent: list[int] = []

    def send() -> None:
        batch = 1_000 * len(sent)
        while not stop.is_set():
            batch += 1
            try:
                sent.append(post_protobuf(collector.http_endpoint, genai_request(batch, spans=3_000), timeout=30))
            except OSError:
                return

    senders = [threading.Thread(target=send, daemon=True) for _ in range(3)]
    for sender in senders:
        sender.start()
    slow = socket.create_connection(("127.0.0.1", collector.http_port))  # a body that keeps arriving
    slow.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                 b"Content-Length: 1000000\r\n\r\n" + b"\n" * 1000)
    deadline = time.monotonic() + 30
    while len(sent) < 3 and time.monotonic() < deadline:  # traffic flows
        time.sleep(0.05)
    try:
        killed = time.monotonic()
        collector.stop(signal.SIGKILL)
        assert _gone(receiver, 10), "the receiver process outlived the collector by 10 s"
        took = time.monotonic() - killed
        assert took < 1.0, f"the receiver took {took:.1f} s to exit after its store process"
    finally:
        stop.set()
        slow.close()
    restarted = CollectorProcess(data_dir, []).start()  # not "spool in use"
    assert restarted.stop() == 0


def test_a_second_collector_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    first = CollectorProcess(tmp_path / "data", []).start()
    with pytest.raises(RuntimeError, match=r"(?s)data directory\s.*\sis in use by\s+pid \d+"):
        CollectorProcess(tmp_path / "data", []).start()
    assert post_protobuf(first.http_endpoint, genai_request(0, spans=5)) == 200
    first.wait_stored(5)
    assert first.stop() == 0


def test_a_busy_otlp_port_fails_start_up_with_the_address_in_the_message(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match=rf"(?s)cannot bind OTLP/HTTP on 127\.0\.0\.1:{port}"):
            CollectorProcess(tmp_path / "data", ["--http-port", str(port)]).start()


def test_a_grpc_port_taken_by_another_collector_fails_start_up(tmp_path: Path) -> None:
    """gRPC's default SO_REUSEPORT would let a second collector listen on the first one's port and take half
    of its exports into another store."""
    first = CollectorProcess(tmp_path / "first", []).start()
    try:
        with pytest.raises(RuntimeError, match=rf"(?s)cannot bind OTLP/gRPC on 127\.0\.0\.1:{first.grpc_port}"):
            CollectorProcess(tmp_path / "second", ["--grpc-port", str(first.grpc_port)]).start()
    finally:
        assert first.stop() == 0


def test_sigterm_to_the_process_group_stops_both_processes_without_a_restart(tmp_path: Path) -> None:
    """A service manager (systemd's control group, a shell's Ctrl-C, `kill -- -PGID`) signals every process of
    the collector at once: the receiver must not die first and be 'restarted' by the store process."""
    import json
    import subprocess
    import sys

    data_dir = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "llmsight.cli", "collector", "--data-dir", str(data_dir), "--http-port", "0",
         "--grpc-port", "0", "--read-api-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if json.loads((data_dir / "collector.json").read_text()).get("pid") == process.pid:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGTERM)
    output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert "unexpectedly" not in output and "restarting" not in output, output
    assert "stopped." in output


def test_pending_bytes_fall_to_zero_once_every_acknowledged_span_is_stored(tmp_path: Path) -> None:
    """/metrics' pipeline.pending_bytes is what a backlog alert, or a test, waits on: it must reach 0."""
    collector = CollectorProcess(tmp_path / "data", []).start()
    try:
        for batch in range(3):
            assert post_protobuf(collector.http_endpoint, genai_request(batch, spans=20)) == 200
        collector.wait_metric("stored", 60)
        deadline = time.monotonic() + 10
        while collector.metrics()["pipeline"]["pending_bytes"] != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert collector.metrics()["pipeline"]["pending_bytes"] == 0, collector.metrics()["pipeline"]
    finally:
        assert collector.stop() == 0

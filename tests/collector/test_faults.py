"""Nothing acknowledged is lost or counted twice: kill -9 mid-stream, ClickHouse down, resends."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .conftest import CollectorProcess
from .spans import genai_request, post_protobuf


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
    time.sleep(1.5)  # a late duplicate insert would show up after the flush interval
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
    rows = collector.query("SELECT trace_id FROM llmsight.llm_calls ORDER BY ts, trace_id").rows
    assert len(rows) == 200
    assert [r[0] for r in rows][:3] == sorted(r[0] for r in rows)[:3]
    assert collector.metrics()["pipeline"]["stored"] == 200
    assert collector.stop() == 0


def test_real_exporter_retries_through_a_restart(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "data", []).start()
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{collector.http_port}/v1/traces", timeout=5)
    from .spans import readable_spans

    first = readable_spans(0, 5)
    assert exporter.export(first).name == "SUCCESS"
    assert exporter.export(first).name == "SUCCESS"  # resent: dropped as a duplicate
    collector.wait_stored(5)
    assert collector.query("SELECT count() FROM llmsight.llm_calls").rows[0][0] == 5
    assert collector.metrics()["ingest"]["duplicate_spans"] == 5
    assert collector.stop() == 0
    assert isinstance(ExportTraceServiceRequest(), ExportTraceServiceRequest)

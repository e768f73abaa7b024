"""Acknowledged spans survive disk-full, poison batches, a corrupted spool and hostile values; each case runs a
real collector process and checks the status code, what is stored, and that a good span still gets in after."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from llmsight.collector.spool import iter_frames
from llmsight.collector.store import Store

from .conftest import CollectorProcess
from .spans import _kv, genai_request, post_protobuf

DAY_NS = 86_400 * 10**9
pytestmark = pytest.mark.destructive  # disk filled, spool corrupted, collectors killed and restarted


def _span(number: int, start_ns: int, **overrides: object) -> Span:
    attributes: dict[str, object] = {
        "gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100,
    }
    attributes.update(overrides)
    return Span(
        trace_id=(0xABC).to_bytes(8, "big") + number.to_bytes(8, "big"), span_id=(number + 1).to_bytes(8, "big"),
        name="chat gpt-4o-mini", kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + 200_000_000, attributes=[_kv(k, v) for k, v in attributes.items()],
    )


def _request(spans: list[Span]) -> ExportTraceServiceRequest:
    resource = Resource(attributes=[_kv("service.name", "safety")])
    scope = ScopeSpans(scope=InstrumentationScope(name="llmsight.openai"), spans=spans)
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=resource, scope_spans=[scope])])


def _export(collector: CollectorProcess, request: ExportTraceServiceRequest) -> tuple[int, ExportTraceServiceResponse]:
    http_request = urllib.request.Request(
        collector.http_endpoint, data=request.SerializeToString(), headers={"content-type": "application/x-protobuf"}
    )
    try:
        with urllib.request.urlopen(http_request, timeout=10) as response:
            return response.status, ExportTraceServiceResponse.FromString(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, ExportTraceServiceResponse()


def _count(collector: CollectorProcess) -> tuple[int, int]:
    count, distinct = collector.query("SELECT count(), uniqExact(trace_id, span_id) FROM llmsight.llm_calls").rows[0]
    return int(count), int(distinct)


def _wait(predicate, timeout: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(what)


# --- 1. disk full ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def _small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (root only; skipped elsewhere), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_disk_full_answers_503_rolls_back_and_loses_nothing_once_space_is_freed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with _small_filesystem(data_dir / "spool", "1m") as spool:
        collector = CollectorProcess(data_dir, []).start()
        acknowledged: list[int] = []
        statuses: dict[int, int] = {}
        batch = 0
        while statuses.get(503, 0) < 5 and batch < 400:  # fill the spool's filesystem
            try:
                status = post_protobuf(collector.http_endpoint, genai_request(batch, spans=50))
            except OSError:
                status = 0  # connection dropped: not acknowledged
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                acknowledged.append(batch)
            batch += 1
        print("statuses while full:", statuses, "acknowledged:", len(acknowledged))
        assert statuses.get(503, 0) >= 5, f"the spool filled but no 503 was answered: {statuses}"
        assert set(statuses) <= {200, 503}, statuses
        pipeline = collector.metrics()["pipeline"]
        assert pipeline["spool_write_errors"] > 0 and "No space left" in pipeline["last_spool_error"]
        assert collector.metrics()["health"]["status"] == "degraded"
        with urllib.request.urlopen(f"http://127.0.0.1:{collector.http_port}/healthz", timeout=5) as probe:
            assert json.loads(probe.read())["status"] == "degraded"  # what a load balancer's probe sees
        with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:  # gRPC: UNAVAILABLE, retried
            with pytest.raises(grpc.RpcError) as refused:
                trace_service_pb2_grpc.TraceServiceStub(channel).Export(genai_request(batch + 20, spans=200), timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        # Space is freed: the exporter's retries get in, the writer catches up, nothing acknowledged is lost.
        subprocess.run(["mount", "-o", "remount,size=64m", str(spool)], check=True)
        for retry in range(batch, batch + 5):
            request = genai_request(retry, spans=50)
            _wait(lambda: post_protobuf(collector.http_endpoint, request) == 200, 20, "200 again")  # noqa: B023 - this iteration's
            acknowledged.append(retry)
        collector.wait_stored(len(acknowledged) * 50)
        _wait(lambda: collector.metrics()["health"]["status"] == "ok", 20, "health back to ok")
        collector.stop(signal.SIGKILL)  # the torn appends must not be in the spool to truncate at
        collector.start()
        post_protobuf(collector.http_endpoint, genai_request(batch + 10, spans=50))
        collector.wait_stored((len(acknowledged) + 1) * 50)
        assert _count(collector)  # query() stops the collector first: anything pending (a duplicate) is written == ((len(acknowledged) + 1) * 50,) * 2
        expected_batches = {int(b) for b in acknowledged} | {batch + 10}
        stored_batches = {int(r[0][:16], 16) for r in collector.query("SELECT DISTINCT trace_id FROM llmsight.llm_calls").rows}
        assert stored_batches == expected_batches
        assert collector.stop() == 0


# --- 2. poison batch, 5. timestamps ----------------------------------------------------------------------

def test_spans_outside_the_time_window_are_rejected_with_a_reason_and_the_rest_stored(collector: CollectorProcess) -> None:
    now = time.time_ns()
    spans = [
        _span(0, now - 1_000_000_000),
        _span(1, now - 150 * DAY_NS),  # ClickHouse would need a partition per day between these
        _span(2, now - 400 * DAY_NS),
        _span(3, now + 2 * DAY_NS),  # clock skew beyond the hour allowed
        _span(4, 16_000_000_000 * 10**9),  # year 2477
        _span(5, now - 2 * DAY_NS),
    ]
    status, response = _export(collector, _request(spans))
    assert status == 200
    assert response.partial_success.rejected_spans == 4
    assert "outside the accepted time window" in response.partial_success.error_message
    collector.wait_stored(2)
    assert post_protobuf(collector.http_endpoint, genai_request(7, spans=10)) == 200  # nothing stuck behind them
    collector.wait_stored(12)
    assert collector.metrics()["ingest"]["rejected_spans"] == 4  # before query(), which stops the collector
    rows = collector.query("SELECT span_id, toDate(ts) FROM llmsight.llm_calls WHERE service = 'safety' ORDER BY span_id").rows
    assert [r[0] for r in rows] == [f"{1:016x}", f"{6:016x}"]


def test_a_wide_window_is_split_per_day_so_no_insert_exceeds_the_partition_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMSIGHT_ACCEPT_PAST_DAYS", "400")
    monkeypatch.setenv("LLMSIGHT_RAW_TTL_DAYS", "400")
    collector = CollectorProcess(tmp_path / "data", []).start()
    now = time.time_ns()
    spans = [_span(day, now - day * DAY_NS) for day in range(150)]  # 150 days, one request, one spool frame
    status, response = _export(collector, _request(spans))
    assert status == 200 and response.partial_success.rejected_spans == 0
    # The report's window (what wait_stored reads) ends 30 days back: count what the writer stored instead.
    collector.wait_metric("stored", 150, timeout=60)
    assert post_protobuf(collector.http_endpoint, genai_request(1, spans=10)) == 200
    collector.wait_metric("stored", 160)
    assert collector.metrics()["pipeline"]["dead_lettered_rows"] == 0
    assert _count(collector) == (160, 160)
    assert collector.stop() == 0


def test_rows_the_store_refuses_go_to_the_dead_letter_file_and_never_block_the_rest(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # A rule of the store's own (here a table constraint) that retrying can never satisfy.
    store = Store.open(f"chdb://{data_dir / 'store'}")
    store.ensure_schema()
    store.command("ALTER TABLE llmsight.llm_calls ADD CONSTRAINT sane_input CHECK input_tokens < 5000000")
    store.close()
    collector = CollectorProcess(data_dir, []).start()
    now = time.time_ns()
    spans = [_span(n, now - n * 1000, **({"gen_ai.usage.input_tokens": 9_000_000} if n == 7 else {})) for n in range(20)]
    assert _export(collector, _request(spans))[0] == 200
    assert post_protobuf(collector.http_endpoint, genai_request(1, spans=30)) == 200  # behind the poison
    collector.wait_stored(49)
    collector.wait_metric("dead_lettered_rows", 1)
    pipeline = collector.metrics()["pipeline"]  # before _count(), whose query() stops the collector
    assert _count(collector) == (49, 49)
    assert collector.query(f"SELECT count() FROM llmsight.llm_calls WHERE span_id = '{8:016x}'").rows[0][0] == 0
    assert pipeline["dead_lettered_rows"] == 1 and pipeline["dead_letter_batches"] == 1
    letters = list((data_dir / "dead-letter").glob("*.jsonl"))
    assert len(letters) == 1
    header, *rows = [json.loads(line) for line in letters[0].read_text().splitlines()]
    assert "VIOLATED_CONSTRAINT" in header["reason"] or "sane_input" in header["reason"]
    assert [row["span_id"] for row in rows] == [f"{8:016x}"] and rows[0]["input_tokens"] == 9_000_000
    assert collector.stop() == 0
    _replay_after_fixing_the_cause(data_dir, letters[0])


def _dead_letter_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmsight.cli", "dead-letter", *args], capture_output=True,
                          text=True, timeout=120)


def _replay_after_fixing_the_cause(data_dir: Path, letter: Path) -> None:
    """`llmsight dead-letter list | replay`: refused again while the cause stands (the file stays), inserted
    once it is fixed, and a second replay of the same rows (the file copied back) inserts nothing."""
    def stored() -> int:
        store = Store.open(f"chdb://{data_dir / 'store'}")
        try:
            return int(store.query("SELECT count() FROM llmsight.llm_calls").rows[0][0])
        finally:
            store.close()

    running = CollectorProcess(data_dir, []).start()
    locked = _dead_letter_cli("replay", "--data-dir", str(data_dir))  # the embedded store has one owner
    assert locked.returncode == 1 and "stop it, replay" in locked.stderr and letter.exists(), locked
    assert running.stop() == 0
    listed = _dead_letter_cli("list", "--data-dir", str(data_dir))
    assert listed.returncode == 0 and letter.name in listed.stdout and "sane_input" in listed.stdout, listed
    still = _dead_letter_cli("replay", "--data-dir", str(data_dir))
    assert still.returncode == 1 and "still refuses" in still.stderr and letter.exists(), still
    assert stored() == 49
    store = Store.open(f"chdb://{data_dir / 'store'}")
    store.command("ALTER TABLE llmsight.llm_calls DROP CONSTRAINT sane_input")  # the cause, fixed
    store.close()
    replayed = _dead_letter_cli("replay", "--data-dir", str(data_dir))
    assert replayed.returncode == 0 and "1 of 1 rows inserted" in replayed.stderr, replayed
    done = letter.parent / "replayed" / letter.name
    assert not letter.exists() and done.exists()
    assert stored() == 50
    assert "no dead letters" in _dead_letter_cli("replay", "--data-dir", str(data_dir)).stderr
    again = _dead_letter_cli("replay", str(shutil.copy(done, letter)), "--data-dir", str(data_dir))
    assert again.returncode == 0 and "0 of 1 rows inserted, 1 already stored" in again.stderr, again
    assert stored() == 50
    # A file mangled by hand (its row cut short): named with its line, kept, nothing stored, exit 1.
    mangled = letter.parent / "mangled.jsonl"
    mangled.write_text("\n".join(done.read_text().splitlines()[:1] + [done.read_text().splitlines()[1][:40]]) + "\n")
    listed = _dead_letter_cli("list", "--data-dir", str(data_dir))
    assert listed.returncode == 0 and f"{mangled}:2: not a row" in listed.stdout, listed
    broken = _dead_letter_cli("replay", "--data-dir", str(data_dir))
    assert broken.returncode == 1 and f"{mangled}:2: not a row" in broken.stderr and mangled.exists(), broken
    assert "Traceback" not in broken.stderr
    assert stored() == 50


# --- 3. corrupted spool ----------------------------------------------------------------------------------

def _frame_offsets(segment: Path) -> list[int]:
    with open(segment, "rb") as handle:
        return [frame.offset for frame in iter_frames(handle, 0, 0, 0, None, decode=False)]


def _stored_then_stopped(data_dir: Path, batches: range, spans: int) -> CollectorProcess:
    collector = CollectorProcess(data_dir, []).start()
    for batch in batches:
        assert post_protobuf(collector.http_endpoint, genai_request(batch, spans=spans)) == 200
    collector.wait_stored(len(batches) * spans)
    assert collector.stop() == 0
    return collector


def test_corrupted_committed_frame_never_hides_later_spans(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    collector = _stored_then_stopped(data_dir, range(10), spans=50)
    (segment,) = sorted((data_dir / "spool").glob("*.wal"))
    offsets = _frame_offsets(segment)
    with open(segment, "r+b") as handle:  # a committed frame rots on disk
        handle.seek(offsets[3] + 40)
        handle.write(b"\xff\x00\xff\x00")
    collector.start()
    for batch in range(10, 20):
        assert post_protobuf(collector.http_endpoint, genai_request(batch, spans=50)) == 200
    collector.wait_stored(1000)
    assert _count(collector) == (1000, 1000)  # query() stops the collector first: anything pending is written
    assert collector.stop() == 0


def test_corrupted_uncommitted_frame_is_dropped_alone_logged_and_counted(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    down = CollectorProcess(data_dir, ["--dsn", "http://127.0.0.1:9"]).start()  # nothing is committed
    for batch in range(10):
        assert post_protobuf(down.http_endpoint, genai_request(batch, spans=50)) == 200
    _wait(lambda: down.metrics()["pipeline"]["insert_errors"] > 0, 20, "the writer trying the store that is down")
    assert down.stop() == 0
    (segment,) = sorted((data_dir / "spool").glob("*.wal"))
    offsets = _frame_offsets(segment)
    with open(segment, "r+b") as handle:
        handle.seek(offsets[3] + 40)
        handle.write(b"\xff\x00\xff\x00")
    collector = CollectorProcess(data_dir, []).start()
    collector.wait_stored(450)
    assert post_protobuf(collector.http_endpoint, genai_request(20, spans=50)) == 200
    collector.wait_stored(500)
    collector.wait_metric("corrupt_frames", 1)
    assert collector.metrics()["pipeline"]["corrupt_frames"] == 1  # before _count(), whose query() stops the collector
    assert _count(collector) == (500, 500)
    batches = {int(r[0][:16], 16) for r in collector.query("SELECT DISTINCT trace_id FROM llmsight.llm_calls").rows}
    assert batches == set(range(10)) - {3} | {20}
    assert collector.stop() == 0
    assert collector.process is not None and collector.process.stdout is not None
    log = collector.process.stdout.read().decode()
    assert "corrupt" in log and f"segment {int(segment.stem)}" in log, log


def test_dedup_tokens_are_never_reused_after_the_spool_files_are_lost(tmp_path: Path) -> None:
    """Segment files deleted by hand (or lost) while the checkpoint stays: the next frames must not reuse
    old (segment, frame) numbers, or ClickHouse drops them as duplicates of rows stored long ago."""
    data_dir = tmp_path / "data"
    collector = _stored_then_stopped(data_dir, range(5), spans=20)
    for segment in (data_dir / "spool").glob("*.wal"):
        segment.unlink()
    collector.start()
    for batch in range(5, 10):
        assert post_protobuf(collector.http_endpoint, genai_request(batch, spans=20)) == 200
    collector.wait_stored(200, timeout=20)
    assert _count(collector) == (200, 200)
    assert collector.stop() == 0


# --- 4. normalisation ------------------------------------------------------------------------------------

def test_each_span_is_accepted_or_rejected_on_its_own(collector: CollectorProcess) -> None:
    now = time.time_ns()
    spans = [
        _span(0, now),
        _span(1, now, **{"gen_ai.usage.input_tokens": "²"}),
        _span(2, now, **{"gen_ai.usage.output_tokens": "9" * 5000}),
        _span(3, now, **{"gen_ai.usage.input_tokens": "１２"}),  # full-width digits
        _span(4, now, **{"gen_ai.usage.input_tokens": "1200"}),
    ]
    status, response = _export(collector, _request(spans))
    assert status == 200
    assert response.partial_success.rejected_spans == 3, response
    assert "must be an integer" in response.partial_success.error_message
    collector.wait_stored(2)
    rows = collector.query("SELECT span_id, input_tokens FROM llmsight.llm_calls ORDER BY span_id").rows
    assert rows == [(f"{1:016x}", 1000), (f"{5:016x}", 1200)]

"""Hostile OTLP input: bodies built to make the receiver allocate far more than they weigh, and the caches it
keeps between requests. Each asserts a bound on memory or an answer, never a timing."""

from __future__ import annotations

import gc
import gzip
import json
import socket
import threading
import time
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from llmsight.collector.normalise import normalise_request
from llmsight.collector.receive.grpc import EXPORT_METHOD
from llmsight.collector.receive.limits import MAX_DECOMPRESSED_BYTES, MAX_GRPC_STREAMS, REQUEST_READ_TIMEOUT_S

from .conftest import CollectorProcess
from .spans import genai_request, post_protobuf

START_NS = 1_700_000_000_000_000_000


def _span_with_keys(keys: list[str], index: int) -> Span:
    attributes = [KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="m"))]
    attributes += [KeyValue(key=key, value=AnyValue(int_value=1)) for key in keys]
    return Span(trace_id=(index + 1).to_bytes(16, "big"), span_id=(index + 1).to_bytes(8, "big"), name="chat",
                start_time_unix_nano=START_NS, end_time_unix_nano=START_NS + 1, attributes=attributes)


def _request(*spans: Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])])


def test_spans_with_huge_distinct_key_sets_leave_no_memory_behind() -> None:
    """The attribute-key plan cache remembers only small key sets: ten requests of 50,000 distinct keys each
    kept every key set (tens of MiB, never freed) before."""
    requests = [_request(_span_with_keys([f"k{batch}.{i}" for i in range(50_000)], batch)) for batch in range(10)]
    normalise_request(_request(_span_with_keys(["warm"], 99)))  # imports and small caches, outside the measure
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for request in requests:
            assert len(normalise_request(request).records) == 1
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retained < 2 * 1024 * 1024, f"{retained / 2**20:.1f} MiB retained after the requests were done"


# --- bodies that weigh 16 KB and decode to millions of objects, against a real collector process ---

def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM line")


def _amplifying_bodies() -> dict[str, tuple[bytes, str]]:
    """The issue's bodies: 16 MiB that gzip to about 16 KB each."""
    size = MAX_DECOMPRESSED_BYTES
    empty_resource_spans = b"\x0a\x00" * (size // 2)  # field 1 (resource_spans), length 0: 8 million of them
    json_objects = b'{"a":[' + b"{}," * ((size - 16) // 3) + b"{}]}"
    return {
        "protobuf": (gzip.compress(empty_resource_spans, 9), "application/x-protobuf"),
        "json": (gzip.compress(json_objects, 9), "application/json"),
        # one span holding 4 million empty attributes (field 9, length 0): one message, so no count above it helps
        "protobuf one span": (gzip.compress(_one_span_of(b"\x4a\x00" * ((size - 64) // 2)), 9), "application/x-protobuf"),
    }


def _one_span_of(span_fields: bytes) -> bytes:
    def field(number: int, payload: bytes) -> bytes:
        return _varint((number << 3) | 2) + _varint(len(payload)) + payload

    return field(1, field(2, field(2, span_fields)))


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=120) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


BOUND_MIB = 400  # far below what one of these bodies cost before (0.5 to 1.8 GiB), well above a receiver at rest


# Tests that only send and read take the module's one collector (`shared_collector`): the receiver's peak memory
# (VmHWM) is then bounded over every body sent so far, and counters are compared before and after.


@pytest.mark.parametrize("name", ["protobuf", "json", "protobuf one span"])
def test_small_compressed_bodies_cannot_inflate_the_receiver_over_http(shared_collector: CollectorProcess, name: str) -> None:
    collector = shared_collector
    body, content_type = _amplifying_bodies()[name]
    assert len(body) < 40_000
    status = post(collector.http_endpoint, body, {"content-type": content_type, "content-encoding": "gzip"})
    assert status == 413
    assert _peak_rss_mib(collector.receiver_pid()) < BOUND_MIB
    assert post_protobuf(collector.http_endpoint, genai_request(1, spans=3)) == 200


@pytest.mark.parametrize(("name", "batch"), [("protobuf", 2), ("protobuf one span", 4)])
def test_small_compressed_bodies_cannot_inflate_the_receiver_over_grpc(
    shared_collector: CollectorProcess, name: str, batch: int
) -> None:
    collector = shared_collector
    stored = collector.metrics()["pipeline"]["stored"]
    raw = gzip.decompress(_amplifying_bodies()[name][0])
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        export = channel.unary_unary(EXPORT_METHOD)
        with pytest.raises(grpc.RpcError) as refused:
            export(raw, timeout=60, compression=grpc.Compression.Gzip)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert _peak_rss_mib(collector.receiver_pid()) < BOUND_MIB
        export(genai_request(batch, spans=3).SerializeToString(), timeout=30)  # spans of its own: not duplicates
    collector.wait_metric("stored", stored + 3)


def test_a_span_with_many_values_under_the_limits_is_stored(shared_collector: CollectorProcess) -> None:
    """The walk that counts a large span's values lets a legitimate large one through: 2,000 attributes and a
    200 KB captured prompt."""
    collector = shared_collector
    stored = collector.metrics()["pipeline"]["stored"]
    request = genai_request(3, spans=1)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.extend(KeyValue(key=f"app.k{i}", value=AnyValue(int_value=i)) for i in range(2000))
    span.attributes.append(KeyValue(key="gen_ai.prompt.0.content", value=AnyValue(string_value="x" * 200_000)))
    assert post_protobuf(collector.http_endpoint, request) == 200
    collector.wait_metric("stored", stored + 1)


# --- gRPC calls that send headers and no message ---

class _HalfOpenExports:
    """`count` Export calls that send their headers and never a message (a client-streaming call whose request
    iterator blocks), until closed."""

    def __init__(self, port: int, count: int, token: str | None) -> None:
        self._release = threading.Event()
        self._channels = [grpc.insecure_channel(f"127.0.0.1:{port}") for _ in range(count)]
        metadata = (("authorization", f"Bearer {token}"),) if token else None
        self.calls = [channel.stream_unary(EXPORT_METHOD).future(self._nothing(), timeout=120, metadata=metadata)
                      for channel in self._channels]

    def _nothing(self) -> Iterator[bytes]:
        self._release.wait()
        return
        yield b""

    def close(self) -> None:
        self._release.set()
        for call in self.calls:
            call.cancel()
        for channel in self._channels:
            channel.close()


def test_half_open_grpc_calls_without_the_token_hold_no_slot(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "data", ["--auth-token", "s3cret"]).start()
    idle = _HalfOpenExports(collector.grpc_port, 2 * MAX_GRPC_STREAMS, token=None)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
            export = channel.unary_unary(EXPORT_METHOD)
            # Retried on RESOURCE_EXHAUSTED, as exporters do, but only for half the read timeout: calls that
            # waited for their message would hold their slots longer than that.
            deadline = time.monotonic() + REQUEST_READ_TIMEOUT_S / 2
            for batch in range(3):
                while True:
                    try:
                        export(genai_request(10 + batch, spans=1).SerializeToString(), timeout=60,
                               metadata=(("authorization", "Bearer s3cret"),))
                        break
                    except grpc.RpcError as exc:
                        assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and time.monotonic() < deadline, exc
                        time.sleep(0.2)
        # They were refused at once, not left waiting for their message (those arriving while every slot was
        # briefly taken were refused for that).
        codes = {call.exception(timeout=30).code() for call in idle.calls}
        assert grpc.StatusCode.UNAUTHENTICATED in codes and codes <= {grpc.StatusCode.UNAUTHENTICATED,
                                                                      grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
    finally:
        idle.close()
        collector.stop()


HALF_OPEN_TIMEOUT_S = 2.0  # the read timeout of the next test's collector: well under the default


def test_half_open_grpc_calls_are_cancelled_after_the_read_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a token every call is let in: one that sends no message is ended after the read timeout
    (LLMSIGHT_REQUEST_READ_TIMEOUT_S, here shorter than the default), so a real exporter's retries get through."""
    monkeypatch.setenv("LLMSIGHT_REQUEST_READ_TIMEOUT_S", str(HALF_OPEN_TIMEOUT_S))
    collector = CollectorProcess(tmp_path / "data", []).start()
    idle = _HalfOpenExports(collector.grpc_port, MAX_GRPC_STREAMS, token=None)
    opened = time.monotonic()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
            export = channel.unary_unary(EXPORT_METHOD)
            deadline = time.monotonic() + HALF_OPEN_TIMEOUT_S + 50  # a loaded machine's start-up included
            while True:
                try:
                    export(genai_request(20, spans=1).SerializeToString(), timeout=60)
                    break
                except grpc.RpcError as exc:  # every slot held: retried, as exporters do
                    assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
                    assert time.monotonic() < deadline, "the half-open calls were never ended"
                    time.sleep(0.5)
        codes = {call.exception(timeout=30).code() for call in idle.calls}  # none is left open
        assert grpc.StatusCode.CANCELLED in codes and codes <= {grpc.StatusCode.CANCELLED, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
        held = time.monotonic() - opened
        assert held < REQUEST_READ_TIMEOUT_S, f"the half-open calls were open {held:.1f} s: not the setting's timeout"
    finally:
        idle.close()
        collector.stop()


@pytest.mark.parametrize(("start", "end"), [("0001-01-01T00:00:00", "2026-01-01T00:00:00"),
                                            ("2026-01-01T00:00:00", "9999-12-31T23:59:59")])
def test_a_report_window_out_of_range_is_400_with_a_message(shared_collector: CollectorProcess, start: str, end: str) -> None:
    from llmsight.collector.read_api import TOKEN_FILE

    from .rawhttp import exchange

    collector = shared_collector

    body = json.dumps({"start": start, "end": end}).encode()
    token = (collector.data_dir / TOKEN_FILE).read_text().strip()
    raw = (f"POST /v1/report HTTP/1.1\r\nhost: 127.0.0.1:{collector.read_api_port}\r\ncontent-type: application/json\r\n"
           f"authorization: Bearer {token}\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body
    status, answer = exchange(collector.read_api_port, raw)
    assert status == 400, answer[:300]
    assert b"must be between" in answer and b"Traceback" not in answer


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
@pytest.mark.parametrize("bind", ["::1", "[::1]"])
def test_binds_ipv6_loopback_with_or_without_brackets(tmp_path: Path, bind: str) -> None:
    collector = CollectorProcess(tmp_path / "data", ["--bind", bind]).start()
    try:
        http_url = f"http://[::1]:{collector.http_port}/v1/traces"
        assert post_protobuf(http_url, genai_request(30, spans=1)) == 200
        with grpc.insecure_channel(f"[::1]:{collector.grpc_port}") as channel:
            channel.unary_unary(EXPORT_METHOD)(genai_request(31, spans=1).SerializeToString(), timeout=10)
        deadline = time.monotonic() + 30
        while _stored(f"http://[::1]:{collector.http_port}/metrics") < 2:
            assert time.monotonic() < deadline, "the two spans were not stored"
            time.sleep(0.1)
    finally:
        collector.stop()


def _stored(metrics_url: str) -> int:
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        return int(json.loads(response.read())["pipeline"]["stored"])


def test_a_report_window_out_of_range_is_a_clear_error_on_the_command_line(tmp_path: Path) -> None:
    """The same window from the CLI, against a store (no collector running): exit 2 with the range, no traceback."""
    import subprocess
    import sys

    collector = CollectorProcess(tmp_path / "data", []).start()
    assert collector.stop() == 0  # leaves a store behind
    for since in ("0001-01-01T00:00", "0001-01-01T00:00+05:00"):
        done = subprocess.run([sys.executable, "-m", "llmsight.cli", "report", "--since", since,
                               "--data-dir", str(collector.data_dir)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "1970-01-08" in done.stdout + done.stderr and "Traceback" not in done.stdout + done.stderr

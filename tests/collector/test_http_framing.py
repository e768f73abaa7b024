"""Malformed and hostile HTTP on the OTLP/HTTP receiver, sent over raw sockets to a real collector process:
each case gets the right status, and the collector goes on ingesting a good span afterwards."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmsight.collector.receive.limits import MAX_BODY_BYTES, MAX_SPANS_PER_REQUEST, REQUEST_READ_TIMEOUT_S

from .conftest import CollectorProcess, _started
from .rawhttp import chunked, exchange, request, status_of
from .spans import genai_request, post_protobuf

PROTOBUF = {"content-type": "application/x-protobuf"}


@pytest.fixture
def collector(shared_collector: CollectorProcess) -> CollectorProcess:
    """Every test here but the token one sends to the module's one collector: counters compared before and after."""
    return shared_collector


_good_batches = itertools.count(900)


def _ingest(collector: CollectorProcess) -> dict[str, int]:
    return dict(collector.metrics()["ingest"])


def still_ingests(collector: CollectorProcess) -> None:
    """A good span (a new one each time) is acknowledged and reaches the store."""
    before = collector.metrics()["pipeline"]["stored"]
    assert post_protobuf(collector.http_endpoint, genai_request(next(_good_batches), spans=1)) == 200
    collector.wait_metric("stored", before + 1)


def test_chunked_body_is_stored_not_dropped(collector: CollectorProcess) -> None:
    before, stored = _ingest(collector), collector.metrics()["pipeline"]["stored"]
    body = genai_request(1, spans=7).SerializeToString()
    raw = request("POST", "/v1/traces", collector.http_port,
                  {**PROTOBUF, "transfer-encoding": "chunked"}, chunked(body, 100))
    status, _ = exchange(collector.http_port, raw)
    assert status == 200
    collector.wait_metric("stored", stored + 7)
    after = _ingest(collector)
    assert after["genai_spans"] - before["genai_spans"] == 7
    # Chunked bytes are never parsed as a second request: exactly one request was counted.
    assert after["requests"] - before["requests"] == 1
    still_ingests(collector)


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "10, 20"])
def test_invalid_content_length_is_400(collector: CollectorProcess, length: str) -> None:
    raw = request("POST", "/v1/traces", collector.http_port, {**PROTOBUF, "content-length": length}, b"x" * 10)
    status, _ = exchange(collector.http_port, raw)
    assert status == 400
    still_ingests(collector)


def test_oversized_bodies_are_413_declared_or_chunked(collector: CollectorProcess) -> None:
    declared = request("POST", "/v1/traces", collector.http_port,
                       {**PROTOBUF, "content-length": str(MAX_BODY_BYTES + 1)}, b"")
    assert exchange(collector.http_port, declared)[0] == 413
    # Chunked: no length up front; the limit still holds on the bytes actually sent.
    big = b"\0" * (MAX_BODY_BYTES + 1)
    raw = request("POST", "/v1/traces", collector.http_port, {**PROTOBUF, "transfer-encoding": "chunked"},
                  chunked(big, 1 << 20))
    assert exchange(collector.http_port, raw, timeout=30)[0] == 413
    still_ingests(collector)


def test_gzip_bomb_and_corrupt_gzip_are_400_or_413(collector: CollectorProcess) -> None:
    port, before = collector.http_port, _ingest(collector)
    headers = {**PROTOBUF, "content-encoding": "gzip"}
    valid = gzip.compress(genai_request(2, spans=3).SerializeToString())
    for corrupt in (valid[:-12], valid[:20], b"\x1f\x8b\x08\x00garbage", valid[:-4] + b"\0\0\0\0"):
        raw = request("POST", "/v1/traces", port, {**headers, "content-length": str(len(corrupt))}, corrupt)
        status, answer = exchange(port, raw)
        assert status == 400, answer[:300]
        assert b"gzip" in answer
    bomb = gzip.compress(b"\0" * (64 << 20))
    raw = request("POST", "/v1/traces", port, {**headers, "content-length": str(len(bomb))}, bomb)
    assert exchange(port, raw)[0] == 413
    assert _ingest(collector)["genai_spans"] == before["genai_spans"]  # nothing from the corrupt bodies was stored
    still_ingests(collector)


def test_deeply_nested_json_is_400(collector: CollectorProcess) -> None:
    body = b'{"resourceSpans":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    raw = request("POST", "/v1/traces", collector.http_port,
                  {"content-type": "application/json", "content-length": str(len(body))}, body)
    status, answer = exchange(collector.http_port, raw)
    assert status == 400, answer[:300]
    still_ingests(collector)


def test_too_many_spans_in_one_request_is_413_with_the_limit(collector: CollectorProcess) -> None:
    before = _ingest(collector)
    body = genai_request(3, spans=MAX_SPANS_PER_REQUEST + 1).SerializeToString()
    raw = request("POST", "/v1/traces", collector.http_port, {**PROTOBUF, "content-length": str(len(body))}, body)
    status, answer = exchange(collector.http_port, raw)
    assert status == 413
    from google.rpc import status_pb2

    message = status_pb2.Status.FromString(answer.split(b"\r\n\r\n", 1)[1]).message
    assert str(MAX_SPANS_PER_REQUEST) in message and "max_export_batch_size" in message
    assert _ingest(collector)["genai_spans"] == before["genai_spans"]
    still_ingests(collector)


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


def _sockets(pid: int) -> set[str]:
    """The sockets the process holds, by identity ("socket:[inode]"): a count alone would be thrown off by one
    that closes meanwhile (the server end of the last request before the test, closing: measured)."""
    fds = Path(f"/proc/{pid}/fd")
    return {link for fd in fds.iterdir() if (link := os.readlink(fd)).startswith("socket:")} if fds.exists() else set()


HALF_OPEN_TIMEOUT_S = 2.0  # the half-open test's read timeout: well under the default, which it must not wait for


@pytest.fixture
def own_collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CollectorProcess]:
    """A collector of the test's own: its receiver's threads and sockets are counted, which the module's other
    tests (and their leftovers on the shared collector) must not move. Its read timeout is short (the setting)."""
    monkeypatch.setenv("LLMSIGHT_REQUEST_READ_TIMEOUT_S", str(HALF_OPEN_TIMEOUT_S))
    process = _started(tmp_path)
    yield process
    if process.process and process.process.poll() is None:
        process.stop()


def test_half_open_connections_hold_no_thread_and_are_closed(own_collector: CollectorProcess) -> None:
    collector = own_collector
    receiver = collector.receiver_pid()
    threads_before, sockets_before = _threads(receiver), _sockets(receiver)
    idle: list[socket.socket] = []
    try:
        for index in range(200):
            sock = socket.create_connection(("127.0.0.1", collector.http_port), timeout=5)
            if index % 2:  # half a request line / half a body
                sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
            else:
                sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\ncontent-type: application/x-protobuf\r\n"
                             b"content-length: 1000\r\n\r\nabc")
            idle.append(sock)
        opened = time.monotonic()
        deadline = opened + 30  # until the receiver has accepted every one of them
        while len(_sockets(receiver) - sockets_before) < len(idle) and time.monotonic() < deadline:
            time.sleep(0.05)
        accepted = len(_sockets(receiver) - sockets_before)
        assert accepted >= len(idle), f"the receiver accepted {accepted} of {len(idle)} connections"
        assert _threads(receiver) <= threads_before + 4  # no thread per connection
        still_ingests(collector)  # they do not crowd out a real exporter
        # The server closes them once the configured read timeout has passed: before the default one would.
        assert HALF_OPEN_TIMEOUT_S + 6 < REQUEST_READ_TIMEOUT_S
        deadline = opened + HALF_OPEN_TIMEOUT_S + 6
        for sock in idle:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                answer = sock.recv(65536)
                # A half-sent body may get a 408 before the close; a half-sent head just a close.
                assert answer == b"" or status_of(answer) in (400, 408), answer[:200]
            except ConnectionResetError:
                pass
    finally:
        for sock in idle:
            sock.close()
    still_ingests(collector)


def test_non_ascii_authorization_is_401(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "data", ["--auth-token", "s3cret"]).start()
    try:
        body = genai_request(4, spans=1).SerializeToString()
        headers = [("content-type", "application/x-protobuf"), ("content-length", str(len(body))),
                   ("authorization", "Bearer sécret✓")]
        status, _ = exchange(collector.http_port, request("POST", "/v1/traces", collector.http_port, headers, body))
        assert status == 401
        assert post_protobuf(collector.http_endpoint, genai_request(4, spans=1),
                             headers={"authorization": "Bearer s3cret"}) == 200
        # /metrics is behind the same token; /healthz (load balancers) is not.
        assert exchange(collector.http_port, request("GET", "/metrics", collector.http_port, {}))[0] == 401
        assert exchange(collector.http_port, request("GET", "/healthz", collector.http_port, {}))[0] == 200
    finally:
        assert collector.stop() == 0


def test_healthz_and_metrics_and_unknown_paths(collector: CollectorProcess) -> None:
    port = collector.http_port
    status, answer = exchange(port, request("GET", "/healthz", port, {}))
    assert status == 200 and json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"status": "ok", "problems": []}
    assert "ingest" in collector.metrics()
    assert exchange(port, request("POST", "/v1/logs", port, {**PROTOBUF, "content-length": "0"}))[0] == 404
    assert exchange(port, request("GET", "/v1/traces", port, {}))[0] == 405
    still_ingests(collector)


@pytest.mark.parametrize("header_bytes", [20 * 1024, 90 * 1024])
def test_a_request_head_over_16_kib_is_431_even_sent_at_once(collector: CollectorProcess, header_bytes: int) -> None:
    body = genai_request(77, spans=1).SerializeToString()
    headers = {**PROTOBUF, "x-padding": "p" * header_bytes, "content-length": str(len(body))}
    status, _ = exchange(collector.http_port, request("POST", "/v1/traces", collector.http_port, headers, body))
    assert status == 431
    small = {**PROTOBUF, "x-padding": "p" * (12 * 1024), "content-length": str(len(body))}
    status, _ = exchange(collector.http_port, request("POST", "/v1/traces", collector.http_port, small, body))
    assert status == 200
    still_ingests(collector)

"""End-to-end ingest: OTLP/HTTP protobuf requests from several client threads → collector → rows committed
in the embedded store. Reports sustained spans/s (accepted AND stored) and the collector's peak RSS.

    python bench/ingest.py [--spans 200000] [--batch 512] [--clients 4]
    python bench/ingest.py --hostile [--seconds 60]
    python bench/ingest.py --spool [--spans 200000] [--batch 512] [--rounds 5]

The collector runs as its own process (as in production); requests are pre-encoded so the clients cost
little CPU, but they share this machine's cores with the collector.

--hostile sends the worst legal and illegal traffic at once instead (collector/receive/limits.py): gzip'd
requests at the span limit, over it, over the decompressed limit (a 480k-span request like the one that once
took 1.5 GB), a gzip bomb, JSON at the decompressed limit, bodies of about 16 KB gzip'd that decode to millions
of objects (16 MiB of empty ResourceSpans, of empty attributes in one span, of empty JSON objects), the same
over gRPC, gRPC calls that send headers and never a message, and 200 idle half-open connections; it reports
the answers, the peak RSS of both collector processes against the stated bound, and how long a good span
takes to get through in the middle of it, over HTTP and over gRPC.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.collector.spans import genai_request  # noqa: E402

# The README's stated bound ("Limits"), checked by --hostile.
RSS_BOUND_MIB = {"store": 1536, "receiver": 768}


def start_collector(data_dir: Path) -> tuple[subprocess.Popen[bytes], dict]:
    process = subprocess.Popen([sys.executable, "-m", "llmsight.cli", "collector", "--data-dir", str(data_dir),
                                "--http-port", "0", "--grpc-port", "0", "--read-api-port", "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = data_dir / "collector.json"
    for _ in range(600):
        if state.exists():
            try:
                return process, json.loads(state.read_text())
            except ValueError:
                pass
        time.sleep(0.05)
    raise RuntimeError("collector did not start")


def collector_pids(pid: int) -> list[int]:
    """The collector's store process and its receiver process."""
    children = [child for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()]
    return [pid, *map(int, children)]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int, *, kernel_only: bool = False) -> float:
    """User + system (or only system) CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[12]) if kernel_only else int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def stored(http_port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=30) as response:
        return int(json.loads(response.read())["pipeline"]["stored"])


def hostile(seconds: float) -> None:
    import gzip
    import socket
    from collections import Counter

    import grpc
    from google.protobuf import json_format

    from llmsight.collector.receive import limits

    data_dir = Path(tempfile.mkdtemp()) / "data"
    process, ports = start_collector(data_dir)
    http_port, grpc_port = ports["otlp_http_port"], ports["otlp_grpc_port"]
    at_limit = genai_request(10_000, spans=limits.MAX_SPANS_PER_REQUEST)
    raw = at_limit.SerializeToString()
    # Serialized messages concatenate into one with the repeated fields appended: cheap huge requests.
    over_spans = raw * 2  # twice the span limit, under the decompressed limit
    huge = raw * (480_000 // limits.MAX_SPANS_PER_REQUEST)  # ~480k spans
    as_json = json_format.MessageToJson(at_limit, indent=None).encode()
    as_json = as_json[: limits.MAX_DECOMPRESSED_BYTES]  # at the limit (cut: a 400 after the full decode cost)
    size = limits.MAX_DECOMPRESSED_BYTES
    empty_resource_spans = b"\x0a\x00" * (size // 2)  # 8 million ResourceSpans of 2 bytes each
    empty_attributes = _nested(1, _nested(2, _nested(2, b"\x4a\x00" * ((size - 64) // 2))))  # one span, 8M attributes
    empty_objects = b'{"a":[' + b"{}," * ((size - 16) // 3) + b"{}]}"
    bodies = {
        "protobuf at span limit": (gzip.compress(raw, 1), "application/x-protobuf"),
        "8M empty ResourceSpans": (gzip.compress(empty_resource_spans, 9), "application/x-protobuf"),
        "8M empty attributes": (gzip.compress(empty_attributes, 9), "application/x-protobuf"),
        "5M empty JSON objects": (gzip.compress(empty_objects, 9), "application/json"),
        "protobuf over span limit": (gzip.compress(over_spans, 1), "application/x-protobuf"),
        "480k spans": (gzip.compress(huge, 1), "application/x-protobuf"),
        "gzip bomb": (gzip.compress(b"\0" * (256 << 20), 9), "application/x-protobuf"),
        "json at decompressed limit": (gzip.compress(as_json, 1), "application/json"),
    }
    print("hostile requests: " + ", ".join(f"{name} {len(body) / 1e6:.2f} MB gzip'd" for name, (body, _) in bodies.items()))
    answers: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def http_client(name: str) -> None:
        body, content_type = bodies[name]
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=60)
                connection.request("POST", "/v1/traces", body=body,
                                   headers={"content-type": content_type, "content-encoding": "gzip"})
                status = str(connection.getresponse().status)
                connection.close()
            except OSError as exc:
                status = type(exc).__name__
            with lock:
                answers[f"HTTP {name}: {status}"] += 1

    def grpc_client(request_bytes: bytes, name: str) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            while time.monotonic() < deadline:
                try:
                    export(request_bytes, timeout=60, compression=grpc.Compression.Gzip)
                    status = "OK"
                except grpc.RpcError as exc:
                    status = exc.code().name
                with lock:
                    answers[f"gRPC {name}: {status}"] += 1

    def grpc_half_open(stop: threading.Event) -> None:
        """Export calls that send headers and never a message, reopened as soon as one ends."""
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            export = channel.stream_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")

            def nothing():  # the request stream: no message until the end
                stop.wait()
                return
                yield b""

            while time.monotonic() < deadline:
                try:
                    export(nothing(), timeout=max(0.1, deadline - time.monotonic()))
                    status = "OK"
                except grpc.RpcError as exc:
                    status = exc.code().name
                with lock:
                    answers[f"gRPC half-open call: {status}"] += 1

    idle = []
    for index in range(200):
        sock = socket.create_connection(("127.0.0.1", http_port))
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n" if index % 2 else
                     b"POST /v1/traces HTTP/1.1\r\nHost: x\r\ncontent-length: 100000\r\n\r\nabc")
        idle.append(sock)
    threads = [threading.Thread(target=http_client, args=(name,)) for name in bodies for _ in range(2)]
    threads += [threading.Thread(target=grpc_client, args=(raw, "at span limit")) for _ in range(3)]
    threads += [threading.Thread(target=grpc_client, args=(over_spans, "over span limit")) for _ in range(2)]
    threads += [threading.Thread(target=grpc_client, args=(huge, "480k spans"))]
    threads += [threading.Thread(target=grpc_client, args=(empty_resource_spans, "8M empty ResourceSpans"))]
    threads += [threading.Thread(target=grpc_client, args=(empty_attributes, "8M empty attributes"))]
    stop_half_open = threading.Event()
    threads += [threading.Thread(target=grpc_half_open, args=(stop_half_open,)) for _ in range(4)]
    pids = collector_pids(process.pid)
    for thread in threads:
        thread.start()
    time.sleep(seconds / 2)
    good_http, good_grpc = _good_exporters(http_port, grpc_port, deadline)
    for thread in threads:
        thread.join()
    stop_half_open.set()
    peaks = dict(zip(("store", "receiver"), (rss_mb(pid) for pid in pids), strict=True))
    for sock in idle:
        sock.close()
    process.terminate()
    process.wait(60)
    for answer, count in sorted(answers.items()):
        print(f"  {answer} x{count}")
    print(f"a good request in the middle of it, retried as exporters do: HTTP {good_http}, gRPC {good_grpc}")
    print("peak RSS: " + ", ".join(
        f"{name} {peak:,.0f} MiB (bound {RSS_BOUND_MIB[name]:,}: {'within' if peak <= RSS_BOUND_MIB[name] else 'OVER'})"
        for name, peak in peaks.items()))


def _nested(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    def varint(value: int) -> bytes:
        out = bytearray()
        while value >= 0x80:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        return bytes(out + bytes([value]))

    return varint(number << 3 | 2) + varint(len(payload)) + payload


def _good_exporters(http_port: int, grpc_port: int, deadline: float) -> tuple[str, str]:
    """A good span over each transport, retried on 503 / RESOURCE_EXHAUSTED / UNAVAILABLE (as the OTLP exporters
    do) until the hostile mix ends: the answer and how long it took."""
    import grpc

    good = genai_request(99_999, spans=1).SerializeToString()
    started = time.monotonic()
    http_answer = "no answer"
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=60)
            connection.request("POST", "/v1/traces", body=good, headers={"content-type": "application/x-protobuf"})
            status = connection.getresponse().status
            connection.close()
        except OSError as exc:
            status = type(exc).__name__
        http_answer = f"{status} after {time.monotonic() - started:.1f} s"
        if status != 503:
            break
        time.sleep(1)
    good = genai_request(99_998, spans=1).SerializeToString()
    started = time.monotonic()
    grpc_answer = "no answer"
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        while time.monotonic() < deadline:
            try:
                export(good, timeout=60)
                grpc_answer = f"OK after {time.monotonic() - started:.1f} s"
                break
            except grpc.RpcError as exc:
                grpc_answer = f"{exc.code().name} after {time.monotonic() - started:.1f} s"
                if exc.code() not in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
                    break
            time.sleep(1)
    return http_answer, grpc_answer


def spool_throughput(spans: int, batch: int, rounds: int) -> None:
    """The spool alone, in this process: frames of `batch` records appended (each fsync'd, as one request's are)
    and read back into records, against the same with the former codec (pickled tuples, records built by position
    into a slotted dataclass) on the same records and disk. The two alternate for `rounds` rounds and the best
    round of each counts, so a machine busy with other work shifts both alike and the ratio holds."""
    import dataclasses
    import operator
    import pickle
    import struct
    import zlib
    from datetime import datetime, timedelta, timezone

    from llmsight.collector.gc_tuning import tune_for_throughput
    from llmsight.collector.record import RECORD_FIELDS, CallRecord
    from llmsight.collector.spool import Spool, read_frames

    tune_for_throughput()  # as both collector processes run
    start = datetime.now(timezone.utc)
    records = [
        CallRecord(
            ts=start + timedelta(microseconds=i), trace_id=f"{i:032x}", span_id=f"{i:016x}", service="api",
            environment="prod", provider="openai", operation="chat", request_model="gpt-4o-mini",
            response_model="gpt-4o-mini-2024-07-18", input_tokens=1000 + i % 977, cache_read_tokens=i % 512,
            output_tokens=100 + i % 311, ttft_ms=120.5 + i % 50, duration_ms=830.25 + i % 400, input_cost=0.00015,
            output_cost=0.00006, total_cost=0.00021, price_source="genai-prices@0.0.30", task="support",
            tenant=f"t{i % 50}", finish_reason="stop", instrumentation="llmsight.openai",
            attributes={"server.address": "api.openai.com", "service.version": "1.4.2", "gen_ai.response.id": f"chatcmpl-{i}"},
            call_id=f"{i + 1:032x}",
        )
        for i in range(spans)
    ]
    frames = [records[i:i + batch] for i in range(0, spans, batch)]
    header = struct.Struct("<II")  # the former frame: [u32 length][u32 crc32][pickle]
    as_tuple = operator.attrgetter(*RECORD_FIELDS)
    former_record = dataclasses.make_dataclass("FormerRecord", RECORD_FIELDS, slots=True)

    def spool_round(directory: Path) -> tuple[float, float, int]:
        spool = Spool(directory)
        began = time.perf_counter()
        for frame in frames:
            spool.append(frame)
        appended = time.perf_counter() - began
        began = time.perf_counter()
        read = sum(len(f.records) for segment in spool.segments() for f in read_frames(directory, spool.durable, segment, 0, 0))
        read_s = time.perf_counter() - began
        spool.close()
        assert read == spans
        return appended, read_s, sum(p.stat().st_size for p in directory.glob("*.wal"))

    def former_round(path: Path) -> tuple[float, float, int]:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        began = time.perf_counter()
        for frame in frames:
            data = pickle.dumps(list(map(as_tuple, frame)), protocol=5)
            os.write(fd, header.pack(len(data), zlib.crc32(data)) + data)
            os.fsync(fd)
        appended = time.perf_counter() - began
        os.close(fd)
        began = time.perf_counter()
        read = 0
        with open(path, "rb") as handle:
            while chunk := handle.read(header.size):
                length, crc = header.unpack(chunk)
                data = handle.read(length)
                assert zlib.crc32(data) == crc
                read += len([former_record(*row) for row in pickle.loads(data)])
        read_s = time.perf_counter() - began
        assert read == spans
        return appended, read_s, path.stat().st_size

    root = Path(tempfile.mkdtemp())
    results: dict[str, list[tuple[float, float, int]]] = {"spool": [], "former": []}
    for round_number in range(rounds):
        results["spool"].append(spool_round(root / f"spool-{round_number}"))
        results["former"].append(former_round(root / f"former-{round_number}.wal"))
    best = {name: (min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]) for name, runs in results.items()}
    (append, read, size), (former_append, former_read, former_size) = best["spool"], best["former"]
    print(f"{spans:,} records in frames of {batch}, each frame fsync'd; best of {rounds} alternating rounds ({root})")
    print(f"{'':28}{'append rows/s':>15}{'read rows/s':>15}{'bytes/row':>11}")
    print(f"{'spool (MessagePack, typed)':28}{spans / append:>15,.0f}{spans / read:>15,.0f}{size / spans:>11,.0f}")
    print(f"{'former (pickled tuples)':28}{spans / former_append:>15,.0f}{spans / former_read:>15,.0f}{former_size / spans:>11,.0f}")
    print(f"{'ratio spool / former':28}{former_append / append:>15.2f}{former_read / read:>15.2f}{size / former_size:>11.2f}")
    shutil.rmtree(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--hostile", action="store_true", help="the hostile mix instead of the throughput run")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the hostile mix runs")
    parser.add_argument("--spool", action="store_true", help="the spool's append and read throughput alone")
    parser.add_argument("--rounds", type=int, default=5, help="--spool: alternating rounds, the best of each counts")
    args = parser.parse_args()
    if args.spool:
        spool_throughput(args.spans, args.batch, args.rounds)
        return
    if args.hostile:
        hostile(args.seconds)
        return
    data_dir = Path(tempfile.mkdtemp()) / "data"
    process, ports = start_collector(data_dir)
    http_port = ports["otlp_http_port"]
    batches = args.spans // args.batch
    bodies = [genai_request(i, spans=args.batch).SerializeToString() for i in range(batches)]
    next_batch = iter(range(batches))
    lock = threading.Lock()
    retried = [0]

    def client() -> None:
        # One kept-alive connection per client, as the OTLP exporters' HTTP sessions do.
        connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=60)
        while True:
            with lock:
                index = next(next_batch, None)
            if index is None:
                connection.close()
                return
            while True:
                connection.request("POST", "/v1/traces", body=bodies[index], headers={"content-type": "application/x-protobuf"})
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    break
                if response.status != 503:
                    raise RuntimeError(f"collector answered {response.status}")
                retried[0] += 1  # backpressure: retry after the hint, like an exporter
                time.sleep(float(response.headers.get("retry-after", "1")))

    pids = collector_pids(process.pid)
    cpu_before = [cpu_seconds(pid) for pid in pids]
    kernel_before = sum(cpu_seconds(pid, kernel_only=True) for pid in pids)
    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted_s = time.monotonic() - started
    total = batches * args.batch
    while stored(http_port) < total:
        time.sleep(0.05)
    stored_s = time.monotonic() - started
    cpu_used = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
    collector_cpu = sum(cpu_used)
    kernel = sum(cpu_seconds(pid, kernel_only=True) for pid in pids) - kernel_before
    peaks = [rss_mb(pid) for pid in pids]
    process.terminate()
    process.wait(60)
    print(f"{total:,} spans in {batches:,} requests of {args.batch} from {args.clients} clients")
    print(f"accepted (durable in spool): {total / accepted_s:,.0f} spans/s   stored in ClickHouse: {total / stored_s:,.0f} spans/s")
    per_process = " + ".join(f"{used / total * 1e6:,.1f}" for used in cpu_used)
    print(f"collector CPU {collector_cpu / total * 1e6:,.1f} µs per span (store + receiver: {per_process}; "
          f"{kernel / total * 1e6:,.1f} in the kernel; {collector_cpu / stored_s:.2f} cores busy)")
    print(f"collector peak RSS {sum(peaks):,.0f} MiB (store + receiver: {' + '.join(f'{p:,.0f}' for p in peaks)}); "
          f"503 backpressure answers: {retried[0]}")


if __name__ == "__main__":
    main()

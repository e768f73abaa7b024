"""End-to-end ingest: OTLP/HTTP protobuf requests from several client threads → collector → rows committed
in the embedded store. Reports sustained spans/s (accepted AND stored) and the collector's peak RSS.

    python bench/ingest.py [--spans 200000] [--batch 512] [--clients 4]

The collector runs as its own process (as in production); requests are pre-encoded so the clients cost
little CPU, but they share this machine's cores with the collector.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.collector.spans import genai_request  # noqa: E402


def start_collector(data_dir: Path) -> tuple[subprocess.Popen[bytes], dict]:
    process = subprocess.Popen([sys.executable, "-m", "llmsight.cli", "collector", "--data-dir", str(data_dir),
                                "--http-port", "0", "--grpc-port", "0", "--query-port", "0"],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
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
    query = f"http://127.0.0.1:{ports['query_port']}/v1/query"
    while True:
        body = json.dumps({"sql": "SELECT count() FROM llmsight.llm_calls"}).encode()
        with urllib.request.urlopen(urllib.request.Request(query, data=body), timeout=30) as response:
            stored = json.loads(response.read())["rows"][0][0]
        if stored >= total:
            break
        time.sleep(0.05)
    stored_s = time.monotonic() - started
    cpu_used = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before)]
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

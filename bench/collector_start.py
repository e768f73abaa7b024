"""What starting and stopping a collector costs: both processes (store and receiver), a fresh data directory.

    python bench/collector_start.py [--python PATH] [--rounds 9]

Each round runs `llmsight collector` on a new data directory (ports 0), waits for its state file (the collector
is ready: store schema created, receiver listening, read API up), sends SIGTERM and waits for the exit. Reported:
medians of the CPU time of the whole process tree (user + system; the receiver is reaped by the store process),
of the wall time to ready and of the wall time to stop. Use an environment without the test extras (logfire
registers a pydantic plugin that every pydantic model's creation loads: about 0.3 CPU-s per process), or compare
with PYDANTIC_DISABLE_PLUGINS=logfire-plugin, as tests/conftest.py runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READY_TIMEOUT_S = 60.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_round(python: str, data_dir: Path) -> tuple[float, float, float]:
    """(CPU s of the process tree, wall s to ready, wall s to stop) of one collector's start and stop."""
    cpu_before, started = _children_cpu(), time.perf_counter()
    command = [python, "-m", "llmsight.cli", "collector", "--data-dir", str(data_dir), "--http-port", "0",
               "--grpc-port", "0", "--read-api-port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = data_dir / "collector.json"
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the collector exited: {process.stderr.read().decode() if process.stderr else ''}")
        if time.perf_counter() - started > READY_TIMEOUT_S:
            process.kill()
            raise SystemExit("the collector did not start")
        try:
            if json.loads(state.read_text()).get("pid") == process.pid:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    ready = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    if process.wait(60) != 0:
        raise SystemExit(f"the collector exited with {process.returncode}")
    stopped = time.perf_counter()
    return _children_cpu() - cpu_before, ready - started, stopped - ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the environment to measure")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    rounds = []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(args.rounds):
            rounds.append(one_round(args.python, Path(scratch) / f"data-{index}"))
    cpu, ready, stop = (statistics.median(values) for values in zip(*rounds, strict=True))
    print(json.dumps({"rounds": args.rounds, "cpu_s": round(cpu, 3), "ready_s": round(ready, 3),
                      "stop_s": round(stop, 3)}))


if __name__ == "__main__":
    main()

"""A real collector process per test (fresh data dir, free ports), and helpers to talk to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmsight.collector.query_api import HttpReader
from llmsight.collector.store import QueryResult


@dataclass
class CollectorProcess:
    data_dir: Path
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    http_port: int = 0
    grpc_port: int = 0
    query_port: int = 0

    def start(self, timeout: float = 30.0) -> CollectorProcess:
        state = self.data_dir / "collector.json"
        state.unlink(missing_ok=True)
        command = [sys.executable, "-m", "llmsight.cli", "collector", "--data-dir", str(self.data_dir),
                   "--http-port", "0", "--grpc-port", "0", "--query-port", "0", *self.args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"collector exited: {self.process.stdout.read().decode()}")
            if state.exists():
                try:
                    ports = json.loads(state.read_text())
                except ValueError:
                    continue
                if ports.get("pid") == self.process.pid:
                    self.http_port, self.grpc_port, self.query_port = (
                        ports["otlp_http_port"], ports["otlp_grpc_port"], ports["query_port"]
                    )
                    return self
            time.sleep(0.05)
        raise TimeoutError("collector did not start")

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/traces"

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        return HttpReader(f"http://127.0.0.1:{self.query_port}/v1/query").query(sql, parameters)

    def rows(self, where: str = "1") -> list[dict[str, Any]]:
        return self.query(f"SELECT * FROM llmsight.llm_calls WHERE {where} ORDER BY ts, span_id").dicts()

    def metrics(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as response:
            return json.loads(response.read())

    def wait_stored(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.query("SELECT count() FROM llmsight.llm_calls").rows[0][0] >= count:
                return
            time.sleep(0.1)
        raise TimeoutError(f"fewer than {count} rows stored; metrics: {self.metrics()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        code = self.process.wait(timeout)
        return code


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    process = CollectorProcess(tmp_path / "data", []).start()
    yield process
    if process.process and process.process.poll() is None:
        process.stop()

"""Real collector processes (fresh data dir, free ports) and helpers to talk to them.

`shared_collector`: one per test module, for tests that only send spans and read what the collector says (its
counters and stored calls grow from test to test: such tests compare before and after, on spans of their own).
pytest-xdist runs each test file on one worker (--dist loadfile), so the module's collector starts once.
`collector`: a fresh one for each test, for tests that stop, kill, restart, fill the disk under or corrupt it,
or read its store with SQL (`query`/`rows` stop it first): mark them `destructive`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llmsight.collector.read_api import ReadApiClient, running_collector
from llmsight.collector.store import QueryResult, Store
from llmsight.testing.server import PRICES_YAML

_STARTED: list[CollectorProcess] = []  # every start, so that none outlives the test that started it


@pytest.fixture(autouse=True)
def _no_collector_outlives_its_test() -> Iterator[None]:
    """A test that fails (or forgets to stop its collector) must not leave the process running for the rest of the
    run: it would hold its ports and take CPU from every test after it."""
    first = len(_STARTED)
    yield
    for process in _STARTED[first:]:
        if process.process is not None and process.process.poll() is None:
            process.process.kill()
            process.process.wait()
    del _STARTED[first:]


@dataclass
class CollectorProcess:
    data_dir: Path
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    http_port: int = 0
    grpc_port: int = 0
    read_api_port: int = 0

    def start(self, timeout: float = 30.0) -> CollectorProcess:
        state = self.data_dir / "collector.json"
        _STARTED.append(self)
        command = [sys.executable, "-m", "llmsight.cli", "collector", "--data-dir", str(self.data_dir),
                   "--http-port", "0", "--grpc-port", "0", "--read-api-port", "0", *self.args]
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
                    self.http_port, self.grpc_port, self.read_api_port = (
                        ports["otlp_http_port"], ports["otlp_grpc_port"], ports["read_api_port"]
                    )
                    return self
            time.sleep(0.05)
        raise TimeoutError("collector did not start")

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/traces"

    def client(self) -> ReadApiClient:
        """The running collector's read API, found the way the CLI finds it (state file + token file)."""
        client = running_collector(self.data_dir)
        assert client is not None, "no running collector on this data dir"
        return client

    def stored_calls(self) -> int:
        """Rows stored so far, through the read API's report (the read API runs no SQL)."""
        now = datetime.now(timezone.utc)
        return int(self.client().report(now - timedelta(days=30), now + timedelta(days=1))["totals"]["calls"])

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        """Any SQL, on the store itself. The read API takes no SQL and the running collector owns the embedded
        store, so this stops the collector first (SIGTERM: it stores everything acknowledged, exit code 0)."""
        if self.process is not None and self.process.poll() is None:
            assert self.stop() == 0
        store = Store.open(f"chdb://{self.data_dir / 'store'}")
        try:
            return store.query(sql, parameters)
        finally:
            store.close()

    def rows(self, where: str = "1") -> list[dict[str, Any]]:
        return self.query(f"SELECT * FROM llmsight.llm_calls WHERE {where} ORDER BY ts, span_id").dicts()

    def metrics(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as response:
            return json.loads(response.read())

    def wait_metric(self, name: str, value: int, timeout: float = 30.0) -> None:
        """Until the pipeline counter `name` (this run's) reaches `value`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.metrics()["pipeline"][name] >= value:
                return
            time.sleep(0.05)
        raise TimeoutError(f"{name} < {value}; metrics: {self.metrics()}")

    def wait_stored(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stored_calls() >= count:
                return
            time.sleep(0.1)
        raise TimeoutError(f"fewer than {count} rows stored; metrics: {self.metrics()}")

    def receiver_pid(self) -> int:
        assert self.process is not None
        tasks = Path(f"/proc/{self.process.pid}/task")
        (child,) = [pid for task in tasks.iterdir() for pid in (task / "children").read_text().split()]
        return int(child)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        code = self.process.wait(timeout)
        return code


def _started(directory: Path, timeout: float = 30.0) -> CollectorProcess:
    prices = directory / "prices.yaml"  # the local provider server bills as the provider each span names
    prices.write_text(PRICES_YAML)
    return CollectorProcess(directory / "data", ["--prices-file", str(prices)]).start(timeout)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    """A collector of the test's own (see the module docstring)."""
    process = _started(tmp_path)
    yield process
    if process.process and process.process.poll() is None:
        process.stop()


@pytest.fixture(scope="module")
def shared_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """One collector for the module's tests that only send and read (see the module docstring)."""
    process = _started(tmp_path_factory.mktemp("shared-collector"))
    yield process
    if process.process and process.process.poll() is None:
        assert process.stop() == 0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An embedded store of this test's own, schema created (a module's own `store` fixture takes precedence)."""
    opened = Store.open(f"chdb://{tmp_path / 'store'}")
    opened.ensure_schema()
    yield opened
    opened.close()

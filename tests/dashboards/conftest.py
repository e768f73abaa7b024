from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from llmsight.collector.app import Collector
from llmsight.collector.config import CollectorSettings

from .seed import Call, Submission, batches, healthy_calls, post, workload, write_prices

# The savings panels price calls at each provider's cheaper model (collector setting cheaper_models).
CHEAPER_MODELS = {"acme": "acme-small", "openai": "gpt-4o-mini"}


class Seeded:
    def __init__(self, collector: Collector, now: datetime) -> None:
        self.collector = collector
        self.now = now
        self.calls: list[Call] = []
        self.submissions: list[Submission] = []

    def add(self, calls: list[Call]) -> None:
        post(f"http://127.0.0.1:{self.collector.http_port}/v1/traces", calls)
        assert self.collector.flush()
        self.calls.extend(calls)

    def add_submissions(self, submissions: list[Submission]) -> None:
        post(f"http://127.0.0.1:{self.collector.http_port}/v1/traces", [], submissions)
        assert self.collector.flush()
        self.submissions.extend(submissions)

    def query(self, sql: str):
        return self.collector.store.query(sql)


def start_collector(tmp_path: Path) -> Collector:
    settings = CollectorSettings(
        data_dir=tmp_path / "data", otlp_http_port=0, otlp_grpc_port=0, read_api_port=0,
        prices_file=write_prices(tmp_path), cheaper_models=CHEAPER_MODELS,
    )
    return Collector(settings).start()


@pytest.fixture
def empty_store(tmp_path: Path) -> Iterator[Seeded]:
    collector = start_collector(tmp_path)
    try:
        yield Seeded(collector, datetime.now(timezone.utc).replace(microsecond=0))
    finally:
        collector.stop()


@pytest.fixture
def seeded(empty_store: Seeded) -> Seeded:
    empty_store.add(healthy_calls(empty_store.now))
    return empty_store


@pytest.fixture(scope="module")
def workload_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """One store for the end-to-end dashboard tests (hundreds of queries, one seeding)."""
    collector = start_collector(tmp_path_factory.mktemp("workload"))
    try:
        store = Seeded(collector, datetime.now(timezone.utc).replace(microsecond=0))
        store.add(workload(store.now))
        submissions, batch_calls = batches(store.now)
        store.add_submissions(submissions)  # before their results, as in life
        store.add(batch_calls)
        yield store
    finally:
        collector.stop()

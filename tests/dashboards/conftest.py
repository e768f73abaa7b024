from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from llmsight.collector.app import Collector
from llmsight.collector.config import CollectorSettings

from .seed import Call, healthy_calls, post, write_prices


class Seeded:
    def __init__(self, collector: Collector, now: datetime) -> None:
        self.collector = collector
        self.now = now
        self.calls: list[Call] = []

    def add(self, calls: list[Call]) -> None:
        post(f"http://127.0.0.1:{self.collector.http_port}/v1/traces", calls)
        assert self.collector.flush()
        self.calls.extend(calls)

    def query(self, sql: str):
        return self.collector.store.query(sql)


def start_collector(tmp_path: Path) -> Collector:
    settings = CollectorSettings(
        data_dir=tmp_path / "data", otlp_http_port=0, otlp_grpc_port=0, query_port=0,
        prices_file=write_prices(tmp_path),
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

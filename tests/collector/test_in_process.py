"""The collector embedded in a host process that already holds many file descriptors (a test runner, an app)."""

from __future__ import annotations

import os
from pathlib import Path

from llmsight.collector.app import Collector
from llmsight.collector.config import load_settings

from .spans import genai_request, post_protobuf


def test_starts_and_ingests_with_descriptors_past_1024(tmp_path: Path) -> None:
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]  # select() would fail on the next ones
    try:
        settings = load_settings(data_dir=tmp_path / "data", otlp_http_port=0, otlp_grpc_port=0, read_api_port=0)
        collector = Collector(settings).start()
        try:
            assert post_protobuf(f"http://127.0.0.1:{collector.http_port}/v1/traces", genai_request(0, spans=3)) == 200
            assert collector.flush(30)
            assert collector.store is not None
            assert collector.store.query("SELECT count() FROM llmsight.llm_calls").rows == [(3,)]
        finally:
            collector.stop()
    finally:
        for fd in held:
            os.close(fd)

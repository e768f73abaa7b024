"""Peers that cannot be installed beside llmsight (OpenLIT pins OpenTelemetry and anthropic<1): their real
OTLP requests, recorded once by tests/peers/record_openlit.py, are replayed into a real collector and the
rows checked against the ledger of the recorded run, like the live peers in test_peers.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.collector.spans import post_protobuf
from tests.peers.recording import load, shifted_to
from tests.peers.test_peers import check, settled_rows

RECORDINGS = Path(__file__).parent / "recordings"


def test_openlit_recording_one_right_row_per_call(collector) -> None:
    document = json.loads((RECORDINGS / "openlit.json").read_text())
    assert "Apache License" in document["notice"] and document["versions"]["openlit"]
    requests, ledger = load(RECORDINGS / "openlit.json")
    for request in shifted_to(requests, time.time_ns() - 1_000_000_000):
        assert post_protobuf(collector.http_endpoint, request) == 200
    check("openlit", settled_rows(collector), ledger, costs=True)

"""Peers that cannot be installed beside llmsight (OpenLIT pins OpenTelemetry and anthropic<1; OpenLLMetry's
mistralai instrumentation needs mistralai 1.x; OTel contrib's google-genai one, and Logfire's which is built on
it, need google-genai<3): their real OTLP requests, recorded once by tests/peers/record_peers.py (alone, and
beside llmsight), are replayed into a real collector and the rows checked against the ledger of the recorded
run, like the live peers in test_peers.py: one row per call, every token column, the cost genai-prices gives
the provider's usage."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.collector.spans import post_protobuf
from tests.peers.recording import load, shifted_to
from tests.peers.test_peers import check, settled_rows

RECORDINGS = Path(__file__).parent / "recordings"
# recording -> the source its rows are checked as: the peer's own, or llmsight's where llmsight traced every call
# beside the peer (the peer's span of each call joined into llmsight's row).
RECORDED = {
    "openllmetry-mistralai": "openllmetry-others",
    # llmsight instruments mistralai >= 2 only: beside it, the calls of mistralai 1.x are the peer's rows alone.
    "openllmetry-mistralai+llmsight": "openllmetry-others",
    "otel-google-genai": "otel-google-genai",
    "otel-google-genai+llmsight": "llmsight",
    "logfire-google-genai": "logfire-google-genai",
    "logfire-google-genai+llmsight": "llmsight",
}


def _replay(collector, name: str) -> list:  # type: ignore[no-untyped-def]
    document = json.loads((RECORDINGS / f"{name}.json").read_text())
    assert "License" in document["notice"] and document["versions"]
    requests, ledger = load(RECORDINGS / f"{name}.json")
    for request in shifted_to(requests, time.time_ns() - 1_000_000_000):
        assert post_protobuf(collector.http_endpoint, request) == 200
    return ledger


def test_openlit_recording_one_right_row_per_call(collector) -> None:
    ledger = _replay(collector, "openlit")
    check("openlit", settled_rows(collector), ledger, costs=True)


@pytest.mark.parametrize("name", list(RECORDED))
def test_recorded_peer_one_right_priced_row_per_call(name: str, collector) -> None:
    ledger = _replay(collector, name)
    rows = settled_rows(collector)
    if RECORDED[name] == "llmsight":  # every row is llmsight's, its gaps filled from the peer's span of the call
        assert {row["instrumentation"].split(".")[0] for row in rows} == {"llmsight"}, rows
    check(RECORDED[name], rows, ledger, costs=True)

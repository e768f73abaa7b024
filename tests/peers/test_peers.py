"""Real peer instrumentations, each app in its own process, against the local provider and a real collector:
every stored row is checked against the provider's ledger (one row per call, every token column, the
streaming flag, TTFT only for streams).

Where a source's spans do not carry a number at all (e.g. openai-v2 reports no cache reads), the row cannot
know it: those (source, provider, field) cases are listed in UNREPORTED, from the library's real output, and
left out of the comparison (the table says "not reported").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from llmsight.testing.simulation import Billed
from tests.peers.recording import APP

FIELDS = ("rows", "input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens",
          "output_tokens", "reasoning_tokens", "streaming", "ttft")
# (source, provider) -> fields its spans do not carry, checked against the library's real output.
UNREPORTED: dict[tuple[str, str], set[str]] = {
    ("openllmetry", "openai"): {"reasoning_tokens@stream", "ttft"},
    ("openai-v2", "openai"): {"cache_read_tokens", "reasoning_tokens", "streaming", "ttft"},
    ("logfire", "openai"): {"ttft"},
    ("logfire", "anthropic"): {"ttft@nonsdk"},
    ("openlit", "openai"): {"reasoning_tokens"},
    # OpenLIT 1.45's Anthropic streams report no cache tokens, and its input there is Anthropic's exclusive count.
    ("openlit", "anthropic"): {"reasoning_tokens", "cache_write_1h_tokens", "input_tokens@stream", "cache_read_tokens@stream"},
}


def expected(entry: Billed, field: str) -> Any:
    return {
        "input_tokens": entry.input_tokens,
        "cache_read_tokens": entry.cache_read_tokens,
        "cache_write_tokens": entry.cache_write_5m_tokens + entry.cache_write_1h_tokens,
        "cache_write_1h_tokens": entry.cache_write_1h_tokens,
        "output_tokens": entry.output_tokens,
        "reasoning_tokens": entry.reasoning_tokens,
        "streaming": entry.streamed,
        "ttft": entry.streamed,  # a TTFT exactly when streamed
    }[field]


def actual(row: dict[str, Any], field: str) -> Any:
    return row["ttft_ms"] is not None if field == "ttft" else row[field]


def unreported(source: str, entry: Billed, field: str, row: dict[str, Any]) -> bool:
    missing = UNREPORTED.get((source, entry.provider), set())
    if field in missing:
        return True
    if f"{field}@stream" in missing and entry.streamed:
        return True
    # Logfire's own Anthropic stream span has no TTFT; the SDK's span (merged in) has one.
    return f"{field}@nonsdk" in missing and entry.streamed and not row["instrumentation"].startswith("com.anthropic")


def compare(source: str, rows: list[dict[str, Any]], ledger: list[Billed]) -> dict[str, list[str]]:
    """field -> mismatches (empty: right for every call); "n/a" entries: the source did not report it."""
    wrong: dict[str, list[str]] = {field: [] for field in FIELDS}
    if len(rows) != len(ledger):
        wrong["rows"].append(f"{len(rows)} rows for {len(ledger)} calls")
        for field in FIELDS[1:]:  # what a dashboard sums: the totals over all rows
            reported = [(r, e) for r, e in zip(rows, ledger, strict=True) if not unreported(source, e, field, r)] if field else []
            if not reported:
                continue
            got = sum(actual(row, field) for row in rows)
            want = sum(expected(entry, field) for entry in ledger if not unreported(source, entry, field, rows[0]))
            if got != want:
                wrong[field].append(f"total {got!r} != {want!r}")
        return wrong
    for index, (row, entry) in enumerate(zip(rows, ledger, strict=True)):
        for field in FIELDS[1:]:
            want = expected(entry, field)
            if unreported(source, entry, field, row):
                continue
            if actual(row, field) != want:
                wrong[field].append(f"call {index} ({entry.provider} {entry.model}{' stream' if entry.streamed else ''}): "
                                    f"{actual(row, field)!r} != {want!r}")
    return wrong


def record_table(source: str, wrong: dict[str, list[str]]) -> None:
    """With LLMSIGHT_PEERS_TABLE=path, append this source's right/wrong per field (the issue's table)."""
    path = os.environ.get("LLMSIGHT_PEERS_TABLE")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"source": source, "fields": {f: not w for f, w in wrong.items()}, "wrong": wrong}) + "\n")


def settled_rows(collector: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
    """All rows once every accepted span is stored."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pipeline = collector.metrics()["pipeline"]
        if pipeline["submitted"] and pipeline["stored"] + pipeline.get("merged_calls", 0) + pipeline.get("already_stored", 0) >= pipeline["submitted"]:
            break
        time.sleep(0.1)
    collector.final_metrics = collector.metrics()  # a query stops the collector: read its counters first
    return sorted(collector.rows(), key=lambda r: r["ts"])


def check(source: str, rows: list[dict[str, Any]], ledger: list[Billed]) -> None:
    wrong = compare(source, rows, sorted(ledger, key=lambda e: e.at))
    record_table(source, wrong)
    assert not any(wrong.values()), json.dumps({k: v for k, v in wrong.items() if v}, indent=1)
    for row in rows:  # every call is priced
        assert row["total_cost"] is not None, row


@pytest.mark.parametrize("source", ["anthropic-sdk", "openllmetry", "openai-v2", "logfire", "llmsight-late"])
def test_one_right_row_per_call(source: str, collector, provider_server) -> None:
    pytest.importorskip({"openai-v2": "opentelemetry.instrumentation.openai_v2", "logfire": "logfire"}.get(source, "openai"))
    done = subprocess.run(
        [sys.executable, str(APP), source, collector.http_endpoint, provider_server.openai_base_url,
         provider_server.anthropic_base_url],
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = settled_rows(collector)
    metrics = collector.final_metrics
    check(source, rows, provider_server.ledger.entries())
    if source in ("openllmetry", "llmsight-late"):  # the SDK's own spans came too: merged
        merged = metrics["ingest"]["merged_spans"] + metrics["pipeline"]["merged_calls"]
        assert merged == (6 if source == "openllmetry" else 0), metrics

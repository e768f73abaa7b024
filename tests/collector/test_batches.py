"""Batch requests as stored calls, end to end: the real SDKs against the local provider, llmsight exporting OTLP to
a real collector process, rows read back from ClickHouse (chDB). One row per request in a batch, with its exact
usage and the batch price genai-prices charges; one row however many times, processes or collector restarts read
the results; the submission's attribution on every row; nothing charged for a failed request."""

from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import genai_prices
import openai
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

import llmsight
from llmsight.collector.pricing.pricer import BATCH_FALLBACK, BATCH_FALLBACK_FACTOR, Pricer, has_batch_price
from llmsight.collector.record import CallRecord
from llmsight.testing import batch_workload as work

from .conftest import CollectorProcess
from .test_ingest import exporter_provider

PROVIDERS = {"openai": work.OPENAI_MODEL, "anthropic": work.ANTHROPIC_MODEL}


def _settle(collector: CollectorProcess, submitted: int, timeout: float = 60) -> None:
    """Until the collector has stored, merged or set aside every span it accepted (at least `submitted`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pipeline = collector.metrics()["pipeline"]
        done = pipeline["stored"] + pipeline["merged_calls"] + pipeline["already_stored"] + pipeline["batch_submissions"]
        if pipeline["submitted"] >= submitted and done >= pipeline["submitted"]:
            return
        time.sleep(0.1)
    raise TimeoutError(f"collector did not settle: {collector.metrics()}")


def _batch_price(provider: str, row: dict[str, Any]) -> Decimal:
    usage = genai_prices.Usage(
        input_tokens=row["input_tokens"], cache_read_tokens=row["cache_read_tokens"],
        cache_write_tokens=row["cache_write_tokens"], output_tokens=row["output_tokens"],
        output_reasoning_tokens=row["reasoning_tokens"],
    )
    return genai_prices.calc_price(usage, row["response_model"], provider_id=provider,
                                   genai_request_timestamp=row["ts"], price_context={"processing": "batch"}).total_price


def _submit(provider_server: Any) -> tuple[Any, Any]:
    oa = openai.OpenAI(base_url=provider_server.openai_base_url, api_key="test")
    an = anthropic.Anthropic(base_url=provider_server.anthropic_base_url, api_key="test")
    with llmsight.tags(task="ticket-triage", tenant="acme", prompt_name="labels", prompt_version="4"):
        openai_batch = work.submit_openai_batch(oa)
        anthropic_batch = work.submit_anthropic_batch(an)
    return work.wait_openai_batch(oa, openai_batch.id), work.wait_anthropic_batch(an, anthropic_batch.id)


def _read(provider_server: Any, openai_batch: Any, anthropic_batch: Any) -> int:
    oa = openai.OpenAI(base_url=provider_server.openai_base_url, api_key="test")
    an = anthropic.Anthropic(base_url=provider_server.anthropic_base_url, api_key="test")
    lines = len(oa.files.content(openai_batch.output_file_id).content.splitlines())
    lines += len(oa.files.content(openai_batch.error_file_id).text.splitlines())
    return lines + len(list(an.messages.batches.results(anthropic_batch.id)))


def test_twenty_requests_per_provider_are_twenty_rows_at_the_batch_price(collector, provider_server) -> None:
    provider = exporter_provider(OTLPSpanExporter(endpoint=collector.http_endpoint))
    llmsight.instrument(tracer_provider=provider)
    try:
        openai_batch, anthropic_batch = _submit(provider_server)
        assert _read(provider_server, openai_batch, anthropic_batch) == 40
        assert _read(provider_server, openai_batch, anthropic_batch) == 40  # read twice: still one row per request
    finally:
        llmsight.uninstrument()
        provider.shutdown()
    _settle(collector, 2 + 80)
    billed = provider_server.ledger.entries()
    rows = collector.rows("service_tier = 'batch'")
    submissions = collector.query("SELECT provider, batch_id, task, request_count FROM llmsight.batch_submissions "
                                  "FINAL ORDER BY provider").rows
    assert submissions == [("anthropic", anthropic_batch.id, "ticket-triage", 20),
                           ("openai", openai_batch.id, "ticket-triage", 20)]
    assert collector.query("SELECT count() FROM llmsight.llm_calls WHERE operation = 'batch.create'").rows == [(0,)]
    for name, model in PROVIDERS.items():
        mine = [r for r in rows if r["provider"] == name]
        assert len(mine) == 20
        ok = [r for r in mine if r["status"] == "ok"]
        failed = [r for r in mine if r["status"] == "error"]
        assert len(ok) == 18 and len(failed) == 2
        ledger = sorted((e.input_tokens, e.cache_read_tokens, e.cache_write_5m_tokens, e.output_tokens,
                         e.reasoning_tokens) for e in billed if e.provider == name)
        assert sorted((r["input_tokens"], r["cache_read_tokens"], r["cache_write_tokens"], r["output_tokens"],
                       r["reasoning_tokens"]) for r in ok) == ledger
        assert sum(r["cache_read_tokens"] for r in ok) > 0
        for row in ok:
            assert row["response_model"] == model and row["price_source"].startswith("genai-prices@")
            assert abs(Decimal(repr(row["total_cost"])) - _batch_price(name, row)) < Decimal("1e-12")
        assert all(row["total_cost"] == 0 for row in failed)  # a failed request costs nothing
        assert {(r["task"], r["tenant"], r["prompt_name"], r["prompt_version"]) for r in mine} == {
            ("ticket-triage", "acme", "labels", "4")}
        batch = openai_batch if name == "openai" else anthropic_batch
        assert {r["attributes"]["llmsight.batch.id"] for r in mine} == {batch.id}
        completed = batch.completed_at if name == "openai" else batch.ended_at.timestamp()
        assert all(abs(r["ts"].timestamp() - completed) < 1e-3 for r in mine)  # timed at the batch's completion


def test_results_read_by_another_process_and_after_a_restart_keep_the_submission(collector, provider_server) -> None:
    """Submitted here; the results read first by another process (another service, tags of its own, which never saw
    the submission: the collector gives its rows the submission's tags), then here again after a collector restart:
    still one row per request."""
    provider = exporter_provider(OTLPSpanExporter(endpoint=collector.http_endpoint), service="submitter")
    llmsight.instrument(tracer_provider=provider)
    try:
        openai_batch, anthropic_batch = _submit(provider_server)
        provider.force_flush()
        _settle(collector, 2)
        done = subprocess.run(
            [sys.executable, "-m", "tests.collector.batch_reader", collector.http_endpoint, provider_server.base_url,
             openai_batch.id, anthropic_batch.id], capture_output=True, text=True, timeout=120,
            cwd=Path(__file__).parents[2],
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["40"]
        _settle(collector, 2 + 40)
        assert collector.stop() == 0
        collector.start()
        provider.shutdown()
        provider = exporter_provider(OTLPSpanExporter(endpoint=collector.http_endpoint), service="submitter")
        llmsight.uninstrument()
        llmsight.instrument(tracer_provider=provider)
        assert _read(provider_server, openai_batch, anthropic_batch) == 40
    finally:
        llmsight.uninstrument()
        provider.shutdown()
    _settle(collector, 40)
    rows = collector.rows("service_tier = 'batch'")
    assert len(rows) == 40
    assert {(r["service"], r["task"], r["tenant"], r["prompt_name"]) for r in rows} == {
        ("results-reader", "ticket-triage", "acme", "labels")}


def test_a_model_without_a_batch_price_is_charged_half() -> None:
    pricer = Pricer()
    from datetime import datetime, timezone

    from genai_prices.data_snapshot import get_snapshot

    openai_models = next(p for p in get_snapshot().providers if p.id == "openai").models
    model = next(m.id for m in openai_models if not has_batch_price(m) and m.id.startswith("gpt-") and
                 not any(c in m.id for c in "*:"))

    def call(tier: str) -> CallRecord:
        record = CallRecord(ts=datetime.now(timezone.utc), trace_id="0" * 32, span_id="0" * 16, provider="openai",
                            request_model=model, service_tier=tier, input_tokens=1200, cache_read_tokens=1024,
                            output_tokens=300)
        pricer.price(record)
        return record

    standard, batch = call("default"), call("batch")
    assert standard.total_cost and batch.total_cost
    assert batch.total_cost == standard.total_cost * BATCH_FALLBACK_FACTOR
    assert batch.price_source.endswith(BATCH_FALLBACK) and not standard.price_source.endswith(BATCH_FALLBACK)
    with_price = call_with_batch_price = CallRecord(ts=datetime.now(timezone.utc), trace_id="0" * 32, span_id="0" * 16,
                                                    provider="openai", request_model="gpt-5-mini", service_tier="batch",
                                                    input_tokens=1000, output_tokens=100)
    pricer.price(call_with_batch_price)
    assert not with_price.price_source.endswith(BATCH_FALLBACK)


def test_a_hostile_submission_never_blocks_the_writer(collector) -> None:
    """A `batch.create` span whose request count does not fit the column (30 digits): the store refuses the
    submission row; the calls behind it are stored all the same, and the submission is counted, not retried forever."""
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    from .spans import _kv, genai_request, post_protobuf

    request = genai_request(batch=7, spans=3)
    start = time.time_ns() - 2_000_000_000
    request.resource_spans[0].scope_spans[0].spans.append(Span(
        trace_id=b"\x07" * 16, span_id=b"\x07" * 8, name="batch.create", kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start, end_time_unix_nano=start + 1000,
        attributes=[_kv(k, v) for k, v in {"gen_ai.provider.name": "openai", "gen_ai.operation.name": "batch.create",
                                            "llmsight.batch.id": "batch_x", "llmsight.batch.request_count": "9" * 30,
                                            "llmsight.task": "t"}.items()],
    ))
    assert post_protobuf(collector.http_endpoint, request) == 200
    _settle(collector, 4, timeout=30)
    assert collector.query("SELECT count() FROM llmsight.llm_calls").rows == [(3,)]

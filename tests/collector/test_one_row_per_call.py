"""One row per call, whichever collector and whenever the spans of a call arrive: real collector processes,
the same store, spans of one call sent separately (an anthropic SDK span and an OpenLLMetry span of the same
response, in two traces as OpenLLMetry really emits them)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.collector.conftest import CollectorProcess
from tests.collector.spans import _kv, post_protobuf

pytestmark = pytest.mark.destructive  # collectors stopped to read their store, killed, restarted

START_NS = time.time_ns() - 5_000_000_000
USAGE = {"gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5",
         "gen_ai.response.id": "msg_0123", "gen_ai.usage.input_tokens": 1411, "gen_ai.usage.output_tokens": 40,
         "gen_ai.usage.cache_read.input_tokens": 1398}
SDK = ("com.anthropic.sdk.python", 1, {**USAGE, "gen_ai.usage.cache_write.input_tokens": 0,
                                       "gen_ai.request.stream": True, "gen_ai.response.time_to_first_chunk": 0.25})
OPENLLMETRY = ("opentelemetry.instrumentation.anthropic", 2, {**USAGE, "gen_ai.is_streaming": True})


def _request(scope: str, index: int, attributes: dict[str, object]) -> ExportTraceServiceRequest:
    span = Span(trace_id=index.to_bytes(16, "big"), span_id=index.to_bytes(8, "big"), name="chat",
                start_time_unix_nano=START_NS + index * 1_000_000, end_time_unix_nano=START_NS + 900_000_000,
                attributes=[_kv(k, v) for k, v in attributes.items()])
    resource = Resource(attributes=[_kv("service.name", "app")])
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=resource, scope_spans=[ScopeSpans(scope=InstrumentationScope(name=scope), spans=[span])])])


def _send(collector: CollectorProcess, source: tuple[str, int, dict[str, object]]) -> None:
    assert post_protobuf(collector.http_endpoint, _request(*source)) == 200


def _settle(collector: CollectorProcess, dsn: str | None = None) -> tuple[int, int, int]:
    """(rows, rollup calls, merged counted by this collector) once everything accepted is stored."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pipeline = collector.metrics()["pipeline"]
        if pipeline["stored"] + pipeline["merged_calls"] + pipeline["already_stored"] >= pipeline["submitted"]:
            break
        time.sleep(0.2)
    metrics = collector.metrics()  # before querying: a query stops the collector (it owns the embedded store)
    if dsn is not None:  # a store of its own (--dsn): read it directly once the collector has let go of it
        from llmsight.collector.store import Store

        assert collector.stop() == 0
        store = Store.open(dsn)
        try:
            rows = store.query("SELECT count() FROM llmsight.llm_calls").rows[0][0]
            calls = store.query("SELECT sum(calls) FROM llmsight.llm_calls_hourly").rows[0][0]
            collector.dsn_rows = store.query("SELECT * FROM llmsight.llm_calls").dicts()
        finally:
            store.close()
        return rows, calls, metrics["pipeline"]["merged_calls"] + metrics["ingest"]["merged_spans"]
    rows = collector.query("SELECT count() FROM llmsight.llm_calls").rows[0][0]
    calls = collector.query("SELECT sum(calls) FROM llmsight.llm_calls_hourly").rows[0][0]
    return rows, calls, metrics["pipeline"]["merged_calls"] + metrics["ingest"]["merged_spans"]


def test_two_collectors_over_time_on_one_store(tmp_path: Path) -> None:
    """The other half of a call lands on another collector (behind a load balancer) later: the decision is
    read from the store, so still one row — and the raw table and the rollup agree."""
    dsn = f"chdb://{tmp_path / 'store'}"
    first = CollectorProcess(tmp_path / "a", ["--dsn", dsn]).start()
    _send(first, SDK)
    assert _settle(first, dsn) == (1, 1, 0)
    second = CollectorProcess(tmp_path / "b", ["--dsn", dsn]).start()
    _send(second, OPENLLMETRY)
    _send(second, SDK)  # a resend of the first half to the other collector
    assert _settle(second, dsn) == (1, 1, 1)
    (row,) = second.dsn_rows
    assert row["instrumentation"] == "com.anthropic.sdk.python"
    assert (row["input_tokens"], row["cache_read_tokens"], row["streaming"], row["ttft_ms"]) == (1411, 1398, True, 250.0)


def test_both_halves_in_one_batch_keep_the_richer_source_and_fill_its_gaps(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "a", []).start()
    request = _request(*OPENLLMETRY)
    request.resource_spans[0].scope_spans.append(_request(*SDK).resource_spans[0].scope_spans[0])
    assert post_protobuf(collector.http_endpoint, request) == 200  # one request: merged in the receiver
    rows, calls, merged = _settle(collector)
    assert (rows, calls, merged) == (1, 1, 1)
    (row,) = collector.rows()
    assert row["instrumentation"] == "com.anthropic.sdk.python" and row["ttft_ms"] == 250.0
    assert collector.stop() == 0


def test_one_row_after_kill_9_and_resends(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "a", []).start()
    _send(collector, OPENLLMETRY)
    _send(collector, SDK)
    collector.stop(signal.SIGKILL)
    collector.start()  # the spool is replayed: the decision is made again from what is stored
    _send(collector, SDK)
    _send(collector, OPENLLMETRY)
    collector.wait_stored(1)  # the replayed spool
    # _settle waits until every accepted span is stored, merged or found stored, then stops the collector (SIGTERM:
    # anything pending is written) before counting: a second row would be there.
    rows, calls, _ = _settle(collector)
    assert (rows, calls) == (1, 1)
    assert collector.stop() == 0


def test_a_version_1_store_gains_the_call_identity(tmp_path: Path) -> None:
    from llmsight.collector.store import Store, schema

    store = Store.open(f"chdb://{tmp_path / 'store'}")
    try:
        store.ensure_schema()
        for statement in ("ALTER TABLE llmsight.llm_calls DROP INDEX call_id_idx",
                          "ALTER TABLE llmsight.llm_calls DROP COLUMN call_id",
                          "DELETE FROM llmsight.schema_version WHERE version >= 3"):
            store.command(statement)  # as a store created before version 2 is
        assert store.ensure_schema() == schema.SCHEMA_VERSION
        columns = {row[0] for row in store.query("SELECT name FROM system.columns WHERE database = 'llmsight' "
                                                  "AND table = 'llm_calls'").rows}
        assert "call_id" in columns
    finally:
        store.close()


def _drain(collector: CollectorProcess) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pipeline = collector.metrics()["pipeline"]
        if pipeline["stored"] + pipeline["merged_calls"] + pipeline["already_stored"] >= pipeline["submitted"]:
            return
        time.sleep(0.05)


def _nested(parent_first: bool) -> list[ExportTraceServiceRequest]:
    """OpenLIT's mistral span (with the response id) around mistralai 1.x's own span of the same call (no id):
    what tests/peers/recordings/openlit.json holds, in one trace, child inside parent."""
    usage = {"gen_ai.provider.name": "mistral_ai", "gen_ai.request.model": "mistral-small-latest",
             "gen_ai.usage.output_tokens": 37}
    outer = _request("openlit.instrumentation.mistral", 7, {
        **usage, "gen_ai.response.id": "cmpl-7", "gen_ai.usage.input_tokens": 1402,
        "gen_ai.usage.cache_read.input_tokens": 1280})
    inner = _request("mistralai_sdk_tracer", 8, {**usage, "gen_ai.usage.prompt_tokens": 1402})
    inner_span = inner.resource_spans[0].scope_spans[0].spans[0]
    inner_span.trace_id = (7).to_bytes(16, "big")
    inner_span.parent_span_id = (7).to_bytes(8, "big")
    return [outer, inner] if parent_first else [inner, outer]


def test_an_idless_span_inside_or_around_its_call_is_one_row_in_either_order(tmp_path: Path) -> None:
    """A span without the provider's id is joined with the span of the same call around or inside it (same
    trace, parent link, same provider and model), in the batch and from the store, whichever is stored first."""
    for parent_first in (True, False):
        collector = CollectorProcess(tmp_path / f"c{parent_first}", []).start()
        for request in _nested(parent_first):
            assert post_protobuf(collector.http_endpoint, request) == 200
            _drain(collector)  # stored before the other half arrives: the store decides
        rows, calls, merged = _settle(collector)
        assert (rows, calls, merged) == (1, 1, 1), parent_first
        (row,) = collector.rows()
        assert row["input_tokens"] == 1402
        assert collector.stop() == 0


def _bedrock_stream(llmsight_first: bool) -> list[ExportTraceServiceRequest]:
    """llmsight's InvokeModelWithResponseStream span (the request id and the message id) and OpenLLMetry's span of
    the same stream (the message id alone, in a trace of its own), as tests/peers records them."""
    usage = {"gen_ai.provider.name": "aws.bedrock", "gen_ai.usage.input_tokens": 1853, "gen_ai.usage.output_tokens": 21,
             "gen_ai.response.id": "msg_da7e", "gen_ai.usage.cache_read.input_tokens": 1398}
    ours = _request("llmsight.bedrock", 9, {**usage, "gen_ai.request.model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                                            "aws.request_id": "da7e", "gen_ai.request.stream": True})
    theirs = _request("opentelemetry.instrumentation.bedrock", 10, {
        **usage, "gen_ai.request.model": "claude-sonnet-4-5-20250929-v1:0", "gen_ai.usage.input_tokens": 455,
        "gen_ai.usage.cache_read.input_tokens": 0})
    return [ours, theirs] if llmsight_first else [theirs, ours]


def test_a_bedrock_span_with_the_response_id_alone_is_one_row_in_either_order(tmp_path: Path) -> None:
    """Bedrock's identity is the request id; a span that records only the message id of the same call joins it
    through the row's `llmsight.response_call_id`, in the batch and from the store, whichever is stored first."""
    for llmsight_first in (True, False):
        collector = CollectorProcess(tmp_path / f"c{llmsight_first}", []).start()
        for request in _bedrock_stream(llmsight_first):
            assert post_protobuf(collector.http_endpoint, request) == 200
            _drain(collector)
        assert _settle(collector) == (1, 1, 1), llmsight_first
        assert collector.stop() == 0
    together = CollectorProcess(tmp_path / "together", []).start()
    for request in _bedrock_stream(True):
        assert post_protobuf(together.http_endpoint, request) == 200
    assert _settle(together)[:2] == (1, 1)
    (row,) = together.rows()
    assert (row["instrumentation"], row["input_tokens"], row["cache_read_tokens"]) == ("llmsight.bedrock", 1853, 1398)
    assert together.stop() == 0

"""Hostile OTLP input: bodies built to make the receiver allocate far more than they weigh, and the caches it
keeps between requests. Each asserts a bound on memory or an answer, never a timing."""

from __future__ import annotations

import gc
import tracemalloc

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from llmsight.collector.normalise import normalise_request

START_NS = 1_700_000_000_000_000_000


def _span_with_keys(keys: list[str], index: int) -> Span:
    attributes = [KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="m"))]
    attributes += [KeyValue(key=key, value=AnyValue(int_value=1)) for key in keys]
    return Span(trace_id=(index + 1).to_bytes(16, "big"), span_id=(index + 1).to_bytes(8, "big"), name="chat",
                start_time_unix_nano=START_NS, end_time_unix_nano=START_NS + 1, attributes=attributes)


def _request(*spans: Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])])


def test_spans_with_huge_distinct_key_sets_leave_no_memory_behind() -> None:
    """The attribute-key plan cache remembers only small key sets: ten requests of 50,000 distinct keys each
    kept every key set (tens of MiB, never freed) before."""
    requests = [_request(_span_with_keys([f"k{batch}.{i}" for i in range(50_000)], batch)) for batch in range(10)]
    normalise_request(_request(_span_with_keys(["warm"], 99)))  # imports and small caches, outside the measure
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for request in requests:
            assert len(normalise_request(request).records) == 1
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retained < 2 * 1024 * 1024, f"{retained / 2**20:.1f} MiB retained after the requests were done"

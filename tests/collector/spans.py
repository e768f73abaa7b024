"""Synthetic GenAI spans for collector tests and benchmarks (OTLP protobuf and SDK ReadableSpans)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def genai_request(batch: int, spans: int = 50, start_ns: int | None = None) -> ExportTraceServiceRequest:
    """`spans` llmsight-style chat spans with ids unique per (batch, index)."""
    start_ns = start_ns or (time.time_ns() - 1_000_000_000)
    out = []
    for index in range(spans):
        attributes = {
            "gen_ai.provider.name": "openai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini",
            "gen_ai.response.id": f"chatcmpl-{batch}-{index}",  # real calls carry one: the collector merges on it
            "gen_ai.usage.input_tokens": 1000 + index,
            "gen_ai.usage.cache_read.input_tokens": 512,
            "gen_ai.usage.output_tokens": 100,
            "llmsight.task": f"task-{index % 5}",
            "llmsight.tenant": f"tenant-{index % 7}",
            "llmsight.retries": 0,
            "http.response.status_code": 200,
        }
        out.append(
            Span(
                trace_id=batch.to_bytes(8, "big") + index.to_bytes(8, "big"),
                span_id=(batch * 100_000 + index + 1).to_bytes(8, "big"),
                name="chat gpt-4o-mini",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=start_ns + index,
                end_time_unix_nano=start_ns + index + 250_000_000,
                attributes=[_kv(k, v) for k, v in attributes.items()],
            )
        )
    resource = Resource(attributes=[_kv("service.name", "synthetic")])
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(scope=InstrumentationScope(name="llmsight.openai"), spans=out)])]
    )


def post_protobuf(
    url: str, request: ExportTraceServiceRequest, timeout: float = 10.0, headers: dict[str, str] | None = None
) -> int:
    body = request.SerializeToString()
    http_request = urllib.request.Request(
        url, data=body, headers={"content-type": "application/x-protobuf", **(headers or {})}, method="POST"
    )
    try:
        with urllib.request.urlopen(http_request, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def readable_spans(batch: int, count: int) -> list:
    """SDK spans (for the real OTLP exporters), recorded through a throwaway provider."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("llmsight.openai")
    for index in range(count):
        with tracer.start_as_current_span("chat gpt-4o") as span:
            span.set_attributes({
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 100 + index + batch,
                "gen_ai.usage.output_tokens": 10,
            })
    return list(memory.get_finished_spans())

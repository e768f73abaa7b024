"""Realistic seeded calls, sent through the real collector path (OTLP/HTTP protobuf → Collector →
pricing → ClickHouse), with prices from an overrides file so every cost is hand-computable here."""

from __future__ import annotations

import random
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

# USD per million tokens, applied by the collector through this overrides file.
PRICES = {
    "acme-large": {"input": 10.0, "read": 1.0, "write": 12.5, "output": 30.0, "tier": "frontier"},
    "acme-small": {"input": 0.5, "read": 0.05, "write": 0.625, "output": 1.5, "tier": "small"},
}
PRICES_YAML = "models:\n" + "".join(
    f"  - provider: acme\n    model: {model}\n    input_mtok: {p['input']}\n    cache_read_mtok: {p['read']}\n"
    f"    cache_write_mtok: {p['write']}\n    output_mtok: {p['output']}\n"
    for model, p in PRICES.items()
)


@dataclass
class Call:
    ts: datetime
    service: str
    model: str
    task: str
    tenant: str
    prompt_name: str
    prefix_hash: str
    input_tokens: int
    cache_read: int
    cache_write: int
    output_tokens: int
    streaming: bool
    ttft_ms: float | None
    duration_ms: float
    status: str = "ok"
    error_type: str = ""
    http_status: int = 200
    retries: int = 0
    finish_reason: str = "stop"
    span_id: int = 0
    attributes: dict[str, object] = field(default_factory=dict)

    @property
    def priced(self) -> bool:
        return self.model in PRICES

    def costs(self) -> dict[str, float]:
        if not self.priced:
            return {}
        p = PRICES[self.model]
        uncached = self.input_tokens - self.cache_read - self.cache_write
        parts = {
            "input_cost": uncached * p["input"] / 1e6,
            "cache_read_cost": self.cache_read * p["read"] / 1e6,
            "cache_write_cost": self.cache_write * p["write"] / 1e6,
            "output_cost": self.output_tokens * p["output"] / 1e6,
        }
        parts["total_cost"] = sum(parts.values())
        return parts

    @property
    def total_cost(self) -> float:
        return self.costs().get("total_cost", 0.0)


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, list):
        return KeyValue(key=key, value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v) for v in value])))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def to_request(calls: list[Call]) -> ExportTraceServiceRequest:
    by_service: dict[str, list[Span]] = {}
    for call in calls:
        attributes: dict[str, object] = {
            "gen_ai.provider.name": "acme",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": call.model,
            "gen_ai.response.model": call.model,
            "gen_ai.request.stream": call.streaming,
            "gen_ai.usage.input_tokens": call.input_tokens,
            "gen_ai.usage.cache_read.input_tokens": call.cache_read,
            "gen_ai.usage.cache_creation.input_tokens": call.cache_write,
            "gen_ai.usage.output_tokens": call.output_tokens,
            "gen_ai.response.finish_reasons": [call.finish_reason],
            "llmsight.model_tier": PRICES.get(call.model, {}).get("tier", "standard"),
            "llmsight.task": call.task,
            "llmsight.tenant": call.tenant,
            "llmsight.prompt.name": call.prompt_name,
            "llmsight.prompt.version": "1",
            "llmsight.prompt.prefix_hash": call.prefix_hash,
            "llmsight.retries": call.retries,
            "http.response.status_code": call.http_status,
        }
        if call.ttft_ms is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = call.ttft_ms / 1000
        if call.error_type:
            attributes["error.type"] = call.error_type
        start = int(call.ts.timestamp() * 1e9)
        by_service.setdefault(call.service, []).append(Span(
            trace_id=call.span_id.to_bytes(16, "big"),
            span_id=call.span_id.to_bytes(8, "big"),
            name=f"chat {call.model}",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start,
            end_time_unix_nano=start + int(call.duration_ms * 1e6),
            attributes=[_kv(k, v) for k, v in attributes.items()],
            status=Status(code=Status.STATUS_CODE_ERROR if call.status == "error" else Status.STATUS_CODE_OK),
        ))
    return ExportTraceServiceRequest(resource_spans=[
        ResourceSpans(
            resource=Resource(attributes=[_kv("service.name", service), _kv("deployment.environment.name", "prod")]),
            scope_spans=[ScopeSpans(scope=InstrumentationScope(name="llmsight.seed"), spans=spans)],
        )
        for service, spans in by_service.items()
    ])


def healthy_calls(now: datetime, count: int = 400, seed: int = 11) -> list[Call]:
    """A day of steady traffic: caching works, few errors, stable latency."""
    rng = random.Random(seed)
    calls = []
    for index in range(count):
        ts = now - timedelta(seconds=rng.randint(60, 23 * 3600))
        model = rng.choice(["acme-large", "acme-small", "acme-small"])
        prompt = rng.choice(["support", "summarise"])
        streaming = rng.random() < 0.6
        inputs = rng.randint(1200, 4000)
        read = inputs // 2 if rng.random() < 0.8 else 0
        write = 0 if read else inputs // 4
        failed = rng.random() < 0.04
        calls.append(Call(
            ts=ts, service=rng.choice(["api", "worker"]), model=model, task=prompt, tenant=rng.choice(["acme", "globex", "initech"]),
            prompt_name=prompt, prefix_hash=f"{prompt}-v1hash0000"[:16], input_tokens=inputs, cache_read=read, cache_write=write,
            output_tokens=0 if failed else rng.randint(50, 400), streaming=streaming,
            ttft_ms=float(rng.randint(200, 600)) if streaming and not failed else None,
            duration_ms=float(rng.randint(800, 4000)), status="error" if failed else "ok",
            error_type="RateLimitError" if failed else "", http_status=429 if failed else 200,
            retries=1 if rng.random() < 0.05 else 0, finish_reason="length" if rng.random() < 0.03 else "stop",
            span_id=seed * 1_000_000 + index + 1,
        ))
    return calls


def post(url: str, calls: list[Call]) -> None:
    body = to_request(calls).SerializeToString()
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/x-protobuf"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def write_prices(directory: Path) -> Path:
    path = directory / "prices.yaml"
    path.write_text(PRICES_YAML)
    return path

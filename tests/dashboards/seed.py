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
    "acme-rare": {"input": 10.0, "read": 1.0, "write": 12.5, "output": 30.0, "tier": "frontier"},
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
    provider: str = "acme"
    prompt_version: str = "1"
    user_id: str = ""
    session_id: str = ""
    service_version: str = ""
    trace: int = 0  # calls of one workflow share a trace; 0: the call's own trace
    service_tier: str = ""
    batch_id: str = ""  # a request inside a batch (docs/batch.md): timed at the batch's completion

    @property
    def batch(self) -> bool:
        return self.service_tier == "batch"

    @property
    def trace_id(self) -> str:
        return (self.trace or self.span_id).to_bytes(16, "big").hex()

    @property
    def priced(self) -> bool:
        return self.model in PRICES or self.provider != "acme"

    def costs(self) -> dict[str, float]:
        if not self.priced:
            return {}
        if self.provider != "acme":  # a real model: genai-prices' own arithmetic, not llmsight's
            return list_price(self.provider, self.model, self, batch=self.batch)
        p = PRICES[self.model]
        half = 0.5 if self.batch else 1.0  # an override has no batch price of its own: half (collector/pricing)
        uncached = self.input_tokens - self.cache_read - self.cache_write
        parts = {
            "input_cost": uncached * p["input"] / 1e6 * half,
            "cache_read_cost": self.cache_read * p["read"] / 1e6 * half,
            "cache_write_cost": self.cache_write * p["write"] / 1e6 * half,
            "output_cost": self.output_tokens * p["output"] / 1e6 * half,
        }
        parts["total_cost"] = sum(parts.values())
        return parts

    @property
    def total_cost(self) -> float:
        return self.costs().get("total_cost", 0.0)


def list_price(provider: str, model: str, call: Call, *, batch: bool) -> dict[str, float]:
    """The call's cost at `model`'s list price, by genai-prices' calc_price (input includes cache tokens)."""
    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=call.input_tokens, cache_read_tokens=call.cache_read,
                  cache_write_tokens=call.cache_write, output_tokens=call.output_tokens)
    ids = {"openai": "openai", "anthropic": "anthropic"}
    price = calc_price(usage, model, provider_id=ids[provider], genai_request_timestamp=call.ts,
                       price_context={"processing": "batch"} if batch else None)
    return {"total_cost": float(price.total_price)}


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
    by_service: dict[tuple[str, str], list[Span]] = {}
    for call in calls:
        attributes: dict[str, object] = {
            "gen_ai.provider.name": call.provider,
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
            "llmsight.prompt.version": call.prompt_version,
            "llmsight.prompt.prefix_hash": call.prefix_hash,
            "llmsight.retries": call.retries,
            "http.response.status_code": call.http_status,
        }
        if call.user_id:
            attributes["user.id"] = call.user_id
        if call.session_id:
            attributes["session.id"] = call.session_id
        if call.ttft_ms is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = call.ttft_ms / 1000
        if call.error_type:
            attributes["error.type"] = call.error_type
        if call.service_tier:
            attributes["llmsight.service_tier"] = call.service_tier
        if call.batch_id:
            attributes["llmsight.batch.id"] = call.batch_id
            attributes["llmsight.batch.custom_id"] = f"request-{call.span_id}"
        start = int(call.ts.timestamp() * 1e9)
        by_service.setdefault((call.service, call.service_version), []).append(Span(
            trace_id=bytes.fromhex(call.trace_id),
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
            resource=Resource(attributes=[_kv("service.name", service), _kv("deployment.environment.name", "prod")]
                              + ([_kv("service.version", version)] if version else [])),
            scope_spans=[ScopeSpans(scope=InstrumentationScope(name="llmsight.seed"), spans=spans)],
        )
        for (service, version), spans in by_service.items()
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


def post(url: str, calls: list[Call], submissions: list[Submission] | None = None) -> None:
    body = (submissions_request(submissions) if submissions else to_request(calls)).SerializeToString()
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/x-protobuf"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def write_prices(directory: Path) -> Path:
    path = directory / "prices.yaml"
    path.write_text(PRICES_YAML)
    return path


def workload(now: datetime, seed: int = 5) -> list[Call]:
    """What the end-to-end dashboard test stores: a day of acme traffic with users, sessions and multi-call traces,
    a few real OpenAI models (priced by genai-prices, cheaper model and batch prices known), a prompt whose prefix
    hash changes, a service that deploys a new version, a 429 burst, and a rarely-used streamed model whose TTFT
    quantiles must be exact."""
    rng = random.Random(seed)
    calls = healthy_calls(now, count=300, seed=seed)
    change = now - timedelta(hours=7, minutes=13)
    for index, call in enumerate(calls):
        call.user_id = f"user-{index % 7}" if index % 5 else ""
        call.session_id = f"{call.user_id}-s{index % 3}" if call.user_id else ""
        call.trace = 900_000 + index // 4 if index % 3 == 0 else 0  # every third call joins a 4-call trace bucket
        if call.prompt_name == "support":
            call.prefix_hash = "support-v2hash00" if call.ts >= change else "support-v1hash00"
            call.prompt_version = "2" if call.ts >= change else "1"
        if call.service == "worker":
            call.service_version = "1.5.0" if call.ts >= now - timedelta(hours=3, minutes=41) else "1.4.2"
    for index in range(60):
        ts = now - timedelta(seconds=rng.randint(120, 20 * 3600))
        streaming = index % 3 == 0
        inputs = rng.randint(800, 3000)
        calls.append(Call(
            ts=ts, service="api", model=rng.choice(["gpt-4o", "gpt-4o", "gpt-4o-mini"]), task=rng.choice(["classify", "report"]),
            tenant="acme", prompt_name="triage", prefix_hash="triage-hash0001", input_tokens=inputs,
            cache_read=(inputs // 3) if index % 2 else 0, cache_write=0, output_tokens=rng.randint(20, 300), streaming=streaming,
            ttft_ms=float(rng.randint(150, 900)) if streaming else None, duration_ms=float(rng.randint(500, 3000)),
            span_id=seed * 1_000_000 + 50_000 + index, provider="openai", user_id=f"user-{index % 4}",
            session_id=f"user-{index % 4}-s9",
        ))
    # 12 streamed calls of a rarely used model: a merged t-digest is far off here, the panel must be exact.
    for index, ttft in enumerate((120.0, 180.0, 210.0, 240.0, 260.0, 300.0, 320.0, 330.0, 900.0, 1500.0, 2400.0, 3000.0)):
        calls.append(Call(
            ts=now - timedelta(hours=index + 1, minutes=7 * index), service="api", model="acme-large", task="rare",
            tenant="globex", prompt_name="", prefix_hash="", input_tokens=1500, cache_read=0, cache_write=0, output_tokens=80,
            streaming=True, ttft_ms=ttft, duration_ms=ttft + 900, span_id=seed * 1_000_000 + 60_000 + index,
            provider="acme",
        ))
        calls[-1].model = "acme-rare"  # priced like acme-large through the overrides file below
    calls += unpriced_calls(now, seed)
    # A 429 burst on one model, 2 hours ago.
    for index in range(15):
        calls.append(Call(
            ts=now - timedelta(hours=2, seconds=index * 7), service="api", model="acme-small", task="support", tenant="acme",
            prompt_name="support", prefix_hash="support-v2hash00", input_tokens=1000, cache_read=0, cache_write=0,
            output_tokens=0, streaming=False, ttft_ms=None, duration_ms=120.0, status="error", error_type="RateLimitError",
            http_status=429, span_id=seed * 1_000_000 + 70_000 + index, prompt_version="2",
        ))
    return calls


@dataclass
class Submission:
    """A `batch.create` span: a row of llmsight.batch_submissions, not a call."""

    provider: str
    batch_id: str
    ts: datetime
    task: str
    span_id: int


def batches(now: datetime, seed: int = 5) -> tuple[list[Submission], list[Call]]:
    """Three batches (OpenAI with a batch price, acme at half its override price): submitted, then their requests
    timed at each batch's completion."""
    submissions, calls = [], []
    for number, (provider, model, hours, turnaround_min, requests) in enumerate(
        (("openai", "gpt-4o", 9, 42, 6), ("openai", "gpt-4o-mini", 4, 95, 4), ("acme", "acme-small", 6, 17, 5))
    ):
        submitted = now - timedelta(hours=hours, minutes=11 * number)
        batch_id = f"batch_{seed}{number:03d}"
        submissions.append(Submission(provider, batch_id, submitted, "classify", seed * 1_000_000 + 90_000 + number))
        for index in range(requests):
            calls.append(Call(
                ts=submitted + timedelta(minutes=turnaround_min), service="worker", model=model, task="classify",
                tenant="acme", prompt_name="triage", prefix_hash="triage-hash0001", input_tokens=1200 + 37 * index,
                cache_read=512 if index % 2 else 0, cache_write=0, output_tokens=40 + index, streaming=False,
                ttft_ms=None, duration_ms=0.0, span_id=seed * 1_000_000 + 91_000 + number * 100 + index,
                provider=provider, service_tier="batch", batch_id=batch_id,
            ))
    return submissions, calls


def submissions_request(submissions: list[Submission]) -> ExportTraceServiceRequest:
    spans = [Span(
        trace_id=s.span_id.to_bytes(16, "big"), span_id=s.span_id.to_bytes(8, "big"), name="batch.create",
        kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=int(s.ts.timestamp() * 1e9),
        end_time_unix_nano=int(s.ts.timestamp() * 1e9) + 50_000_000,
        attributes=[_kv(k, v) for k, v in {"gen_ai.provider.name": s.provider, "gen_ai.operation.name": "batch.create",
                                            "llmsight.batch.id": s.batch_id, "llmsight.task": s.task}.items()],
    ) for s in submissions]
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[_kv("service.name", "worker"), _kv("deployment.environment.name", "prod")]),
        scope_spans=[ScopeSpans(scope=InstrumentationScope(name="llmsight.seed"), spans=spans)],
    )])


def unpriced_calls(now: datetime, seed: int = 5) -> list[Call]:
    """Calls of a model no price source knows: stored with NULL costs, counted as unpriced."""
    return [
        Call(ts=now - timedelta(hours=5, minutes=index), service="api", model="acme-experimental", task="support",
             tenant="acme", prompt_name="", prefix_hash="", input_tokens=500, cache_read=0, cache_write=0, output_tokens=50,
             streaming=False, ttft_ms=None, duration_ms=400.0, span_id=seed * 1_000_000 + 80_000 + index)
        for index in range(4)
    ]

"""OTLP `ExportTraceServiceRequest` → `CallRecord`s, one per GenAI span.

A span is a GenAI call when it carries a `gen_ai.*` (or legacy `llm.*`) request or usage attribute.
Other spans (HTTP attempts, app spans) are counted as ignored. A GenAI span whose values are out of bounds
(negative or absurd token counts, wrong types) is rejected with a reason; the rest of the request is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from llmsight.collector.normalise import variants as v
from llmsight.collector.record import CallRecord
from llmsight.model_tier import ModelTiers

MAX_TOKENS = 1_000_000_000  # a single call billing more than this is a bug or an attack, not usage
MAX_STRING = 256
MAX_ATTRIBUTE_VALUE = 1024
MAX_EXTRA_ATTRIBUTES = 64
_TIERS = ModelTiers()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class InvalidSpan(ValueError):
    pass


@dataclass
class NormaliseResult:
    records: list[CallRecord] = field(default_factory=list)
    ignored: int = 0  # not GenAI spans
    rejected: int = 0
    errors: list[str] = field(default_factory=list)  # first few reasons, for partial_success


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def _attributes(key_values: Any) -> dict[str, Any]:
    # The per-span hot loop: scalars (nearly every GenAI attribute) are read inline, without a call.
    decoded: dict[str, Any] = {}
    for kv in key_values:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value" or kind == "int_value" or kind == "double_value" or kind == "bool_value":
            decoded[kv.key] = getattr(value, kind)
        else:
            decoded[kv.key] = _any_value(value)
    return decoded


def _first(attrs: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = attrs.get(name)
        if value is not None:
            return value
    return None


def _tokens(attrs: dict[str, Any], names: tuple[str, ...]) -> int | None:
    value = _first(attrs, names)
    if value is None:
        return None
    if type(value) is int and 0 <= value <= MAX_TOKENS:  # the common case, first
        return value
    if isinstance(value, bool):
        raise InvalidSpan(f"{names[0]} must be an integer, got a boolean")
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise InvalidSpan(f"{names[0]} must be an integer, got {value[:40]!r}")
        value = int(value)
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise InvalidSpan(f"{names[0]} must be an integer, got {value!r}")
        value = int(value)
    if not isinstance(value, int):
        raise InvalidSpan(f"{names[0]} must be an integer, got {type(value).__name__}")
    if value < 0 or value > MAX_TOKENS:
        raise InvalidSpan(f"{names[0]}={value} is out of range (0..{MAX_TOKENS})")
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_STRING]


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidSpan(f"{name} must be a non-negative number, got {value!r}"[:120])
    return float(value)


def is_genai(attrs: dict[str, Any]) -> bool:
    return any(name in attrs for name in v.REQUEST_MODEL + v.PROVIDER + v.INPUT_TOKENS + v.OPERATION)


def _input_excludes_cache(provider: str, scope: str) -> bool:
    if provider != "anthropic":
        return False
    if scope.startswith(v.ANTHROPIC_INCLUSIVE_SCOPES):
        return False
    return True  # Anthropic's own convention, which OpenLIT and the SDK's tracing keep


def normalise_span(span: Any, attrs: dict[str, Any], service: str, environment: str, scope: str) -> CallRecord:
    provider_raw = _text(_first(attrs, v.PROVIDER)).lower()
    provider = v.PROVIDER_NAMES.get(provider_raw, provider_raw)
    operation_raw = _text(_first(attrs, v.OPERATION)).lower()
    operation = v.OPERATION_NAMES.get(operation_raw, operation_raw or "chat")
    request_model = _text(_first(attrs, v.REQUEST_MODEL))
    response_model = _text(_first(attrs, v.RESPONSE_MODEL))

    input_tokens = _tokens(attrs, v.INPUT_TOKENS)
    output_tokens = _tokens(attrs, v.OUTPUT_TOKENS) or 0
    cache_read = _tokens(attrs, v.CACHE_READ) or 0
    cache_write = _tokens(attrs, v.CACHE_WRITE) or 0
    cache_write_1h = _tokens(attrs, v.CACHE_WRITE_1H) or 0
    reasoning = _tokens(attrs, v.REASONING) or 0
    extra: dict[str, str] = {}
    if input_tokens is None:
        if cache_read or cache_write:
            extra["llmsight.note"] = "source reported no input_tokens; input counts cache tokens only"
        input_tokens = cache_read + cache_write
    elif _input_excludes_cache(provider, scope):
        input_tokens += cache_read + cache_write
    if cache_read + cache_write > input_tokens:
        raise InvalidSpan(f"cache tokens ({cache_read + cache_write}) exceed input tokens ({input_tokens})")
    if cache_write_1h > cache_write:
        raise InvalidSpan("1-hour cache writes exceed all cache writes")
    if reasoning > output_tokens:
        raise InvalidSpan(f"reasoning tokens ({reasoning}) exceed output tokens ({output_tokens})")

    finish = _first(attrs, v.FINISH_REASONS)
    if isinstance(finish, (list, tuple)):
        finish = finish[0] if finish else ""
    ttft = _number(_first(attrs, v.TTFT_SECONDS), "gen_ai.response.time_to_first_chunk")
    start_ns, end_ns = span.start_time_unix_nano, span.end_time_unix_nano
    if start_ns <= 0 or end_ns < start_ns:
        raise InvalidSpan("span start/end times are missing or reversed")
    status_code = span.status.code  # 2 = ERROR
    error_type = _text(_first(attrs, v.ERROR_TYPE))
    http_status = _first(attrs, v.HTTP_STATUS)
    retries = _first(attrs, v.RETRIES)
    streaming = _first(attrs, v.STREAMING)
    completed = attrs.get("llmsight.stream.completed")
    model_tier = _text(attrs.get("llmsight.model_tier")) or _TIERS.tier_of(response_model or request_model)

    known = _KNOWN
    for key, value in attrs.items():
        if key in known or len(extra) >= MAX_EXTRA_ATTRIBUTES:
            continue
        text = value if isinstance(value, str) else repr(value)
        extra[key[:MAX_STRING]] = text[:MAX_ATTRIBUTE_VALUE]

    return CallRecord(
        ts=datetime.fromtimestamp(start_ns // 1000 / 1e6, tz=timezone.utc),
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        service=service,
        environment=environment,
        provider=provider,
        operation=operation,
        request_model=request_model,
        response_model=response_model,
        model_tier=model_tier,
        service_tier=_text(_first(attrs, v.SERVICE_TIER)).lower(),
        streaming=bool(streaming) if isinstance(streaming, bool) else str(streaming).lower() == "true",
        stream_completed=completed if isinstance(completed, bool) else True,
        status="error" if status_code == 2 or error_type else "ok",
        error_type=error_type,
        http_status=int(http_status) if isinstance(http_status, int) and 0 <= http_status < 1000 else 0,
        retries=int(retries) if isinstance(retries, int) and 0 <= retries < 10_000 else 0,
        input_tokens=input_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=cache_write_1h,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning,
        ttft_ms=ttft * 1000 if ttft is not None else None,
        duration_ms=(end_ns - start_ns) / 1e6,
        task=_text(attrs.get("llmsight.task")),
        prompt_name=_text(attrs.get("llmsight.prompt.name")),
        prompt_version=_text(attrs.get("llmsight.prompt.version")),
        prompt_prefix_hash=_text(attrs.get("llmsight.prompt.prefix_hash")),
        tenant=_text(attrs.get("llmsight.tenant")),
        finish_reason=_text(finish),
        instrumentation=_text(scope),
        attributes=extra,
    )


_KNOWN = frozenset(
    v.PROVIDER + v.OPERATION + v.REQUEST_MODEL + v.RESPONSE_MODEL + v.INPUT_TOKENS + v.OUTPUT_TOKENS + v.CACHE_READ
    + v.CACHE_WRITE + v.CACHE_WRITE_1H + v.REASONING + v.FINISH_REASONS + v.SERVICE_TIER + v.TTFT_SECONDS
    + v.STREAMING + v.RETRIES + v.HTTP_STATUS + v.ERROR_TYPE
    + (
        "llmsight.model_tier", "llmsight.task", "llmsight.prompt.name", "llmsight.prompt.version",
        "llmsight.prompt.prefix_hash", "llmsight.tenant", "llmsight.stream.completed",
    )
)


def normalise_request(request: Any, *, default_service: str = "unknown_service", max_errors: int = 5) -> NormaliseResult:
    """All GenAI spans of an `ExportTraceServiceRequest`; invalid ones are counted with their reason."""
    result = NormaliseResult()
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = _text(resource.get("service.name")) or default_service
        environment = _text(resource.get("deployment.environment.name") or resource.get("deployment.environment"))
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                attrs = _attributes(span.attributes)
                if not is_genai(attrs):
                    result.ignored += 1
                    continue
                try:
                    if len(span.trace_id) != 16 or len(span.span_id) != 8:
                        raise InvalidSpan("trace_id must be 16 bytes and span_id 8 bytes")
                    result.records.append(normalise_span(span, attrs, service, environment, scope))
                except InvalidSpan as exc:
                    result.rejected += 1
                    if len(result.errors) < max_errors:
                        result.errors.append(f"span {span.span_id.hex() or '?'} ({span.name[:60]}): {exc}")
    return result

"""OTLP `ExportTraceServiceRequest` → `CallRecord`s, one per GenAI span.

A span is a GenAI call when it carries a `gen_ai.*` (or legacy `llm.*`, or OpenInference) request or usage
attribute. Other spans (HTTP attempts, app spans, OpenInference chains and agents) are counted as ignored. A
GenAI span whose values are out of bounds (negative or absurd token counts, wrong types) is rejected with a
reason; counts that only disagree with each other are corrected by the source's semantics (sources.py) and the
row says what was corrected (`llmsight.note`); the rest of the request is kept.
"""

from __future__ import annotations

import functools
import json
import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from hashlib import blake2b
from typing import Any
from urllib.parse import urlsplit

from llmsight import providers
from llmsight.attributes import (
    LLMSIGHT_BATCH_CUSTOM_ID,
    LLMSIGHT_BATCH_FILE_ID,
    LLMSIGHT_BATCH_ID,
    SERVER_ADDRESS,
    SERVER_PORT,
)
from llmsight.collector.normalise import gateway
from llmsight.collector.normalise import variants as v
from llmsight.collector.normalise.merge import PARENT_SPAN, RESPONSE_CALL, merge_calls
from llmsight.collector.normalise.sources import LLMSIGHT, Source, source_of
from llmsight.collector.record import CallRecord
from llmsight.errors import LLMSightError
from llmsight.model_tier import ModelTiers
from llmsight.provider_hosts import DeclaredHosts, provider_for

MAX_TOKENS = 1_000_000_000  # a single call billing more than this is a bug or an attack, not usage
MAX_STRING = 256
MAX_ATTRIBUTE_VALUE = 1024
MAX_EXTRA_ATTRIBUTES = 64
MAX_CONTENT_VALUE = 16_384  # the app side's default content_max_chars
MAX_CONTENT_ATTRIBUTES = 64
_TIERS = ModelTiers()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# One decoded scope of a request: its resource (an OTLP `Resource`), the scope's name and its spans (OTLP `Span`s,
# possibly parsed as they are iterated: collector/receive/decode.py).
SpanGroup = tuple[Any, str, Iterable[Any]]


class InvalidSpan(LLMSightError, ValueError):
    pass


class NotACall(LLMSightError):
    """A GenAI span that is not a call of its own: Logfire's usage-free request half of a stream, an OpenInference
    chain or agent, another instrumentation's span inside an llmsight call span."""


@dataclass
class NormaliseResult:
    records: list[CallRecord] = field(default_factory=list)
    ignored: int = 0  # not GenAI spans
    merged: int = 0  # spans of a call already described by another span of the request (merge.py)
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
    """Attributes as a dict; attributes without a value are left out (a variant that is present but empty
    does not hide the next one)."""
    # The per-span hot loop: scalars (nearly every GenAI attribute) are read inline, without a call.
    decoded: dict[str, Any] = {}
    for kv in key_values:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value" or kind == "int_value" or kind == "double_value" or kind == "bool_value":
            decoded[kv.key] = getattr(value, kind)
        elif kind is not None:
            decoded[kv.key] = _any_value(value)
    return decoded


# The fields a GenAI span can carry, each with its attribute variants, first present wins. The order is
# the order `_KeyPlan.values` returns them in.
_FIELDS: tuple[tuple[str, ...], ...] = (
    v.PROVIDER, v.OPERATION, v.REQUEST_MODEL, v.RESPONSE_MODEL,
    v.INPUT_TOKENS, v.OUTPUT_TOKENS, v.TOTAL_TOKENS, v.CACHE_READ, v.CACHE_WRITE, v.CACHE_WRITE_1H, v.REASONING,
    v.FINISH_REASONS, v.SERVICE_TIER, v.TTFT_SECONDS, v.STREAMING, v.RETRIES, v.HTTP_STATUS, v.ERROR_TYPE,
    v.MODEL_TIER, v.STREAM_COMPLETED, v.TASK, v.PROMPT_NAME, v.PROMPT_VERSION, v.PROMPT_PREFIX_HASH, v.TENANT,
    ("user.id",), ("session.id",), v.RESPONSE_ID, v.REQUEST_ID, v.RAW_USAGE, v.SPAN_KIND, v.INSIDE_CALL,
    v.OUTPUT_VALUE,
)
# Read into columns, and still kept in the `attributes` map (a user looks a call up by its response id).
_ALSO_KEPT = frozenset(v.RESPONSE_ID + v.REQUEST_ID + v.TOTAL_TOKENS + v.OUTPUT_VALUE)
_KNOWN = frozenset(name for names in _FIELDS for name in names) - _ALSO_KEPT
_GENAI_MARKERS = frozenset(v.REQUEST_MODEL + v.PROVIDER + v.INPUT_TOKENS + v.OPERATION)
_ABSENT = object()  # a key no span has: the plan reads it, with value None, for a field the span lacks
_MAX_PLANS = 1024
# Only key sets this small are remembered: an attacker's span with a million distinct keys is planned, used and
# dropped, so the cache holds at most _MAX_PLANS x _MAX_PLAN_KEY_CHARS characters of keys (about 8 MiB).
_MAX_PLAN_KEYS = 256
_MAX_PLAN_KEY_CHARS = 8192


@dataclass(frozen=True, slots=True)
class _KeyPlan:
    """What to read from spans with one particular set of attribute keys. An instrumentation emits the
    same keys call after call, so the variant matching is done once per key set, not once per span."""

    values: Callable[[dict[Any, Any]], tuple[Any, ...]]  # one value per `_FIELDS` entry
    extra_keys: tuple[str, ...]  # attributes kept as they are, in the `attributes` map
    content_keys: tuple[str, ...]  # prompts and completions, in the `content` map
    is_genai: bool


def _plan_for(keys: tuple[str, ...]) -> _KeyPlan:
    present = set(keys)
    chosen = [next((name for name in names if name in present), _ABSENT) for names in _FIELDS]
    return _KeyPlan(
        values=operator.itemgetter(*chosen),
        extra_keys=tuple(key for key in keys if key not in _KNOWN and not key.startswith(v.CONTENT_PREFIXES)),
        content_keys=tuple(key for key in keys if key not in _KNOWN and key.startswith(v.CONTENT_PREFIXES)),
        is_genai=not present.isdisjoint(_GENAI_MARKERS),
    )


class _KeyPlans:
    def __init__(self) -> None:
        self._plans: dict[tuple[str, ...], _KeyPlan] = {}

    def get(self, keys: tuple[str, ...]) -> _KeyPlan:
        plan = self._plans.get(keys)
        if plan is None:
            plan = _plan_for(keys)
            if len(keys) <= _MAX_PLAN_KEYS and sum(map(len, keys)) <= _MAX_PLAN_KEY_CHARS:
                if len(self._plans) >= _MAX_PLANS:  # hostile or very varied input: start over, stay bounded
                    self._plans = {}
                self._plans[keys] = plan
        return plan


_PLANS = _KeyPlans()


def _tokens(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidSpan(f"{name} must be an integer, got a boolean")
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()) or len(value) > 20:  # "²", "１２", 5,000 digits: not counts
            raise InvalidSpan(f"{name} must be an integer, got {value[:40]!r}")
        value = int(value)
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise InvalidSpan(f"{name} must be an integer, got {value!r}")
        value = int(value)
    if not isinstance(value, int):
        raise InvalidSpan(f"{name} must be an integer, got {type(value).__name__}")
    if value < 0 or value > MAX_TOKENS:
        raise InvalidSpan(f"{name}={value} is out of range (0..{MAX_TOKENS})")
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_STRING]


def _note(extra: dict[str, str], note: str) -> None:
    """A correction made to the call's values, kept on its row (`attributes['llmsight.note']`)."""
    extra["llmsight.note"] = f"{extra['llmsight.note']}; {note}" if "llmsight.note" in extra else note


def _first_chunk_seconds(value: Any, duration_s: float, extra: dict[str, str]) -> float | None:
    """The time to first chunk, or None (noted) when it cannot be one: not a number, not finite, negative, or
    longer than the call itself (1e306 s once became +inf and every percentile with it). The call is kept."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= duration_s + 1.0:
        _note(extra, f"{v.TTFT_SECONDS[0]} {str(value)[:40]} is not a time within the call; left out")
        return None
    return float(value)


def _raw_usage(raw: Any) -> dict[str, Any]:
    """Logfire's `gen_ai.usage.raw`: the provider's usage object as JSON (OpenAI chat/responses, Anthropic)."""
    if not isinstance(raw, str) or len(raw) > 16_384:
        return {}
    try:
        usage = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(usage, dict):
        return {}

    def dig(*path: str) -> Any:
        node: Any = usage
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    return {
        "cache_read": dig("prompt_tokens_details", "cached_tokens") or dig("input_tokens_details", "cached_tokens")
        or dig("cache_read_input_tokens"),
        "cache_write": dig("cache_creation_input_tokens"),
        "cache_write_1h": dig("cache_creation", "ephemeral_1h_input_tokens"),
        "reasoning": dig("completion_tokens_details", "reasoning_tokens") or dig("output_tokens_details", "reasoning_tokens")
        or dig("output_tokens_details", "thinking_tokens"),
        "service_tier": dig("service_tier"),
    }


def call_id(service: str, trace_id: bytes, span_id: bytes, response_id: str, batch_request: str = "") -> str:
    """The call's identity: spans of one service that carry the same response id describe the same call (an
    instrumentation's span and the SDK's own: parent and child, or two root spans — OpenLLMetry does not make
    its span current, so the SDK's lands in a trace of its own). Provider response ids are unique; merge.py
    also requires the spans to start within seconds of each other. A request inside a batch is provider + batch
    id + custom id (`batch_request`), whichever service reads its result and however often. Without either, the
    span is the call."""
    if batch_request:
        key = b"b" + batch_request.encode()
    elif response_id:
        key = b"r" + service.encode() + b"\0" + response_id.encode()
    else:
        key = b"s" + trace_id + span_id
    return blake2b(key, digest_size=16).hexdigest()


def batch_request(provider: str, attrs: dict[Any, Any]) -> str:
    """provider, batch id (or, when the reader did not know it, the result file's id) and custom id, or ""."""
    custom_id = attrs.get(LLMSIGHT_BATCH_CUSTOM_ID)
    if not isinstance(custom_id, str) or not custom_id:
        return ""
    batch_id = attrs.get(LLMSIGHT_BATCH_ID)
    if isinstance(batch_id, str) and batch_id:
        return f"{provider}\0{batch_id}\0{custom_id}"
    file_id = attrs.get(LLMSIGHT_BATCH_FILE_ID)
    if isinstance(file_id, str) and file_id:
        return f"{provider}\0file:{file_id}\0{custom_id}"
    return ""


@dataclass(slots=True)
class _Tokens:
    """A span's token counts in llmsight's semantics (input includes cache, output includes reasoning)."""

    input: int
    output: int
    cache_read: int
    cache_write: int
    cache_write_1h: int
    reasoning: int


def _count(value: Any, name: str) -> int | None:
    """A token count: the common case (a sane int) inline, anything else checked by `_tokens`."""
    if type(value) is int and 0 <= value <= MAX_TOKENS:
        return value
    return _tokens(value, name)


def _usage(source: Source, provider: str, values: tuple[Any, ...], notes: list[str]) -> _Tokens:
    """Token counts read with the source's semantics (sources.py). A count that cannot be right as reported
    is corrected the only way it can be and noted: the span is kept whatever its numbers."""
    input_raw, output, cache_read, cache_write, cache_write_1h, reasoning, total = values
    input_tokens = _count(input_raw, v.INPUT_TOKENS[0])
    tokens = _Tokens(
        input=0, output=_count(output, v.OUTPUT_TOKENS[0]) or 0,
        cache_read=_count(cache_read, v.CACHE_READ[0]) or 0, cache_write=_count(cache_write, v.CACHE_WRITE[0]) or 0,
        cache_write_1h=_count(cache_write_1h, v.CACHE_WRITE_1H[0]) or 0,
        reasoning=_count(reasoning, v.REASONING[0]) or 0,
    )
    total_tokens = _count(total, v.TOTAL_TOKENS[0]) if total is not None else None
    cached = tokens.cache_read + tokens.cache_write
    if input_tokens is None:
        if cached:
            notes.append("source reported no input_tokens; input counts cache tokens only")
        tokens.input = cached
    elif not source.input_includes_cache(provider):
        tokens.input = input_tokens + cached
    elif input_tokens < cached:  # the safety net: only an exclusive count can be smaller
        notes.append("input_tokens excluded cache tokens; added back")
        tokens.input = input_tokens + cached
    else:
        tokens.input = input_tokens
    if provider in source.output_from_total_for and total_tokens is not None and input_tokens is not None:
        full = total_tokens - input_tokens  # the total keeps the thoughts the output count leaves out
        if full > tokens.output:
            tokens.reasoning = max(tokens.reasoning, full - tokens.output)
            tokens.output = full
    elif provider in source.output_excludes_reasoning_for:
        tokens.output += tokens.reasoning
    if tokens.reasoning > tokens.output:
        notes.append(f"output_tokens ({tokens.output}) excluded reasoning tokens ({tokens.reasoning}); added")
        tokens.output += tokens.reasoning
    if tokens.cache_write_1h > tokens.cache_write:
        notes.append(f"cache writes ({tokens.cache_write}) excluded 1-hour writes ({tokens.cache_write_1h}); added")
        tokens.input += tokens.cache_write_1h - tokens.cache_write if input_tokens is not None else 0
        tokens.cache_write = tokens.cache_write_1h
    return tokens


def _raw_usage_into(values: list[Any], raw_usage: Any) -> None:
    """Logfire: the usage counts the span's attributes lack, from `gen_ai.usage.raw`. `values` is
    [cache_read, cache_write, cache_write_1h, reasoning, service_tier], filled where None."""
    raw = _raw_usage(raw_usage)
    for index, key in enumerate(("cache_read", "cache_write", "cache_write_1h", "reasoning", "service_tier")):
        if values[index] is None:
            values[index] = raw[key]


_MAX_OUTPUT_JSON = 1 << 20


def _output_response_id(output: Any) -> str:
    """The provider's id in a response serialised as JSON (OpenInference's `output.value`): `id` (OpenAI,
    Anthropic, Mistral) or `response_id` (Gemini); "" when there is none."""
    if not isinstance(output, str) or len(output) > _MAX_OUTPUT_JSON or not output.startswith("{"):
        return ""
    try:
        response = json.loads(output)
    except ValueError:
        return ""
    found = response.get("id") or response.get("response_id") if isinstance(response, dict) else None
    return _text(found) if isinstance(found, str) else ""


def _finish_reason(finish: Any) -> str:
    if isinstance(finish, str) and finish.startswith("["):  # Logfire: a JSON array in a string
        try:
            finish = json.loads(finish)
        except ValueError:
            pass
    if isinstance(finish, (list, tuple)):
        finish = finish[0] if finish else ""
    return _text(finish)


def _model(provider: str, model: str) -> str:
    """A Bedrock model id without its vendor (OpenLLMetry's `nova-lite-v1:0`) gets it back, so it is priced."""
    if provider == providers.AWS_BEDROCK.name and model.startswith(_BARE_BEDROCK_FAMILIES):
        return next(vendor for prefix, vendor in v.BEDROCK_BARE_MODEL_VENDORS.items() if model.startswith(prefix)) + model
    return model


def _extra_attributes(attrs: dict[Any, Any], plan: _KeyPlan) -> dict[str, str]:
    extra: dict[str, str] = {}
    for key in plan.extra_keys[:MAX_EXTRA_ATTRIBUTES]:
        value = attrs[key]
        text = value if isinstance(value, str) else repr(value)
        extra[key[:MAX_STRING]] = text[:MAX_ATTRIBUTE_VALUE]
    return extra


def _server(source: Source, provider: str, attrs: dict[Any, Any], extra: dict[str, str],
            provider_hosts: DeclaredHosts) -> str:
    """Where the call went (`server.address` in `extra`, fixed up) and the provider that follows from it."""
    host, port = extra.get(SERVER_ADDRESS), attrs.get(SERVER_PORT)
    if host is not None and host.count(":") == 1:  # mistralai's built-in spans say "host:port"
        name, _, number = host.partition(":")
        if number.isdigit():
            host = extra[SERVER_ADDRESS] = name
            port = int(number)
    if host is not None and host in source.placeholder_hosts:  # not a server: the provider names the price
        del extra[SERVER_ADDRESS]
        _note(extra, f"server.address {host} is the source's placeholder, not the endpoint; left out")
        host = None
    url_host, url_port = _address_of(extra[_BASE_URL]) if _BASE_URL in extra else ("", None)
    if host is None and url_host:  # the pricer and the provider rule below go by the host
        host = extra[SERVER_ADDRESS] = url_host
    if provider == providers.OPENAI.name and host and source is not LLMSIGHT and not source.gateway:
        # Peers name every OpenAI-SDK call "openai", wherever it went: named by the host with llmsight's own rule
        # (llmsight/provider_hosts.py), so one call has one provider whichever instrumentation traced it.
        # llmsight's spans were named in the app, under the app's declarations.
        return provider_for(host, port if type(port) is int else url_port, False, provider_hosts)
    return provider


def _content(attrs: dict[Any, Any], plan: _KeyPlan) -> dict[str, str]:
    content: dict[str, str] = {}
    for key in plan.content_keys[:MAX_CONTENT_ATTRIBUTES]:
        value = attrs[key]
        content[key[:MAX_STRING]] = (value if isinstance(value, str) else repr(value))[:MAX_CONTENT_VALUE]
    return content


def normalise_span(
    span: Any, attrs: dict[Any, Any], plan: _KeyPlan, service: str, environment: str, scope: str,
    provider_hosts: DeclaredHosts = (),
) -> CallRecord:
    attrs[_ABSENT] = None
    (
        provider_raw, operation_raw, request_model, response_model,
        input_tokens, output_tokens, total_tokens, cache_read, cache_write, cache_write_1h, reasoning,
        finish, service_tier, ttft, streaming, retries, http_status, error_type,
        model_tier, completed, task, prompt_name, prompt_version, prefix_hash, tenant, user_id, session_id,
        response_id, request_id, raw_usage, span_kind, inside_call, output_value,
    ) = plan.values(attrs)
    source = source_of(scope)
    if inside_call is not None and source is not LLMSIGHT:
        raise NotACall  # the same call as the llmsight span it ran inside (llmsight/_inner_spans.py)
    if span_kind is not None and str(span_kind).upper() not in _CALL_SPAN_KINDS:
        raise NotACall  # OpenInference: a chain, agent, tool… span around calls, not a call
    if input_tokens is None and output_tokens is None and span.status.code != 2 and (
            source.usage_free_spans_are_halves or gateway.baggage_only(attrs)):
        raise NotACall
    if source.usage_in_raw_json and raw_usage is not None:
        filled = [cache_read, cache_write, cache_write_1h, reasoning, service_tier]
        _raw_usage_into(filled, raw_usage)
        cache_read, cache_write, cache_write_1h, reasoning, service_tier = filled
    provider_raw = _text(provider_raw).lower()
    operation_raw = _text(operation_raw).lower()
    request_model = _text(request_model)
    routed = source.gateway or gateway.PROVIDER_MODEL in attrs  # LiteLLM's span, or the app's through its proxy
    asked = request_model  # the name the app asked for: LiteLLM answers with it as the response's model
    if routed:  # the provider and model the proxy routed to
        provider_raw, request_model = gateway.upstream(attrs, provider_raw, request_model)
    if source.gateway:  # its operation names, its usage object
        operation_raw = gateway.OPERATIONS.get(operation_raw, operation_raw)
        usage = gateway.usage_object(attrs)
        cache_read = usage.get("cache_read") if cache_read is None else cache_read
        cache_write = usage.get("cache_write") if cache_write is None else cache_write
        reasoning = usage.get("reasoning") if reasoning is None else reasoning
    provider = _PROVIDER_NAMES.get(provider_raw, provider_raw)
    operation = _OPERATION_NAMES.get(operation_raw, operation_raw or "chat")
    request_model = _model(provider, request_model)
    response_model = _model(provider, _text(response_model))
    if routed and response_model in (asked, attrs.get(gateway.MODEL_GROUP)):  # the alias, not the provider's model
        response_model = request_model
    notes: list[str] = []
    tokens = _usage(source, provider, (input_tokens, output_tokens, cache_read, cache_write, cache_write_1h,
                                       reasoning, total_tokens), notes)

    if streaming is None and source.usage_free_spans_are_halves:
        streaming = span.name.startswith("streaming response")  # Logfire's stream span: the only sign
    streaming = streaming if isinstance(streaming, bool) else str(streaming).lower() == "true"
    start_ns, end_ns = span.start_time_unix_nano, span.end_time_unix_nano
    if start_ns <= 0 or end_ns < start_ns:
        raise InvalidSpan("span start/end times are missing or reversed")
    extra = _extra_attributes(attrs, plan)
    if routed and not source.gateway:
        gateway.behind_proxy(extra)
    if source.gateway:
        gateway.attribution(attrs, extra)
        tenant = tenant or extra.get(gateway.TEAM_ID)
        user_id = user_id or extra.get(gateway.END_USER)
    for note in notes:
        _note(extra, note)
    if ttft is not None:
        # Only a stream has a first chunk (OpenLIT also sets it for non-streams: the whole response time).
        ttft = _first_chunk_seconds(ttft, (end_ns - start_ns) / 1e9, extra) if streaming else None
    status_code = span.status.code  # 2 = ERROR
    error_type = _text(error_type)
    model_tier = _text(model_tier) or _TIERS.tier_of(response_model or request_model)
    provider = _server(source, provider, attrs, extra, provider_hosts)
    if len(span.parent_span_id) == 8:  # followed when this span or its parent has no id (merge.py)
        extra[PARENT_SPAN] = span.parent_span_id.hex()
    bedrock = provider == providers.AWS_BEDROCK.name
    if response_id is None and output_value is not None and source.response_id_in_output and not bedrock:
        # Bedrock's identity is the request id, which the output lacks: its spans are joined by parentage.
        response_id = _output_response_id(output_value)
        if response_id:
            extra[v.RESPONSE_ID[0]] = response_id
    # Bedrock returns no response id: its request id (x-amzn-requestid) is the call's identity there.
    identity = _text(request_id) if bedrock and request_id else _text(response_id)
    if identity and response_id and identity != response_id:
        # InvokeModel's message id too: OpenLLMetry's span of its stream records that id alone (merge.py).
        extra[RESPONSE_CALL] = call_id(service, span.trace_id, span.span_id, _text(response_id))

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
        service_tier=_text(service_tier).lower(),
        streaming=streaming,
        stream_completed=completed if isinstance(completed, bool) else True,
        status="error" if status_code == 2 or error_type else "ok",
        error_type=error_type,
        http_status=http_status if type(http_status) is int and 0 <= http_status < 1000 else 0,
        retries=retries if type(retries) is int and 0 <= retries < 10_000 else 0,
        input_tokens=tokens.input,
        cache_read_tokens=tokens.cache_read,
        cache_write_tokens=tokens.cache_write,
        cache_write_1h_tokens=tokens.cache_write_1h,
        output_tokens=tokens.output,
        reasoning_tokens=tokens.reasoning,
        ttft_ms=ttft * 1000 if ttft is not None else None,
        duration_ms=(end_ns - start_ns) / 1e6,
        # costs and cache_savings: the pricer fills them in
        task=_text(task),
        prompt_name=_text(prompt_name),
        prompt_version=_text(prompt_version),
        prompt_prefix_hash=_text(prefix_hash),
        tenant=_text(tenant),
        finish_reason=_finish_reason(finish),
        instrumentation=_text(scope),
        attributes=extra,
        user_id=_text(user_id),
        session_id=_text(session_id),
        content=_content(attrs, plan),
        call_id=call_id(service, span.trace_id, span.span_id, identity, batch_request(provider, attrs)),
    )


_CALL_SPAN_KINDS = frozenset({"LLM", "EMBEDDING"})
_BARE_BEDROCK_FAMILIES = tuple(v.BEDROCK_BARE_MODEL_VENDORS)
_PROVIDER_NAMES = v.PROVIDER_NAMES
_OPERATION_NAMES = v.OPERATION_NAMES
_BASE_URL = v.BASE_URL[0]


@functools.lru_cache(maxsize=1024)
def _address_of(url: str) -> tuple[str, int | None]:
    """(host, explicit port) of a base URL: "" for a URL that does not parse, None for no port or a bad one."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "", None
    try:
        return host, parts.port
    except ValueError:  # "host:99999" still names its host
        return host, None


def normalise_request(
    request: Any, *, default_service: str = "unknown_service", provider_hosts: DeclaredHosts = (), max_errors: int = 5
) -> NormaliseResult:
    """All GenAI spans of a parsed `ExportTraceServiceRequest` (see normalise_groups)."""
    groups = ((resource_spans.resource, scope_spans.scope.name, scope_spans.spans)
              for resource_spans in request.resource_spans for scope_spans in resource_spans.scope_spans)
    return normalise_groups(groups, default_service=default_service, provider_hosts=provider_hosts, max_errors=max_errors)


def normalise_groups(
    groups: Iterable[SpanGroup], *, default_service: str = "unknown_service", provider_hosts: DeclaredHosts = (),
    max_errors: int = 5,
) -> NormaliseResult:
    """All GenAI spans of a request's (resource, scope name, spans) groups; invalid ones are counted with their
    reason. `provider_hosts`: the collector's declarations of OpenAI-compatible hosts (CollectorSettings.provider_hosts).
    Errors raised while iterating the spans (a decoder's limits) propagate: the request is refused whole."""
    result = NormaliseResult()
    plans, append = _PLANS, result.records.append
    last_resource: Any = None
    service = environment = service_version = ""
    for resource_object, scope, spans in groups:
        if resource_object is not last_resource:
            last_resource = resource_object
            resource = _attributes(resource_object.attributes)
            service = _text(resource.get("service.name")) or default_service
            environment = _text(resource.get("deployment.environment.name") or resource.get("deployment.environment"))
            service_version = _text(resource.get("service.version"))
        for span in spans:
            attrs = _attributes(span.attributes)
            plan = plans.get(tuple(attrs))
            if not plan.is_genai:
                result.ignored += 1
                continue
            try:
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    raise InvalidSpan("trace_id must be 16 bytes and span_id 8 bytes")
                append(normalise_span(span, attrs, plan, service, environment, scope, provider_hosts))
                if service_version:  # deploy markers on the dashboards read it from `attributes`
                    result.records[-1].attributes["service.version"] = service_version
            except NotACall:
                result.ignored += 1
            except Exception as exc:  # noqa: BLE001 - one bad span never costs the others in its request
                result.rejected += 1
                if len(result.errors) < max_errors:
                    reason = exc if isinstance(exc, InvalidSpan) else f"cannot be normalised ({type(exc).__name__}: {exc})"
                    result.errors.append(f"span {span.span_id.hex() or '?'} ({span.name[:60]}): {reason}"[:300])
    result.records, result.merged = merge_calls(result.records)
    return result

"""One instrumented LLM API call: its CLIENT span and everything learnt about it until the span ends.

Provider instrumentors create an `LLMCall` before the SDK issues the request, feed it what they learn
(first content chunk, usage, response metadata, retries, HTTP status) and end it exactly once. Every
telemetry step is guarded: a bug here must never reach the app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from llmsight import attributes as attr

logger = logging.getLogger("llmsight")

# The call whose SDK request is in flight in this context: the retry / HTTP-status hooks on the SDK's
# base client find it here. Set only for the duration of the synchronous (or awaited) SDK call.
current_call: ContextVar[LLMCall | None] = ContextVar("llmsight_current_call", default=None)


@dataclass(slots=True)
class Usage:
    """Token usage in llmsight's semantics (ARCHITECTURE.md): input INCLUDES cache reads and writes,
    output INCLUDES reasoning. None means the provider did not report the field."""

    input_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None

    def as_attributes(self) -> dict[str, int]:
        pairs = (
            (attr.GEN_AI_USAGE_INPUT_TOKENS, self.input_tokens),
            (attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, self.cache_read_tokens),
            (attr.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, self.cache_write_tokens),
            (attr.LLMSIGHT_CACHE_WRITE_1H_INPUT_TOKENS, self.cache_write_1h_tokens),
            (attr.GEN_AI_USAGE_OUTPUT_TOKENS, self.output_tokens),
            (attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, self.reasoning_tokens),
        )
        return {name: value for name, value in pairs if value is not None}


def response_attributes(usage: Usage | None, model: str | None, response_id: str | None,
                        finish_reasons: list[str] | None) -> dict[str, Any]:
    """What a response says of itself, as span attributes: its usage, model, id and finish reasons, those it gave."""
    values: dict[str, Any] = usage.as_attributes() if usage is not None else {}
    if model:
        values[attr.GEN_AI_RESPONSE_MODEL] = model
    if response_id:
        values[attr.GEN_AI_RESPONSE_ID] = response_id
    if finish_reasons:
        values[attr.GEN_AI_RESPONSE_FINISH_REASONS] = finish_reasons
    return values


class LLMCall:
    """The span of one API call (every retry and the whole stream included)."""

    __slots__ = (
        "span",
        "context",
        "streaming",
        "start_ns",
        "start_time_ns",
        "first_chunk_ns",
        "usage",
        "response_model",
        "response_id",
        "finish_reasons",
        "service_tier",
        "retries",
        "http_status",
        "extra_attributes",
        "ended",
    )

    def __init__(self, tracer: Tracer, name: str, attributes: Mapping[str, Any], *, streaming: bool) -> None:
        # Measured before the request is issued: TTFT includes connection set-up, queueing and retries,
        # which is what the user waits for.
        # The span's start and end are taken from the same monotonic clock as TTFT (anchored to the wall clock
        # once), so TTFT can never exceed the span's duration, whatever the wall clock does meanwhile.
        self.start_ns = time.perf_counter_ns()
        self.start_time_ns = time.time_ns()
        self.span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes, start_time=self.start_time_ns)
        self.context = trace.set_span_in_context(self.span)
        self.streaming = streaming
        self.first_chunk_ns = 0
        self.usage: Usage | None = None
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.finish_reasons: list[str] | None = None
        self.service_tier: str | None = None
        self.retries = 0
        self.http_status = 0
        self.extra_attributes: dict[str, Any] | None = None
        self.ended = False

    def mark_first_chunk(self) -> None:
        if not self.first_chunk_ns:
            self.first_chunk_ns = time.perf_counter_ns()

    def record_retry(self, status_code: int | None, retry_after: str | None) -> None:
        """An attempt failed and the SDK will retry it: count it and keep its details as a span event."""
        self.retries += 1
        details: dict[str, Any] = {attr.LLMSIGHT_RETRY_ATTEMPT: self.retries}
        if status_code:
            self.http_status = status_code
            details[attr.HTTP_RESPONSE_STATUS_CODE] = status_code
        else:
            details[attr.ERROR_TYPE] = "no_response"  # timeout or connection error
        if retry_after:
            try:
                details[attr.LLMSIGHT_RETRY_AFTER] = float(retry_after)
            except ValueError:
                pass  # an HTTP date: not worth parsing here
        self.span.add_event(attr.LLMSIGHT_RETRY_EVENT, details)

    def set_attribute(self, key: str, value: Any) -> None:
        if value is None:
            return
        if self.extra_attributes is None:
            self.extra_attributes = {}
        self.extra_attributes[key] = value

    def end(self, *, error: BaseException | None = None, completed: bool | None = None) -> None:
        """End the span once; later calls are no-ops. `completed` is for streams (False: abandoned)."""
        if self.ended:
            return
        self.ended = True
        try:
            self._write_attributes(error, completed)
        except Exception:  # never into the app
            logger.debug("llmsight: failed to record call attributes", exc_info=True)
        finally:
            try:
                self.span.end(end_time=self.start_time_ns + time.perf_counter_ns() - self.start_ns)
            except Exception:
                logger.debug("llmsight: failed to end span", exc_info=True)

    def _write_attributes(self, error: BaseException | None, completed: bool | None) -> None:
        values = response_attributes(self.usage, self.response_model, self.response_id, self.finish_reasons)
        if self.service_tier:
            values[attr.LLMSIGHT_SERVICE_TIER] = self.service_tier
        if self.first_chunk_ns and self.streaming:
            values[attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (self.first_chunk_ns - self.start_ns) / 1e9
        values[attr.LLMSIGHT_RETRIES] = self.retries
        status = self.http_status or getattr(error, "status_code", 0) or 0
        if status:
            values[attr.HTTP_RESPONSE_STATUS_CODE] = status
        if self.streaming:
            values[attr.LLMSIGHT_STREAM_COMPLETED] = bool(completed) if completed is not None else error is None
        if self.extra_attributes:
            values.update(self.extra_attributes)
        if error is not None:
            values[attr.ERROR_TYPE] = type(error).__qualname__
            self.span.set_status(Status(StatusCode.ERROR, str(error)[:512]))
        self.span.set_attributes(values)
        share_identity(self.span, values)

    def in_flight(self) -> InFlight:
        """`with call.in_flight(): response = send()` — the call is current while the SDK sends the request
        (retry hooks find it; opt-in HTTP attempt spans become its children) and ends if sending raises.
        Enter and exit in the same frame, never across a yield."""
        return InFlight(self)


class InFlight:
    """The part of every call's lifecycle between start and response, written once for every wrapper.
    A plain class, not @contextmanager: it runs on every LLM call."""

    __slots__ = ("call", "_call_token", "_context_token")

    def __init__(self, call: LLMCall) -> None:
        self.call = call

    def __enter__(self) -> LLMCall:
        self._call_token = current_call.set(self.call)
        self._context_token = otel_context.attach(self.call.context)
        return self.call

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is not None:
                self.call.end(error=exc)
        finally:
            otel_context.detach(self._context_token)
            current_call.reset(self._call_token)


def start_call(start: Callable[..., LLMCall], *args: Any, **kwargs: Any) -> LLMCall | None:
    """`start(*args, **kwargs)` (an operation's start); None, and the caller makes the bare SDK call, if
    telemetry fails."""
    try:
        return start(*args, **kwargs)
    except Exception:
        logger.debug("llmsight: could not start a call span", exc_info=True)
        return None


_IDENTITY = (attr.GEN_AI_RESPONSE_ID, attr.AWS_REQUEST_ID)
_MODEL_KEYS = (attr.GEN_AI_REQUEST_MODEL, "llm.model_name")  # the GenAI semconv's and OpenInference's


def share_identity(span: Any, values: dict[str, Any]) -> None:
    """Another instrumentation's span of this same call, open around ours (OpenLLMetry's or OpenInference's
    wrapper is the current span while the SDK runs), often lacks the id the provider returned (OpenInference
    records none; on Bedrock only the request id identifies a call): it gets ours, so the collector joins the two
    spans into one row. Only the span directly around ours, and only when it names the same model."""
    outer = trace.get_current_span()
    attributes = getattr(outer, "attributes", None)  # an SDK span's attributes; other spans have none
    parent = getattr(span, "parent", None)
    if not attributes or parent is None or not outer.is_recording():
        return
    if outer.get_span_context().span_id != parent.span_id:
        return
    model = getattr(span, "attributes", {}).get(attr.GEN_AI_REQUEST_MODEL) or ""
    outer_model = next((attributes[key] for key in _MODEL_KEYS if key in attributes), None)
    if not isinstance(outer_model, str) or not outer_model or not model.endswith(outer_model):
        return
    for key in _IDENTITY:
        if key in values and key not in attributes:
            outer.set_attribute(key, values[key])

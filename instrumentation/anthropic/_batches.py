"""Anthropic Message Batches: `messages.batches.create` / `retrieve` / `list` / `cancel` spans, and one call span per
result the app reads from `messages.batches.results(id)` (docs/batch.md).

`results()` retrieves the batch first (through the patched `retrieve`), so the batch's `ended_at` is known: every
result's call is timed at it. The decoder the app iterates is the SDK's own behind the same transparent proxy as
streams: `succeeded` results become calls with their `message.usage`; `errored`, `canceled` and `expired` ones
are recorded as failed calls without usage (they cost nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sized
from typing import Any

from opentelemetry.trace import Tracer

from llmsight import attributes as attr
from llmsight._batch import (
    REGISTRY,
    BatchApi,
    BatchInfo,
    BatchResult,
    emit_result,
    prefixed,
    without_provider,
)
from llmsight._call import LLMCall, start_call
from llmsight._common import CallContext, given
from llmsight._streams import AsyncStreamProxy, SyncStreamProxy
from llmsight.anthropic._operations import server_attributes
from llmsight.anthropic._usage import message_usage

_COUNT_FIELDS = ("processing", "succeeded", "errored", "canceled", "expired")


def _seconds(moment: Any) -> float | None:
    return moment.timestamp() if moment is not None else None


class AnthropicBatches(BatchApi):
    batch_id_keyword = "message_batch_id"

    def server(self, instance: Any) -> dict[str, Any]:
        return server_attributes(instance)

    def submission(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {attr.LLMSIGHT_BATCH_ENDPOINT: "/v1/messages"}
        requests = kwargs.get("requests")
        if given(requests) and isinstance(requests, Sized):
            values[attr.LLMSIGHT_BATCH_REQUEST_COUNT] = len(requests)
        return values

    def batch_attributes(self, batch: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            attr.LLMSIGHT_BATCH_ID: batch.id,
            attr.LLMSIGHT_BATCH_STATUS: batch.processing_status,
            attr.LLMSIGHT_BATCH_CREATED_AT: _seconds(batch.created_at),
            attr.LLMSIGHT_BATCH_COMPLETED_AT: _seconds(batch.ended_at),
        }
        values.update(prefixed(attr.LLMSIGHT_BATCH_REQUESTS_PREFIX, batch.request_counts, _COUNT_FIELDS))
        return {k: v for k, v in values.items() if v is not None}

    def learn(self, provider: str, batch: Any, tags: Mapping[str, str] | None = None) -> BatchInfo:
        ended = _seconds(batch.ended_at)
        return REGISTRY.learn(BatchInfo(
            provider=provider, batch_id=batch.id, completed_at_ns=int(ended * 1e9) if ended else None,
            created_at_ns=int(batch.created_at.timestamp() * 1e9) if batch.created_at else None, tags=tags,
        ))


def read_result(item: Any) -> BatchResult:
    """One `MessageBatchIndividualResponse` → the request's outcome, usage in llmsight's semantics."""
    result = item.result
    outcome = BatchResult(custom_id=item.custom_id, operation=attr.OPERATION_CHAT, result=result.type)
    if result.type == "succeeded":
        message = result.message
        outcome.usage, _ = message_usage(message.usage)
        outcome.response_model = message.model
        outcome.response_id = message.id
        if message.stop_reason:
            outcome.finish_reasons = [message.stop_reason]
        return outcome
    if result.type == "errored":
        error = getattr(result.error, "error", None)
        outcome.error_type = str(getattr(error, "type", None) or "errored")
        outcome.error_message = str(getattr(error, "message", None) or "")
    else:  # canceled, expired: never processed
        outcome.error_type = f"batch_{result.type}"
    return outcome


class ResultsAccumulator:
    """Each result the app reads becomes a call span, as it is read."""

    __slots__ = ("tracer", "base", "info", "batch_id", "call", "count")

    def __init__(self, tracer: Tracer, base: dict[str, Any], info: BatchInfo | None, batch_id: str,
                 call: LLMCall) -> None:
        self.tracer = tracer
        self.base = base
        self.info = info
        self.batch_id = batch_id
        self.call = call
        self.count = 0

    def on_item(self, item: Any) -> None:
        self.count += 1
        emit_result(self.tracer, self.base, self.info, self.batch_id, "", read_result(item), self.call.context)

    def finish(self, call: LLMCall) -> None:
        call.set_attribute(attr.LLMSIGHT_BATCH_LINES, self.count)


def _start_read(tracer: Tracer, instance: Any, batch_id: str) -> LLMCall:
    values = without_provider(server_attributes(instance))
    values[attr.LLMSIGHT_BATCH_ID] = batch_id
    return LLMCall(tracer, "batch.results", values, streaming=True)


class _ResultsRead:
    """One `results(batch_id)` call: its span, and the decoder's proxy that makes each result the app reads a call."""

    __slots__ = ("ctx", "tracer", "instance", "batch_id", "call")

    def __init__(self, ctx: CallContext, tracer: Tracer, instance: Any, batch_id: str, call: LLMCall) -> None:
        self.ctx, self.tracer, self.instance, self.batch_id, self.call = ctx, tracer, instance, batch_id, call

    def proxy(self, decoder: Any, proxy: type) -> Any:
        try:
            base = server_attributes(self.instance)
            provider = base[attr.GEN_AI_PROVIDER_NAME]
            base.update(self.ctx.key_hint_attributes(provider, self.instance._client))  # the bill's key
            info = REGISTRY.get(provider, self.batch_id)  # results() has just retrieved it
            return proxy(decoder, self.call, ResultsAccumulator(self.tracer, base, info, self.batch_id, self.call))
        except Exception:
            self.call.end()
            return decoder


def _begin_read(ctx: CallContext, tracer: Tracer, instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> _ResultsRead | None:
    """The read's span; None (the SDK call runs bare) when telemetry fails or no batch id was given."""
    value = args[0] if args else kwargs.get("message_batch_id")
    batch_id = value if isinstance(value, str) else ""
    call = start_call(_start_read, tracer, instance, batch_id)
    if call is None:
        return None
    if not batch_id:
        call.end()
        return None
    return _ResultsRead(ctx, tracer, instance, batch_id, call)


def results_wrapper(ctx: CallContext, get_tracer: Callable[[], Tracer]) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        read = _begin_read(ctx, get_tracer(), instance, args, kwargs)
        if read is None:
            return wrapped(*args, **kwargs)
        with read.call.in_flight():
            decoder = wrapped(*args, **kwargs)
        return read.proxy(decoder, SyncStreamProxy)

    return wrapper


def async_results_wrapper(ctx: CallContext, get_tracer: Callable[[], Tracer]) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        async def run() -> Any:
            read = _begin_read(ctx, get_tracer(), instance, args, kwargs)
            if read is None:
                return await wrapped(*args, **kwargs)
            with read.call.in_flight():
                decoder = await wrapped(*args, **kwargs)
            return read.proxy(decoder, AsyncStreamProxy)

        return run()

    return wrapper

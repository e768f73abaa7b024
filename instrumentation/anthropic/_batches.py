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

from opentelemetry.trace import Span, Tracer

from llmsight import attributes as attr
from llmsight import providers
from llmsight._batch import (
    REGISTRY,
    BatchInfo,
    BatchResult,
    ManagementCall,
    emit_result,
    learn_listed,
    prefixed,
)
from llmsight._call import LLMCall, start_call
from llmsight._common import CallContext, given
from llmsight._streams import AsyncStreamProxy, SyncStreamProxy
from llmsight.anthropic._operations import CLOUD_PROVIDERS
from llmsight.anthropic._usage import message_usage

_COUNT_FIELDS = ("processing", "succeeded", "errored", "canceled", "expired")


def server_attributes(instance: Any) -> dict[str, Any]:
    client = instance._client
    values: dict[str, Any] = {attr.GEN_AI_PROVIDER_NAME: CLOUD_PROVIDERS.get(type(client).__name__, providers.ANTHROPIC.name)}
    url = client.base_url
    if url.host:
        values[attr.SERVER_ADDRESS] = url.host
    if url.port:
        values[attr.SERVER_PORT] = url.port
    return values


def _seconds(moment: Any) -> float | None:
    return moment.timestamp() if moment is not None else None


def learn(provider: str, batch: Any, tags: Mapping[str, str] | None = None) -> BatchInfo:
    ended = _seconds(batch.ended_at)
    return REGISTRY.learn(BatchInfo(
        provider=provider, batch_id=batch.id, completed_at_ns=int(ended * 1e9) if ended else None,
        created_at_ns=int(batch.created_at.timestamp() * 1e9) if batch.created_at else None, tags=tags,
    ))


def batch_attributes(batch: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        attr.LLMSIGHT_BATCH_ID: batch.id,
        attr.LLMSIGHT_BATCH_STATUS: batch.processing_status,
        attr.LLMSIGHT_BATCH_CREATED_AT: _seconds(batch.created_at),
        attr.LLMSIGHT_BATCH_COMPLETED_AT: _seconds(batch.ended_at),
    }
    values.update(prefixed(attr.LLMSIGHT_BATCH_REQUESTS_PREFIX, batch.request_counts, _COUNT_FIELDS))
    return {k: v for k, v in values.items() if v is not None}


class CreateBatch(ManagementCall):
    name = "batch.create"

    def start(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        values = server_attributes(instance)
        values[attr.GEN_AI_OPERATION_NAME] = attr.OPERATION_BATCH_CREATE
        values[attr.LLMSIGHT_BATCH_ENDPOINT] = "/v1/messages"
        requests = kwargs.get("requests")
        if given(requests) and isinstance(requests, Sized):
            values[attr.LLMSIGHT_BATCH_REQUEST_COUNT] = len(requests)
        return values

    def on_result(self, span: Span, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any,
                  tags: Mapping[str, str]) -> None:
        span.set_attributes({**batch_attributes(result), **tags})
        learn(server_attributes(instance)[attr.GEN_AI_PROVIDER_NAME], result, dict(tags))


class BatchState(ManagementCall):
    def __init__(self, name: str) -> None:
        self.name = name

    def start(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        values = {k: v for k, v in server_attributes(instance).items() if k != attr.GEN_AI_PROVIDER_NAME}
        batch_id = args[0] if args else kwargs.get("message_batch_id")
        if isinstance(batch_id, str):
            values[attr.LLMSIGHT_BATCH_ID] = batch_id
        return values

    def on_result(self, span: Span, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any,
                  tags: Mapping[str, str]) -> None:
        span.set_attributes(batch_attributes(result))
        learn(server_attributes(instance)[attr.GEN_AI_PROVIDER_NAME], result)


class ListBatches(BatchState):
    def on_result(self, span: Span, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any,
                  tags: Mapping[str, str]) -> None:
        provider = server_attributes(instance)[attr.GEN_AI_PROVIDER_NAME]
        learn_listed(span, result, lambda batch: learn(provider, batch))


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
    values = {k: v for k, v in server_attributes(instance).items() if k != attr.GEN_AI_PROVIDER_NAME}
    values[attr.LLMSIGHT_BATCH_ID] = batch_id
    return LLMCall(tracer, "batch.results", values, streaming=True)


def _batch_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    value = args[0] if args else kwargs.get("message_batch_id")
    return value if isinstance(value, str) else ""


def _proxy(ctx: CallContext, tracer: Tracer, instance: Any, batch_id: str, call: LLMCall, decoder: Any,
           proxy: type) -> Any:
    try:
        base = server_attributes(instance)
        base.update(ctx.key_hint_attributes(base[attr.GEN_AI_PROVIDER_NAME], instance._client))  # the bill's key
        info = REGISTRY.get(base[attr.GEN_AI_PROVIDER_NAME], batch_id)  # results() has just retrieved it
        return proxy(decoder, call, ResultsAccumulator(tracer, base, info, batch_id, call))
    except Exception:
        call.end()
        return decoder


def results_wrapper(ctx: CallContext, get_tracer: Callable[[], Tracer]) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        batch_id = _batch_id(args, kwargs)
        tracer = get_tracer()
        call = start_call(_start_read, tracer, instance, batch_id)
        if call is None or not batch_id:
            if call is not None:
                call.end()
            return wrapped(*args, **kwargs)
        with call.in_flight():
            decoder = wrapped(*args, **kwargs)
        return _proxy(ctx, tracer, instance, batch_id, call, decoder, SyncStreamProxy)

    return wrapper


def async_results_wrapper(ctx: CallContext, get_tracer: Callable[[], Tracer]) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        async def run() -> Any:
            batch_id = _batch_id(args, kwargs)
            tracer = get_tracer()
            call = start_call(_start_read, tracer, instance, batch_id)
            if call is None or not batch_id:
                if call is not None:
                    call.end()
                return await wrapped(*args, **kwargs)
            with call.in_flight():
                decoder = await wrapped(*args, **kwargs)
            return _proxy(ctx, tracer, instance, batch_id, call, decoder, AsyncStreamProxy)

        return run()

    return wrapper

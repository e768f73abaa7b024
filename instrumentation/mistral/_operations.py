"""The mistralai operations llmsight instruments: chat complete / stream (and async twins), embeddings."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Tracer

from llmsight import attributes as attr
from llmsight import providers
from llmsight._call import LLMCall, Usage
from llmsight._common import CallContext, given, url_attributes
from llmsight._operation_base import BaseOperation
from llmsight._streams import ResponseAccumulator
from llmsight.mistral._usage import chat_usage, service_tier
from llmsight.prefix_hash import prefix_hash

PROVIDER = providers.MISTRAL_AI.name
_STATIC_ROLES = ("system",)


def _server_attributes(sdk: Any) -> dict[str, Any]:
    values: dict[str, Any] = {attr.GEN_AI_PROVIDER_NAME: PROVIDER}
    values.update(url_attributes(lambda: sdk.sdk_configuration.get_server_details()[0]))
    return values


def _start(ctx: CallContext, tracer: Tracer, instance: Any, operation: str, kwargs: dict[str, Any],
           streaming: bool, extra: dict[str, Any]) -> LLMCall:
    model = kwargs.get("model")
    model = model if isinstance(model, str) else ""
    values = ctx.base_attributes(operation, model, streaming)
    values.update(_server_attributes(instance))
    values.update(extra)
    return LLMCall(tracer, f"{operation} {model}".rstrip(), values, streaming=streaming)


class ChatOperation(BaseOperation):
    """`Chat.complete` / `Chat.stream` (and `_async`); `parse` / `parse_stream` call these."""

    def __init__(self, ctx: CallContext, *, streaming: bool) -> None:
        super().__init__(ctx)
        self.streaming = streaming

    def start(self, tracer: Tracer, instance: Any, kwargs: dict[str, Any]) -> LLMCall:
        extra: dict[str, Any] = {}
        max_tokens, temperature = kwargs.get("max_tokens"), kwargs.get("temperature")
        if given(max_tokens) and type(max_tokens) is int:
            extra[attr.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        if given(temperature) and isinstance(temperature, (int, float)):
            extra[attr.GEN_AI_REQUEST_TEMPERATURE] = temperature
        messages = list(kwargs.get("messages") or ())
        static = [m for m in messages if isinstance(m, dict) and m.get("role") in _STATIC_ROLES]
        tools = kwargs.get("tools")
        extra[attr.LLMSIGHT_PROMPT_PREFIX_HASH] = prefix_hash(static, tools if given(tools) else None)
        captured = self.ctx.capture(messages)
        if captured is not None:
            extra[attr.GEN_AI_INPUT_MESSAGES] = captured
        return _start(self.ctx, tracer, instance, attr.OPERATION_CHAT, kwargs, self.streaming, extra)

    def on_response(self, call: LLMCall, response: Any) -> None:
        call.usage = chat_usage(response.usage)
        call.service_tier = service_tier(response.usage)
        call.response_model = response.model
        call.response_id = response.id
        reasons = [c.finish_reason for c in response.choices or () if isinstance(c.finish_reason, str)]
        if reasons:
            call.finish_reasons = reasons
        if self.ctx.settings.capture_content:
            call.set_attribute(attr.GEN_AI_OUTPUT_MESSAGES, self.ctx.capture([c.message for c in response.choices or ()]))

    def accumulator(self, call: LLMCall) -> ChatStreamAccumulator:
        return ChatStreamAccumulator(call)


class ChatStreamAccumulator(ResponseAccumulator):
    """`CompletionEvent`s: `.data` is a `CompletionChunk`; the final one carries usage and finish reason."""

    __slots__ = ()

    def on_item(self, event: Any) -> None:
        chunk = event.data
        if not self.call.first_chunk_ns:
            for choice in chunk.choices:
                delta = choice.delta
                if delta.content or given(delta.tool_calls) and delta.tool_calls:
                    self.call.mark_first_chunk()
                    break
        if self.id is None:
            self.id, self.model = chunk.id, chunk.model
        if given(chunk.usage) and chunk.usage is not None:
            self.usage = chunk.usage
        reasons = [c.finish_reason for c in chunk.choices if isinstance(c.finish_reason, str)]
        if reasons:
            self.reasons = reasons

    def write_usage(self, call: LLMCall) -> None:
        call.usage = chat_usage(self.usage)
        call.service_tier = service_tier(self.usage)


class EmbeddingsOperation(BaseOperation):
    def start(self, tracer: Tracer, instance: Any, kwargs: dict[str, Any]) -> LLMCall:
        return _start(self.ctx, tracer, instance, attr.OPERATION_EMBEDDINGS, kwargs, False, {})

    def on_response(self, call: LLMCall, response: Any) -> None:
        usage = response.usage
        call.usage = Usage(input_tokens=usage.prompt_tokens) if usage is not None else None
        call.response_model = response.model
        call.response_id = response.id

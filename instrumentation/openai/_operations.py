"""The OpenAI operations llmsight instruments: chat completions, responses, embeddings."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Tracer

from llmsight import attributes as attr
from llmsight._call import LLMCall
from llmsight._common import CallContext, given, sampling_attributes
from llmsight._operation_base import BaseOperation
from llmsight.openai._provider import client_attributes
from llmsight.openai._usage import chat_usage, embeddings_usage, responses_usage
from llmsight.prefix_hash import prefix_hash

_STATIC_ROLES = ("system", "developer")


def _start(
    ctx: CallContext, tracer: Tracer, instance: Any, operation: str, kwargs: dict[str, Any], extra: dict[str, Any]
) -> LLMCall:
    model = kwargs.get("model")
    model = model if isinstance(model, str) else ""
    streaming = kwargs.get("stream") is True
    values = ctx.base_attributes(operation, model, streaming)
    values.update(client_attributes(instance._client, ctx.provider_hosts))
    values.update(ctx.key_hint_attributes(values[attr.GEN_AI_PROVIDER_NAME], instance._client))
    values.update(extra)
    tier = kwargs.get("service_tier")
    if given(tier) and tier:
        values[attr.LLMSIGHT_SERVICE_TIER] = tier
    return LLMCall(tracer, f"{operation} {model}".rstrip(), values, streaming=streaming)


class ChatOperation(BaseOperation):
    """`chat.completions.create` / `.parse` (and `.stream`, which calls `create(stream=True)`)."""

    def prepare_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.ctx.settings.inject_stream_usage and kwargs.get("stream") is True and not given(
            kwargs.get("stream_options")
        ):
            return {**kwargs, "stream_options": {"include_usage": True}}
        return kwargs

    def start(self, tracer: Tracer, instance: Any, kwargs: dict[str, Any]) -> LLMCall:
        extra = sampling_attributes(kwargs, "max_completion_tokens", "max_tokens")
        messages = kwargs.get("messages") or ()
        static = [m for m in messages if isinstance(m, dict) and m.get("role") in _STATIC_ROLES]
        tools = kwargs.get("tools")
        extra[attr.LLMSIGHT_PROMPT_PREFIX_HASH] = prefix_hash(static, tools if given(tools) else None)
        captured = self.ctx.capture(list(messages))
        if captured is not None:
            extra[attr.GEN_AI_INPUT_MESSAGES] = captured
        return _start(self.ctx, tracer, instance, attr.OPERATION_CHAT, kwargs, extra)

    def on_response(self, call: LLMCall, response: Any) -> None:
        call.usage = chat_usage(response.usage)
        call.response_model = response.model
        call.response_id = response.id
        call.service_tier = response.service_tier
        call.finish_reasons = [c.finish_reason for c in response.choices if c.finish_reason]
        if self.ctx.settings.capture_content:
            call.set_attribute(attr.GEN_AI_OUTPUT_MESSAGES, self.ctx.capture([c.message for c in response.choices]))

    def accumulator(self, call: LLMCall) -> ChatStreamAccumulator:
        return ChatStreamAccumulator(call, self.ctx if self.ctx.settings.capture_content else None)


class ChatStreamAccumulator:
    # on_item runs once per streamed chunk: plain attribute reads only, the first-content check switched
    # off once it has fired.
    __slots__ = ("call", "ctx", "last", "usage", "finish_reasons", "text", "awaiting_first")

    def __init__(self, call: LLMCall, capture_ctx: CallContext | None) -> None:
        self.call = call
        self.ctx = capture_ctx
        self.last: Any = None
        self.usage: Any = None
        self.finish_reasons: list[str] = []
        self.text: list[str] = []
        self.awaiting_first = True

    def on_item(self, chunk: Any) -> None:
        self.last = chunk
        for choice in chunk.choices:
            if choice.finish_reason:
                self.finish_reasons.append(choice.finish_reason)
            if self.awaiting_first or self.ctx is not None:
                self._read_delta(choice.delta)
        if chunk.usage is not None:  # the include_usage chunk (empty choices), last
            self.usage = chunk.usage

    def _read_delta(self, delta: Any) -> None:
        if delta is None:
            return
        if self.awaiting_first and (delta.content or delta.tool_calls or delta.refusal or delta.function_call):
            self.awaiting_first = False
            self.call.mark_first_chunk()
        if self.ctx is not None and delta.content:
            self.text.append(delta.content)

    def finish(self, call: LLMCall) -> None:
        if self.last is not None:
            call.response_model = self.last.model
            call.response_id = self.last.id
            call.service_tier = self.last.service_tier
        call.usage = chat_usage(self.usage)
        if self.finish_reasons:
            call.finish_reasons = self.finish_reasons
        if self.ctx is not None and self.text:
            call.set_attribute(
                attr.GEN_AI_OUTPUT_MESSAGES, self.ctx.capture([{"role": "assistant", "content": "".join(self.text)}])
            )


class ResponsesOperation(BaseOperation):
    """`responses.create` / `.parse` (and `.stream`, which calls `create(stream=True)`)."""

    def start(self, tracer: Tracer, instance: Any, kwargs: dict[str, Any]) -> LLMCall:
        extra = sampling_attributes(kwargs, "max_output_tokens")
        instructions = kwargs.get("instructions")
        items = kwargs.get("input")
        static = (
            [i for i in items if isinstance(i, dict) and i.get("role") in _STATIC_ROLES]
            if isinstance(items, list)
            else []
        )
        tools = kwargs.get("tools")
        extra[attr.LLMSIGHT_PROMPT_PREFIX_HASH] = prefix_hash(
            instructions if given(instructions) else None, static, tools if given(tools) else None
        )
        captured = self.ctx.capture(items if given(items) else None)
        if captured is not None:
            extra[attr.GEN_AI_INPUT_MESSAGES] = captured
        return _start(self.ctx, tracer, instance, attr.OPERATION_CHAT, kwargs, extra)

    def on_response(self, call: LLMCall, response: Any) -> None:
        read_response(call, response)
        if self.ctx.settings.capture_content:
            call.set_attribute(attr.GEN_AI_OUTPUT_MESSAGES, self.ctx.capture(response.output))

    def accumulator(self, call: LLMCall) -> ResponsesStreamAccumulator:
        return ResponsesStreamAccumulator(call)


def read_response(call: LLMCall, response: Any) -> None:
    call.usage = responses_usage(response.usage)
    call.response_model = response.model
    call.response_id = response.id
    call.service_tier = response.service_tier
    incomplete = response.incomplete_details
    if incomplete is not None and incomplete.reason:
        call.finish_reasons = [incomplete.reason]
    elif response.status:
        call.finish_reasons = [response.status]


_TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


class ResponsesStreamAccumulator:
    __slots__ = ("call", "final", "created")

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.final: Any = None
        self.created: Any = None

    def on_item(self, event: Any) -> None:
        kind = event.type
        if not self.call.first_chunk_ns and kind.endswith(".delta"):
            self.call.mark_first_chunk()
        elif kind in _TERMINAL_EVENTS:
            self.final = event.response
        elif kind == "response.created":
            self.created = event.response

    def finish(self, call: LLMCall) -> None:
        response = self.final or self.created
        if response is not None:
            read_response(call, response)
            if self.final is None:  # abandoned before the end: no usage, no final status
                call.finish_reasons = None


class EmbeddingsOperation(BaseOperation):
    """Embeddings never stream."""

    def start(self, tracer: Tracer, instance: Any, kwargs: dict[str, Any]) -> LLMCall:
        return _start(self.ctx, tracer, instance, attr.OPERATION_EMBEDDINGS, kwargs, {})

    def on_response(self, call: LLMCall, response: Any) -> None:
        call.usage = embeddings_usage(response.usage)
        call.response_model = response.model

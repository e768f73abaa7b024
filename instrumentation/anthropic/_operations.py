"""The Anthropic operations llmsight instruments: messages create / parse / stream (and beta twins)."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Tracer

from llmsight import attributes as attr
from llmsight import providers
from llmsight._call import LLMCall
from llmsight._common import given, sampling_attributes
from llmsight._operation_base import BaseOperation
from llmsight.anthropic._usage import MergedUsage, message_usage
from llmsight.prefix_hash import prefix_hash

# Claude through a cloud's own endpoint (the SDK's AnthropicBedrock / AnthropicVertex clients) is billed
# by that cloud: the provider name says whose price list applies.
CLOUD_PROVIDERS = {client: p.name for p in providers.PROVIDERS for client in p.anthropic_clients}


def server_attributes(instance: Any) -> dict[str, Any]:
    """The provider and server attributes of an SDK resource's client."""
    client = instance._client
    values: dict[str, Any] = {attr.GEN_AI_PROVIDER_NAME: CLOUD_PROVIDERS.get(type(client).__name__, providers.ANTHROPIC.name)}
    url = client.base_url
    if url.host:
        values[attr.SERVER_ADDRESS] = url.host
    if url.port:
        values[attr.SERVER_PORT] = url.port
    return values


_CONTENT_DELTAS = ("text_delta", "input_json_delta", "thinking_delta", "citations_delta")


def _cached_blocks(messages: Any) -> list[Any]:
    """Message content blocks marked with cache_control: part of the static prefix by declaration."""
    marked: list[Any] = []
    for message in messages or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            marked.extend(b for b in content if isinstance(b, dict) and b.get("cache_control"))
    return marked


class MessagesOperation(BaseOperation):
    def start(self, tracer: Tracer, instance: Any, kwargs: dict[str, Any], *, streaming: bool | None = None) -> LLMCall:
        model = kwargs.get("model")
        model = model if isinstance(model, str) else ""
        streaming = kwargs.get("stream") is True if streaming is None else streaming
        values = self.ctx.base_attributes(attr.OPERATION_CHAT, model, streaming)
        values.update(server_attributes(instance))
        values.update(self.ctx.key_hint_attributes(values[attr.GEN_AI_PROVIDER_NAME], instance._client))
        values.update(sampling_attributes(kwargs, "max_tokens"))
        tier = kwargs.get("service_tier")
        if given(tier) and tier:
            values[attr.LLMSIGHT_SERVICE_TIER] = tier
        system = kwargs.get("system")
        tools = kwargs.get("tools")
        messages = kwargs.get("messages")
        values[attr.LLMSIGHT_PROMPT_PREFIX_HASH] = prefix_hash(
            system if given(system) else None, tools if given(tools) else None, _cached_blocks(messages)
        )
        captured = self.ctx.capture(list(messages or ()))
        if captured is not None:
            values[attr.GEN_AI_INPUT_MESSAGES] = captured
            if given(system):
                values[attr.GEN_AI_SYSTEM_INSTRUCTIONS] = self.ctx.capture(system)
        return LLMCall(tracer, f"{attr.OPERATION_CHAT} {model}".rstrip(), values, streaming=streaming)

    def on_response(self, call: LLMCall, message: Any) -> None:
        call.usage, tier = message_usage(message.usage)
        call.service_tier = tier
        call.response_model = message.model
        call.response_id = message.id
        if message.stop_reason:
            call.finish_reasons = [message.stop_reason]
        if self.ctx.settings.capture_content:
            call.set_attribute(attr.GEN_AI_OUTPUT_MESSAGES, self.ctx.capture(message.content))

    def accumulator(self, call: LLMCall) -> MessageStreamAccumulator:
        return MessageStreamAccumulator(call)


class MessageStreamAccumulator:
    """Raw SSE events (`RawMessageStreamEvent`) of one message stream."""

    __slots__ = ("call", "usage", "model", "id", "stop_reason")

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.usage = MergedUsage()
        self.model: str | None = None
        self.id: str | None = None
        self.stop_reason: str | None = None

    def on_item(self, event: Any) -> None:
        kind = event.type
        if kind == "content_block_delta":
            if not self.call.first_chunk_ns and event.delta.type in _CONTENT_DELTAS:
                self.call.mark_first_chunk()
        elif kind == "message_start":
            message = event.message
            self.model = message.model
            self.id = message.id
            self.usage.merge(message.usage)
        elif kind == "message_delta":
            self.usage.merge(event.usage)
            if event.delta.stop_reason:
                self.stop_reason = event.delta.stop_reason

    def finish(self, call: LLMCall) -> None:
        call.usage = self.usage.normalised()
        call.service_tier = self.usage.service_tier
        call.response_model = self.model
        call.response_id = self.id
        if self.stop_reason:
            call.finish_reasons = [self.stop_reason]

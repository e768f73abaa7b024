"""Bedrock's streams: botocore's `EventStream` (ConverseStream's `stream`, InvokeModelWithResponseStream's
`body`) proxied so the app gets an object that behaves exactly like it (`isinstance`, `close`,
`get_initial_response`, iteration) while each event feeds an accumulator.

The shared proxy's lifecycle applies: the call ends once, on exhaustion (completed), an error, `close()`,
or the proxy's collection unread (abandoned: `llmsight.stream.completed=false`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from llmsight._call import LLMCall
from llmsight._streams import SyncStreamProxy
from llmsight.anthropic._usage import MergedUsage
from llmsight.bedrock._usage import as_object, converse_usage, metrics_usage, nova_usage

logger = logging.getLogger("llmsight")


class EventStreamProxy(SyncStreamProxy):
    """The shared sync stream proxy over an `EventStream`, which is iterable but has no `__next__`."""

    @staticmethod
    def _stream_next(wrapped: Any) -> Callable[[], Any]:
        next_item: Callable[[], Any] = iter(wrapped).__next__  # EventStream.__iter__ resumes one shared event generator
        return next_item


class ConverseStreamAccumulator:
    """ConverseStream events: `{"messageStart": …}`, `{"contentBlockDelta": …}`, …, `{"metadata": …}`.
    TTFT is the first content delta (text, tool input or reasoning), not `messageStart`."""

    __slots__ = ("call", "service_tier", "stop_reason", "usage")

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.usage: Any = None
        self.stop_reason: str | None = None
        self.service_tier: str | None = None

    def on_item(self, event: Any) -> None:
        if "contentBlockDelta" in event:
            if not self.call.first_chunk_ns:
                self.call.mark_first_chunk()
        elif "metadata" in event:
            metadata = event["metadata"]
            self.usage = metadata.get("usage")
            self.service_tier = (metadata.get("serviceTier") or {}).get("type")
        elif "messageStop" in event:
            self.stop_reason = event["messageStop"].get("stopReason")

    def finish(self, call: LLMCall) -> None:
        call.usage = converse_usage(self.usage)
        if self.service_tier:
            call.service_tier = self.service_tier
        if self.stop_reason:
            call.finish_reasons = [self.stop_reason]


class InvokeStreamAccumulator:
    """InvokeModelWithResponseStream `{"chunk": {"bytes": …}}` events, each the model's own JSON event:
    Anthropic's message events, Nova's Converse-like events, Llama's `generation` and Mistral's `outputs`
    pieces. The last chunk also carries `amazon-bedrock-invocationMetrics` (model-independent counts)."""

    __slots__ = ("anthropic", "call", "metrics", "nova", "response_id", "response_model", "stop_reason")

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.anthropic = MergedUsage()
        self.nova: Any = None
        self.metrics: Any = None
        self.stop_reason: str | None = None
        self.response_id: str | None = None
        self.response_model: str | None = None

    def on_item(self, event: Any) -> None:
        chunk = event.get("chunk")
        data = json.loads(chunk["bytes"]) if chunk is not None else None
        if not isinstance(data, dict):
            return
        if data.get("type") is not None:
            self._anthropic(data)
        else:
            self._other_family(data)
        metrics = data.get("amazon-bedrock-invocationMetrics")
        if metrics is not None:
            self.metrics = metrics

    def _anthropic(self, data: dict[str, Any]) -> None:
        """Anthropic's message events: the id, model and usage open the stream, the delta closes the usage."""
        kind = data["type"]
        if kind == "content_block_delta":
            self._content()
        elif kind == "message_start":
            message = data.get("message") or {}
            self.response_id, self.response_model = message.get("id"), message.get("model")
            self.anthropic.merge(as_object(message.get("usage")))
        elif kind == "message_delta":
            self.anthropic.merge(as_object(data.get("usage")))
            self.stop_reason = (data.get("delta") or {}).get("stop_reason") or self.stop_reason

    def _other_family(self, data: dict[str, Any]) -> None:
        """Nova's Converse-like events, Llama's `generation` and Mistral's `outputs` pieces."""
        if "contentBlockDelta" in data:  # Nova
            self._content()
        elif "messageStop" in data:
            self.stop_reason = data["messageStop"].get("stopReason")
        elif "metadata" in data:
            self.nova = data["metadata"].get("usage")
        elif data.get("generation"):  # Llama
            self._content()
            self.stop_reason = data.get("stop_reason") or self.stop_reason
        elif data.get("outputs"):  # Mistral
            output = data["outputs"][0]
            if output.get("text"):
                self._content()
            self.stop_reason = output.get("stop_reason") or self.stop_reason

    def _content(self) -> None:
        if not self.call.first_chunk_ns:
            self.call.mark_first_chunk()

    def finish(self, call: LLMCall) -> None:
        usage = self.anthropic.normalised()
        if usage is None and self.nova is not None:
            usage = nova_usage(self.nova)
        if usage is None and self.metrics is not None:
            usage = metrics_usage(self.metrics)
        call.usage = usage
        call.response_id = self.response_id
        call.response_model = self.response_model
        if self.stop_reason:
            call.finish_reasons = [self.stop_reason]

"""Anthropic Messages wire format for the local provider, with prompt caching like the real API:
blocks marked `cache_control` end a cacheable prefix (tools → system → messages); the first request
writes it (5-minute or 1-hour TTL), later ones read it. `input_tokens` EXCLUDES cache reads and writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmsight.testing.simulation import Billed, PromptCache, cached_prompt_reply

ANTHROPIC_CACHE_MIN_TOKENS = 1024  # shorter prefixes are not cached (Sonnet/Opus minimum)

Event = tuple[str | None, dict[str, Any]]


def _blocks(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    return list(value)


class AnthropicReply:
    def __init__(
        self, body: dict[str, Any], cache: PromptCache, seed: int, request_id: str, *, reply_tokens: int | None = None
    ) -> None:
        self.model: str = body.get("model", "")
        self.request_id = request_id
        # The prompt in cache order, as (block, cache ttl or None).
        parts: list[tuple[Any, str | None]] = []
        for tool in body.get("tools") or []:
            parts.append((tool, (tool.get("cache_control") or {}).get("ttl", "5m") if tool.get("cache_control") else None))
        for block in _blocks(body.get("system")):
            control = block.get("cache_control") if isinstance(block, dict) else None
            parts.append((block, (control.get("ttl") or "5m") if control else None))
        for message in body.get("messages") or []:
            for block in _blocks(message.get("content")):
                control = block.get("cache_control") if isinstance(block, dict) else None
                parts.append(({"role": message.get("role"), "block": block}, (control.get("ttl") or "5m") if control else None))
        reply = cached_prompt_reply(parts, cache, "anthropic", self.model, ANTHROPIC_CACHE_MIN_TOKENS, seed,
                                    body.get("max_tokens"), reply_tokens)
        self.input_tokens, self.cache_read = reply.input_tokens, reply.cache_read  # input excludes the cache
        self.cache_write_5m, self.cache_write_1h = reply.cache_write_5m, reply.cache_write_1h
        self.truncated, self.words = reply.truncated, reply.words
        thinking = body.get("thinking") or {}
        self.thinking_tokens = 2 * len(self.words) if thinking.get("type") == "enabled" else 0
        self.output_tokens = len(self.words) + self.thinking_tokens
        self.tools = body.get("tools") or []
        self.service_tier = "standard" if body.get("service_tier") in (None, "auto", "standard_only") else body["service_tier"]

    @property
    def stop_reason(self) -> str:
        return "max_tokens" if self.truncated else "end_turn"

    def billed(self, streamed: bool) -> Billed:
        return Billed(
            provider="anthropic",
            endpoint="messages",
            model=self.model,
            streamed=streamed,
            input_tokens=self.input_tokens + self.cache_read + self.cache_write_5m + self.cache_write_1h,
            cache_read_tokens=self.cache_read,
            cache_write_5m_tokens=self.cache_write_5m,
            cache_write_1h_tokens=self.cache_write_1h,
            output_tokens=self.output_tokens,
            reasoning_tokens=self.thinking_tokens,
            service_tier=self.service_tier,
        )

    def usage(self, *, output_tokens: int | None = None) -> dict[str, Any]:
        usage = {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_write_5m + self.cache_write_1h,
            "cache_read_input_tokens": self.cache_read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_write_5m,
                "ephemeral_1h_input_tokens": self.cache_write_1h,
            },
            "output_tokens": self.output_tokens if output_tokens is None else output_tokens,
            "service_tier": self.service_tier,
        }
        if self.thinking_tokens and output_tokens is None:  # final usage only, as the API reports it
            usage["output_tokens_details"] = {"thinking_tokens": self.thinking_tokens}
        return usage

    def message(self) -> dict[str, Any]:
        return {
            "id": f"msg_{self.request_id}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [{"type": "text", "text": " ".join(self.words)}],
            "stop_reason": self.stop_reason,
            "stop_sequence": None,
            "usage": self.usage(),
        }

    def events(self) -> Iterator[Event]:
        start = {**self.message(), "content": [], "stop_reason": None, "usage": self.usage(output_tokens=1)}
        yield "message_start", {"type": "message_start", "message": start}
        yield "content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        for i, word in enumerate(self.words):
            yield "content_block_delta", {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": word if i == 0 else " " + word},
            }
        yield "content_block_stop", {"type": "content_block_stop", "index": 0}
        if self.tools:
            tool = self.tools[0]
            yield "content_block_start", {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": f"toolu_{self.request_id}", "name": tool.get("name", "tool"), "input": {}},
            }
            for piece in ('{"query": ', '"' + (self.words[0] if self.words else "") + '"}'):
                yield "content_block_delta", {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                }
            yield "content_block_stop", {"type": "content_block_stop", "index": 1}
        yield "message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use" if self.tools else self.stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": self.output_tokens, **({"output_tokens_details": {"thinking_tokens": self.thinking_tokens}} if self.thinking_tokens else {})},
        }
        yield "message_stop", {"type": "message_stop"}


def error_body(status: int) -> dict[str, Any]:
    kinds = {
        429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
        500: ("api_error", "Internal server error"),
        503: ("api_error", "Service unavailable"),
        529: ("overloaded_error", "Overloaded"),
    }
    kind, message = kinds.get(status, ("invalid_request_error", "Request failed."))
    return {"type": "error", "error": {"type": kind, "message": message}}

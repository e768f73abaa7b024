"""OpenAI wire format (chat completions, responses, embeddings) for the local provider."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from llmsight.testing.simulation import (
    OPENAI_CACHE_INCREMENT,
    OPENAI_CACHE_MIN_TOKENS,
    Billed,
    PromptCache,
    count_tokens,
    is_reasoning_model,
    prefix_key,
    reply_length,
    reply_words,
)

Event = tuple[str | None, dict[str, Any]]  # (SSE event name or None, data)


class OpenAIReply:
    """Everything one chat/responses request produces, computed before anything is sent."""

    def __init__(
        self, body: dict[str, Any], cache: PromptCache, seed: int, request_id: str, *, responses_api: bool,
        reply_tokens: int | None = None,
    ) -> None:
        self.model: str = body.get("model", "")
        self.request_id = request_id
        if responses_api:
            instructions = body.get("instructions")
            items = body.get("input")
            items = [{"role": "user", "content": items}] if isinstance(items, str) else list(items or [])
            static, last = [instructions, body.get("tools"), items[:-1]], items[-1:]
            limit = body.get("max_output_tokens")
        else:
            messages = list(body.get("messages") or [])
            static, last = [body.get("tools"), messages[:-1]], messages[-1:]
            limit = body.get("max_completion_tokens") or body.get("max_tokens")
        prefix_tokens = count_tokens(static)
        self.input_tokens = prefix_tokens + count_tokens(last)
        # Automatic prompt caching: a repeated prefix of >= 1024 tokens is read in 128-token increments.
        self.cached_tokens = 0
        if self.input_tokens >= OPENAI_CACHE_MIN_TOKENS and prefix_tokens >= OPENAI_CACHE_MIN_TOKENS:
            if cache.lookup_or_store(prefix_key("openai", self.model, static), 600):
                self.cached_tokens = prefix_tokens // OPENAI_CACHE_INCREMENT * OPENAI_CACHE_INCREMENT
        key = prefix_key(static, last)
        wanted = reply_tokens or reply_length(key, seed)
        self.truncated = isinstance(limit, int) and limit < wanted
        self.words = reply_words(key, seed, limit if isinstance(limit, int) and limit < wanted else wanted)
        visible = len(self.words)
        self.reasoning_tokens = 2 * visible if is_reasoning_model(self.model) else 0
        self.output_tokens = visible + self.reasoning_tokens
        self.service_tier = body.get("service_tier") or "default"
        if self.service_tier == "auto":
            self.service_tier = "default"
        self.created = int(time.time())

    def billed(self, endpoint: str, streamed: bool) -> Billed:
        return Billed(
            provider="openai",
            endpoint=endpoint,
            model=self.model,
            streamed=streamed,
            input_tokens=self.input_tokens,
            cache_read_tokens=self.cached_tokens,
            output_tokens=self.output_tokens,
            reasoning_tokens=self.reasoning_tokens,
            service_tier=self.service_tier,
        )

    # --- chat completions ---
    def chat_usage(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    @property
    def finish_reason(self) -> str:
        return "length" if self.truncated else "stop"

    def chat_completion(self) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{self.request_id}",
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": " ".join(self.words), "refusal": None},
                    "logprobs": None,
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self.chat_usage(),
            "service_tier": self.service_tier,
            "system_fingerprint": "fp_llmsight",
        }

    def chat_chunks(self, include_usage: bool) -> Iterator[Event]:
        base = {
            "id": f"chatcmpl-{self.request_id}",
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": self.service_tier,
            "system_fingerprint": "fp_llmsight",
        }
        usage_field = {"usage": None} if include_usage else {}
        yield None, {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}], **usage_field}
        for i, word in enumerate(self.words):
            text = word if i == 0 else " " + word
            yield None, {**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}], **usage_field}
        yield None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": self.finish_reason}], **usage_field}
        if include_usage:
            yield None, {**base, "choices": [], "usage": self.chat_usage()}

    # --- responses ---
    def responses_usage(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.input_tokens + self.output_tokens,
        }

    def response(self, *, status: str | None = None, with_output: bool = True) -> dict[str, Any]:
        final = status is None
        status = status or ("incomplete" if self.truncated else "completed")
        text = " ".join(self.words)
        output = (
            [
                {
                    "id": f"msg_{self.request_id}",
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
                }
            ]
            if with_output
            else []
        )
        return {
            "id": f"resp_{self.request_id}",
            "object": "response",
            "created_at": self.created,
            "status": status,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if final and self.truncated else None,
            "instructions": None,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "service_tier": self.service_tier,
            "usage": self.responses_usage() if final else None,
            "metadata": {},
        }

    def response_events(self) -> Iterator[Event]:
        seq = iter(range(1_000_000))
        item_id = f"msg_{self.request_id}"
        in_progress = self.response(status="in_progress", with_output=False)
        yield "response.created", {"type": "response.created", "sequence_number": next(seq), "response": in_progress}
        yield "response.in_progress", {"type": "response.in_progress", "sequence_number": next(seq), "response": in_progress}
        yield "response.output_item.added", {
            "type": "response.output_item.added",
            "sequence_number": next(seq),
            "output_index": 0,
            "item": {"id": item_id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"},
        }
        yield "response.content_part.added", {
            "type": "response.content_part.added",
            "sequence_number": next(seq),
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
        }
        for i, word in enumerate(self.words):
            yield "response.output_text.delta", {
                "type": "response.output_text.delta",
                "sequence_number": next(seq),
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": word if i == 0 else " " + word,
                "logprobs": [],
            }
        text = " ".join(self.words)
        yield "response.output_text.done", {
            "type": "response.output_text.done",
            "sequence_number": next(seq),
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "text": text,
            "logprobs": [],
        }
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
        yield "response.content_part.done", {
            "type": "response.content_part.done",
            "sequence_number": next(seq),
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "part": part,
        }
        yield "response.output_item.done", {
            "type": "response.output_item.done",
            "sequence_number": next(seq),
            "output_index": 0,
            "item": {"id": item_id, "type": "message", "status": "completed", "content": [part], "role": "assistant"},
        }
        final = self.response()
        kind = "response.incomplete" if self.truncated else "response.completed"
        yield kind, {"type": kind, "sequence_number": next(seq), "response": final}


def embeddings(body: dict[str, Any]) -> tuple[dict[str, Any], Billed]:
    inputs = body.get("input")
    inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
    tokens = sum(count_tokens(i) for i in inputs)
    model = body.get("model", "")
    data = [{"object": "embedding", "index": i, "embedding": [0.01 * (i + 1)] * 8} for i in range(len(inputs))]
    payload = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return payload, Billed(provider="openai", endpoint="embeddings", model=model, streamed=False, input_tokens=tokens)


def error_body(status: int) -> dict[str, Any]:
    kinds = {
        429: ("rate_limit_exceeded", "requests", "Rate limit reached for requests. Please try again shortly."),
        500: ("server_error", "server_error", "The server had an error while processing your request."),
        503: ("service_unavailable", "server_error", "The engine is currently overloaded, please try again later."),
        529: ("overloaded", "server_error", "The engine is currently overloaded, please try again later."),
    }
    code, kind, message = kinds.get(status, ("error", "invalid_request_error", "Request failed."))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}

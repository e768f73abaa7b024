"""Mistral's chat completions and embeddings wire format for the local provider (served under
`/mistral/v1/...`).

Mistral's chat API is OpenAI-shaped, so replies are computed by the OpenAI simulation (same tokens,
caching and deterministic words) and reshaped: usage is `prompt_tokens` (cached tokens INCLUDED,
`prompt_tokens_details.cached_tokens` when some were cached), `completion_tokens`, `total_tokens`; a stream
always ends with one chunk that carries both the finish reason and the usage, then `data: [DONE]`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmsight.testing import wire_openai
from llmsight.testing.simulation import Billed

Event = tuple[None, dict[str, Any]]


def _usage(reply: wire_openai.OpenAIReply) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
    }
    if reply.cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
    return usage


def billed(reply: wire_openai.OpenAIReply, streamed: bool) -> Billed:
    entry = reply.billed("chat.completions", streamed=streamed)
    entry.provider = "mistral"
    return entry


def completion(reply: wire_openai.OpenAIReply) -> dict[str, Any]:
    return {
        "id": reply.request_id,
        "object": "chat.completion",
        "created": reply.created,
        "model": reply.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(reply.words), "tool_calls": None},
                     "finish_reason": reply.finish_reason}],
        "usage": _usage(reply),
    }


def chunks(reply: wire_openai.OpenAIReply) -> Iterator[Event]:
    base = {"id": reply.request_id, "object": "chat.completion.chunk", "created": reply.created, "model": reply.model}
    yield None, {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    for index, word in enumerate(reply.words):
        text = word if index == 0 else " " + word
        yield None, {**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    yield None, {**base, "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": reply.finish_reason}],
                 "usage": _usage(reply)}


def embeddings(body: dict[str, Any], request_id: str) -> tuple[dict[str, Any], Billed]:
    payload, entry = wire_openai.embeddings(body)
    entry.provider = "mistral"
    usage = payload["usage"]
    payload = {**payload, "id": request_id, "usage": {**usage, "completion_tokens": 0}}
    return payload, entry


def error_body(status: int) -> dict[str, Any]:
    messages = {429: "Requests rate limit exceeded", 500: "Internal server error", 503: "Service unavailable"}
    return {"object": "error", "message": messages.get(status, "Request failed."), "type": "invalid_request_error",
            "param": None, "code": str(status)}

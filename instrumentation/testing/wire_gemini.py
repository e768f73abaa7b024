"""Gemini API (and Vertex AI) wire format for the local provider: generateContent,
streamGenerateContent (`?alt=sse`), batchEmbedContents and Vertex's embeddings `predict`.

Usage as the real API reports it (`usageMetadata`): `promptTokenCount` INCLUDES
`cachedContentTokenCount`; `candidatesTokenCount` EXCLUDES `thoughtsTokenCount`. Implicit caching: a
repeated prefix (system instruction, tools and every content but the last) of at least 1024 tokens is
read from the cache; Gemini bills no cache write on the request. Stream chunks carry cumulative usage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from llmsight.testing.simulation import (
    Billed,
    PromptCache,
    count_tokens,
    prefix_key,
    reply_length,
    reply_words,
)

GEMINI_CACHE_MIN_TOKENS = 1024  # implicit caching minimum (2.5 Flash)
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    529: "UNAVAILABLE",
}


def model_from_path(path: str) -> str:
    """`/v1beta/models/gemini-2.5-flash:generateContent` → `gemini-2.5-flash` (Vertex paths too)."""
    resource = path.split("?", 1)[0].rsplit(":", 1)[0]
    return resource.rsplit("/models/", 1)[-1]


def _thinking(config: dict[str, Any]) -> bool:
    thinking = config.get("thinkingConfig") or {}
    # Google's JSON parser accepts proto field names in camelCase and snake_case alike.
    budget = thinking.get("thinkingBudget", thinking.get("thinking_budget"))
    return isinstance(budget, int) and budget != 0


class GeminiReply:
    def __init__(self, body: dict[str, Any], model: str, cache: PromptCache, seed: int, request_id: str,
                 *, reply_tokens: int | None = None) -> None:
        self.model = model
        self.request_id = request_id
        contents = list(body.get("contents") or [])
        static = [body.get("systemInstruction"), body.get("tools"), contents[:-1]]
        last = contents[-1:]
        prefix_tokens = count_tokens(static)
        self.prompt_tokens = prefix_tokens + count_tokens(last)
        self.cached_tokens = 0
        if prefix_tokens >= GEMINI_CACHE_MIN_TOKENS and cache.lookup_or_store(prefix_key("gemini", model, static), 600):
            self.cached_tokens = prefix_tokens
        config = body.get("generationConfig") or {}
        key = prefix_key(static, last)
        wanted = reply_tokens or reply_length(key, seed)
        limit = config.get("maxOutputTokens", config.get("max_output_tokens"))
        self.truncated = isinstance(limit, int) and limit < wanted
        self.words = reply_words(key, seed, limit if self.truncated and isinstance(limit, int) else wanted)
        self.thoughts_tokens = 2 * len(self.words) if _thinking(config) else 0
        self.created = time.time()

    @property
    def finish_reason(self) -> str:
        return "MAX_TOKENS" if self.truncated else "STOP"

    def billed(self, streamed: bool) -> Billed:
        return Billed(
            provider="google",
            endpoint="generateContent",
            model=self.model,
            streamed=streamed,
            input_tokens=self.prompt_tokens,
            cache_read_tokens=self.cached_tokens,
            output_tokens=len(self.words) + self.thoughts_tokens,
            reasoning_tokens=self.thoughts_tokens,
        )

    def usage(self, candidates: int) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": candidates,
            "totalTokenCount": self.prompt_tokens + candidates + self.thoughts_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt_tokens}],
        }
        if self.cached_tokens:
            usage["cachedContentTokenCount"] = self.cached_tokens
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": self.cached_tokens}]
        if self.thoughts_tokens:
            usage["thoughtsTokenCount"] = self.thoughts_tokens
        return usage

    def _envelope(self, text: str, candidates: int, finish: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if finish:
            candidate["finishReason"] = self.finish_reason
        return {
            "candidates": [candidate],
            "usageMetadata": self.usage(candidates),
            "modelVersion": self.model,
            "responseId": self.request_id,
        }

    def response(self) -> dict[str, Any]:
        return self._envelope(" ".join(self.words), len(self.words), True)

    def chunks(self) -> Iterator[tuple[None, dict[str, Any]]]:
        """One word per chunk; every chunk carries the usage so far (cumulative, like the real API)."""
        for index, word in enumerate(self.words):
            last = index == len(self.words) - 1
            yield None, self._envelope(word if index == 0 else " " + word, index + 1, last)


def embeddings(body: dict[str, Any], model: str, *, vertex_predict: bool) -> tuple[dict[str, Any], Billed]:
    if vertex_predict:
        texts = [instance.get("content", "") for instance in body.get("instances") or []]
        counts = [count_tokens(text) for text in texts]
        payload: dict[str, Any] = {
            "predictions": [
                {"embeddings": {"values": [0.01 * (i + 1)] * 8, "statistics": {"token_count": n, "truncated": False}}}
                for i, n in enumerate(counts)
            ],
            "metadata": {"billableCharacterCount": sum(len(t) for t in texts)},
        }
    else:
        counts = [count_tokens(request.get("content")) for request in body.get("requests") or []]
        payload = {
            "embeddings": [{"values": [0.01 * (i + 1)] * 8} for i in range(len(counts))],
            "usageMetadata": {"promptTokenCount": sum(counts), "totalTokenCount": sum(counts)},
        }
    billed = Billed(provider="google", endpoint="embeddings", model=model, streamed=False, input_tokens=sum(counts))
    return payload, billed


def error_body(status: int) -> dict[str, Any]:
    messages = {
        429: "Resource has been exhausted (e.g. check quota).",
        500: "An internal error has occurred.",
        503: "The model is overloaded. Please try again later.",
    }
    return {
        "error": {
            "code": status,
            "message": messages.get(status, "Request failed."),
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }

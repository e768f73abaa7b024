"""OpenAI usage objects → llmsight `Usage` (input includes cache; output includes reasoning).

A field the response does not report stays None, so its span attribute is left unset: OpenAI reports
no cache writes for most models, and a `cache_write.input_tokens=0` would claim it did.
"""

from __future__ import annotations

from typing import Any

from llmsight._call import Usage


def _reported(details: Any, field: str) -> int | None:
    return getattr(details, field, None) if details is not None else None


def chat_usage(usage: Any) -> Usage | None:
    """Chat Completions: `prompt_tokens` already INCLUDES `prompt_tokens_details.cached_tokens`."""
    if usage is None:
        return None
    prompt = getattr(usage, "prompt_tokens_details", None)
    completion = getattr(usage, "completion_tokens_details", None)
    return Usage(
        input_tokens=usage.prompt_tokens,
        cache_read_tokens=_reported(prompt, "cached_tokens"),
        cache_write_tokens=_reported(prompt, "cache_write_tokens"),
        output_tokens=usage.completion_tokens,
        reasoning_tokens=_reported(completion, "reasoning_tokens"),
    )


def responses_usage(usage: Any) -> Usage | None:
    """Responses API: `input_tokens` INCLUDES `input_tokens_details.cached_tokens`."""
    if usage is None:
        return None
    details = getattr(usage, "input_tokens_details", None)
    out_details = getattr(usage, "output_tokens_details", None)
    return Usage(
        input_tokens=usage.input_tokens,
        cache_read_tokens=_reported(details, "cached_tokens"),
        cache_write_tokens=_reported(details, "cache_write_tokens"),
        output_tokens=usage.output_tokens,
        reasoning_tokens=_reported(out_details, "reasoning_tokens"),
    )


def embeddings_usage(usage: Any) -> Usage | None:
    """Embeddings report input tokens only."""
    if usage is None:
        return None
    return Usage(input_tokens=usage.prompt_tokens)

"""OpenAI usage objects → llmsight `Usage` (input includes cache; output includes reasoning)."""

from __future__ import annotations

from typing import Any

from llmsight._call import Usage


def chat_usage(usage: Any) -> Usage | None:
    """Chat Completions: `prompt_tokens` already INCLUDES `prompt_tokens_details.cached_tokens`."""
    if usage is None:
        return None
    prompt = usage.prompt_tokens_details
    completion = getattr(usage, "completion_tokens_details", None)
    return Usage(
        input_tokens=usage.prompt_tokens,
        cache_read_tokens=(prompt.cached_tokens or 0) if prompt is not None else 0,
        cache_write_tokens=(getattr(prompt, "cache_write_tokens", None) or 0) if prompt is not None else 0,
        output_tokens=usage.completion_tokens,
        reasoning_tokens=(completion.reasoning_tokens or 0) if completion is not None else 0,
    )


def responses_usage(usage: Any) -> Usage | None:
    """Responses API: `input_tokens` INCLUDES `input_tokens_details.cached_tokens`."""
    if usage is None:
        return None
    details = usage.input_tokens_details
    out_details = usage.output_tokens_details
    return Usage(
        input_tokens=usage.input_tokens,
        cache_read_tokens=(details.cached_tokens or 0) if details is not None else 0,
        cache_write_tokens=(getattr(details, "cache_write_tokens", None) or 0) if details is not None else 0,
        output_tokens=usage.output_tokens,
        reasoning_tokens=(out_details.reasoning_tokens or 0) if out_details is not None else 0,
    )


def embeddings_usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    return Usage(input_tokens=usage.prompt_tokens, cache_read_tokens=0, cache_write_tokens=0, output_tokens=0)

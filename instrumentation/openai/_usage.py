"""OpenAI usage objects → llmsight `Usage` (input includes cache; output includes reasoning).

A field the response does not report stays None, so its span attribute is left unset: OpenAI reports
no cache writes for most models, and a `cache_write.input_tokens=0` would claim it did.
"""

from __future__ import annotations

from typing import Any

from llmsight._call import Usage


def _reported(details: Any, field: str) -> int | None:
    return getattr(details, field, None) if details is not None else None


def _usage(usage: Any, inputs: str, outputs: str) -> Usage | None:
    """`inputs` (tokens) INCLUDES its details' `cached_tokens`; `outputs` includes its details' reasoning tokens."""
    if usage is None:
        return None
    input_details = getattr(usage, f"{inputs}_details", None)
    output_details = getattr(usage, f"{outputs}_details", None)
    return Usage(
        input_tokens=getattr(usage, inputs),
        cache_read_tokens=_reported(input_details, "cached_tokens"),
        cache_write_tokens=_reported(input_details, "cache_write_tokens"),
        output_tokens=getattr(usage, outputs),
        reasoning_tokens=_reported(output_details, "reasoning_tokens"),
    )


def chat_usage(usage: Any) -> Usage | None:
    """Chat Completions: `prompt_tokens` already INCLUDES `prompt_tokens_details.cached_tokens`."""
    return _usage(usage, "prompt_tokens", "completion_tokens")


def responses_usage(usage: Any) -> Usage | None:
    """Responses API: `input_tokens` INCLUDES `input_tokens_details.cached_tokens`."""
    return _usage(usage, "input_tokens", "output_tokens")


def embeddings_usage(usage: Any) -> Usage | None:
    """Embeddings report input tokens only."""
    if usage is None:
        return None
    return Usage(input_tokens=usage.prompt_tokens)

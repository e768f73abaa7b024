"""Mistral usage → llmsight `Usage`.

From the SDK's `UsageInfo` (mistralai 1.x–3.x: `prompt_tokens`, `completion_tokens`, `total_tokens`, plus
any extra fields the API adds, kept in pydantic extras) and genai-prices' Mistral extractor:
`prompt_tokens` counts ALL input, cached included (OpenAI-style); `prompt_tokens_details.cached_tokens`
is the cached part; `completion_tokens` includes reasoning (`completion_tokens_details.reasoning_tokens`
when reported). Mistral reports no cache writes. In streams, usage arrives once, on the final chunk.
"""

from __future__ import annotations

from typing import Any

from llmsight._call import Usage


def _extra(usage: Any, name: str, field: str) -> int | None:
    extra = getattr(usage, "__pydantic_extra__", None) or {}
    details = extra.get(name)
    value = details.get(field) if isinstance(details, dict) else getattr(details, field, None)
    return value if type(value) is int else None


def chat_usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    return Usage(
        input_tokens=usage.prompt_tokens,
        cache_read_tokens=_extra(usage, "prompt_tokens_details", "cached_tokens") or 0,
        cache_write_tokens=0,
        output_tokens=usage.completion_tokens,
        reasoning_tokens=_extra(usage, "completion_tokens_details", "reasoning_tokens"),
    )


def service_tier(usage: Any) -> str | None:
    tier = getattr(usage, "service_tier", None)
    return tier if isinstance(tier, str) and tier else None

"""Anthropic usage → llmsight `Usage`.

Anthropic's `input_tokens` EXCLUDES `cache_read_input_tokens` and `cache_creation_input_tokens`; the
GenAI convention (and llmsight) counts ALL input, so they are added back. `cache_creation` splits the
writes by TTL (5 minutes / 1 hour), which are billed differently (1.25x vs 2x the input price).
"""

from __future__ import annotations

from typing import Any

from llmsight._call import Usage

_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")


class MergedUsage:
    """Stream usage: `message_start` carries the first values, `message_delta` updates them; per field,
    the last non-null value wins."""

    __slots__ = (*_FIELDS, "cache_1h", "thinking", "service_tier")
    input_tokens: int | None  # the _FIELDS, set in __init__
    cache_creation_input_tokens: int | None
    cache_read_input_tokens: int | None
    output_tokens: int | None

    def __init__(self) -> None:
        for name in _FIELDS:
            setattr(self, name, None)
        self.cache_1h: int | None = None
        self.thinking: int | None = None
        self.service_tier: str | None = None

    def merge(self, usage: Any) -> None:
        if usage is None:
            return
        for name in _FIELDS:
            value = getattr(usage, name, None)
            if value is not None:
                setattr(self, name, value)
        creation = getattr(usage, "cache_creation", None)
        if creation is not None and creation.ephemeral_1h_input_tokens is not None:
            self.cache_1h = creation.ephemeral_1h_input_tokens
        details = getattr(usage, "output_tokens_details", None)
        if details is not None and getattr(details, "thinking_tokens", None) is not None:
            self.thinking = details.thinking_tokens
        tier = getattr(usage, "service_tier", None)
        if tier:
            self.service_tier = tier

    def normalised(self) -> Usage | None:
        if all(getattr(self, name) is None for name in _FIELDS):
            return None
        read = self.cache_read_input_tokens or 0
        write = self.cache_creation_input_tokens or 0
        return Usage(
            input_tokens=(self.input_tokens or 0) + read + write,
            cache_read_tokens=read,
            cache_write_tokens=write,
            cache_write_1h_tokens=self.cache_1h or 0,
            output_tokens=self.output_tokens,
            reasoning_tokens=self.thinking,
        )


def message_usage(usage: Any) -> tuple[Usage | None, str | None]:
    merged = MergedUsage()
    merged.merge(usage)
    return merged.normalised(), merged.service_tier

"""Bedrock usage → llmsight `Usage`, per API and model family.

From botocore's service model (`TokenUsage`) and the Bedrock API reference:
- Converse / ConverseStream `usage`: `inputTokens` EXCLUDES `cacheReadInputTokens` and
  `cacheWriteInputTokens` (totalTokens = input + cache read + cache write + output), so input = the three
  added; `cacheDetails` lists writes per TTL (`5m` / `1h`); output = `outputTokens` (reasoning included,
  not reported apart). ConverseStream reports usage once, in the final `metadata` event.
- InvokeModel with an Anthropic body: Anthropic's own usage (input EXCLUDES cache reads and writes;
  `cache_creation` splits 5m / 1h) — the anthropic instrumentor's rules, reused.
- InvokeModel with a Nova body: `usage.inputTokens` (excluding cache, as in Converse),
  `cacheReadInputTokenCount`, `cacheWriteInputTokenCount`, `outputTokens`.
- Any other family (Llama, Mistral…): the `X-Amzn-Bedrock-Input-Token-Count` / `-Output-Token-Count` /
  `-Cache-Read-Input-Token-Count` / `-Cache-Write-Input-Token-Count` response headers, or in streams the
  last chunk's `amazon-bedrock-invocationMetrics` (same counts, input excluding cache).
genai-prices' AWS extractor adds the same fields the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from llmsight._call import Usage


def _int(value: Any) -> int:
    return value if type(value) is int else 0


def converse_usage(usage: Mapping[str, Any] | None) -> Usage | None:
    if not usage:
        return None
    read = _int(usage.get("cacheReadInputTokens"))
    write = _int(usage.get("cacheWriteInputTokens"))
    one_hour = sum(_int(d.get("inputTokens")) for d in usage.get("cacheDetails") or () if d.get("ttl") == "1h")
    return Usage(
        input_tokens=_int(usage.get("inputTokens")) + read + write,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=one_hour,
        output_tokens=usage.get("outputTokens"),
    )


def nova_usage(usage: Mapping[str, Any] | None) -> Usage | None:
    if not usage:
        return None
    read = _int(usage.get("cacheReadInputTokenCount"))
    write = _int(usage.get("cacheWriteInputTokenCount"))
    return Usage(
        input_tokens=_int(usage.get("inputTokens")) + read + write,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=usage.get("outputTokens"),
    )


def counts_usage(input_tokens: Any, output_tokens: Any, cache_read: Any, cache_write: Any) -> Usage | None:
    """Bedrock's model-independent counts (headers or invocation metrics); input excludes cache."""
    if input_tokens is None and output_tokens is None:
        return None
    read, write = int(cache_read or 0), int(cache_write or 0)
    return Usage(
        input_tokens=int(input_tokens or 0) + read + write,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=int(output_tokens) if output_tokens is not None else None,
    )


def header_usage(headers: Mapping[str, str]) -> Usage | None:
    prefix = "x-amzn-bedrock-"
    return counts_usage(
        headers.get(prefix + "input-token-count"),
        headers.get(prefix + "output-token-count"),
        headers.get(prefix + "cache-read-input-token-count"),
        headers.get(prefix + "cache-write-input-token-count"),
    )


def metrics_usage(metrics: Mapping[str, Any]) -> Usage | None:
    return counts_usage(
        metrics.get("inputTokenCount"),
        metrics.get("outputTokenCount"),
        metrics.get("cacheReadInputTokenCount"),
        metrics.get("cacheWriteInputTokenCount"),
    )


def as_object(value: Any) -> Any:
    """JSON dicts → attribute objects, for the anthropic instrumentor's usage reader."""
    if isinstance(value, dict):
        return SimpleNamespace(**{key: as_object(item) for key, item in value.items()})
    return value

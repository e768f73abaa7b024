"""google-genai usage metadata → llmsight `Usage`.

From the SDK's own types (`GenerateContentResponseUsageMetadata`, google-genai 1.x–3.x) and Google's API
reference for `UsageMetadata`:
- `prompt_token_count` INCLUDES `cached_content_token_count` ("When `cached_content` is set, this also
  includes the number of tokens in the cached content"): input = prompt (+ tool-use prompt tokens, which
  are fed back to the model as input and billed as input), cache read = cached content.
- `candidates_token_count` EXCLUDES `thoughts_token_count` (total = prompt + candidates + tool-use prompt
  + thoughts): output = candidates + thoughts, reasoning = thoughts.
- A generateContent request reports no cache write: explicit caches are created (and billed for storage)
  by `caches.create`, implicit caching writes for free. Cache writes are therefore 0.
genai-prices' Google extractor reads the same fields the same way.
"""

from __future__ import annotations

from typing import Any

from llmsight._call import Usage


def generate_usage(meta: Any) -> Usage | None:
    if meta is None:
        return None
    prompt = meta.prompt_token_count
    candidates = meta.candidates_token_count
    thoughts = meta.thoughts_token_count
    if prompt is None and candidates is None and thoughts is None:
        return None
    tool_prompt = meta.tool_use_prompt_token_count or 0
    return Usage(
        input_tokens=(prompt or 0) + tool_prompt,
        cache_read_tokens=meta.cached_content_token_count or 0,
        cache_write_tokens=0,
        output_tokens=(candidates or 0) + (thoughts or 0),
        reasoning_tokens=thoughts or 0,
    )


def embed_usage(response: Any) -> Usage | None:
    """Gemini API: `usage_metadata.prompt_token_count`; Vertex AI: per-embedding `statistics.token_count`."""
    meta = getattr(response, "usage_metadata", None)
    if meta is not None and meta.prompt_token_count is not None:
        return Usage(input_tokens=meta.prompt_token_count)
    counts = [
        e.statistics.token_count
        for e in response.embeddings or ()
        if e.statistics is not None and e.statistics.token_count is not None
    ]
    return Usage(input_tokens=int(sum(counts))) if counts else None

"""A stable hash of a request's static prefix: system prompt, tools, and blocks marked for caching.

When a prompt-cache hit ratio drops, the prefix hash that changed at the same time names the template
edit that broke caching. Providers pick the parts; this module only canonicalises and hashes them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from llmsight.errors import LLMSightError

# Apps send the same system prompt and tools on call after call; hashing their canonical JSON costs more
# than the rest of the span's attributes together. Plain-data prefixes are memoised by value (a frozen
# copy, cheap to hash: Python caches each string's hash), bounded so a stream of distinct prompts cannot grow it.
_MEMO_MAX_ENTRIES = 512
_FREEZE_MAX_NODES = 256
_memo: dict[Any, str] = {}


def _default(value: Any) -> Any:
    # Pydantic models and other SDK objects that callers pass instead of dicts.
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    return repr(value)


class _NotPlain(LLMSightError):
    pass


def _freeze(value: Any, budget: list[int]) -> Any:
    """A hashable, type-tagged copy of plain JSON-like data; raises _NotPlain for anything else or too much."""
    kind = type(value)
    budget[0] -= len(value) + 1 if kind is dict or kind is list or kind is tuple else 1
    if budget[0] < 0:
        raise _NotPlain
    if kind is str:
        return value
    if kind is dict:
        frozen = []
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            frozen.append(key)
            frozen.append(item if type(item) is str else _freeze(item, budget))
        return (dict, *frozen)
    if kind is list or kind is tuple:
        return (list, *[item if type(item) is str else _freeze(item, budget) for item in value])
    if kind is int or kind is float or kind is bool or value is None:
        return (kind, value)  # tagged: 1, 1.0 and True hash alike but serialise differently
    raise _NotPlain


def prefix_hash(*parts: Any) -> str:
    """16 hex chars of SHA-256 over the canonical JSON of the non-empty parts; '' when all are empty."""
    present = [part for part in parts if part]
    if not present:
        return ""
    try:
        key: Any = _freeze(present, [_FREEZE_MAX_NODES])
    except _NotPlain:
        key = None
    if key is not None:
        known = _memo.get(key)
        if known is not None:
            return known
    canonical = json.dumps(present, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    if key is not None:
        if len(_memo) >= _MEMO_MAX_ENTRIES:
            _memo.clear()
        _memo[key] = digest
    return digest

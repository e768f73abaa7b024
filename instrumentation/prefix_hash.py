"""A stable hash of a request's static prefix: system prompt, tools, and blocks marked for caching.

When a prompt-cache hit ratio drops, the prefix hash that changed at the same time names the template
edit that broke caching. Providers pick the parts; this module only canonicalises and hashes them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _default(value: Any) -> Any:
    # Pydantic models and other SDK objects that callers pass instead of dicts.
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    return repr(value)


def prefix_hash(*parts: Any) -> str:
    """16 hex chars of SHA-256 over the canonical JSON of the non-empty parts; '' when all are empty."""
    present = [part for part in parts if part]
    if not present:
        return ""
    canonical = json.dumps(present, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]

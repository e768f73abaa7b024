"""What the local provider "computes": token counts, deterministic replies, prompt caching, billing.

Deterministic by design: the same request (and seed) always gets the same reply and usage, so tests and
the demo can compare what llmsight stored with what this provider billed, to the token.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

CHARS_PER_TOKEN = 4  # the usual English rule of thumb; exact values only matter for self-consistency
OPENAI_CACHE_MIN_TOKENS = 1024  # OpenAI caches prompts of at least 1024 tokens…
OPENAI_CACHE_INCREMENT = 128  # …in 128-token increments
_WORDS = (
    "latency budget cache token prompt model span trace cost tenant stream chunk retry window quota "
    "insight metric alert query rollup ledger signal vector answer summary draft review plan"
).split()


def count_tokens(value: Any) -> int:
    """Tokens in any JSON-able request fragment: ceil(chars / 4) of its text."""
    if value is None:
        return 0
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def reply_words(request_key: str, seed: int, wanted: int) -> list[str]:
    """`wanted` words, one token each, chosen deterministically from the request and seed."""
    digest = hashlib.sha256(f"{seed}:{request_key}".encode()).digest()
    return [_WORDS[digest[i % len(digest)] % len(_WORDS)] for i in range(wanted)]


def reply_length(request_key: str, seed: int) -> int:
    digest = hashlib.sha256(f"len:{seed}:{request_key}".encode()).digest()
    return 12 + digest[0] % 40  # 12..51 tokens


def is_reasoning_model(model: str) -> bool:
    name = model.lower()
    return name.startswith("gpt-5") or (len(name) > 1 and name[0] == "o" and name[1].isdigit())


@dataclass
class Billed:
    """One successful response's usage, as the provider reports (and bills) it."""

    provider: str  # who billed it, as a genai-prices provider id: openai, anthropic, google, aws, mistral
    endpoint: str
    model: str
    streamed: bool
    input_tokens: int  # ALL input tokens (cache reads and writes included), whatever the wire format says
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0  # reasoning included
    reasoning_tokens: int = 0
    service_tier: str = "default"
    at: float = field(default_factory=time.time)
    api_key: str = ""  # the key the request was made with (the admin APIs group and list by it)


class Ledger:
    """Thread-safe record of everything billed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[Billed] = []

    def add(self, entry: Billed) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[Billed]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def backdate(self, since_index: int, seconds: float) -> None:
        """Move the entries from `since_index` on `seconds` into the past (a demo's back-dated history)."""
        with self._lock:
            for entry in self._entries[since_index:]:
                entry.at -= seconds

    def totals(self, upto: int | None = None) -> dict[str, int]:
        """Token totals of the entries (the first `upto` of them, when given)."""
        keys = (
            "input_tokens",
            "cache_read_tokens",
            "cache_write_5m_tokens",
            "cache_write_1h_tokens",
            "output_tokens",
            "reasoning_tokens",
        )
        entries = self.entries()[:upto]
        totals = {key: sum(getattr(e, key) for e in entries) for key in keys}
        totals["calls"] = len(entries)
        return totals

    def as_dicts(self) -> list[dict[str, Any]]:
        return [asdict(e) for e in self.entries()]


class PromptCache:
    """Remembers prefixes it has seen, with their expiry, like a provider's prompt cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}

    def lookup_or_store(self, key: str, ttl_seconds: float) -> bool:
        """True if `key` was cached (a read; refreshes it), False if it is written now."""
        now = time.monotonic()
        with self._lock:
            hit = self._expiry.get(key, 0.0) > now
            self._expiry[key] = now + ttl_seconds
            return hit

    def clear(self) -> None:
        with self._lock:
            self._expiry.clear()


def prefix_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


def cache_breakpoints(parts: list[tuple[Any, str | None]], cache: PromptCache, scope: str, model: str,
                      min_tokens: int) -> tuple[int, int, int]:
    """Explicit prompt caching (Anthropic `cache_control`, Bedrock `cachePoint`): `parts` are the prompt
    in cache order as (part, TTL of a breakpoint ending there or None); the cached prefix ends at the last
    breakpoint. Returns (cache read, 5-minute write, 1-hour write) tokens."""
    last = max((i for i, (_, ttl) in enumerate(parts) if ttl), default=-1)
    if last < 0:
        return 0, 0, 0
    prefix = [p for p, _ in parts[: last + 1]]
    prefix_tokens = sum(count_tokens(p) for p in prefix)
    ttl = parts[last][1] or "5m"
    if prefix_tokens < min_tokens:
        return 0, 0, 0
    if cache.lookup_or_store(prefix_key(scope, model, prefix), _TTL_SECONDS.get(ttl, 300.0)):
        return prefix_tokens, 0, 0
    return (0, 0, prefix_tokens) if ttl == "1h" else (0, prefix_tokens, 0)


@dataclass(slots=True)
class CachedPromptReply:
    """The reply to a prompt with explicit cache breakpoints: its usage (input EXCLUDES the cache) and its words."""

    input_tokens: int
    cache_read: int
    cache_write_5m: int
    cache_write_1h: int
    words: list[str]
    truncated: bool  # cut at the request's output limit


def cached_prompt_reply(parts: list[tuple[Any, str | None]], cache: PromptCache, scope: str, model: str,
                        min_tokens: int, seed: int, limit: Any, reply_tokens: int | None) -> CachedPromptReply:
    """`parts` as for `cache_breakpoints`; `limit` the request's output limit (an int, or not given)."""
    total = sum(count_tokens(p) for p, _ in parts)
    read, write_5m, write_1h = cache_breakpoints(parts, cache, scope, model, min_tokens)
    key = prefix_key([p for p, _ in parts])
    wanted = reply_tokens or reply_length(key, seed)
    truncated = isinstance(limit, int) and limit < wanted
    return CachedPromptReply(input_tokens=total - read - write_5m - write_1h, cache_read=read, cache_write_5m=write_5m,
                             cache_write_1h=write_1h, words=reply_words(key, seed, limit if truncated else wanted),
                             truncated=truncated)

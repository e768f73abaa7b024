"""Scripted failures for the local provider: rate limits, overloads, slow first tokens, cut streams.

Two ways to ask for one: a request header (`x-llmsight-fault: 429`, `529`, `500`, `503`, `slow:0.25`,
`cut:3`) or a server-side rule (`server.faults.add(Fault.status(429, times=2))`) that applies to the next
matching requests — the way to script failures through an unmodified SDK.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal["status", "slow", "cut"]


@dataclass
class Fault:
    kind: FaultKind
    status: int = 0  # kind "status": 429, 500, 503, 529…
    retry_after_s: float = 0.02  # sent as retry-after-ms (and retry-after, rounded up) on 429/503/529
    delay_s: float = 0.0  # kind "slow": wait before the first content event
    after_events: int = 3  # kind "cut": close the connection after this many stream events
    model: str | None = None  # only requests for this model
    provider: str | None = None  # only "openai" or "anthropic" requests
    times: int = 1  # how many requests it applies to

    @classmethod
    def http_status(cls, status: int, *, times: int = 1, retry_after_s: float = 0.02, **match: Any) -> Fault:
        return cls(kind="status", status=status, times=times, retry_after_s=retry_after_s, **match)

    @classmethod
    def slow_first_token(cls, delay_s: float, *, times: int = 1, **match: Any) -> Fault:
        return cls(kind="slow", delay_s=delay_s, times=times, **match)

    @classmethod
    def cut_stream(cls, after_events: int, *, times: int = 1, **match: Any) -> Fault:
        return cls(kind="cut", after_events=after_events, times=times, **match)

    @classmethod
    def from_header(cls, value: str) -> Fault | None:
        value = value.strip()
        if value.isdigit():
            return cls.http_status(int(value))
        name, _, arg = value.partition(":")
        if name == "slow" and arg:
            return cls.slow_first_token(float(arg))
        if name == "cut" and arg:
            return cls.cut_stream(int(arg))
        return None


class FaultPlan:
    """Thread-safe queue of fault rules; each request consumes at most one status fault and may also get
    one slow/cut fault."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._rules.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, provider: str, model: str) -> list[Fault]:
        taken: list[Fault] = []
        with self._lock:
            for rule in self._rules:
                if rule.times <= 0 or any(t.kind == rule.kind for t in taken):
                    continue
                if (rule.model and rule.model != model) or (rule.provider and rule.provider != provider):
                    continue
                rule.times -= 1
                taken.append(rule)
            self._rules = [r for r in self._rules if r.times > 0]
        return taken

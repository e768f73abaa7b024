"""CallRecord: one LLM call as it moves through the collector (normalise → price → store).

A plain slotted dataclass rather than a pydantic model: the collector builds tens of thousands per
second, and validation already happened at the boundary (OTLP decoding and normalisation). Field
names are exactly the column names of `llmsight.llm_calls` (collector/columns.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime


@dataclass(slots=True)
class CallRecord:
    ts: datetime  # span start, tz-aware UTC
    trace_id: str  # 32 hex chars
    span_id: str  # 16 hex chars
    service: str = ""
    environment: str = ""
    provider: str = ""
    operation: str = ""
    request_model: str = ""
    response_model: str = ""
    model_tier: str = ""
    service_tier: str = ""
    streaming: bool = False
    stream_completed: bool = True
    status: str = "ok"  # 'ok' | 'error'
    error_type: str = ""
    http_status: int = 0
    retries: int = 0
    input_tokens: int = 0  # ALL input: cache reads and writes included
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0  # all TTLs
    cache_write_1h_tokens: int = 0  # the 1-hour part of cache_write_tokens
    output_tokens: int = 0  # reasoning included
    reasoning_tokens: int = 0
    ttft_ms: float | None = None
    duration_ms: float = 0.0
    input_cost: float | None = None  # NULL costs: no known price (counted as unpriced, never 0)
    cache_read_cost: float | None = None
    cache_write_cost: float | None = None
    output_cost: float | None = None
    total_cost: float | None = None
    price_source: str = ""
    task: str = ""
    prompt_name: str = ""
    prompt_version: str = ""
    prompt_prefix_hash: str = ""
    tenant: str = ""
    finish_reason: str = ""
    instrumentation: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    # Last, like their columns: a spooled row from an older collector (shorter tuple) still maps.
    user_id: str = ""
    session_id: str = ""
    cache_savings: float | None = None  # what caching saved (columns.py defines it); NULL when unpriced
    content: dict[str, str] = field(default_factory=dict)  # prompts and completions: short retention
    call_id: str = ""  # 32 hex chars: spans with the same call id are one call (collector/normalise/merge.py)

    @property
    def uncached_input_tokens(self) -> int:
        return max(self.input_tokens - self.cache_read_tokens - self.cache_write_tokens, 0)


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(CallRecord))

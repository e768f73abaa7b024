"""CallRecord: one LLM call as it moves through the collector (normalise → price → spool → store), and the one
definition of the stored call row.

Each field is a column of `llmsight.llm_calls`: its name, Python type and default here, its ClickHouse type
and what it holds in the `Column` beside it. `collector/columns.py` derives the column list (and the DDL the
store creates) from this class, and the spool encodes records field by field under these names, so a column
is declared exactly once. A new column is a new field with `Column(..., added_in=N)`, N its schema migration.

A msgspec Struct rather than a pydantic model: the collector builds tens of thousands per second, and
validation already happened at the boundary (OTLP decoding and normalisation); the spool decodes frames back
into it with msgspec, type-checked field by field. Keyword-only: a record is always built by name. Not tracked
by the cyclic garbage collector (gc=False): a record holds only strings, numbers and str→str maps, never a cycle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, NamedTuple

import msgspec


class Column(NamedTuple):
    """How a CallRecord field is stored: its ClickHouse type, what it holds, the schema version that added it."""

    type: str
    doc: str = ""
    added_in: int = 1


_LOW = "LowCardinality(String)"
_COST = "Nullable(Float64)"


class CallRecord(msgspec.Struct, kw_only=True, array_like=True, gc=False):
    # Table order (the DDL's column order). `input_tokens` INCLUDES cache reads and writes, so the cache hit ratio
    # is sum(cache_read_tokens) / sum(input_tokens). Costs are USD and Nullable: NULL means "no known price", never 0.
    ts: Annotated[datetime, msgspec.Meta(tz=True), Column("DateTime64(6, 'UTC')", "span start, tz-aware UTC")]
    trace_id: Annotated[str, Column("FixedString(32)", "hex")]
    span_id: Annotated[str, Column("FixedString(16)", "hex")]
    service: Annotated[str, Column(_LOW)] = ""
    environment: Annotated[str, Column(_LOW)] = ""
    provider: Annotated[str, Column(_LOW)] = ""
    operation: Annotated[str, Column(_LOW)] = ""
    request_model: Annotated[str, Column(_LOW)] = ""
    response_model: Annotated[str, Column(_LOW)] = ""
    model_tier: Annotated[str, Column(_LOW)] = ""
    service_tier: Annotated[str, Column(_LOW)] = ""
    streaming: Annotated[bool, Column("Bool")] = False
    stream_completed: Annotated[bool, Column("Bool")] = True
    status: Annotated[str, Column(_LOW, "'ok' | 'error'")] = "ok"
    error_type: Annotated[str, Column(_LOW, "'' when ok")] = ""
    http_status: Annotated[int, Column("UInt16", "0 when unknown")] = 0
    retries: Annotated[int, Column("UInt16")] = 0
    input_tokens: Annotated[int, Column("UInt64", "ALL input: cache reads and writes included")] = 0
    cache_read_tokens: Annotated[int, Column("UInt64")] = 0
    cache_write_tokens: Annotated[int, Column("UInt64", "all TTLs")] = 0
    cache_write_1h_tokens: Annotated[int, Column("UInt64", "the 1-hour part of cache_write_tokens")] = 0
    output_tokens: Annotated[int, Column("UInt64", "reasoning included")] = 0
    reasoning_tokens: Annotated[int, Column("UInt64")] = 0
    ttft_ms: Annotated[float | None, Column("Nullable(Float64)", "NULL: not streamed / no content chunk")] = None
    duration_ms: Annotated[float, Column("Float64")] = 0.0
    input_cost: Annotated[float | None, Column(_COST, "uncached input only")] = None
    cache_read_cost: Annotated[float | None, Column(_COST)] = None
    cache_write_cost: Annotated[float | None, Column(_COST)] = None
    output_cost: Annotated[float | None, Column(_COST)] = None
    total_cost: Annotated[float | None, Column(_COST, "the parts above plus any per-request fee")] = None
    price_source: Annotated[str, Column(
        _LOW, "e.g. 'genai-prices@0.2.3[+inferred-provider]', 'override:FILE#models[i]', '' if unpriced"
    )] = ""
    task: Annotated[str, Column(_LOW)] = ""
    prompt_name: Annotated[str, Column(_LOW)] = ""
    prompt_version: Annotated[str, Column(_LOW)] = ""
    prompt_prefix_hash: Annotated[str, Column("String")] = ""
    tenant: Annotated[str, Column(_LOW)] = ""
    finish_reason: Annotated[str, Column(_LOW, "first finish reason, '' if none")] = ""
    instrumentation: Annotated[str, Column(_LOW, "which library produced the span")] = ""
    attributes: Annotated[dict[str, str], Column(
        "Map(String, String)", "everything else on the span (and the resource's service.version)"
    )] = {}
    user_id: Annotated[str, Column("String", "user.id: the end user, '' if not set", added_in=2)] = ""
    session_id: Annotated[str, Column("String", "session.id: the conversation / session, '' if not set", added_in=2)] = ""
    # What prompt caching saved on this call, at this call's own prices (computed when it was priced):
    #   (cache_read_tokens + cache_write_tokens) × uncached input rate − cache_read_cost − cache_write_cost.
    # Reads save (input − read rate) per token, so a fully cached call saves > 0; writes cost their premium over
    # uncached input (negative until read back). Discounts apply as to the costs. NULL when unpriced.
    cache_savings: Annotated[float | None, Column(_COST, "what caching saved; NULL when unpriced", added_in=3)] = None
    # Captured prompts and completions (opt-in on the app side), under their own short TTL (content_ttl_days):
    # the store creates it with its TTL (schema.content_column_ddl), not as a plain added column.
    content: Annotated[dict[str, str], Column("Map(String, String)", "prompts and completions: short retention", added_in=4)] = {}
    call_id: Annotated[str, Column(
        "FixedString(32)", "hex; spans with the same call id are one call (collector/normalise/merge.py)", added_in=5
    )] = ""

    @property
    def uncached_input_tokens(self) -> int:
        return max(self.input_tokens - self.cache_read_tokens - self.cache_write_tokens, 0)


def _column_of(info: msgspec.structs.FieldInfo) -> Column:
    columns = [meta for meta in getattr(info.type, "__metadata__", ()) if isinstance(meta, Column)]
    if len(columns) != 1:
        raise TypeError(f"CallRecord.{info.name} needs exactly one Column(...) in its Annotated type")
    return columns[0]


RECORD_FIELDS: tuple[str, ...] = CallRecord.__struct_fields__
RECORD_COLUMNS: tuple[tuple[str, Column], ...] = tuple(
    (info.name, _column_of(info)) for info in msgspec.structs.fields(CallRecord)
)


def field_defaults() -> dict[str, Any]:
    """Each field's default (a fresh dict for the maps): what a row written before that field existed holds."""
    defaults: dict[str, Any] = {}
    for info in msgspec.structs.fields(CallRecord):
        if info.default_factory is not msgspec.NODEFAULT:
            defaults[info.name] = info.default_factory()
        elif info.default is not msgspec.NODEFAULT:
            defaults[info.name] = info.default
    return defaults


_FIELD_INDEX = {name: index for index, name in enumerate(RECORD_FIELDS)}
_REQUIRED = frozenset(info.name for info in msgspec.structs.fields(CallRecord) if info.required)


def record_from_mapping(row: Mapping[str, Any]) -> CallRecord:
    """A record from its values by column name, type-checked like a spool frame (msgspec.ValidationError, a
    ValueError, names the field at fault). Fields missing from `row` take their defaults; unknown names are an
    error (the caller decides what to drop)."""
    unknown = [name for name in row if name not in _FIELD_INDEX]
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown)[:5])}")
    missing = [name for name in _REQUIRED if name not in row]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(sorted(missing))}")
    defaults = field_defaults()
    try:
        return msgspec.convert([row[name] if name in row else defaults[name] for name in RECORD_FIELDS], CallRecord)
    except msgspec.ValidationError as exc:
        raise ValueError(name_fields(str(exc))) from None


_POSITION = re.compile(r"\[(\d+)\]$")


def name_fields(message: str) -> str:
    """A msgspec error about a record as an array (`... - at `$[3][16]``) with the field named (`retries`)."""
    return _POSITION.sub(lambda m: f"[{m.group(1)}] ({RECORD_FIELDS[int(m.group(1))]})" if int(m.group(1)) < len(RECORD_FIELDS)
                         else m.group(0), message.rstrip("`")) + ("`" if message.endswith("`") else "")

"""One row per call: spans that describe the same call (same call id — same service and response id — and
starting within `SAME_CALL_WINDOW` of each other) become one record. The span of the richest source is kept (sources.py ranks them, llmsight first) and its gaps are
filled from the others.

Applied three times, each cheap: within an OTLP request (receiver), within an insert batch (store process),
and against ClickHouse for calls stored by an earlier batch or by another collector (`drop_stored`): the
decision is made from what is stored, so it is the same after a resend, a restart, a `kill -9` replay of the
spool, or on a second collector. A span that arrives after its call is stored is dropped (counted as merged);
the stored row is not rewritten, so in that case the row keeps the first source's view of the call.

Logfire's stream spans carry no response id: such a span is matched, within a request or batch only, to a
span of the same service, model and identical usage that ended just before it started (the SDK's own span of
that stream). Across batches it is not matched (see the README).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from llmsight.collector.columns import CALLS_TABLE, DATABASE
from llmsight.collector.instants import utc_parameter
from llmsight.collector.normalise import variants as v
from llmsight.collector.normalise.sources import source_of
from llmsight.collector.record import CallRecord

# Fields a poorer span can fill when the kept one lacks them (the empty value means "not reported").
_TEXT_GAPS = ("response_model", "service_tier", "finish_reason", "task", "prompt_name", "prompt_version",
              "prompt_prefix_hash", "tenant", "error_type", "environment")
_TOKEN_GAPS = ("cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens", "output_tokens")
LOOKUP_CHUNK = 5000  # call ids per lookup query (~175 kB: a server takes query parameters in the URL, max 1 MiB)
SAME_CALL_WINDOW = timedelta(seconds=30)  # spans of one call start within this of each other
_RESPONSE_ID = v.RESPONSE_ID[0]  # kept in the attributes map by the normaliser


def _rank(record: CallRecord) -> int:
    return source_of(record.instrumentation).rank


def _fill(kept: CallRecord, other: CallRecord) -> None:
    for name in _TEXT_GAPS:
        if not getattr(kept, name) and getattr(other, name):
            setattr(kept, name, getattr(other, name))
    if kept.ttft_ms is None and other.ttft_ms is not None and (kept.streaming or other.streaming):
        kept.ttft_ms = other.ttft_ms
    kept.streaming = kept.streaming or other.streaming
    kept.http_status = kept.http_status or other.http_status
    kept.retries = max(kept.retries, other.retries)
    before = tuple(getattr(kept, name) for name in _TOKEN_GAPS)
    for name in _TOKEN_GAPS:
        if not getattr(kept, name) and getattr(other, name):
            setattr(kept, name, getattr(other, name))
    consistent = (
        kept.cache_read_tokens + kept.cache_write_tokens <= kept.input_tokens
        and kept.cache_write_1h_tokens <= kept.cache_write_tokens
        and kept.reasoning_tokens <= kept.output_tokens
    )
    if not consistent:  # the other span disagrees with the kept one: trust the kept one alone
        for name, value in zip(_TOKEN_GAPS, before, strict=True):
            setattr(kept, name, value)
    for key, value in other.attributes.items():
        kept.attributes.setdefault(key, value)


def _groups(records: Sequence[CallRecord]) -> list[list[CallRecord]]:
    """Records grouped by call id; a repeated id more than SAME_CALL_WINDOW apart is another call."""
    by_id: dict[str, list[list[CallRecord]]] = {}
    out: list[list[CallRecord]] = []
    for record in records:
        clusters = by_id.setdefault(record.call_id or record.trace_id + record.span_id, [])
        for cluster in clusters:
            if abs(cluster[0].ts - record.ts) <= SAME_CALL_WINDOW:
                cluster.append(record)
                break
        else:
            clusters.append([record])
            out.append(clusters[-1])
    return out


def _usage_key(record: CallRecord) -> tuple[object, ...]:
    return (record.service, record.provider, record.response_model or record.request_model, record.input_tokens,
            record.output_tokens, record.cache_read_tokens, record.cache_write_tokens)


def _stream_halves(groups: list[list[CallRecord]]) -> list[list[CallRecord]]:
    """Join a Logfire stream span (no response id) to the group of the call it reports: same usage, and that
    call's span ended at most SAME_CALL_WINDOW before the stream span started (the nearest such call)."""
    orphans = [g for g in groups if len(g) == 1 and _RESPONSE_ID not in g[0].attributes
               and g[0].streaming and source_of(g[0].instrumentation).usage_free_spans_are_halves]
    if not orphans:
        return groups
    by_usage: dict[tuple[object, ...], list[list[CallRecord]]] = {}
    for group in groups:
        if _RESPONSE_ID in group[0].attributes:
            by_usage.setdefault(_usage_key(group[0]), []).append(group)
    joined = set()
    for orphan in orphans:
        record = orphan[0]
        candidates = [g for g in by_usage.get(_usage_key(record), ()) if id(g) not in joined
                      and timedelta(0) <= record.ts - g[0].ts <= SAME_CALL_WINDOW]
        if candidates:
            target = max(candidates, key=lambda g: g[0].ts)
            target.append(record)
            joined.add(id(orphan))
    return [g for g in groups if id(g) not in joined]


def merge_calls(records: Sequence[CallRecord]) -> tuple[list[CallRecord], int]:
    """One record per call, in first-seen order; returns (records, how many spans were merged away)."""
    if len({record.call_id for record in records}) == len(records) and all(
        _RESPONSE_ID in record.attributes or not record.streaming for record in records
    ):
        return list(records), 0  # the common case: every span is a call of its own
    groups = _stream_halves(_groups(records))
    if len(groups) == len(records):
        return list(records), 0
    out = []
    for group in groups:
        if len(group) > 1:
            group.sort(key=_rank)  # stable: same rank keeps arrival order
            for other in group[1:]:
                _fill(group[0], other)
        out.append(group[0])
    return out, len(records) - len(out)


def drop_stored(store: Any, records: Sequence[CallRecord]) -> tuple[list[CallRecord], int, int]:
    """Leave out records whose call is already stored. Returns (records to insert, merged, replayed): a stored
    row with the same span id is this very span inserted before (a replayed batch), not a merge."""
    with_ids = [record for record in records if record.call_id]
    if not with_ids:
        return list(records), 0, 0
    stored: dict[str, list[tuple[str, Any]]] = {}
    low = min(record.ts for record in with_ids) - SAME_CALL_WINDOW
    high = max(record.ts for record in with_ids) + SAME_CALL_WINDOW
    for offset in range(0, len(with_ids), LOOKUP_CHUNK):
        ids = [record.call_id for record in with_ids[offset:offset + LOOKUP_CHUNK]]
        result = store.query(
            f"SELECT call_id, span_id, ts FROM {DATABASE}.{CALLS_TABLE} "
            "WHERE ts >= {low:DateTime64(6)} AND ts <= {high:DateTime64(6)} AND call_id IN {ids:Array(String)}",
            {"low": utc_parameter(low), "high": utc_parameter(high), "ids": ids},
        )
        for stored_id, span_id, ts in result.rows:
            stored.setdefault(stored_id, []).append((span_id, ts))
    if not stored:
        return list(records), 0, 0
    kept, merged, replayed = [], 0, 0
    for record in records:
        naive = utc_parameter(record.ts)
        same = [span for span, ts in stored.get(record.call_id, ()) if abs(utc_parameter(ts) - naive) <= SAME_CALL_WINDOW]
        if not same:
            kept.append(record)
        elif record.span_id in same:
            replayed += 1
        else:
            merged += 1
    return kept, merged, replayed

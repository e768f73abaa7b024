"""One row per call: spans that describe the same call (same call id — same service and response id — and
starting within `SAME_CALL_WINDOW` of each other) become one record. The span of the richest source is kept (sources.py ranks them, llmsight first) and its gaps are
filled from the others.

Applied three times, each cheap: within an OTLP request (receiver), within an insert batch (store process),
and against ClickHouse for calls stored by an earlier batch or by another collector (`drop_stored`): the
decision is made from what is stored, so it is the same after a resend, a restart, a `kill -9` replay of the
spool, or on a second collector. A span that arrives after its call is stored is dropped (counted as merged);
the stored row is not rewritten, so in that case the row keeps the first source's view of the call.

A span without any id the provider returned (OpenInference records none, nor do mistralai's built-in spans;
OpenLLMetry's Bedrock Converse spans see none) is joined with the GenAI span directly inside or around it when
both name the same provider and model (a wrapper around the SDK's own span, or the SDK's span inside a wrapper):
every span with a parent keeps its parent's span id (`llmsight.parent_span`), and the link is followed in the
batch and against ClickHouse alike, in either order of arrival.

A gateway's span (LiteLLM: normalise/gateway.py) and the app's span of the call through it come from two services,
so their call ids differ: they are joined by trace and response id (or, for an app span without an id, trace and
model group), else by response id alone, in the batch and against ClickHouse alike. The row takes the provider,
model and upstream server from the gateway's span, and the attribution of both.

Logfire's stream spans carry no response id: such a span is matched, within a request or batch only, to a
span of the same service, model and identical usage that ended just before it started (the SDK's own span of
that stream). Across batches it is not matched (see the README).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from llmsight import providers
from llmsight.collector.columns import CALLS_TABLE, DATABASE
from llmsight.collector.instants import utc_parameter
from llmsight.collector.normalise import gateway
from llmsight.collector.normalise import variants as v
from llmsight.collector.normalise.sources import IDLESS_SDK_SPANS, source_of
from llmsight.collector.record import CallRecord

# Fields a poorer span can fill when the kept one lacks them (the empty value means "not reported").
_TEXT_GAPS = ("response_model", "service_tier", "finish_reason", "task", "prompt_name", "prompt_version",
              "prompt_prefix_hash", "tenant", "error_type", "environment", "user_id", "session_id")
_TOKEN_GAPS = ("cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens", "output_tokens")
LOOKUP_CHUNK = 5000  # call ids per lookup query (~175 kB: a server takes query parameters in the URL, max 1 MiB)
SAME_CALL_WINDOW = timedelta(seconds=30)  # spans of one call start within this of each other
_RESPONSE_ID = v.RESPONSE_ID[0]  # kept in the attributes map by the normaliser
_REQUEST_ID = v.REQUEST_ID[0]
PARENT_SPAN = "llmsight.parent_span"  # the span's parent span id (hex), kept on the row
_HALF_KEYS = (gateway.CALL_ID, _RESPONSE_ID)  # what a gateway's span and the app's span of one call share
# A Bedrock call identified by its request id that also has a response id (InvokeModel's message id): the call id
# a span recording only that response id gets (OpenLLMetry's InvokeModelWithResponseStream span), kept on the row.
RESPONSE_CALL = "llmsight.response_call_id"
_CALL_OPERATIONS = frozenset({"chat", "text_completion", "embeddings"})  # not agents, tools, workflows


def _has_identity(record: CallRecord) -> bool:
    return _RESPONSE_ID in record.attributes or _REQUEST_ID in record.attributes


def _shape(record: CallRecord) -> tuple[str, str, str]:
    return record.provider, record.operation, record.request_model


def _same_call(parent: tuple[str, str, str], child: tuple[str, str, str]) -> bool:
    """An id-less parent and its child (provider, operation, request model) describe one call: same provider,
    same model (one id may carry a region or vendor prefix the other lacks), a call operation on both sides."""
    (parent_provider, parent_operation, a), (child_provider, child_operation, b) = parent, child
    if parent_provider != child_provider or not {parent_operation, child_operation} <= _CALL_OPERATIONS:
        return False
    return bool(a and b) and (a.endswith(b) or b.endswith(a))


def _is_gateway(record: CallRecord) -> bool:
    return source_of(record.instrumentation).gateway


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
    return _response_call_links(_parent_links(out, by_id), by_id)


def _response_call_links(groups: list[list[CallRecord]], by_id: dict[str, list[list[CallRecord]]]) -> list[list[CallRecord]]:
    """Join the group of a span that records only a Bedrock call's response id to the group of the call whose
    RESPONSE_CALL it is."""
    joined: set[int] = set()
    for group in groups:
        alias = group[0].attributes.get(RESPONSE_CALL)
        if alias is None or id(group) in joined:
            continue
        for other in by_id.get(alias, ()):
            if other is not group and id(other) not in joined and abs(other[0].ts - group[0].ts) <= SAME_CALL_WINDOW:
                group.extend(other)
                joined.add(id(other))
    return [group for group in groups if id(group) not in joined]


def _parent_links(groups: list[list[CallRecord]], by_id: dict[str, list[list[CallRecord]]]) -> list[list[CallRecord]]:
    """Join a child's group to its parent's group when one of the two has no id and they are the same call."""
    if not any(PARENT_SPAN in group[0].attributes for group in groups):
        return groups
    by_span = {(record.trace_id, record.span_id): group for group in groups for record in group}
    joined: set[int] = set()
    for group in groups:
        child = group[0]
        parent = by_span.get((child.trace_id, child.attributes.get(PARENT_SPAN, "")))
        if parent is None or parent is group or id(parent) in joined or id(group) in joined:
            continue
        if (not _has_identity(parent[0]) or not _has_identity(child)) and _same_call(_shape(parent[0]), _shape(child)):
            parent.extend(group)
            joined.add(id(group))
    return [group for group in groups if id(group) not in joined]


def _gateway_links(groups: list[list[CallRecord]]) -> list[list[CallRecord]]:
    """Join each gateway span's group to the group of the app's span of that call (see the module docstring)."""
    if not any(_is_gateway(group[0]) for group in groups):
        return groups
    by_response: dict[str, list[list[CallRecord]]] = {}
    by_trace: dict[str, list[list[CallRecord]]] = {}
    by_call_id: dict[str, list[list[CallRecord]]] = {}  # the app's span recorded the proxy's x-litellm-call-id
    for group in groups:
        if not any(_is_gateway(record) for record in group):
            if _RESPONSE_ID in group[0].attributes:
                by_response.setdefault(group[0].attributes[_RESPONSE_ID], []).append(group)
            if gateway.CALL_ID in group[0].attributes:
                by_call_id.setdefault(group[0].attributes[gateway.CALL_ID], []).append(group)
            by_trace.setdefault(group[0].trace_id, []).append(group)
    taken: set[int] = set()
    for group in groups:
        upstream = group[0]
        if not _is_gateway(upstream):
            continue
        near = [g for g in by_response.get(upstream.attributes.get(_RESPONSE_ID, ""), ())
                if id(g) not in taken and abs(g[0].ts - upstream.ts) <= SAME_CALL_WINDOW]
        same_id = [g for g in by_call_id.get(upstream.attributes.get(gateway.CALL_ID, ""), ())
                   if id(g) not in taken and abs(g[0].ts - upstream.ts) <= SAME_CALL_WINDOW]
        in_trace = [g for g in near if g[0].trace_id == upstream.trace_id]
        model_group = upstream.attributes.get(gateway.MODEL_GROUP, upstream.request_model)
        idless = [g for g in by_trace.get(upstream.trace_id, ()) if id(g) not in taken and not _has_identity(g[0])
                  and g[0].request_model == model_group and abs(g[0].ts - upstream.ts) <= SAME_CALL_WINDOW]
        target = next(iter(same_id or in_trace or idless or near), None)
        if target is not None:
            target.extend(group)
            taken.add(id(target))
            taken.add(id(group))
    return [group for group in groups if id(group) not in taken or not _is_gateway(group[0])]


def _take_upstream(kept: CallRecord, group: list[CallRecord]) -> None:
    """The row of a call through a gateway bills as the provider and model the gateway routed it to, at the
    server the gateway called (the proxy's own address is not who bills)."""
    upstream = next((record for record in group if _is_gateway(record)), None)
    if upstream is None or upstream is kept:
        return
    kept.provider, kept.request_model, kept.model_tier = upstream.provider, upstream.request_model, upstream.model_tier
    kept.response_model = upstream.response_model or kept.response_model
    for key in gateway.server_of(kept.attributes):
        del kept.attributes[key]
    kept.attributes.update(gateway.server_of(upstream.attributes))


def _usage_key(record: CallRecord) -> tuple[object, ...]:
    return (record.service, record.provider, record.response_model or record.request_model, record.input_tokens,
            record.output_tokens, record.cache_read_tokens, record.cache_write_tokens)


def _stream_half(record: CallRecord) -> bool:
    """A Logfire stream span: no response id, its call's usage; the SDK's span of that stream ended just before."""
    return (_RESPONSE_ID not in record.attributes and record.streaming
            and source_of(record.instrumentation).usage_free_spans_are_halves)


def _after(orphan: CallRecord, call: CallRecord) -> bool:
    return timedelta(0) <= orphan.ts - call.ts <= SAME_CALL_WINDOW


def _sdk_span(record: CallRecord) -> bool:
    """A provider SDK's own span without the provider's id (mistralai 1.x's), in no trace with its wrapper's."""
    return record.provider in IDLESS_SDK_SPANS and not _has_identity(record)


def _sdk_usage_key(record: CallRecord) -> tuple[object, ...]:
    # The SDK's span counts input (cache included) and output, never the cache reads the wrapper's span has.
    return record.service, record.provider, record.request_model, record.input_tokens, record.output_tokens


def _inside(orphan: CallRecord, call: CallRecord) -> bool:
    return call.ts <= orphan.ts and orphan.ts + timedelta(milliseconds=orphan.duration_ms) <= (
        call.ts + timedelta(milliseconds=call.duration_ms))


def _usage_matches(groups: list[list[CallRecord]], orphan_of: Callable[[CallRecord], bool],
                   key: Callable[[CallRecord], tuple[object, ...]],
                   fits: Callable[[CallRecord, CallRecord], bool]) -> list[list[CallRecord]]:
    """Join each lone span without an id (`orphan_of`) to the group of the identified call with the same usage
    (`key`) that `fits` it in time (the latest such call), within a request or batch only (module docstring).
    Logfire's stream span ends after the SDK's span of that stream; mistralai 1.x's own span runs inside
    OpenLLMetry's span of the call, which is not current, so the two are in traces of their own."""
    orphans = [g for g in groups if len(g) == 1 and orphan_of(g[0])]
    if not orphans:
        return groups
    by_usage: dict[tuple[object, ...], list[list[CallRecord]]] = {}
    for group in groups:
        if _has_identity(group[0]):
            by_usage.setdefault(key(group[0]), []).append(group)
    joined = set()
    for orphan in orphans:
        record = orphan[0]
        candidates = [g for g in by_usage.get(key(record), ()) if id(g) not in joined and fits(record, g[0])]
        if candidates:
            target = max(candidates, key=lambda g: g[0].ts)
            target.append(record)
            joined.add(id(orphan))
    return [g for g in groups if id(g) not in joined]


def merge_calls(records: Sequence[CallRecord]) -> tuple[list[CallRecord], int]:
    """One record per call, in first-seen order; returns (records, how many spans were merged away)."""
    spans = {record.span_id for record in records}
    calls = {record.call_id for record in records}
    if len(calls) == len(records) and all(
        (_RESPONSE_ID in record.attributes or not record.streaming) and not _sdk_span(record) and not _is_gateway(record)
        and record.attributes.get(PARENT_SPAN, "") not in spans and record.attributes.get(RESPONSE_CALL, "") not in calls
        for record in records
    ):
        return list(records), 0  # the common case: every span is a call of its own
    groups = _usage_matches(_groups(records), _stream_half, _usage_key, _after)
    groups = _gateway_links(_usage_matches(groups, _sdk_span, _sdk_usage_key, _inside))
    if len(groups) == len(records):
        return list(records), 0
    out = []
    for group in groups:
        if len(group) > 1:
            group.sort(key=_rank)  # stable: same rank keeps arrival order
            for other in group[1:]:
                _fill(group[0], other)
            _take_upstream(group[0], group)
        out.append(group[0])
    return out, len(records) - len(out)


def drop_stored(store: Any, records: Sequence[CallRecord]) -> tuple[list[CallRecord], int, int]:
    """Leave out records whose call is already stored. Returns (records to insert, merged, replayed): a stored
    row with the same span id is this very span inserted before (a replayed batch), not a merge. A call is
    stored when a row has the record's call id, or is the record's parent or child for the same call with one
    of the two lacking an id (see the module docstring)."""
    with_ids = [record for record in records if record.call_id]
    if not with_ids:
        return list(records), 0, 0
    low = min(record.ts for record in with_ids) - SAME_CALL_WINDOW
    high = max(record.ts for record in with_ids) + SAME_CALL_WINDOW
    # A Bedrock call stored under its request id or under its response id alone (RESPONSE_CALL), either first:
    # the aliases are call ids too, looked up with the records' own.
    aliases = {record.attributes[RESPONSE_CALL] for record in with_ids if RESPONSE_CALL in record.attributes}
    stored = _stored_calls(store, sorted({record.call_id for record in with_ids} | aliases), "call_id", low, high)
    # The parent / child lookups only for records that can be one half of such a pair: the common batch (every
    # span with its provider's id) pays for the call id lookup alone.
    linkable = [record for record in with_ids if not _has_identity(record) or record.provider in IDLESS_SDK_SPANS]
    parents = sorted({record.attributes[PARENT_SPAN] for record in linkable if PARENT_SPAN in record.attributes})
    stored_parents = _stored_calls(store, parents, "span_id", low, high) if parents else {}
    children = sorted({record.span_id for record in linkable})
    stored_children = _stored_calls(store, children, f"attributes['{PARENT_SPAN}']", low, high) if children else {}
    response_only = sorted({r.call_id for r in with_ids if r.provider == providers.AWS_BEDROCK.name
                            and _REQUEST_ID not in r.attributes and _RESPONSE_ID in r.attributes})
    stored_aliased = _stored_calls(store, response_only, f"attributes['{RESPONSE_CALL}']", low, high) if response_only else {}
    # A gateway's span and the app's span of the call through it (two services): by LiteLLM's call id, or by
    # response id, only for the spans that are one of the two (an app span that recorded the proxy's call id).
    halves = [record for record in with_ids if _is_gateway(record) or gateway.CALL_ID in record.attributes]
    across = {key: sorted({r.attributes[key] for r in halves if key in r.attributes}) for key in _HALF_KEYS}
    stored_across = {key: _stored_across(store, values, key, low, high) for key, values in across.items() if values}
    if (not stored and not stored_parents and not stored_children and not stored_aliased
            and not any(stored_across.values())):
        return list(records), 0, 0
    kept, merged, replayed = [], 0, 0
    for record in records:
        naive = utc_parameter(record.ts)
        candidates = (stored.get(record.call_id, []) + stored.get(record.attributes.get(RESPONSE_CALL, ""), [])
                      + stored_aliased.get(record.call_id, []))
        same = [span for span, ts, *_ in candidates if abs(utc_parameter(ts) - naive) <= SAME_CALL_WINDOW]
        linked = stored_parents.get(record.attributes.get(PARENT_SPAN, ""), []) + stored_children.get(record.span_id, [])
        if record.span_id in same:
            replayed += 1
        elif same or any(_linked(record, row, naive) for row in linked) or _gateway_half(record, stored_across, naive):
            merged += 1
        else:
            kept.append(record)
    return kept, merged, replayed


def _gateway_half(record: CallRecord, stored: dict[str, dict[str, list[tuple[Any, ...]]]], naive: Any) -> bool:
    """A stored row is the other half of `record`'s call through a gateway: same LiteLLM call id or response id,
    near in time, one of the two the gateway's span."""
    rows = [row for key in _HALF_KEYS if key in record.attributes for row in stored.get(key, {}).get(record.attributes[key], ())]
    return any(span != record.span_id and abs(utc_parameter(ts) - naive) <= SAME_CALL_WINDOW
               and source_of(scope).gateway != _is_gateway(record) for span, ts, scope in rows)


def _stored_across(store: Any, keys: list[str], attribute: str, low: Any, high: Any) -> dict[str, list[tuple[Any, ...]]]:
    """value -> stored rows (span_id, ts, instrumentation) whose `attribute` has that value."""
    return _lookup(store, keys, f"attributes['{attribute}']", "span_id, ts, instrumentation", low, high)


def _linked(record: CallRecord, row: tuple[Any, ...], naive: Any) -> bool:
    """A stored parent or child row (span_id, ts, provider, operation, request_model, trace_id, identified) of
    `record` is the same call: same trace, one side without an id, same provider and model, near in time."""
    _span, ts, provider, operation, model, trace_id, identified = row
    return (trace_id == record.trace_id and abs(utc_parameter(ts) - naive) <= SAME_CALL_WINDOW
            and (not identified or not _has_identity(record)) and _same_call((provider, operation, model), _shape(record)))


def _stored_calls(store: Any, keys: list[str], column: str, low: Any, high: Any) -> dict[str, list[tuple[Any, ...]]]:
    """key -> stored rows (span_id, ts, provider, operation, request_model, trace_id, identified) whose `column`
    is that key; `identified`: the row carries a provider's id."""
    identified = f"mapContains(attributes, '{_RESPONSE_ID}') OR mapContains(attributes, '{_REQUEST_ID}')"
    return _lookup(store, keys, column, f"span_id, ts, provider, operation, request_model, trace_id, {identified}",
                   low, high)


def _lookup(store: Any, keys: list[str], column: str, fields: str, low: Any, high: Any) -> dict[str, list[tuple[Any, ...]]]:
    """key -> `fields` of the rows stored between `low` and `high` whose `column` is that key."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for offset in range(0, len(keys), LOOKUP_CHUNK):
        result = store.query(
            f"SELECT {column}, {fields} FROM {DATABASE}.{CALLS_TABLE} "
            "WHERE ts >= {low:DateTime64(6)} AND ts <= {high:DateTime64(6)} AND "
            f"{column} IN {{ids:Array(String)}}",
            {"low": utc_parameter(low), "high": utc_parameter(high), "ids": keys[offset:offset + LOOKUP_CHUNK]},
        )
        for key, *row in result.rows:
            found.setdefault(key, []).append(tuple(row))
    return found

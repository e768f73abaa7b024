"""Decoding an OTLP `ExportTraceServiceRequest` with bounded memory, whatever the body.

A byte limit alone does not bound a parser: 16 MiB of protobuf is 8 million empty `ResourceSpans` (2 bytes
each, about 50 in memory once parsed), 16 MiB of JSON is 8 million empty objects. So neither transport's body
is parsed whole:

- protobuf: the wire format is walked (not parsed) down to the spans, counting resources, scopes and spans
  against MAX_SPANS_PER_REQUEST before anything is built; each resource, scope and span is then parsed on its
  own, when normalisation reaches it, and dropped after. A message over SMALL_MESSAGE_BYTES is walked first,
  counting its fields (every field is at least one object once parsed) against per-message and per-request
  budgets, so no single span can blow up either.
- JSON: the values a body would become (commas and brackets outside strings) are counted before `json.loads`,
  against MAX_JSON_VALUES, which bounds the document and the spans converted from it.

Either way a request's decoded groups are `(resource, scope name, spans)`, spans produced lazily.
"""

from __future__ import annotations

import json
import re
from base64 import b64encode
from collections.abc import Iterator
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmsight.collector.normalise.spans import SpanGroup
from llmsight.collector.receive import limits
from llmsight.collector.receive.ingest import BadRequest
from llmsight.collector.receive.limits import TooLarge

Buffer = bytes | memoryview

SMALL_MESSAGE_BYTES = 64 * 1024  # parsed as is: at most ~30x this in memory, one at a time
MAX_FIELDS_PER_MESSAGE = 131_072  # in one resource, scope or span over SMALL_MESSAGE_BYTES (nested included)
MAX_FIELDS_WALKED = 524_288  # in all such messages of one request together (bounds the walking's CPU)
MAX_DEPTH = 32  # nested AnyValue arrays and lists; upb's own limit is 100
MAX_JSON_VALUES = 524_288  # objects, arrays and members/elements of one OTLP/JSON body

# Message fields (by field number) of the OTLP messages whose insides are walked; other fields are leaves.
_CHILDREN: dict[str, dict[int, str]] = {
    "Resource": {1: "KeyValue"},
    "InstrumentationScope": {3: "KeyValue"},
    "Span": {9: "KeyValue", 11: "Event", 13: "Link", 15: "Status"},
    "Event": {3: "KeyValue"},
    "Link": {4: "KeyValue"},
    "Status": {},
    "KeyValue": {2: "AnyValue"},
    "AnyValue": {5: "ArrayValue", 6: "KeyValueList"},
    "ArrayValue": {1: "AnyValue"},
    "KeyValueList": {1: "KeyValue"},
}
_WIRE_VARINT, _WIRE_I64, _WIRE_LEN, _WIRE_I32 = 0, 1, 2, 5


def _varint(data: Buffer, position: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= end or shift > 63:
            raise BadRequest("body is not a valid OTLP ExportTraceServiceRequest protobuf: truncated or overlong varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def _fields(data: Buffer, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end) of each field in data[start:end], without parsing."""
    position = start
    while position < end:
        key, position = _varint(data, position, end)
        number, wire = key >> 3, key & 7
        if wire == _WIRE_VARINT:
            _, after = _varint(data, position, end)
        elif wire == _WIRE_LEN:
            length, position = _varint(data, position, end)
            after = position + length
        elif wire == _WIRE_I64:
            after = position + 8
        elif wire == _WIRE_I32:
            after = position + 4
        else:  # groups (3, 4) are not in OTLP; 6 and 7 do not exist
            raise BadRequest(f"body is not a valid OTLP ExportTraceServiceRequest protobuf: wire type {wire}")
        if after > end or number == 0:
            raise BadRequest("body is not a valid OTLP ExportTraceServiceRequest protobuf: a field runs past its message")
        yield number, wire, position, after
        position = after


class _Budget:
    """Fields walked in one request's large messages."""

    def __init__(self) -> None:
        self.walked = 0

    def check(self, kind: str, data: memoryview) -> None:
        """Refuse a message over SMALL_MESSAGE_BYTES whose parse would build too many objects."""
        if len(data) <= SMALL_MESSAGE_BYTES:
            return
        fields = 0
        stack = [(kind, 0, len(data), 0)]
        while stack:
            kind, start, end, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise TooLarge(f"a {kind} is nested more than {MAX_DEPTH} deep")
            children = _CHILDREN[kind]
            for number, wire, value_start, value_end in _fields(data, start, end):
                fields += 1
                if fields > MAX_FIELDS_PER_MESSAGE:
                    raise TooLarge(f"a span, resource or scope holds more than {MAX_FIELDS_PER_MESSAGE} values")
                child = children.get(number) if wire == _WIRE_LEN else None
                if child is not None:
                    stack.append((child, value_start, value_end, depth + 1))
        self.walked += fields
        if self.walked > MAX_FIELDS_WALKED:
            raise TooLarge(f"the request's spans hold more than {MAX_FIELDS_WALKED} values: send fewer spans per request")


def _parse(message_type: Any, kind: str, data: memoryview, budget: _Budget) -> Any:
    budget.check(kind, data)
    try:
        return message_type.FromString(data)
    except DecodeError as exc:
        raise BadRequest(f"body is not a valid OTLP ExportTraceServiceRequest protobuf: {exc}") from None


def _too_many(what: str, count: int) -> TooLarge:
    return TooLarge(
        f"{count} {what} in one request exceeds the limit of {limits.MAX_SPANS_PER_REQUEST}: "
        "lower the exporter's max_export_batch_size (OTEL_BSP_MAX_EXPORT_BATCH_SIZE; default 512)"
    )


class _Counts:
    """Resources, scopes and spans met so far in one request, each bounded by the span limit (an empty
    ResourceSpans costs 2 bytes on the wire and far more once built)."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def add(self, what: str) -> None:
        count = self._seen[what] = self._seen.get(what, 0) + 1
        if count > limits.MAX_SPANS_PER_REQUEST:
            raise _too_many(what, count)


def _head_and_items(data: memoryview, start: int, end: int, items: str, counts: _Counts) -> tuple[memoryview, list[memoryview]]:
    """Field 1 (the resource, or the scope) and every field 2 (the scope_spans, or the spans) of a ResourceSpans or
    ScopeSpans in data[start:end], unparsed; the items are counted as they are met."""
    head, found = data[0:0], []
    for number, wire, value_start, value_end in _fields(data, start, end):
        if wire != _WIRE_LEN:
            continue
        if number == 1:
            head = data[value_start:value_end]
        elif number == 2:
            counts.add(items)
            found.append(data[value_start:value_end])
    return head, found


def protobuf_groups(body: Buffer) -> list[SpanGroup]:
    """The request's groups; raises BadRequest (not OTLP) or TooLarge (over a limit) before parsing a span."""
    data = memoryview(body)
    counts = _Counts()
    # (resource bytes, [(scope bytes, [span bytes])])
    layout: list[tuple[memoryview, list[tuple[memoryview, list[memoryview]]]]] = []
    for number, wire, start, end in _fields(data, 0, len(data)):
        if number != 1 or wire != _WIRE_LEN:
            continue  # unknown fields are skipped, as the protobuf parser would keep them aside
        counts.add("resource_spans")
        resource, scope_spans = _head_and_items(data, start, end, "scope_spans", counts)
        scopes = []
        for scope_bytes in scope_spans:
            scopes.append(_head_and_items(scope_bytes, 0, len(scope_bytes), "spans", counts))
        layout.append((resource, scopes))
    budget = _Budget()
    out: list[SpanGroup] = []
    for resource_bytes, scope_list in layout:
        resource = _parse(Resource, "Resource", resource_bytes, budget)
        for scope_bytes, span_list in scope_list:
            name = _parse(InstrumentationScope, "InstrumentationScope", scope_bytes, budget).name
            out.append((resource, name, _parsed_spans(span_list, budget)))
    return out


def _parsed_spans(span_list: list[memoryview], budget: _Budget) -> Iterator[Span]:
    for span_bytes in span_list:
        yield _parse(Span, "Span", span_bytes, budget)


# A JSON string (escapes included), matched without backtracking.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def _count_json_values(body: bytes) -> int:
    """Upper bound on the values `json.loads` builds: each is an object or array (a bracket) or follows a comma.
    Counted over the bytes first (fast); only when that bound is over the limit are the strings taken out,
    whose commas and brackets are text, not values."""
    count = body.count(b"{") + body.count(b"[") + body.count(b",")
    if count <= MAX_JSON_VALUES:
        return count
    bare = _JSON_STRING.sub(b'""', body)
    return bare.count(b"{") + bare.count(b"[") + bare.count(b",")


_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping expects base64."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str) and value:
                try:
                    node[key] = b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise BadRequest(f"{key} {value[:40]!r} is not hex") from None
            else:
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


def _from_json(node: Any, message: Any) -> Any:
    try:
        _hex_ids_to_base64(node)
        return json_format.ParseDict(node, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise BadRequest(f"body is not an OTLP ExportTraceServiceRequest: {exc}") from None
    except RecursionError:
        raise BadRequest("body is nested too deeply to be an OTLP request") from None


def _json_list(node: Any, name: str) -> list[Any]:
    value = node.get(name, []) if isinstance(node, dict) else None
    if not isinstance(value, list):
        raise BadRequest(f"body is not an OTLP ExportTraceServiceRequest: {name} must be a list")
    return value


def _json_object(node: Any, name: str) -> dict[str, Any]:
    value = node.get(name) or {} if isinstance(node, dict) else None
    if not isinstance(value, dict):
        raise BadRequest(f"body is not an OTLP ExportTraceServiceRequest: {name} must be an object")
    return value


def json_groups(body: bytes) -> list[SpanGroup]:
    values = _count_json_values(body)
    if values > MAX_JSON_VALUES:
        raise TooLarge(f"JSON body holds {values} values, over the limit of {MAX_JSON_VALUES}: send fewer spans per request")
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("body is nested too deeply to be an OTLP request") from None
    if not isinstance(document, dict):
        raise BadRequest("body must be a JSON object (OTLP ExportTraceServiceRequest)")
    layout: list[tuple[Resource, str, list[Any]]] = []
    spans = 0
    for resource_spans in _json_list(document, "resourceSpans"):
        resource = _from_json(_json_object(resource_spans, "resource"), Resource())
        for scope_spans in _json_list(resource_spans, "scopeSpans"):
            scope = _from_json(_json_object(scope_spans, "scope"), InstrumentationScope())
            span_list = _json_list(scope_spans, "spans")
            spans += len(span_list)
            if spans > limits.MAX_SPANS_PER_REQUEST:
                raise _too_many("spans", spans)
            layout.append((resource, scope.name, span_list))
    # Every span is checked before any is stored: a bad one makes the whole body a 400, as a parse of it would.
    return [(resource, name, [_from_json(span, Span()) for span in span_list]) for resource, name, span_list in layout]

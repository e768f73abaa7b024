"""The receive path both OTLP transports share: decode → normalise → durable submit → response."""

from __future__ import annotations

import json
from base64 import b64encode
from datetime import datetime, timedelta, timezone
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from llmsight.collector.accept import Acceptor, Backpressure
from llmsight.collector.normalise import normalise_request
from llmsight.collector.normalise.spans import NormaliseResult
from llmsight.collector.shared import SharedState
from llmsight.errors import LLMSightError
from llmsight.provider_hosts import DeclaredHosts

MAX_REASONS = 5  # reasons listed in partial_success.error_message


class BadRequest(LLMSightError, ValueError):
    """The body is not an OTLP trace export (answer 400 / INVALID_ARGUMENT with this reason)."""


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


def decode_protobuf(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise BadRequest(f"body is not a valid OTLP ExportTraceServiceRequest protobuf: {exc}") from None
    return request


def decode_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("body is nested too deeply to be an OTLP request") from None
    if not isinstance(document, dict):
        raise BadRequest("body must be a JSON object (OTLP ExportTraceServiceRequest)")
    try:
        _hex_ids_to_base64(document)
        return json_format.ParseDict(document, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise BadRequest(f"body is not an OTLP ExportTraceServiceRequest: {exc}") from None
    except RecursionError:
        raise BadRequest("body is nested too deeply to be an OTLP request") from None


class Ingest:
    def __init__(
        self, acceptor: Acceptor, *, default_service: str = "unknown_service", provider_hosts: DeclaredHosts = ()
    ) -> None:
        self.acceptor = acceptor
        self.default_service = default_service
        self.provider_hosts = provider_hosts
        self.stats: SharedState = acceptor.shared  # the counters /metrics reports, from either process

    def export(self, request: ExportTraceServiceRequest) -> ExportTraceServiceResponse:
        """Store the request's GenAI spans durably; raises Backpressure when the collector is behind."""
        result = normalise_request(request, default_service=self.default_service, provider_hosts=self.provider_hosts)
        self._reject_out_of_window(result)
        total = result.ignored + result.rejected + result.merged + len(result.records)
        try:
            fresh = self.acceptor.submit(result.records) if result.records else 0
        except Backpressure:
            self.stats.add(requests=1, backpressure=1)
            raise
        self.stats.add(
            requests=1,
            spans_received=total,
            genai_spans=len(result.records),
            ignored_spans=result.ignored,
            rejected_spans=result.rejected,
            duplicate_spans=len(result.records) - fresh,
            merged_spans=result.merged,
        )
        response = ExportTraceServiceResponse()
        if result.rejected:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=result.rejected, error_message="; ".join(result.errors))
            )
        return response

    def _reject_out_of_window(self, result: NormaliseResult) -> None:
        """Spans that started outside [now - max_span_age, now + max_span_lead] are rejected with a reason:
        never stored under a wrong date, in a partition the TTL drops at once, or in one that never expires."""
        limits = self.acceptor.limits
        now = datetime.now(timezone.utc)
        earliest, latest = now - timedelta(seconds=limits.max_span_age_s), now + timedelta(seconds=limits.max_span_lead_s)
        kept = [record for record in result.records if earliest <= record.ts <= latest]
        if len(kept) == len(result.records):
            return
        for record in result.records:
            if not earliest <= record.ts <= latest:
                result.rejected += 1
                if len(result.errors) < MAX_REASONS:
                    result.errors.append(
                        f"span {record.span_id}: start time {record.ts:%Y-%m-%dT%H:%M:%SZ} is outside the accepted time "
                        f"window ({earliest:%Y-%m-%dT%H:%M}Z .. {latest:%Y-%m-%dT%H:%M}Z)"
                    )
        result.records = kept

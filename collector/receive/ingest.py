"""The receive path both OTLP transports share: decode → normalise → durable submit → response."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from llmsight.collector.accept import Acceptor, Backpressure
from llmsight.collector.normalise.spans import NormaliseResult, SpanGroup, normalise_groups
from llmsight.collector.shared import SharedState
from llmsight.errors import LLMSightError
from llmsight.provider_hosts import DeclaredHosts

MAX_REASONS = 5  # reasons listed in partial_success.error_message


class BadRequest(LLMSightError, ValueError):
    """The body is not an OTLP trace export (answer 400 / INVALID_ARGUMENT with this reason)."""


class Ingest:
    def __init__(
        self, acceptor: Acceptor, *, default_service: str = "unknown_service", provider_hosts: DeclaredHosts = ()
    ) -> None:
        self.acceptor = acceptor
        self.default_service = default_service
        self.provider_hosts = provider_hosts
        self.stats: SharedState = acceptor.shared  # the counters /metrics reports, from either process

    def export(self, groups: Iterable[SpanGroup]) -> ExportTraceServiceResponse:
        """Store the request's GenAI spans durably; raises Backpressure when the collector is behind. `groups` are
        a decoded request's (resource, scope name, spans): collector/receive/decode.py."""
        result = normalise_groups(groups, default_service=self.default_service, provider_hosts=self.provider_hosts)
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

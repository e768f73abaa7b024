"""OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.

Bounded like the HTTP receiver (collector/receive/limits.py): messages over MAX_DECOMPRESSED_BYTES are refused
by gRPC itself (RESOURCE_EXHAUSTED), more than MAX_SPANS_PER_REQUEST spans get INVALID_ARGUMENT (not retried),
at most MAX_CONCURRENT_REQUESTS calls run at once (more get RESOURCE_EXHAUSTED, which exporters retry), and
idle connections are closed. gRPC's C core owns the sockets: no thread per connection."""

from __future__ import annotations

import hmac
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from llmsight.collector.accept import Backpressure
from llmsight.collector.receive import limits
from llmsight.collector.receive.ingest import Ingest


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, ingest: Ingest, auth_token: str | None) -> None:
        self.ingest = ingest
        self.auth_token = auth_token

    def Export(self, request: ExportTraceServiceRequest, context: Any) -> ExportTraceServiceResponse:  # noqa: N802
        if self.auth_token:
            metadata = dict(context.invocation_metadata())
            sent = str(metadata.get("authorization", "")).encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(sent, f"Bearer {self.auth_token}".encode()):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            limits.check_span_count(request)
        except limits.TooLarge as exc:
            self.ingest.stats.add(bad_requests=1)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            return self.ingest.export(request)
        except Backpressure as exc:
            # UNAVAILABLE + RetryInfo: the OTLP exporters retry after the given delay.
            seconds = max(1, round(exc.retry_after_seconds))
            retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))
            context.set_trailing_metadata((("google.rpc.retryinfo-bin", retry.SerializeToString()),))
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
            raise AssertionError("unreachable: grpc's abort() raises") from exc


class OtlpGrpcReceiver:
    def __init__(self, ingest: Ingest, host: str, port: int, *, auth_token: str | None) -> None:
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=limits.MAX_CONCURRENT_REQUESTS, thread_name_prefix="llmsight-otlp-grpc"),
            maximum_concurrent_rpcs=limits.MAX_CONCURRENT_REQUESTS,
            options=[
                ("grpc.max_receive_message_length", limits.MAX_DECOMPRESSED_BYTES),
                ("grpc.max_connection_idle_ms", 60_000),
            ],
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]  # generated code
            _TraceService(ingest, auth_token), self._server
        )
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot bind OTLP/gRPC on {host}:{port}")

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 2.0) -> None:
        self._server.stop(grace).wait()

"""OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.

Bounded like the HTTP receiver (collector/receive/limits.py): messages over MAX_DECOMPRESSED_BYTES are refused
by gRPC itself (RESOURCE_EXHAUSTED); the message arrives as bytes and is decoded with bounded memory
(collector/receive/decode.py), over a limit it gets INVALID_ARGUMENT (not retried). Export is served as a
client-streaming method, so the handler runs as soon as the call's headers arrive, before its message: a call
without the bearer token is refused at once, and one whose message does not come within REQUEST_READ_TIMEOUT_S
is cancelled, so neither holds one of the MAX_GRPC_STREAMS call slots for long. At most MAX_CONCURRENT_REQUESTS
messages are decoded at once (more get RESOURCE_EXHAUSTED, which exporters retry), and idle connections are
closed. gRPC's C core owns the sockets: no thread per connection."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from llmsight.collector.accept import Backpressure
from llmsight.collector.receive import limits
from llmsight.collector.receive.decode import protobuf_groups
from llmsight.collector.receive.ingest import BadRequest, Ingest

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def grpc_address(host: str, port: int) -> str:
    """gRPC's `host:port`, an IPv6 address in brackets."""
    host = host.strip("[]")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _TraceService(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc ships no type information
    def __init__(self, ingest: Ingest, auth_token: str | None, read_timeout_s: float) -> None:
        self.ingest = ingest
        self.auth_token = auth_token
        self.read_timeout_s = read_timeout_s
        self._decoding = threading.BoundedSemaphore(limits.MAX_CONCURRENT_REQUESTS)

    def service(self, handler_call_details: Any) -> grpc.RpcMethodHandler | None:
        if handler_call_details.method != EXPORT_METHOD:
            return None
        return grpc.stream_unary_rpc_method_handler(  # request_deserializer None: the message as bytes
            self.export, response_serializer=ExportTraceServiceResponse.SerializeToString
        )

    def export(self, messages: Iterator[bytes], context: Any) -> ExportTraceServiceResponse:
        if self.auth_token:
            sent = next((value for key, value in context.invocation_metadata() if key == "authorization"), "")
            sent_bytes = sent if isinstance(sent, bytes) else str(sent).encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(sent_bytes, f"Bearer {self.auth_token}".encode()):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        timer = threading.Timer(self.read_timeout_s, context.cancel)  # no message: the call ends
        timer.start()
        try:
            body = next(messages, None)
        finally:
            timer.cancel()
        if body is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Export takes one ExportTraceServiceRequest message")
            raise AssertionError("unreachable: grpc's abort() raises")
        if not self._decoding.acquire(blocking=False):
            self.ingest.stats.add(backpressure=1)
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "collector is busy; retry")
        try:
            return self._store(body, context)
        finally:
            self._decoding.release()

    def _store(self, body: bytes, context: Any) -> ExportTraceServiceResponse:
        try:
            return self.ingest.export(protobuf_groups(body))
        except (limits.TooLarge, BadRequest) as exc:
            self.ingest.stats.add(bad_requests=1)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Backpressure as exc:
            # UNAVAILABLE + RetryInfo: the OTLP exporters retry after the given delay.
            seconds = max(1, round(exc.retry_after_seconds))
            retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))
            context.set_trailing_metadata((("google.rpc.retryinfo-bin", retry.SerializeToString()),))
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        raise AssertionError("unreachable: grpc's abort() raises")


class OtlpGrpcReceiver:
    def __init__(
        self, ingest: Ingest, host: str, port: int, *, auth_token: str | None,
        read_timeout_s: float = limits.REQUEST_READ_TIMEOUT_S,
    ) -> None:
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=limits.MAX_GRPC_STREAMS, thread_name_prefix="llmsight-otlp-grpc"),
            handlers=[_TraceService(ingest, auth_token, read_timeout_s)],
            maximum_concurrent_rpcs=limits.MAX_GRPC_STREAMS,
            options=[
                ("grpc.max_receive_message_length", limits.MAX_DECOMPRESSED_BYTES),
                ("grpc.max_connection_idle_ms", 60_000),
                # gRPC sets SO_REUSEPORT by default: a second collector would then share the port and split the
                # exports between two stores. Without it a taken port fails to bind, as it does for HTTP.
                ("grpc.so_reuseport", 0),
            ],
        )
        try:
            self.port = self._server.add_insecure_port(grpc_address(host, port))
        except RuntimeError:  # grpcio >= 1.51 raises where older releases returned 0
            self.port = 0
        if self.port == 0:
            raise OSError(f"cannot bind OTLP/gRPC on {grpc_address(host, port)}: the address is in use or not available")

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 2.0) -> None:
        self._server.stop(grace).wait()

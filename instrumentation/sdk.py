"""Set up the OpenTelemetry SDK for an app that has none: a TracerProvider exporting OTLP/HTTP to the
llmsight collector (127.0.0.1:4318 unless the standard OTEL_* variables say otherwise)."""

from __future__ import annotations

import atexit
import os
from typing import Any

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"


def configure(*, service_name: str | None = None, endpoint: str | None = None, instrument: bool = True, **settings: Any) -> Any:
    """Install a global TracerProvider with a batching OTLP/HTTP exporter, then `llmsight.instrument()`.

    Honours OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT,
    OTEL_EXPORTER_OTLP_(TRACES_)HEADERS and OTEL_SDK_DISABLED. Returns the provider (None if disabled).
    Export runs in a background thread: a collector that is down costs dropped spans, never app errors.
    """
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {SERVICE_NAME: service_name} if service_name else {}
    provider = TracerProvider(resource=Resource.create(attributes))
    if endpoint is None and not (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    ):
        endpoint = DEFAULT_ENDPOINT
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces") if endpoint else OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    atexit.register(provider.shutdown)  # flush what is buffered when the app exits
    if instrument:
        from llmsight._instrument import instrument as instrument_sdks

        instrument_sdks(tracer_provider=provider, **settings)
    return provider

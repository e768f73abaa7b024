"""Set up the OpenTelemetry SDK for an app that has none: a TracerProvider exporting OTLP/HTTP to the
llmsight collector (127.0.0.1:4318 unless the standard OTEL_* variables say otherwise).

Two promises to the app: its exit is never held up by more than `EXIT_FLUSH_SECONDS` (the SDK's own
shutdown would wait out the exporter's retries, 7-11 s with the collector down or hanging), and an
unreachable collector costs one concise warning per outage on the app's stderr, not a retry log.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
# At exit, what is still buffered gets this long to reach the collector; then the app exits regardless.
EXIT_FLUSH_SECONDS = 0.8
# The OTLP exporter's own loggers: their per-retry messages are replaced by our one warning.
_EXPORTER_LOGGERS = ("opentelemetry.exporter.otlp.common.http", "opentelemetry.exporter.otlp.proto.http.trace_exporter")

logger = logging.getLogger("llmsight")
_exporting = threading.local()  # set while our exporter runs: the filter below quiets only its messages


class _QuietWhileExporting(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_exporting, "active", False)


_QUIET = _QuietWhileExporting()


class CollectorExporter(SpanExporter):
    """The OTLP exporter, with one warning when the collector becomes unreachable and one when it is back
    (instead of the exporter's line per retry). The exporter (requests, protobuf: ≈ 100 ms of imports) is built
    when the first spans are exported, on the export thread, not while the app starts."""

    def __init__(self, make_otlp: Callable[[], SpanExporter]) -> None:
        self._make_otlp = make_otlp
        self._built: SpanExporter | None = None
        self._building = threading.Lock()
        self.failing = False
        self._shut = False
        for name in _EXPORTER_LOGGERS:
            logging.getLogger(name).addFilter(_QUIET)

    @property
    def _otlp(self) -> SpanExporter:
        with self._building:
            if self._built is None:
                self._built = self._make_otlp()
            return self._built

    @property
    def endpoint(self) -> str:
        return str(getattr(self._built, "_endpoint", "the collector"))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        _exporting.active = True
        reason = ""
        try:
            result = self._otlp.export(spans)
        except Exception as exc:  # an exporter bug must not become a traceback in the app
            logger.debug("llmsight: span export raised", exc_info=True)
            result, reason = SpanExportResult.FAILURE, f" ({exc})"
        finally:
            _exporting.active = False
        if result is SpanExportResult.SUCCESS:
            if self.failing:
                logger.warning("llmsight: the collector at %s answers again; spans are exported", self.endpoint)
            self.failing = False
        elif not self.failing:
            self.failing = True
            logger.warning(
                "llmsight: could not export %d span(s) to %s%s; spans are dropped until it answers "
                "(is `llmsight collector` running?)", len(spans), self.endpoint, reason,
            )
        return result

    def shutdown(self) -> None:
        if not self._shut and self._built is not None:  # the exit hook and the processor may both ask
            self._shut = True
            self._built.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._built.force_flush(timeout_millis) if self._built is not None else True


def _shutdown_within(provider: TracerProvider, exporter: CollectorExporter, seconds: float) -> None:
    """The provider's shutdown, given at most `seconds`. The export worker is a daemon thread, so an
    export still retrying or blocked on a hanging collector is abandoned at exit instead of awaited."""
    flush = threading.Thread(target=provider.shutdown, name="llmsight-exit-flush", daemon=True)
    flush.start()
    flush.join(seconds)
    if flush.is_alive():
        # Ends the exporter's retry back-off; what it logs while giving up runs inside our export() on the
        # worker thread, where the filter already quiets it.
        exporter.shutdown()
        flush.join(0.05)
        if not exporter.failing:
            logger.warning(
                "llmsight: the collector at %s did not take the last spans within %.1f s; exiting without them",
                exporter.endpoint, seconds,
            )


def configure(*, service_name: str | None = None, endpoint: str | None = None, instrument: bool = True, **settings: Any) -> Any:
    """Install a global TracerProvider with a batching OTLP/HTTP exporter, then `llmsight.instrument()`.

    Honours OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT,
    OTEL_EXPORTER_OTLP_(TRACES_)HEADERS and OTEL_SDK_DISABLED. Returns the provider (None if disabled).
    Export runs in a background thread: a collector that is down costs dropped spans, never app errors,
    and at most EXIT_FLUSH_SECONDS at exit. A misspelt or invalid setting raises ConfigurationError
    before anything is installed.
    """
    from llmsight._instrument import validated_settings

    validated_settings(settings)  # fail before touching global state
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {SERVICE_NAME: service_name} if service_name else {}
    # shutdown_on_exit=False: the SDK's own exit hook would wait for the exporter's retries.
    provider = TracerProvider(resource=Resource.create(attributes), shutdown_on_exit=False)
    if endpoint is None and not (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    ):
        endpoint = DEFAULT_ENDPOINT
    traces_url = f"{endpoint.rstrip('/')}/v1/traces" if endpoint else None

    def make_otlp() -> SpanExporter:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=traces_url) if traces_url else OTLPSpanExporter()

    exporter = CollectorExporter(make_otlp)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    atexit.register(_shutdown_within, provider, exporter, EXIT_FLUSH_SECONDS)
    if instrument:
        from llmsight._instrument import instrument as instrument_sdks

        instrument_sdks(tracer_provider=provider, **settings)
    return provider

"""`llmsight.instrument()` / `llmsight.uninstrument()`: every provider SDK that is installed."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from typing import Any

from opentelemetry.trace import TracerProvider

from llmsight.config import InstrumentationSettings

logger = logging.getLogger("llmsight")

# (SDK import name, instrumentor path)
PROVIDERS = (
    ("openai", "llmsight.openai:OpenAIInstrumentor"),
    ("anthropic", "llmsight.anthropic:AnthropicInstrumentor"),
)

_lock = threading.Lock()
_active: list[Any] = []
_http_instrumentor: Any = None


def _load(path: str) -> Any:
    module_name, _, class_name = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        logger.debug("llmsight: instrumentor %s unavailable", path, exc_info=True)
        return None


def instrument(tracer_provider: TracerProvider | None = None, **settings: Any) -> None:
    """Instrument every installed provider SDK. Calling it again is a no-op until `uninstrument()`.

    Keyword arguments override `LLMSIGHT_*` settings: `capture_content`, `content_max_chars`, `redact`,
    `inject_stream_usage`, `model_tiers`, `instrument_http`. Spans go to `tracer_provider`, or to the
    global provider (`llmsight run` configures one that exports OTLP to the collector).
    """
    global _http_instrumentor
    with _lock:
        if _active:
            return
        config = InstrumentationSettings(**settings)
        for sdk, path in PROVIDERS:
            if importlib.util.find_spec(sdk) is None:
                continue
            instrumentor_cls = _load(path)
            if instrumentor_cls is None:
                continue
            instrumentor = instrumentor_cls()
            try:
                instrumentor.instrument(tracer_provider=tracer_provider, settings=config)
            except Exception:  # an SDK version we cannot patch must not break the app
                logger.warning("llmsight: could not instrument %s; its calls will not be traced", sdk, exc_info=True)
                continue
            _active.append(instrumentor)
        if config.instrument_http:
            _http_instrumentor = _instrument_http(tracer_provider)


def _instrument_http(tracer_provider: TracerProvider | None) -> Any:
    """Each HTTP attempt (retries included) as a child span of the call: makes 429 storms visible."""
    try:
        from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor
    except ImportError:
        return None
    instrumentor = HTTPX2ClientInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        return None  # the app instruments httpx2 itself: leave it alone
    instrumentor.instrument(tracer_provider=tracer_provider)
    return instrumentor


def uninstrument() -> None:
    """Restore every patched SDK method."""
    global _http_instrumentor
    with _lock:
        while _active:
            _active.pop().uninstrument()
        if _http_instrumentor is not None:
            _http_instrumentor.uninstrument()
            _http_instrumentor = None

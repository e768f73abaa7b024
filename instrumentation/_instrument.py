"""`llmsight.instrument()` / `llmsight.uninstrument()`: every provider SDK that is installed."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from typing import Any

from opentelemetry.trace import TracerProvider

from llmsight import _inner_spans
from llmsight.config import InstrumentationSettings

logger = logging.getLogger("llmsight")

# (SDK import name, instrumentor path)
PROVIDERS = (
    ("openai", "llmsight.openai:OpenAIInstrumentor"),
    ("anthropic", "llmsight.anthropic:AnthropicInstrumentor"),
    ("google.genai", "llmsight.google_genai:GoogleGenAIInstrumentor"),
    ("botocore", "llmsight.bedrock:BedrockInstrumentor"),
    ("mistralai.client", "llmsight.mistral:MistralInstrumentor"),
)

_lock = threading.Lock()
_active: list[Any] = []
_http_instrumentors: list[Any] = []


def _installed(sdk: str) -> bool:
    try:
        return importlib.util.find_spec(sdk) is not None
    except ImportError:  # a dotted name whose parent package is missing ("google.genai" without "google")
        return False


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
    `inject_stream_usage`, `model_tiers`, `provider_hosts`, `key_hint`, `instrument_http`; a misspelt or invalid one raises
    `llmsight.ConfigurationError`. Spans go to `tracer_provider`, or to the global provider (`llmsight run`
    configures one that exports OTLP to the collector).
    """
    config = InstrumentationSettings.from_arguments(**settings)
    with _lock:
        if _active:
            return
        for sdk, path in PROVIDERS:
            if not _installed(sdk):
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
            _http_instrumentors.extend(_instrument_http(tracer_provider))
        if _active:
            _inner_spans.enable(tracer_provider)


# The SDKs' HTTP clients: openai/anthropic 1.x-2.x use httpx, later majors httpx2.
_HTTP_CLIENT_INSTRUMENTORS = (("httpx", "HTTPXClientInstrumentor"), ("httpx2", "HTTPX2ClientInstrumentor"))


def _instrument_http(tracer_provider: TracerProvider | None) -> list[Any]:
    """Opt-in: each HTTP attempt (retries included) as a child span of the call, for whichever of httpx /
    httpx2 is installed. Clients the app already instruments itself are left alone."""
    try:
        instrumentors = importlib.import_module("opentelemetry.instrumentation.httpx")
    except ImportError:
        logger.warning("llmsight: instrument_http needs opentelemetry-instrumentation-httpx; no HTTP spans")
        return []
    started = []
    for library, class_name in _HTTP_CLIENT_INSTRUMENTORS:
        instrumentor_cls = getattr(instrumentors, class_name, None)
        if instrumentor_cls is None or importlib.util.find_spec(library) is None:
            continue
        instrumentor = instrumentor_cls()
        if instrumentor.is_instrumented_by_opentelemetry:
            continue
        instrumentor.instrument(tracer_provider=tracer_provider)
        started.append(instrumentor)
    return started


def uninstrument() -> None:
    """Restore every patched SDK method."""
    with _lock:
        while _active:
            _active.pop().uninstrument()
        while _http_instrumentors:
            _http_instrumentors.pop().uninstrument()
        _inner_spans.disable()

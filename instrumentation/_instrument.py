"""`llmsight.instrument()` / `llmsight.uninstrument()`: every provider SDK, when the app imports it.

An SDK already imported is instrumented at once; any other gets a post-import hook (_import_hooks), which
instruments it the moment the app imports it. So start-up costs what the app uses: an app that calls only
openai never imports anthropic (≈ 1 s of CPU) nor llmsight's instrumentor for it.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import TracerProvider

from llmsight._env import ENV_PREFIX
from llmsight._import_hooks import when_imported

if TYPE_CHECKING:
    from llmsight.config import InstrumentationSettings

logger = logging.getLogger("llmsight")

# (SDK module whose import triggers the instrumentor, instrumentor path)
PROVIDERS = (
    ("openai", "llmsight.openai:OpenAIInstrumentor"),
    ("anthropic", "llmsight.anthropic:AnthropicInstrumentor"),
    ("google.genai", "llmsight.google_genai:GoogleGenAIInstrumentor"),
    ("botocore", "llmsight.bedrock:BedrockInstrumentor"),
    ("mistralai.client", "llmsight.mistral:MistralInstrumentor"),
)


class _Pending:
    """What `instrument()` was asked for, kept until each SDK is imported."""

    def __init__(self, tracer_provider: TracerProvider | None, settings: dict[str, Any],
                 validated: InstrumentationSettings | None) -> None:
        self.tracer_provider = tracer_provider
        self._arguments = settings
        self._settings = validated

    def settings(self) -> InstrumentationSettings:
        if self._settings is None:  # the defaults, built when the first SDK is instrumented
            from llmsight.config import InstrumentationSettings

            self._settings = InstrumentationSettings.from_arguments(**self._arguments)
        return self._settings


_lock = threading.Lock()
_active: list[Any] = []
_http_instrumentors: list[Any] = []
_waiting: dict[str, _Pending] = {}  # SDK module -> the instrument() call it waits for
_hooked: set[str] = set()  # SDK modules given a post-import hook (it fires once, on their import)
_instrumented = False


def _load(path: str) -> Any:
    module_name, _, class_name = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        logger.debug("llmsight: instrumentor %s unavailable", path, exc_info=True)
        return None


def validated_settings(settings: dict[str, Any]) -> InstrumentationSettings | None:
    """The settings, checked now if arguments or LLMSIGHT_* variables may be wrong (ConfigurationError); None
    when there is nothing to check: the defaults, built when an SDK is instrumented (pydantic is not imported
    at start-up for them)."""
    if not (settings or any(name.startswith(ENV_PREFIX) for name in os.environ)):
        return None
    from llmsight.config import InstrumentationSettings

    return InstrumentationSettings.from_arguments(**settings)


def instrument(tracer_provider: TracerProvider | None = None, **settings: Any) -> None:
    """Instrument every supported provider SDK: those already imported now, the others when the app imports
    them. Calling it again is a no-op until `uninstrument()`.

    Keyword arguments override `LLMSIGHT_*` settings: `capture_content`, `content_max_chars`, `redact`,
    `inject_stream_usage`, `model_tiers`, `provider_hosts`, `key_hint`, `instrument_http`; a misspelt or invalid one raises
    `llmsight.ConfigurationError`. Spans go to `tracer_provider`, or to the global provider (`llmsight run`
    configures one that exports OTLP to the collector).
    """
    global _instrumented
    validated = validated_settings(settings)
    pending = _Pending(tracer_provider, settings, validated)
    with _lock:
        if _instrumented:
            return
        _instrumented = True
        for sdk, _ in PROVIDERS:
            _waiting[sdk] = pending
    for sdk, _ in PROVIDERS:
        if sdk in sys.modules or sdk in _hooked:
            _instrument_now(sdk)  # imported already (a hook would not fire again)
        else:
            _hooked.add(sdk)
            when_imported(sdk, _on_import)  # calls it now if imported meanwhile
    if validated is not None and validated.instrument_http:
        _http_instrumentors.extend(_instrument_http(tracer_provider))


def _on_import(module: Any) -> None:
    try:
        _instrument_now(module.__name__)
    except Exception:  # runs inside the app's import statement: never fail it
        logger.warning("llmsight: could not instrument %s", module.__name__, exc_info=True)


def _instrument_now(sdk: str) -> None:
    """Instrument `sdk` if an `instrument()` call waits for it and it is imported; never raises into the app's
    import."""
    if sdk not in sys.modules:
        return
    with _lock:
        pending = _waiting.pop(sdk, None)
    if pending is None:
        return
    path = dict(PROVIDERS)[sdk]
    instrumentor_cls = _load(path)
    if instrumentor_cls is None:
        return
    instrumentor = instrumentor_cls()
    try:
        instrumentor.instrument(tracer_provider=pending.tracer_provider, settings=pending.settings())
    except Exception:  # an SDK version we cannot patch must not break the app
        logger.warning("llmsight: could not instrument %s; its calls will not be traced", sdk, exc_info=True)
        return
    with _lock:
        _active.append(instrumentor)
    from llmsight import _inner_spans  # with the first SDK instrumented: it imports the call machinery

    _inner_spans.enable(pending.tracer_provider)


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
    """Restore every patched SDK method; SDKs imported later are no longer instrumented."""
    global _instrumented
    with _lock:
        _waiting.clear()
        _instrumented = False
        while _active:
            _active.pop().uninstrument()
        while _http_instrumentors:
            _http_instrumentors.pop().uninstrument()
    if "llmsight._inner_spans" in sys.modules:  # enabled with the first SDK instrumented
        sys.modules["llmsight._inner_spans"].disable()

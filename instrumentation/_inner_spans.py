"""Another instrumentation's span INSIDE an llmsight call span is the same call reported a second time
(OpenInference's openai, anthropic and mistralai spans run inside the SDK method llmsight wraps). It carries no
id to join it with llmsight's span by (OpenInference records no response id), so llmsight marks it when it
starts: `llmsight.call.inside` = the llmsight span's id. The collector reads a marked span as part of that call,
not as a call of its own. Only direct children of a call span in flight that already carry GenAI attributes
(`gen_ai.*`, `llm.*`, `openinference.*`) are marked; llmsight's own spans and plain HTTP spans never are.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor

from llmsight import attributes as attr
from llmsight._call import current_call

logger = logging.getLogger("llmsight")
_GENAI_PREFIXES = ("gen_ai.", "llm.", "openinference.")
# By identity: a provider need not be hashable (Logfire's ProxyTracerProvider is a dataclass, so unhashable).
_marked_providers: list[weakref.ref[Any]] = []
_enabled = False


class InnerSpanMarker(SpanProcessor):
    """Marks inner spans when they start; does nothing else."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if not _enabled:
            return
        call = current_call.get()
        if call is None:
            return
        try:
            parent = span.parent
            call_context = call.span.get_span_context()
            if parent is None or parent.span_id != call_context.span_id:
                return
            scope = getattr(span, "instrumentation_scope", None)
            if scope is not None and scope.name.startswith("llmsight."):
                return
            if any(key.startswith(_GENAI_PREFIXES) for key in (span.attributes or ())):
                span.set_attribute(attr.LLMSIGHT_CALL_INSIDE, format(call_context.span_id, "016x"))
        except Exception:  # never into the app
            logger.debug("llmsight: could not mark an inner span", exc_info=True)



def enable(tracer_provider: Any) -> None:
    """Mark inner spans of `tracer_provider` (the global one when None); once per provider."""
    global _enabled
    _enabled = True
    if tracer_provider is None:
        from opentelemetry import trace

        tracer_provider = trace.get_tracer_provider()
    add = getattr(tracer_provider, "add_span_processor", None)
    if add is None or any(marked() is tracer_provider for marked in _marked_providers):
        return
    try:
        add(InnerSpanMarker())
        _marked_providers[:] = [marked for marked in _marked_providers if marked() is not None]
        _marked_providers.append(weakref.ref(tracer_provider))
    except Exception:
        logger.debug("llmsight: could not add the inner span marker", exc_info=True)


def disable() -> None:
    global _enabled
    _enabled = False

"""OpenTelemetry instrumentation of the `anthropic` SDK.

    from llmsight.anthropic import AnthropicInstrumentor
    AnthropicInstrumentor().instrument(tracer_provider=provider)

Patched (sync and async, and the `beta.messages` twins): `messages.create` (stream or not),
`messages.parse`, and `messages.stream` — whose manager issues its request only when entered, so the
call starts there and its raw event stream is proxied underneath the SDK's `MessageStream` helpers
(`text_stream`, `get_final_message`, `until_done` keep working). One call, one span.

The anthropic SDK (2.x) also emits spans of its own by default. While llmsight instruments it, no client
gets a tracer from the SDK — neither new clients nor those created and used before `instrument()`, which
had resolved theirs already — so a call is not reported twice; the collector still accepts the SDK's own
spans from apps that do not use llmsight.

Message Batches (docs/batch.md): `messages.batches.create` / `retrieve` / `list` / `cancel` get spans of their own,
and each result read from `messages.batches.results(id)` becomes a call span.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Tracer, get_tracer
from wrapt import wrap_function_wrapper

from llmsight._common import CallContext
from llmsight._stainless import hook_base_client, unhook_base_client
from llmsight._version import __version__
from llmsight._wrapping import ResultKinds, async_wrapper, sync_wrapper
from llmsight.anthropic._managers import async_stream_manager_wrapper, stream_manager_wrapper
from llmsight.config import InstrumentationSettings

_MESSAGES = "anthropic.resources.messages.messages"
_BETA_MESSAGES = "anthropic.resources.beta.messages.messages"
_BATCHES = "anthropic.resources.messages.batches"
_BETA_BATCHES = "anthropic.resources.beta.messages.batches"
_BATCH_METHODS = ("create", "retrieve", "cancel", "list", "results")


def _no_sdk_tracer(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
    return None


_SDK_TRACER_PROPERTY = "_tracer"  # BaseClient._tracer: the client's cached SDK tracer, None = no spans


def _suppress_sdk_spans(base_client: Any) -> None:
    """Clients that already resolved their tracer keep it in `_lazy_tracer`: the property that returns it
    answers None while llmsight instruments (the SDK then makes no span)."""
    cls = getattr(base_client, "BaseClient", None)
    original = cls.__dict__.get(_SDK_TRACER_PROPERTY) if cls is not None else None
    if isinstance(original, property) and not hasattr(original.fget, "__llmsight_original__"):
        def no_tracer(self: Any) -> None:
            return None

        no_tracer.__llmsight_original__ = original  # type: ignore[attr-defined]
        setattr(cls, _SDK_TRACER_PROPERTY, property(no_tracer))


def _restore_sdk_spans(base_client: Any) -> None:
    cls = getattr(base_client, "BaseClient", None)
    current = cls.__dict__.get(_SDK_TRACER_PROPERTY) if cls is not None else None
    original = getattr(getattr(current, "fget", None), "__llmsight_original__", None)
    if original is not None:
        setattr(cls, _SDK_TRACER_PROPERTY, original)


class AnthropicInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    def instrumentation_dependencies(self) -> Collection[str]:
        return ("anthropic >= 0.60, < 3",)  # the majors tested (scripts/sdk_compat.py, the test suite)

    def _instrument(self, **kwargs: Any) -> None:
        import anthropic
        from anthropic._response import APIResponse, AsyncAPIResponse

        from llmsight.anthropic._operations import MessagesOperation

        settings = kwargs.get("settings") or InstrumentationSettings()
        tracer: Tracer = get_tracer(__name__, __version__, kwargs.get("tracer_provider"))
        op = MessagesOperation(CallContext(settings))
        kinds = ResultKinds(
            sync_streams=(anthropic.Stream,),
            async_streams=(anthropic.AsyncStream,),
            raw=(APIResponse, AsyncAPIResponse),
        )

        def get_tracer_() -> Tracer:
            return tracer

        for module in self._modules():
            for method in ("create", "parse"):
                if hasattr(importlib.import_module(module).Messages, method):
                    wrap_function_wrapper(module, f"Messages.{method}", sync_wrapper(op, get_tracer_, kinds))
                    wrap_function_wrapper(module, f"AsyncMessages.{method}", async_wrapper(op, get_tracer_, kinds))
            wrap_function_wrapper(module, "Messages.stream", stream_manager_wrapper(op, get_tracer_))
            wrap_function_wrapper(module, "AsyncMessages.stream", async_stream_manager_wrapper(op, get_tracer_))
        self._instrument_batches(op.ctx, get_tracer_)
        hook_base_client("anthropic")
        base_client = importlib.import_module("anthropic._base_client")
        if hasattr(base_client, "get_tracer"):
            wrap_function_wrapper(base_client, "get_tracer", _no_sdk_tracer)
        _suppress_sdk_spans(base_client)

    @staticmethod
    def _batch_modules() -> list[str]:
        modules = []
        for module in (_BATCHES, _BETA_BATCHES):
            try:
                importlib.import_module(module)
                modules.append(module)
            except ImportError:
                pass
        return modules

    def _instrument_batches(self, ctx: CallContext, get_tracer_: Any) -> None:
        from llmsight._batch import (
            BatchState,
            CreateBatch,
            ListBatches,
            async_management_wrapper,
            sync_management_wrapper,
        )
        from llmsight.anthropic._batches import AnthropicBatches, async_results_wrapper, results_wrapper

        api = AnthropicBatches()
        calls = {"create": CreateBatch(api), "retrieve": BatchState(api, "batch.retrieve"),
                 "cancel": BatchState(api, "batch.cancel")}
        for module in self._batch_modules():
            for method, call in calls.items():
                wrap_function_wrapper(module, f"Batches.{method}", sync_management_wrapper(call, get_tracer_))
                wrap_function_wrapper(module, f"AsyncBatches.{method}", async_management_wrapper(call, get_tracer_))
            # AsyncBatches.list returns a paginator, not a coroutine: only the sync one is read.
            wrap_function_wrapper(module, "Batches.list", sync_management_wrapper(ListBatches(api, "batch.list"), get_tracer_))
            wrap_function_wrapper(module, "Batches.results", results_wrapper(ctx, get_tracer_))
            wrap_function_wrapper(module, "AsyncBatches.results", async_results_wrapper(ctx, get_tracer_))

    @staticmethod
    def _modules() -> list[str]:
        modules = [_MESSAGES]
        try:
            importlib.import_module(_BETA_MESSAGES)
            modules.append(_BETA_MESSAGES)
        except ImportError:
            pass
        return modules

    def _uninstrument(self, **kwargs: Any) -> None:
        for module in self._modules():
            mod = importlib.import_module(module)
            for method in ("create", "parse", "stream"):
                if hasattr(mod.Messages, method):
                    unwrap(mod.Messages, method)
                    unwrap(mod.AsyncMessages, method)
        for module in self._batch_modules():
            mod = importlib.import_module(module)
            for method in _BATCH_METHODS:
                unwrap(mod.Batches, method)
                if method != "list":
                    unwrap(mod.AsyncBatches, method)
        unhook_base_client("anthropic")
        base_client = importlib.import_module("anthropic._base_client")
        if hasattr(getattr(base_client, "get_tracer", None), "__wrapped__"):
            unwrap(base_client, "get_tracer")
        _restore_sdk_spans(base_client)

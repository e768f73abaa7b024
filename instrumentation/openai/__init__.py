"""OpenTelemetry instrumentation of the `openai` SDK (OpenAI, AsyncOpenAI, AzureOpenAI and any
OpenAI-compatible `base_url`).

    from llmsight.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=provider)

Patched (sync and async): `chat.completions.create` / `.parse` (`.stream` goes through `create`),
`responses.create` / `.parse` (`.stream` goes through `create`), `embeddings.create`. The patches sit
on the resource classes, so `with_raw_response` and `with_streaming_response` are covered too.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Tracer, get_tracer
from wrapt import wrap_function_wrapper

from llmsight._common import CallContext
from llmsight._stainless import hook_base_client, unhook_base_client
from llmsight._version import __version__
from llmsight._wrapping import Operation, ResultKinds, async_wrapper, sync_wrapper
from llmsight.config import InstrumentationSettings

_CHAT = "openai.resources.chat.completions.completions"
_RESPONSES = "openai.resources.responses.responses"
_EMBEDDINGS = "openai.resources.embeddings"

# (module, sync class, async class, methods, operation kind)
_TARGETS = (
    (_CHAT, "Completions", "AsyncCompletions", ("create", "parse"), "chat"),
    (_RESPONSES, "Responses", "AsyncResponses", ("create", "parse"), "responses"),
    (_EMBEDDINGS, "Embeddings", "AsyncEmbeddings", ("create",), "embeddings"),
)


class OpenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 2, < 4",)  # the majors tested (scripts/sdk_compat.py, the test suite)

    def _instrument(self, **kwargs: Any) -> None:
        import openai
        from openai._legacy_response import LegacyAPIResponse
        from openai._response import APIResponse, AsyncAPIResponse

        from llmsight.openai._operations import ChatOperation, EmbeddingsOperation, ResponsesOperation

        settings = kwargs.get("settings") or InstrumentationSettings()
        tracer: Tracer = get_tracer(__name__, __version__, kwargs.get("tracer_provider"))
        ctx = CallContext(settings)
        kinds = ResultKinds(
            sync_streams=(openai.Stream,),
            async_streams=(openai.AsyncStream,),
            raw=(LegacyAPIResponse, APIResponse, AsyncAPIResponse),
        )
        operations: dict[str, Operation] = {
            "chat": ChatOperation(ctx),
            "responses": ResponsesOperation(ctx),
            "embeddings": EmbeddingsOperation(ctx),
        }

        def get_tracer_() -> Tracer:
            return tracer

        for module, sync_cls, async_cls, methods, kind in _TARGETS:
            op = operations[kind]
            for method in methods:
                wrap_function_wrapper(module, f"{sync_cls}.{method}", sync_wrapper(op, get_tracer_, kinds))
                wrap_function_wrapper(module, f"{async_cls}.{method}", async_wrapper(op, get_tracer_, kinds))
        hook_base_client("openai")

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib

        for module, sync_cls, async_cls, methods, _ in _TARGETS:
            mod = importlib.import_module(module)
            for method in methods:
                unwrap(getattr(mod, sync_cls), method)
                unwrap(getattr(mod, async_cls), method)
        unhook_base_client("openai")

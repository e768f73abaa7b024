"""OpenTelemetry instrumentation of the `openai` SDK (OpenAI, AsyncOpenAI, AzureOpenAI and any
OpenAI-compatible `base_url`).

    from llmsight.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=provider)

Patched (sync and async): `chat.completions.create` / `.parse` (`.stream` goes through `create`),
`responses.create` / `.parse` (`.stream` goes through `create`), `embeddings.create`. The patches sit
on the resource classes, so `with_raw_response` and `with_streaming_response` are covered too.

Batch API (docs/batch.md): `batches.create` / `retrieve` / `list` / `cancel` get spans of their own, and reading a
batch's output or error file through `files.content(...)` gives one call span per request in it.
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
_BATCHES = "openai.resources.batches"
_FILES = "openai.resources.files"

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
        self._instrument_batches(ctx, tracer, get_tracer_)
        hook_base_client("openai")

    @staticmethod
    def _instrument_batches(ctx: CallContext, tracer: Tracer, get_tracer_: Any) -> None:
        from openai._legacy_response import HttpxBinaryResponseContent

        from llmsight._batch import (
            BatchState,
            CreateBatch,
            ListBatches,
            async_management_wrapper,
            sync_management_wrapper,
        )
        from llmsight.openai._batches import OpenAIBatches, wrap_file

        api = OpenAIBatches(ctx)
        calls = {"create": CreateBatch(api), "retrieve": BatchState(api, "batch.retrieve"),
                 "cancel": BatchState(api, "batch.cancel"), "list": ListBatches(api, "batch.list")}
        for method, call in calls.items():
            wrap_function_wrapper(_BATCHES, f"Batches.{method}", sync_management_wrapper(call, get_tracer_))
            if method != "list":  # AsyncBatches.list returns a paginator, not a coroutine
                wrap_function_wrapper(_BATCHES, f"AsyncBatches.{method}", async_management_wrapper(call, get_tracer_))

        def content(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            return wrap_file(ctx, tracer, HttpxBinaryResponseContent, instance, args, kwargs, wrapped(*args, **kwargs))

        def async_content(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            async def run() -> Any:
                return wrap_file(ctx, tracer, HttpxBinaryResponseContent, instance, args, kwargs,
                                 await wrapped(*args, **kwargs))

            return run()

        wrap_function_wrapper(_FILES, "Files.content", content)
        wrap_function_wrapper(_FILES, "AsyncFiles.content", async_content)

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib

        for module, sync_cls, async_cls, methods, _ in _TARGETS:
            mod = importlib.import_module(module)
            for method in methods:
                unwrap(getattr(mod, sync_cls), method)
                unwrap(getattr(mod, async_cls), method)
        batches, files = importlib.import_module(_BATCHES), importlib.import_module(_FILES)
        for method in ("create", "retrieve", "cancel", "list"):
            unwrap(batches.Batches, method)
        for method in ("create", "retrieve", "cancel"):
            unwrap(batches.AsyncBatches, method)
        unwrap(files.Files, "content")
        unwrap(files.AsyncFiles, "content")
        unhook_base_client("openai")

"""OpenTelemetry instrumentation of the `google-genai` SDK (`google.genai.Client`: Gemini API and
Vertex AI, sync and `client.aio`).

    from llmsight.google_genai import GoogleGenAIInstrumentor
    GoogleGenAIInstrumentor().instrument(tracer_provider=provider)

Patched: `Models._generate_content`, `_generate_content_stream`, `_embed_content` and their `AsyncModels`
twins — the SDK's per-request methods behind `models.generate_content`, `generate_content_stream`,
`embed_content` and `chats` sessions. One billed request, one span: automatic function calling and
automatic continuation send several requests for one public call, and each gets its own span. Provider
`gcp.vertex_ai` when the client is configured for Vertex AI, else `gcp.gemini`. Retries (tenacity,
only when `HttpOptions.retry_options` is set) are counted through `BaseApiClient._request_once`.

Usage semantics (checked against the SDK's `GenerateContentResponseUsageMetadata` and Google's API
reference; see `_usage.py`): input = `promptTokenCount` (which already INCLUDES
`cachedContentTokenCount`) + `toolUsePromptTokenCount`; cache read = `cachedContentTokenCount`; output =
`candidatesTokenCount` + `thoughtsTokenCount` (candidates EXCLUDE thoughts); reasoning = thoughts.
Stream chunks carry cumulative usage: the last chunk's is taken, never a sum. TTFT is measured to the
first chunk with candidate content parts (text, thought or function call).

Request models are recorded as model ids: `models/gemini-2.5-flash` and Vertex resource names
(`projects/…/publishers/google/models/gemini-2.5-flash`) become `gemini-2.5-flash`, so tiers and prices
match; the response model is the API's `modelVersion`.

Supported: google-genai >= 2.0, < 4 (tested with 3.4; 2.0 is the first with every patched method).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Tracer, get_tracer
from wrapt import wrap_function_wrapper

from llmsight import _attempts
from llmsight._call import current_call
from llmsight._common import CallContext
from llmsight._version import __version__
from llmsight._wrapping import ResultKinds, async_wrapper, sync_wrapper
from llmsight.config import InstrumentationSettings
from llmsight.google_genai import _hooks

_MODELS = "google.genai.models"
_API_CLIENT = "google.genai._api_client"
_HOOKS = (
    ("BaseApiClient._request", _attempts.on_request),
    ("BaseApiClient._async_request", _attempts.on_async_request),
    ("BaseApiClient._request_once", _hooks.on_request_once),
    ("BaseApiClient._async_request_once", _hooks.on_async_request_once),
)


def _sync_stream_wrapper(op: Any, get_tracer_: Callable[[], Tracer]) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if current_call.get() is not None:
            return wrapped(*args, **kwargs)
        try:
            call = op.start(get_tracer_(), instance, kwargs)
        except Exception:
            return wrapped(*args, **kwargs)
        try:
            chunks = wrapped(*args, **kwargs)  # a generator: the request goes out on its first next()
        except BaseException as exc:
            call.end(error=exc)
            raise
        return _hooks.traced_stream(chunks, call, op.accumulator(call))

    return wrapper


class GoogleGenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    def instrumentation_dependencies(self) -> Collection[str]:
        return ("google-genai >= 2.0",)

    def _instrument(self, **kwargs: Any) -> None:
        from llmsight.google_genai._operations import EmbedContentOperation, GenerateContentOperation

        settings = kwargs.get("settings") or InstrumentationSettings()
        tracer: Tracer = get_tracer(__name__, __version__, kwargs.get("tracer_provider"))
        ctx = CallContext(settings)
        # Async streams: awaiting `AsyncModels._generate_content_stream` sends the request and returns an
        # async generator, which the shared proxy wraps. Sync streams are lazy generators (see _hooks).
        kinds = ResultKinds(sync_streams=(), async_streams=(types.AsyncGeneratorType,), raw=())
        generate = GenerateContentOperation(ctx, streaming=False)
        stream = GenerateContentOperation(ctx, streaming=True)
        embed = EmbedContentOperation(ctx)

        def get_tracer_() -> Tracer:
            return tracer

        wrap_function_wrapper(_MODELS, "Models._generate_content", sync_wrapper(generate, get_tracer_, kinds))
        wrap_function_wrapper(_MODELS, "AsyncModels._generate_content", async_wrapper(generate, get_tracer_, kinds))
        wrap_function_wrapper(_MODELS, "Models._generate_content_stream", _sync_stream_wrapper(stream, get_tracer_))
        wrap_function_wrapper(_MODELS, "AsyncModels._generate_content_stream", async_wrapper(stream, get_tracer_, kinds))
        wrap_function_wrapper(_MODELS, "Models._embed_content", sync_wrapper(embed, get_tracer_, kinds))
        wrap_function_wrapper(_MODELS, "AsyncModels._embed_content", async_wrapper(embed, get_tracer_, kinds))
        for target, hook in _HOOKS:
            wrap_function_wrapper(_API_CLIENT, target, hook)

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib

        models = importlib.import_module(_MODELS)
        for cls in (models.Models, models.AsyncModels):
            for method in ("_generate_content", "_generate_content_stream", "_embed_content"):
                unwrap(cls, method)
        api_client = importlib.import_module(_API_CLIENT).BaseApiClient
        for target, _ in _HOOKS:
            unwrap(api_client, target.split(".", 1)[1])

"""OpenTelemetry instrumentation of the `mistralai` SDK (`Mistral` client).

    from llmsight.mistral import MistralInstrumentor
    MistralInstrumentor().instrument(tracer_provider=provider)

Patched (sync and async): `chat.complete`, `chat.stream` (which `chat.parse` / `parse_stream` call) and
`embeddings.create`. Streams are the SDK's `EventStream` / `EventStreamAsync`, wrapped by the shared
transparent proxies (usage from the final chunk, TTFT to the first chunk with content). Provider
`mistral_ai`.

Retries: the SDK's Speakeasy retry loop (only when a `RetryConfig` is given) asks
`utils.retries._get_sleep_interval` for the backoff before every retry, with the failed attempt's
response: each becomes a `llmsight.retry` event (status, Retry-After) and one more `llmsight.retries`.
The final response's status (from `BaseSDK.do_request`) becomes `http.response.status_code`; errors
carry `status_code` too.

Usage semantics: see `_usage.py` (`prompt_tokens` includes cached tokens, `completion_tokens` includes
reasoning).

Supported: mistralai >= 2.0, < 4 (tested with 3.7; the `mistralai.client` package layout).
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Tracer, get_tracer
from wrapt import wrap_function_wrapper

from llmsight._call import current_call
from llmsight._common import CallContext
from llmsight._version import __version__
from llmsight._wrapping import ResultKinds, async_wrapper, sync_wrapper
from llmsight.config import InstrumentationSettings

_CHAT = "mistralai.client.chat"
_EMBEDDINGS = "mistralai.client.embeddings"
_BASESDK = "mistralai.client.basesdk"
_RETRIES = "mistralai.client.utils.retries"


def _on_sleep_interval(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Speakeasy's backoff asks for the sleep before every retry, with the failed attempt's error: a
    `TemporaryError` holding the retried response (429, 5xx…) or a connection error."""
    call = current_call.get()
    if call is not None:
        exception = args[0] if args else kwargs.get("exception")
        response = getattr(exception, "response", None)
        status = getattr(response, "status_code", None)
        headers = getattr(response, "headers", None) or {}
        call.record_retry(status if type(status) is int else None, headers.get("retry-after"))
    return wrapped(*args, **kwargs)


def _on_do_request(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    response = wrapped(*args, **kwargs)
    _record_status(response)
    return response


async def _on_do_request_async(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    response = await wrapped(*args, **kwargs)
    _record_status(response)
    return response


def _record_status(response: Any) -> None:
    call = current_call.get()
    status = getattr(response, "status_code", None)
    if call is not None and type(status) is int:
        call.http_status = status


class MistralInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    def instrumentation_dependencies(self) -> Collection[str]:
        return ("mistralai >= 2.0",)

    def _instrument(self, **kwargs: Any) -> None:
        from mistralai.client.utils.eventstreaming import EventStream, EventStreamAsync

        from llmsight.mistral._operations import ChatOperation, EmbeddingsOperation

        settings = kwargs.get("settings") or InstrumentationSettings()
        tracer: Tracer = get_tracer(__name__, __version__, kwargs.get("tracer_provider"))
        ctx = CallContext(settings)
        kinds = ResultKinds(sync_streams=(EventStream,), async_streams=(EventStreamAsync,), raw=())
        complete, stream, embed = ChatOperation(ctx, streaming=False), ChatOperation(ctx, streaming=True), EmbeddingsOperation(ctx)

        def get_tracer_() -> Tracer:
            return tracer

        wrap_function_wrapper(_CHAT, "Chat.complete", sync_wrapper(complete, get_tracer_, kinds))
        wrap_function_wrapper(_CHAT, "Chat.complete_async", async_wrapper(complete, get_tracer_, kinds))
        wrap_function_wrapper(_CHAT, "Chat.stream", sync_wrapper(stream, get_tracer_, kinds))
        wrap_function_wrapper(_CHAT, "Chat.stream_async", async_wrapper(stream, get_tracer_, kinds))
        wrap_function_wrapper(_EMBEDDINGS, "Embeddings.create", sync_wrapper(embed, get_tracer_, kinds))
        wrap_function_wrapper(_EMBEDDINGS, "Embeddings.create_async", async_wrapper(embed, get_tracer_, kinds))
        wrap_function_wrapper(_BASESDK, "BaseSDK.do_request", _on_do_request)
        wrap_function_wrapper(_BASESDK, "BaseSDK.do_request_async", _on_do_request_async)
        wrap_function_wrapper(_RETRIES, "_get_sleep_interval", _on_sleep_interval)

    def _uninstrument(self, **kwargs: Any) -> None:
        chat = importlib.import_module(_CHAT).Chat
        for method in ("complete", "complete_async", "stream", "stream_async"):
            unwrap(chat, method)
        embeddings = importlib.import_module(_EMBEDDINGS).Embeddings
        unwrap(embeddings, "create")
        unwrap(embeddings, "create_async")
        basesdk = importlib.import_module(_BASESDK).BaseSDK
        unwrap(basesdk, "do_request")
        unwrap(basesdk, "do_request_async")
        unwrap(importlib.import_module(_RETRIES), "_get_sleep_interval")

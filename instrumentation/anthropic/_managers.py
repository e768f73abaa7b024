"""`messages.stream(...)` returns a manager that sends its request only when entered. Its request
callable is swapped for one that starts the call span at that moment and hands the SDK's
`MessageStream` a proxied raw event stream."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import Tracer

from llmsight._call import start_call
from llmsight._streams import AsyncStreamProxy, SyncStreamProxy

logger = logging.getLogger("llmsight")

_SYNC_REQUEST = "_MessageStreamManager__api_request"
_ASYNC_REQUEST = "_AsyncMessageStreamManager__api_request"
_BETA_SYNC_REQUEST = "_BetaMessageStreamManager__api_request"
_BETA_ASYNC_REQUEST = "_BetaAsyncMessageStreamManager__api_request"


def _request_attribute(manager: Any, candidates: tuple[str, ...]) -> str | None:
    for name in candidates:
        if name in vars(manager):
            return name
    # Other manager class names: find the mangled attribute by suffix.
    return next((name for name in vars(manager) if name.endswith("__api_request")), None)


def stream_manager_wrapper(op: Any, get_tracer: Callable[[], Tracer]) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        try:
            name = _request_attribute(manager, (_SYNC_REQUEST, _BETA_SYNC_REQUEST))
            if name is None:
                return manager
            original = getattr(manager, name)

            def api_request() -> Any:
                call = start_call(op.start, get_tracer(), instance, kwargs, streaming=True)
                if call is None:
                    return original()
                with call.in_flight():
                    raw = original()
                return SyncStreamProxy(raw, call, op.accumulator(call))

            setattr(manager, name, api_request)
        except Exception:
            logger.debug("llmsight: could not instrument a message stream", exc_info=True)
        return manager

    return wrapper


def async_stream_manager_wrapper(op: Any, get_tracer: Callable[[], Tracer]) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        try:
            name = _request_attribute(manager, (_ASYNC_REQUEST, _BETA_ASYNC_REQUEST))
            if name is None:
                return manager
            original = getattr(manager, name)  # a coroutine (the SDK's `_post(...)`), awaited on enter

            async def api_request() -> Any:
                call = start_call(op.start, get_tracer(), instance, kwargs, streaming=True)
                if call is None:
                    return await original
                with call.in_flight():
                    raw = await original
                return AsyncStreamProxy(raw, call, op.accumulator(call))

            setattr(manager, name, api_request())
        except Exception:
            logger.debug("llmsight: could not instrument a message stream", exc_info=True)
        return manager

    return wrapper

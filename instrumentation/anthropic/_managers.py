"""`messages.stream(...)` returns a manager that sends its request only when entered. Its request
callable is swapped for one that starts the call span at that moment and hands the SDK's
`MessageStream` a proxied raw event stream."""

from __future__ import annotations

import functools
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


def _swap_request(manager: Any, candidates: tuple[str, ...], traced: Callable[[Any], Any]) -> Any:
    """The manager, its request replaced by `traced(original request)`; left alone if that fails."""
    try:
        name = _request_attribute(manager, candidates)
        if name is not None:
            setattr(manager, name, traced(getattr(manager, name)))
    except Exception:
        logger.debug("llmsight: could not instrument a message stream", exc_info=True)
    return manager


def _send(op: Any, get_tracer: Callable[[], Tracer], instance: Any, kwargs: dict[str, Any], original: Any) -> Any:
    call = start_call(op.start, get_tracer(), instance, kwargs, streaming=True)
    if call is None:
        return original()
    with call.in_flight():
        raw = original()
    return SyncStreamProxy(raw, call, op.accumulator(call))


async def _send_async(op: Any, get_tracer: Callable[[], Tracer], instance: Any, kwargs: dict[str, Any],
                      original: Any) -> Any:
    """`original` is a coroutine (the SDK's `_post(...)`), awaited when the manager is entered."""
    call = start_call(op.start, get_tracer(), instance, kwargs, streaming=True)
    if call is None:
        return await original
    with call.in_flight():
        raw = await original
    return AsyncStreamProxy(raw, call, op.accumulator(call))


def stream_manager_wrapper(op: Any, get_tracer: Callable[[], Tracer]) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _swap_request(wrapped(*args, **kwargs), (_SYNC_REQUEST, _BETA_SYNC_REQUEST),
                             lambda original: functools.partial(_send, op, get_tracer, instance, kwargs, original))

    return wrapper


def async_stream_manager_wrapper(op: Any, get_tracer: Callable[[], Tracer]) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _swap_request(wrapped(*args, **kwargs), (_ASYNC_REQUEST, _BETA_ASYNC_REQUEST),
                             lambda original: _send_async(op, get_tracer, instance, kwargs, original))

    return wrapper

"""The wrapt wrappers that turn one SDK method call into one `LLMCall`.

Provider modules describe an operation (`Operation`): how to name the span and read the request, how
to read a finished response, and how to accumulate a stream. The wrappers here own the lifecycle that
is the same for every provider: start before the request, make the span current while the SDK sends it
(retry hooks and httpx2 attempt spans find it), end on error, hand streams to a proxy, and fall back to
the bare SDK call if anything in telemetry fails.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, Protocol

import wrapt
from opentelemetry.trace import Tracer

from llmsight._call import LLMCall, current_call, start_call
from llmsight._streams import AsyncStreamProxy, StreamAccumulator, SyncStreamProxy

logger = logging.getLogger("llmsight")


class Operation(Protocol):
    """What a provider instrumentor knows about one SDK method."""

    def start(self, tracer: Tracer, instance: Any, kwargs: dict[str, Any]) -> LLMCall:
        """Create the call (span started) from the request arguments."""

    def prepare_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Arguments actually sent (normally `kwargs` itself; e.g. include_usage injection)."""

    def on_response(self, call: LLMCall, response: Any) -> None:
        """Read a complete (non-stream) response into the call."""

    def accumulator(self, call: LLMCall) -> StreamAccumulator:
        """A fresh accumulator for a stream of this operation."""


class ResultKinds:
    """The SDK's classes that need special handling, per SDK: streams and raw HTTP responses."""

    def __init__(self, sync_streams: tuple[type, ...], async_streams: tuple[type, ...], raw: tuple[type, ...]) -> None:
        self.sync_streams = sync_streams
        self.async_streams = async_streams
        self.raw = raw


def _finish(op: Operation, call: LLMCall, result: Any, kinds: ResultKinds) -> Any:
    """Hand `result` back to the app, wrapped if it is a stream or a raw response; never raises."""
    try:
        if isinstance(result, kinds.sync_streams):
            return SyncStreamProxy(result, call, op.accumulator(call))
        if isinstance(result, kinds.async_streams):
            return AsyncStreamProxy(result, call, op.accumulator(call))
        if isinstance(result, kinds.raw):
            return RawResponseProxy(result, op, call, kinds)
        op.on_response(call, result)
    except Exception:
        logger.debug("llmsight: could not read the response", exc_info=True)
    call.end()
    return result


class RawResponseProxy(wrapt.ObjectProxy):  # type: ignore[type-arg, misc, unused-ignore]  # generic in wrapt 2 only
    """`with_raw_response` / `with_streaming_response` results: the call ends when the app parses the
    body (usage known), closes it, or drops it unparsed (status only)."""

    def __init__(self, wrapped: Any, op: Operation, call: LLMCall, kinds: ResultKinds) -> None:
        super().__init__(wrapped)
        self._self_op = op
        self._self_call = call
        self._self_kinds = kinds
        self._self_parsed: Any = _UNSET

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        parsed = self.__wrapped__.parse(*args, **kwargs)
        if inspect.isawaitable(parsed):
            return self._parse_async(parsed)
        return self._adopt(parsed)

    async def _parse_async(self, awaitable: Any) -> Any:
        return self._adopt(await awaitable)

    def _adopt(self, parsed: Any) -> Any:
        if self._self_parsed is _UNSET:
            self._self_parsed = _finish(self._self_op, self._self_call, parsed, self._self_kinds)
        return self._self_parsed

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_call.end()

    def __del__(self) -> None:
        try:
            self._self_call.end()
        except Exception:
            pass


_UNSET: Any = object()


def _begin(op: Operation, tracer: Tracer, instance: Any, kwargs: dict[str, Any]) -> tuple[LLMCall | None, dict[str, Any]]:
    """The call's span and the arguments to send (the app's own if preparing them fails)."""
    try:
        sent_kwargs = op.prepare_kwargs(kwargs)
    except Exception:
        logger.debug("llmsight: could not prepare the request arguments", exc_info=True)
        sent_kwargs = kwargs
    return start_call(op.start, tracer, instance, sent_kwargs), sent_kwargs


def sync_wrapper(op: Operation, get_tracer: Callable[[], Tracer], kinds: ResultKinds) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if current_call.get() is not None:  # nested SDK call inside an instrumented one: one span only
            return wrapped(*args, **kwargs)
        call, sent_kwargs = _begin(op, get_tracer(), instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        with call.in_flight():
            result = wrapped(*args, **sent_kwargs)
        return _finish(op, call, result, kinds)

    return wrapper


def async_wrapper(op: Operation, get_tracer: Callable[[], Tracer], kinds: ResultKinds) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # Not `async def`: the SDK method returns a coroutine; we return ours, and the app awaits it.
        async def run() -> Any:
            if current_call.get() is not None:
                return await wrapped(*args, **kwargs)
            call, sent_kwargs = _begin(op, get_tracer(), instance, kwargs)
            if call is None:
                return await wrapped(*args, **kwargs)
            with call.in_flight():
                result = await wrapped(*args, **sent_kwargs)
            return _finish(op, call, result, kinds)

        return run()

    return wrapper

"""Transparent stream proxies: the app gets an object that behaves exactly like the SDK's stream
(`isinstance`, attributes, helpers, context manager) while each item also feeds an accumulator.

The call span ends exactly once, on whichever comes first: the stream is exhausted (completed), it
raises, it is closed or its context manager exits, or the proxy is garbage-collected unread (abandoned:
`llmsight.stream.completed=false`, usage seen so far kept). No thread, no event loop, and no OTel
context attached across yields: the span travels inside the proxy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import wrapt

from llmsight._call import LLMCall

logger = logging.getLogger("llmsight")


class StreamAccumulator(Protocol):
    def on_item(self, item: Any) -> None:
        """Called for every item the app receives; must be cheap (< 1 µs) and must not raise."""

    def finish(self, call: LLMCall) -> None:
        """Write what was accumulated (usage, response model, finish reasons…) into the call."""


class ResponseAccumulator:
    """What most streams keep for their call: the latest usage object, the response's model and id, the latest
    finish reasons. A subclass reads each item (`on_item`) and turns `usage` into the call's (`write_usage`)."""

    __slots__ = ("call", "id", "model", "reasons", "usage")

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.usage: Any = None
        self.model: str | None = None
        self.id: str | None = None
        self.reasons: list[str] | None = None

    def write_usage(self, call: LLMCall) -> None:
        raise NotImplementedError

    def finish(self, call: LLMCall) -> None:
        self.write_usage(call)
        call.response_model = self.model
        call.response_id = self.id
        if self.reasons:
            call.finish_reasons = self.reasons


def _end(call: LLMCall, accumulator: StreamAccumulator, *, completed: bool, error: BaseException | None = None) -> None:
    if call.ended:
        return
    try:
        accumulator.finish(call)
    except Exception:
        logger.debug("llmsight: stream accumulator failed", exc_info=True)
    call.end(error=error, completed=completed)


def feed(on_item: Callable[[Any], None], item: Any) -> Any:
    """`item`, after the accumulator has read it; an accumulator that fails is logged, never raised into the app."""
    try:
        on_item(item)
    except Exception:
        logger.debug("llmsight: stream accumulator rejected an item", exc_info=True)
    return item


class _StreamProxy(wrapt.ObjectProxy):  # type: ignore[type-arg, misc, unused-ignore]  # generic in wrapt 2 only
    """What the sync and async proxies share: the call, its accumulator, and how the call ends."""

    def __init__(self, wrapped: Any, call: LLMCall, accumulator: StreamAccumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_accumulator = accumulator
        self._self_on_item = accumulator.on_item

    # Method names unlike any SDK stream's: the proxy's own attributes hide the wrapped object's.
    def _stream_ended(self, *, completed: bool, error: BaseException | None = None) -> None:
        _end(self._self_call, self._self_accumulator, completed=completed, error=error)

    def _stream_raised(self, exc: BaseException) -> None:
        """Reading the next item raised `exc`: the stream's end, or its failure."""
        if isinstance(exc, (StopIteration, StopAsyncIteration)):
            self._stream_ended(completed=True)
        else:
            self._stream_ended(completed=False, error=exc)

    def __del__(self) -> None:
        try:
            self._stream_ended(completed=False)
        except Exception:
            pass


class SyncStreamProxy(_StreamProxy):
    def __init__(self, wrapped: Any, call: LLMCall, accumulator: StreamAccumulator) -> None:
        super().__init__(wrapped, call, accumulator)
        self._self_next = self._stream_next(wrapped)  # bound once: __next__ runs per chunk

    @staticmethod
    def _stream_next(wrapped: Any) -> Callable[[], Any]:
        next_item: Callable[[], Any] = wrapped.__next__
        return next_item

    def __iter__(self) -> Iterator[Any]:
        # A generator, like the SDK's own Stream.__iter__: resuming it per chunk costs less than a
        # Python-level __next__ call. Leaving the loop early (break) closes this generator but not the
        # stream: the app may keep reading it, so the span ends on exhaustion, close() or the proxy's GC.
        # `feed` inlined: a call per chunk costs about half again the loop's own time.
        on_item = self._self_on_item
        try:
            for item in self.__wrapped__:
                try:
                    on_item(item)
                except Exception:
                    logger.debug("llmsight: stream accumulator rejected an item", exc_info=True)
                yield item
        except GeneratorExit:
            raise
        except BaseException as exc:
            self._stream_raised(exc)
            raise
        self._stream_ended(completed=True)

    def __next__(self) -> Any:
        try:
            return feed(self._self_on_item, self._self_next())
        except BaseException as exc:
            self._stream_raised(exc)
            raise

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._stream_ended(completed=False)

    def __enter__(self) -> SyncStreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._stream_ended(completed=False, error=exc)

    def __reduce_ex__(self, protocol: Any) -> Any:  # streams are not picklable; keep wrapt's error away
        return self.__wrapped__.__reduce_ex__(protocol)


class AsyncStreamProxy(_StreamProxy):
    def __init__(self, wrapped: Any, call: LLMCall, accumulator: StreamAccumulator) -> None:
        super().__init__(wrapped, call, accumulator)
        self._self_anext = wrapped.__anext__

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        try:
            return feed(self._self_on_item, await self._self_anext())
        except BaseException as exc:
            self._stream_raised(exc)
            raise

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            self._stream_ended(completed=False)

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._stream_ended(completed=False, error=exc)

"""Retries and HTTP status for google-genai calls, and the traced sync stream.

google-genai retries with tenacity inside `BaseApiClient._request` / `_async_request` (only when
`HttpOptions.retry_options` is set: by default it does not retry), calling `_request_once` /
`_async_request_once` once per attempt; a non-2xx response raises `errors.APIError` (`.code` is the
HTTP status) from inside the attempt. Hooking those methods counts attempts per call and records the
status of the last one, for whichever `LLMCall` is current.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmsight._attempts import count_attempt
from llmsight._call import LLMCall, current_call
from llmsight._streams import StreamAccumulator, feed
from llmsight._streams import _end as end_stream


def _status_of(exc: BaseException) -> int:
    code = getattr(exc, "code", None)
    return code if type(code) is int else 0


def on_request_once(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    call = current_call.get()
    if call is None:
        return wrapped(*args, **kwargs)
    count_attempt(call)
    try:
        response = wrapped(*args, **kwargs)
    except Exception as exc:
        call.http_status = _status_of(exc) or call.http_status
        raise
    call.http_status = _response_status(response)
    return response


async def on_async_request_once(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    call = current_call.get()
    if call is None:
        return await wrapped(*args, **kwargs)
    count_attempt(call)
    try:
        response = await wrapped(*args, **kwargs)
    except Exception as exc:
        call.http_status = _status_of(exc) or call.http_status
        raise
    call.http_status = _response_status(response)
    return response


def _response_status(response: Any) -> int:
    """The SDK's `HttpResponse` keeps the raw response only for streams; any other response that came
    back (not raised) passed `raise_for_response`, i.e. was a 2xx, and Google APIs answer 200."""
    raw = getattr(response, "response_stream", None)
    status = getattr(raw, "status_code", None) or getattr(raw, "status", None)
    return status if type(status) is int else 200


def _end(call: LLMCall, accumulator: StreamAccumulator, *, completed: bool, error: BaseException | None = None) -> None:
    if error is not None and not call.http_status:
        call.http_status = _status_of(error)  # an error the API sent inside the stream
    end_stream(call, accumulator, completed=completed, error=error)


_DONE: Any = object()


def traced_stream(chunks: Iterator[Any], call: LLMCall, accumulator: StreamAccumulator) -> Iterator[Any]:
    """The SDK's `_generate_content_stream` generator sends its request on the first `next()`: the call
    is current (retry hooks, httpx attempt spans) during that `next()`, never across a yield. The SDK
    consumes this generator itself, so the app still gets the SDK's own generator. A generator closed
    or collected before the end (the app abandoned the public stream) ends the call as not completed."""
    on_item = accumulator.on_item
    try:
        # The request (and every retry) happens in the first next(): only that one runs with the call
        # current; later chunks are reads of the open response, iterated at the SDK's own cost.
        failure: BaseException | None = None
        with call.in_flight():  # entered and left in this frame, never across a yield
            try:
                first = next(chunks)
            except StopIteration:
                first = _DONE
            except BaseException as exc:  # ended below, with what was seen
                failure = exc
        if failure is not None:
            raise failure
        if first is not _DONE:
            yield feed(on_item, first)
            for item in chunks:
                yield feed(on_item, item)
    except GeneratorExit:
        _end(call, accumulator, completed=False)
        raise
    except BaseException as exc:
        _end(call, accumulator, completed=False, error=exc)
        raise
    _end(call, accumulator, completed=True)

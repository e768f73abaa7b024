"""Retry counting for SDKs whose retry loop calls a per-attempt method inside one per-request method
(google-genai's tenacity loop): the per-request hook
opens an attempt counter for its context, the per-attempt hook counts into the current `LLMCall`."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from llmsight._call import LLMCall

# Attempts made so far by the request in flight in this context (a one-element list, mutated in place,
# so an attempt run in a copied context — a worker thread — still counts).
_attempts: ContextVar[list[int] | None] = ContextVar("llmsight_attempts", default=None)


def count_attempt(call: LLMCall) -> None:
    """Call once per attempt: every attempt after the first is a retry of the previous one, whose status
    (if it got a response) the per-attempt hook left in `call.http_status`."""
    box = _attempts.get()
    if box is None:
        return
    box[0] += 1
    if box[0] > 1:
        call.record_retry(call.http_status or None, None)


def on_request(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """wrapt hook for the SDK's per-request method (sync)."""
    token = _attempts.set([0])
    try:
        return wrapped(*args, **kwargs)
    finally:
        _attempts.reset(token)


async def on_async_request(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """wrapt hook for the SDK's per-request coroutine method."""
    token = _attempts.set([0])
    try:
        return await wrapped(*args, **kwargs)
    finally:
        _attempts.reset(token)

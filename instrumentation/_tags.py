"""Attribution tags: who or what asked for a call (task, prompt name and version, tenant, end user, session).

    with llmsight.tags(task="summarise", tenant="acme", user="u-42", session="chat-7"):
        client.chat.completions.create(...)

    @llmsight.tags(task="classify", prompt_name="triage", prompt_version="3")
    async def classify(...): ...

Tags live in a ContextVar, so they follow asyncio tasks created inside the block and nest (inner values
win, unset fields are inherited). Every instrumented call reads them once when it starts.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from llmsight import attributes as attr

_F = TypeVar("_F", bound=Callable[..., Any])

# field name -> span attribute
TAG_ATTRIBUTES: Mapping[str, str] = {
    "task": attr.LLMSIGHT_TASK,
    "prompt_name": attr.LLMSIGHT_PROMPT_NAME,
    "prompt_version": attr.LLMSIGHT_PROMPT_VERSION,
    "tenant": attr.LLMSIGHT_TENANT,
    "user": attr.USER_ID,
    "session": attr.SESSION_ID,
}

_EMPTY: Mapping[str, str] = {}
_current: ContextVar[Mapping[str, str]] = ContextVar("llmsight_tags", default=_EMPTY)


def current_tag_attributes() -> Mapping[str, str]:
    """Span attributes for the tags in force here (a read-only mapping; cheap: one ContextVar get)."""
    return _current.get()


class tags:  # noqa: N801 - used like a function: `with llmsight.tags(...)`
    """Context manager and decorator that stamps attribution tags on every LLM call inside it."""

    __slots__ = ("_attributes", "_tokens")

    def __init__(
        self,
        *,
        task: str | None = None,
        prompt_name: str | None = None,
        prompt_version: str | int | None = None,
        tenant: str | None = None,
        user: str | None = None,
        session: str | None = None,
    ) -> None:
        given = {
            "task": task, "prompt_name": prompt_name, "prompt_version": prompt_version, "tenant": tenant,
            "user": user, "session": session,
        }
        self._attributes = {TAG_ATTRIBUTES[k]: str(v) for k, v in given.items() if v is not None}
        self._tokens: list[Token[Mapping[str, str]]] = []

    def __enter__(self) -> tags:
        merged = {**_current.get(), **self._attributes}
        self._tokens.append(_current.set(merged))
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._tokens.pop())

    async def __aenter__(self) -> tags:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)

    def __call__(self, func: _F) -> _F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

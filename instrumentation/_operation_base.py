"""What most provider operations share: the settings context and arguments sent unchanged."""

from __future__ import annotations

from typing import Any

from llmsight._call import LLMCall
from llmsight._common import CallContext


class BaseOperation:
    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx

    def prepare_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return kwargs

    def accumulator(self, call: LLMCall) -> Any:
        raise TypeError(f"{type(self).__name__} does not stream")

"""User price overrides (YAML): private or self-hosted models and negotiated discounts, with dates.

    models:                       # prices per million tokens, USD; they win over genai-prices
      - provider: self-hosted
        model: llama-3.3-70b-internal
        input_mtok: 0.20
        output_mtok: 0.40
        cache_read_mtok: 0.05     # optional (default: input price)
        from: 2026-01-01          # optional effective dates (inclusive from, exclusive until)
        server: "10.0.0.*"        # optional server.address glob: only calls to these servers
    discounts:
      - provider: openai
        model: "gpt-4o*"          # glob; omit for every model of the provider
        percent: 15
        from: 2026-06-01
        until: 2027-06-01
    servers:                      # servers billed at a vendor's list price: gateways, proxies, a local test provider
      - address: llm-gateway.internal   # the span's server.address; glob allowed
        provider: openai          # optional: without it, the provider the span names

Calls to any other server that is not a vendor's API host (a local or self-hosted model server) are unpriced
unless a `models:` entry prices them.

Validation errors name the file and the line at fault.
"""

from __future__ import annotations

import fnmatch
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class OverridesError(ValueError):
    pass


class _Dated(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    valid_from: date | None = Field(default=None, alias="from")
    valid_until: date | None = Field(default=None, alias="until")

    @model_validator(mode="after")
    def _ordered(self) -> _Dated:
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("'until' must be after 'from'")
        return self

    def in_force(self, at: datetime) -> bool:
        day = at.date()
        return (self.valid_from is None or day >= self.valid_from) and (self.valid_until is None or day < self.valid_until)


class ModelOverride(_Dated):
    provider: str = Field(min_length=1)
    model: str = Field(min_length=1, description="Exact model name, or a glob such as 'llama-3*'.")
    server: str = Field(default="*", min_length=1, description="server.address glob: only calls to these servers.")
    input_mtok: Decimal = Field(ge=0)
    output_mtok: Decimal = Field(default=Decimal(0), ge=0)
    cache_read_mtok: Decimal | None = Field(default=None, ge=0)
    cache_write_mtok: Decimal | None = Field(default=None, ge=0)
    cache_write_1h_mtok: Decimal | None = Field(default=None, ge=0)

    def matches(self, provider: str, model: str, server: str = "") -> bool:
        return (self.provider == provider and fnmatch.fnmatchcase(model, self.model)
                and (self.server == "*" or fnmatch.fnmatchcase(server, self.server)))


class Discount(_Dated):
    provider: str = Field(min_length=1)
    model: str = "*"
    percent: Decimal = Field(gt=0, le=100)

    def matches(self, provider: str, model: str) -> bool:
        return self.provider == provider and fnmatch.fnmatchcase(model, self.model)


class Server(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1, description="server.address of the calls, or a glob such as '*.corp'.")
    provider: str = Field(default="", description="Provider whose list prices apply; empty: the span's provider.")

    def matches(self, address: str) -> bool:
        return fnmatch.fnmatchcase(address, self.address)


class PriceOverrides(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelOverride] = Field(default_factory=list)
    discounts: list[Discount] = Field(default_factory=list)
    servers: list[Server] = Field(default_factory=list)

    def model_price(self, provider: str, model: str, at: datetime, server: str = "") -> tuple[int, ModelOverride] | None:
        for index, entry in enumerate(self.models):
            if entry.matches(provider, model, server) and entry.in_force(at):
                return index, entry
        return None

    def discount(self, provider: str, model: str, at: datetime) -> tuple[int, Discount] | None:
        for index, entry in enumerate(self.discounts):
            if entry.matches(provider, model) and entry.in_force(at):
                return index, entry
        return None


    def server(self, address: str) -> tuple[int, Server] | None:
        for index, entry in enumerate(self.servers):
            if entry.matches(address):
                return index, entry
        return None


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location (the deepest one that exists)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == key), None)
            if found is None:
                found = next((k for k, _ in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            found = node.value[key]
        else:
            found = None
        if found is None:
            break
        node = found
        line = node.start_mark.line + 1
    return line


def load_overrides(path: Path) -> PriceOverrides:
    try:
        text = path.read_text()
    except OSError as exc:
        raise OverridesError(f"{path}: cannot read prices file: {exc.strerror}") from None
    try:
        root = yaml.compose(text)
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise OverridesError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if document is None:
        return PriceOverrides()
    try:
        return PriceOverrides.model_validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            line = _line_of(root, tuple(error["loc"]))
            field = ".".join(str(part) for part in error["loc"])
            problems.append(f"{path}:{line}: {field}: {error['msg']}")
        raise OverridesError("invalid prices file:\n  " + "\n  ".join(problems)) from None

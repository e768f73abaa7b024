"""User price overrides (YAML): private or self-hosted models and negotiated discounts, with dates.

    models:                       # prices per million tokens, USD; they win over genai-prices
      - provider: self_hosted     # or a glob: "*" with `server:` prices a server whatever the span calls it
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

Validation errors name the file and the line at fault (collector/config_file.py).
"""

from __future__ import annotations

import fnmatch
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmsight.collector.config_file import ConfigFileError, line_of, parse_yaml, validate_document


class OverridesError(ConfigFileError):
    """The prices file is wrong: `FILE:LINE: what is wrong`."""


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
    provider: str = Field(min_length=1, description="Provider name or glob: '*' prices a server's calls whatever "
                          "provider their spans name (llmsight says self_hosted, other instrumentations openai).")
    model: str = Field(min_length=1, description="Exact model name, or a glob such as 'llama-3*'.")
    server: str = Field(default="*", min_length=1, description="server.address glob: only calls to these servers.")
    input_mtok: Decimal = Field(ge=0)
    output_mtok: Decimal = Field(default=Decimal(0), ge=0)
    cache_read_mtok: Decimal | None = Field(default=None, ge=0)
    cache_write_mtok: Decimal | None = Field(default=None, ge=0)
    cache_write_1h_mtok: Decimal | None = Field(default=None, ge=0)

    def matches(self, provider: str, model: str, server: str = "") -> bool:
        return ((self.provider == provider or fnmatch.fnmatchcase(provider, self.provider))
                and fnmatch.fnmatchcase(model, self.model)
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


def _repeated_entries(entries: list[Any]) -> list[tuple[int, int]]:
    """(index, index of the first entry it repeats) for entries with the same provider, model, server scope and
    dates: only the first would ever apply, so a repeat is a mistake (usually a copy-paste with a stale price)."""
    first: dict[tuple[Any, ...], int] = {}
    repeats = []
    for index, entry in enumerate(entries):
        key = (entry.provider, entry.model, getattr(entry, "server", None), entry.valid_from, entry.valid_until)
        if key in first:
            repeats.append((index, first[key]))
        else:
            first[key] = index
    return repeats


def load_overrides(path: Path) -> PriceOverrides:
    """The overrides file, validated strictly; any problem raises OverridesError (`FILE:LINE: what`)."""
    try:
        document, node = parse_yaml(path)
        overrides = validate_document(path, document, node, PriceOverrides)
    except ConfigFileError as exc:
        raise OverridesError(exc.path, exc.problems) from None
    problems = [
        (line_of(node, (section, index)),
         f"{section}.{index}: repeats {section}.{earlier} (line {line_of(node, (section, earlier))}): same provider, model and dates")
        for section in ("models", "discounts")
        for index, earlier in _repeated_entries(getattr(overrides, section))
    ]
    if problems:
        raise OverridesError(path, problems)
    return overrides

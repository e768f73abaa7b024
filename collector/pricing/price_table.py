"""The `model_prices` table: unit prices (USD per token) of every model the collector has priced, and of each
provider's configured cheaper model, for the savings panels ("what batch / a cheaper model would have cost").

The prices come from the collector's own Pricer — genai-prices, long-context tiers aside, plus the user's
overrides and discounts — by pricing a small synthetic call (1000 tokens of each kind, far below any
long-context tier), so a dashboard multiplies stored token counts by exactly the rates the collector applies.
A batch price is stored only when the price data has one of its own and it differs from the standard one (NULL:
no batch price known, no saving claimed — the 50 % charged to batch calls of a model without one is not a claim
that its provider offers batch). Rows are keyed (provider, model) in a ReplacingMergeTree, so collectors behind a load balancer may all
write them; the newest row wins.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Protocol

from llmsight import providers
from llmsight.collector.columns import PRICE_COLUMNS, PRICES_TABLE
from llmsight.collector.pricing.pricer import BATCH_FALLBACK, BATCH_TIER
from llmsight.collector.record import CallRecord
from llmsight.collector.store import StoreError

logger = logging.getLogger("llmsight.collector")

# Each provider's own cheaper model (gen_ai.provider.name → model: llmsight/providers.py), overridable with the collector setting
# `cheaper_models` (LLMSIGHT_CHEAPER_MODELS='{"openai": "gpt-4.1-nano"}').
DEFAULT_CHEAPER_MODELS: Mapping[str, str] = {p.name: p.cheaper_model for p in providers.PROVIDERS if p.cheaper_model}
SAMPLE_TOKENS = 1000
RETRY_S = 30.0
_COLUMN_NAMES = [name for name, _ in PRICE_COLUMNS]


class _Pricer(Protocol):
    def price(self, record: CallRecord) -> None: ...


class _Store(Protocol):
    def insert_rows(self, table: str, column_names: list[str], rows: list[tuple[Any, ...]]) -> None: ...


def unit_prices(pricer: _Pricer, provider: str, model: str, at: datetime, service_tier: str = "") -> tuple[float, ...] | None:
    """(input, cache read, cache write, output) USD per token as `pricer` charges them, or None if unpriced."""
    sample = CallRecord(
        ts=at, trace_id="0" * 32, span_id="0" * 16, provider=provider, request_model=model, service_tier=service_tier,
        input_tokens=3 * SAMPLE_TOKENS, cache_read_tokens=SAMPLE_TOKENS, cache_write_tokens=SAMPLE_TOKENS,
        output_tokens=SAMPLE_TOKENS,
    )
    pricer.price(sample)
    if sample.total_cost is None or (service_tier == BATCH_TIER and BATCH_FALLBACK in sample.price_source):
        return None
    costs = (sample.input_cost, sample.cache_read_cost, sample.cache_write_cost, sample.output_cost)
    return tuple((cost or 0.0) / SAMPLE_TOKENS for cost in costs)


def price_row(pricer: _Pricer, provider: str, model: str, *, cheaper: bool, at: datetime, source: str) -> tuple[Any, ...] | None:
    standard = unit_prices(pricer, provider, model, at)
    if standard is None:
        return None
    batch = unit_prices(pricer, provider, model, at, "batch")
    batch_values = batch if batch is not None and batch != standard else (None, None, None, None)
    return (provider, model, *standard, *batch_values, cheaper, source, at)


class PricingWithPriceTable:
    """A Pricer for the pipeline: prices each call with `pricer`, and writes the `model_prices` row of every
    (provider, model) it has not written yet, plus the configured cheaper models. A store that is down delays the
    rows (retried every RETRY_S), never the calls."""

    def __init__(self, pricer: Any, store: _Store, cheaper_models: Mapping[str, str] | None = None) -> None:
        self.pricer = pricer
        self.store = store
        self.cheaper_models = dict(DEFAULT_CHEAPER_MODELS if cheaper_models is None else cheaper_models)
        self._pending: set[tuple[str, str]] = set(self.cheaper_models.items())
        self._written: set[tuple[str, str]] = set()
        self._next_try = 0.0

    @property
    def pending(self) -> frozenset[tuple[str, str]]:
        """(provider, model) pairs whose rows are not written yet."""
        return frozenset(self._pending)

    def __getattr__(self, name: str) -> Any:  # everything else is the wrapped pricer's
        return getattr(self.pricer, name)

    def price(self, record: CallRecord) -> None:
        self.pricer.price(record)
        key = (record.provider, record.request_model)
        if key not in self._written and record.request_model:
            self._pending.add(key)
        if self._pending and time.monotonic() >= self._next_try:
            self.write_pending()

    def write_pending(self) -> None:
        now = datetime.now(timezone.utc)
        source = getattr(self.pricer, "source", "")
        pending = sorted(self._pending)
        rows = []
        for provider, model in pending:
            row = price_row(self.pricer, provider, model, cheaper=self.cheaper_models.get(provider) == model, at=now, source=source)
            if row is not None:
                rows.append(row)
        try:
            if rows:
                self.store.insert_rows(PRICES_TABLE, _COLUMN_NAMES, rows)
        except StoreError as exc:  # the calls go on; the rows are written on a later call
            self._next_try = time.monotonic() + RETRY_S
            logger.warning("could not write %d model price rows (%s); retrying", len(rows), exc)
            return
        self._pending.difference_update(pending)
        self._written.update(pending)

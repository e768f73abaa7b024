"""Price one call: its cost split (uncached input, cache read, cache write, output) in USD.

Prices are those in force at the call's start time (genai-prices keeps dated prices), with the
long-context tier chosen by the request's total input (a tier re-prices the whole request) and the
batch / flex / priority variant chosen from the call's service tier. User overrides win. A model with
no known price gets NULL costs — counted as unpriced, never 0.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmsight.collector.pricing.overrides import PriceOverrides, load_overrides
from llmsight.collector.record import CallRecord

logger = logging.getLogger("llmsight.collector")

MTOK = Decimal(1_000_000)
# Our provider names (gen_ai.provider.name) → genai-prices provider ids.
PROVIDER_IDS = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
}
_PRICE_FIELDS = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_5m_mtok", "cache_write_1h_mtok", "output_mtok")
# Our service tiers → genai-prices price context.
PRICE_CONTEXTS = {
    "batch": {"processing": "batch"},
    "flex": {"service_tier": "flex"},
    "priority": {"service_tier": "priority"},
}


def _tiered(value: Any, total_input: int) -> Decimal | None:
    """A price that may be tiered: above a tier's start, the WHOLE request pays the tier price."""
    if value is None:
        return None
    tiers = getattr(value, "tiers", None)
    if tiers is None:
        return Decimal(value)
    price = Decimal(value.base)
    for tier in tiers:  # sorted by start
        if total_input > tier.start:
            price = Decimal(tier.price)
    return price


class Pricer:
    def __init__(self, overrides_file: Path | None = None) -> None:
        import genai_prices

        self._genai_prices = genai_prices
        self.overrides = load_overrides(overrides_file) if overrides_file else PriceOverrides()
        self.overrides_name = overrides_file.name if overrides_file else ""
        try:
            from importlib.metadata import version

            self.source = f"genai-prices@{version('genai-prices')}"
        except Exception:
            self.source = "genai-prices"
        self._lookup = functools.lru_cache(maxsize=4096)(self._model_price)
        self._tier_starts: dict[int, list[int]] = {}
        self._units: dict[tuple[int, int], tuple[float, ...]] = {}
        self._keep_alive: list[Any] = []

    def _model_price(self, provider: str, model: str, day: str, tier: str) -> tuple[Any, str] | None:
        """The ModelPrice in force (genai-prices), memoised per day: the per-call path stays cheap."""
        when = datetime.fromisoformat(f"{day}T12:00:00+00:00")
        usage = self._genai_prices.Usage(input_tokens=1, output_tokens=1)
        provider_id = PROVIDER_IDS.get(provider, provider) or None
        for candidate in (provider_id, None):
            try:
                calculation = self._genai_prices.calc_price(
                    usage,
                    model,
                    provider_id=candidate,
                    genai_request_timestamp=when,
                    price_context=PRICE_CONTEXTS.get(tier),
                )
            except LookupError:
                continue
            except Exception:
                logger.debug("genai-prices failed for %s/%s", provider, model, exc_info=True)
                continue
            return calculation.model_price, calculation.model.id
        return None

    def price(self, record: CallRecord) -> None:
        model = record.response_model or record.request_model
        if not model:
            return
        override = None
        if self.overrides.models:
            override = self.overrides.model_price(record.provider, model, record.ts) or (
                self.overrides.model_price(record.provider, record.request_model, record.ts)
                if record.request_model != model
                else None
            )
        if override is not None:
            index, entry = override
            prices: Any = entry
            source = f"override:{self.overrides_name}#models[{index}]"
        else:
            found = self._lookup(record.provider, model, record.ts.date().isoformat(), record.service_tier)
            if found is None and record.request_model and record.request_model != model:
                found = self._lookup(record.provider, record.request_model, record.ts.date().isoformat(), record.service_tier)
            if found is None:
                return  # unpriced: costs stay NULL
            prices, _ = found
            source = self.source
        self._apply(record, prices, source)

    def _unit_prices(self, prices: Any, total_input: int) -> tuple[float, ...]:
        """USD per token for (input, cache read, 5m write, 1h write, output) at this request size.

        Memoised per price object and tier level: the hot path does no Decimal arithmetic."""
        starts = self._tier_starts.get(id(prices))
        if starts is None:
            starts = sorted({
                tier.start
                for name in _PRICE_FIELDS
                for tier in (getattr(getattr(prices, name, None), "tiers", None) or ())
            })
            self._tier_starts[id(prices)] = starts
            self._keep_alive.append(prices)  # ids stay valid while memoised
        level = sum(1 for start in starts if total_input > start)
        key = (id(prices), level)
        cached = self._units.get(key)
        if cached is None:
            input_price = _tiered(getattr(prices, "input_mtok", None), total_input) or Decimal(0)
            read = _tiered(getattr(prices, "cache_read_mtok", None), total_input)
            write = _tiered(getattr(prices, "cache_write_mtok", None), total_input)
            write_5m = _tiered(getattr(prices, "cache_write_5m_mtok", None), total_input) or write
            write_1h = _tiered(getattr(prices, "cache_write_1h_mtok", None), total_input) or write
            output = _tiered(getattr(prices, "output_mtok", None), total_input) or Decimal(0)
            cached = tuple(
                float(value / MTOK)
                for value in (
                    input_price,
                    read if read is not None else input_price,
                    write_5m if write_5m is not None else input_price,
                    write_1h if write_1h is not None else input_price,
                    output,
                )
            )
            self._units[key] = cached
        return cached

    def _apply(self, record: CallRecord, prices: Any, source: str) -> None:
        input_price, read_price, write_5m_price, write_1h_price, output_price = self._unit_prices(
            prices, record.input_tokens
        )
        writes_1h = record.cache_write_1h_tokens
        input_cost = record.uncached_input_tokens * input_price
        read_cost = record.cache_read_tokens * read_price
        write_cost = (record.cache_write_tokens - writes_1h) * write_5m_price + writes_1h * write_1h_price
        output_cost = record.output_tokens * output_price
        discount = (
            self.overrides.discount(record.provider, record.response_model or record.request_model, record.ts)
            if self.overrides.discounts
            else None
        )
        factor = 1.0
        if discount is not None:
            index, entry = discount
            factor = float(1 - entry.percent / 100)
            source += f"+discount:{self.overrides_name}#discounts[{index}]"
        record.input_cost = input_cost * factor
        record.cache_read_cost = read_cost * factor
        record.cache_write_cost = write_cost * factor
        record.output_cost = output_cost * factor
        record.total_cost = (input_cost + read_cost + write_cost + output_cost) * factor
        record.price_source = source

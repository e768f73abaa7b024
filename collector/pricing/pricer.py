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

    def _apply(self, record: CallRecord, prices: Any, source: str) -> None:
        total_input = record.input_tokens
        input_price = _tiered(getattr(prices, "input_mtok", None), total_input) or Decimal(0)
        read_price = _tiered(getattr(prices, "cache_read_mtok", None), total_input)
        write_price = _tiered(getattr(prices, "cache_write_mtok", None), total_input)
        write_5m_price = _tiered(getattr(prices, "cache_write_5m_mtok", None), total_input) or write_price
        write_1h_price = _tiered(getattr(prices, "cache_write_1h_mtok", None), total_input) or write_price
        output_price = _tiered(getattr(prices, "output_mtok", None), total_input) or Decimal(0)
        writes_1h = record.cache_write_1h_tokens
        writes_5m = record.cache_write_tokens - writes_1h
        input_cost = record.uncached_input_tokens * input_price / MTOK
        read_cost = record.cache_read_tokens * (read_price if read_price is not None else input_price) / MTOK
        write_cost = (
            writes_5m * (write_5m_price if write_5m_price is not None else input_price)
            + writes_1h * (write_1h_price if write_1h_price is not None else input_price)
        ) / MTOK
        output_cost = record.output_tokens * output_price / MTOK
        discount = self.overrides.discount(record.provider, record.response_model or record.request_model, record.ts)
        factor = Decimal(1)
        if discount is not None:
            index, entry = discount
            factor = 1 - entry.percent / 100
            source += f"+discount:{self.overrides_name}#discounts[{index}]"
        record.input_cost = float(input_cost * factor)
        record.cache_read_cost = float(read_cost * factor)
        record.cache_write_cost = float(write_cost * factor)
        record.output_cost = float(output_cost * factor)
        record.total_cost = float((input_cost + read_cost + write_cost + output_cost) * factor)
        record.price_source = source

"""Price one call: its cost split (uncached input, cache read, cache write, output), what caching saved, in USD.

Which price (decided once per provider/server/model/service tier, then memoised):
1. A user override for the model (prices file `models:`) wins.
2. Otherwise the list price of the provider that BILLS the call, from genai-prices:
   - the span names a server (`server.address`): the server decides. A server declared in the prices file
     (`servers:`, e.g. a gateway or the demo's local provider) bills as the provider it names or, without
     one, as the span's provider; a vendor's API host (genai-prices' own host patterns) bills as that
     vendor, marked `+inferred-provider` in `price_source` when that differs from the span's provider;
     any other server — a local or self-hosted model server — is NOT priced (unpriced, never a guess);
   - no server on the span: the span's provider (`gen_ai.provider.name`) if genai-prices knows it.
   There is no provider-less fallback: a model name alone never selects a vendor's price.

Which prices are in force: those at the call's START time (`ts`), including time-of-day windows, through
genai-prices' own `calc_price`; the batch / flex / priority variant from the service tier; a long-context
tier re-prices the whole request (genai-prices' tier rule on all input tokens). A batch call (service tier
`batch`) whose model has no batch price in genai-prices (nor an override's own) is charged half its price
(`BATCH_FALLBACK_FACTOR`, the documented discount of OpenAI's and Anthropic's batch APIs; `+batch-50%` in
`price_source`), after the cache and long-context rules. A request of a batch that was not processed (errored,
canceled, expired: `llmsight.batch.result`) is not billed by the provider: its costs are 0 (`batch:not-billed`).

The arithmetic is genai-prices' (`ModelPrice.calc_price`): per price object and tier level, a few probe
calculations give exact per-token rates and the per-request fee, memoised, so a row costs a few
multiplications. Per-request fees land in `total_cost` only (no split column holds them).
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from llmsight import providers
from llmsight.attributes import LLMSIGHT_BATCH_RESULT, SERVER_ADDRESS
from llmsight.collector.pricing.overrides import PriceOverrides, load_overrides
from llmsight.collector.record import CallRecord

logger = logging.getLogger("llmsight.collector")

# Our provider names (gen_ai.provider.name) → genai-prices provider ids.
PROVIDER_IDS = {p.name: p.prices_id for p in providers.PROVIDERS if p.prices_id}
# Our service tiers → genai-prices price context.
PRICE_CONTEXTS: dict[str, dict[str, str]] = {
    "batch": {"processing": "batch"},
    "flex": {"service_tier": "flex"},
    "priority": {"service_tier": "priority"},
}
INFERRED_PROVIDER = "+inferred-provider"
BATCH_TIER = "batch"
BATCH_FALLBACK_FACTOR = 0.5
BATCH_FALLBACK = "+batch-50%"
NOT_BILLED = "batch:not-billed"
_UNBILLED_RESULTS = frozenset({"errored", "canceled", "expired"})
_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token (per call for `request`) under one price at one tier level."""

    input: float  # uncached input
    cache_read: float
    cache_write_5m: float
    cache_write_1h: float
    output: float  # non-reasoning output
    reasoning: float
    request: float  # per-request fee


def probe_usage(input_tokens: int, cache_read: int = 0, write_5m: int = 0, write_1h: int = 0, output: int = 0,
                reasoning: int = 0) -> Any:
    """genai-prices usage for our token fields (input includes cache; output includes reasoning)."""
    import genai_prices

    return genai_prices.Usage(
        input_tokens=input_tokens, cache_read_tokens=cache_read, cache_write_tokens=write_5m + write_1h,
        cache_write_5m_tokens=write_5m, cache_write_1h_tokens=write_1h, output_tokens=output,
        output_reasoning_tokens=reasoning,
    )


def tier_starts(price: Any) -> list[int]:
    """Every tier threshold of a price (all price kinds): above a start, the whole request pays that tier."""
    from genai_prices.types import TieredPrices

    return sorted({tier.start for value in vars(price).values() if isinstance(value, TieredPrices) for tier in value.tiers})


def rates_at(price: Any, input_tokens: int) -> Rates:
    """Exact per-token rates at the tier level of `input_tokens`, from genai-prices' own arithmetic: the cost is
    affine in each token count within a level, so differences of probe calculations are the rates."""
    starts = tier_starts(price)
    level = bisect.bisect_left(starts, input_tokens)
    n = starts[level - 1] + 1 if level else 0  # the smallest request at this level

    def cost(**usage: int) -> Decimal:
        total: Decimal = price.calc_price(probe_usage(**usage))["total_price"]
        return total

    base = cost(input_tokens=n)
    per_input = cost(input_tokens=n + 1) - base
    return Rates(
        input=float(per_input),
        cache_read=float(cost(input_tokens=n + 1, cache_read=1) - base),
        cache_write_5m=float(cost(input_tokens=n + 1, write_5m=1) - base),
        cache_write_1h=float(cost(input_tokens=n + 1, write_1h=1) - base),
        output=float(cost(input_tokens=n, output=1) - base),
        reasoning=float(cost(input_tokens=n, output=1, reasoning=1) - base),
        request=float(base - n * per_input),
    )


def describe_price(price: Any) -> list[str]:
    """One line per price kind of a genai-prices ModelPrice: the base price and every tier with its threshold."""
    from genai_prices.types import TieredPrices

    lines = []
    for key, value in vars(price).items():
        if key.startswith("_") or value is None:
            continue
        unit = "per thousand" if key.endswith("_kcount") else "per million tokens" if key.endswith("_mtok") else ""
        name = key.removesuffix("_mtok").removesuffix("_kcount")
        if isinstance(value, TieredPrices):
            tiers = "".join(f"; above {tier.start:,} input tokens: ${tier.price}" for tier in value.tiers)
            lines.append(f"{name}: ${value.base} {unit}{tiers}".replace("  ", " "))
        else:
            lines.append(f"{name}: ${value} {unit}".rstrip())
    return lines


def _utc_us(moment: time) -> int:
    """Microseconds since UTC midnight of a time of day (naive = UTC)."""
    if moment.tzinfo is not None:
        moment = datetime.combine(date(1970, 1, 1), moment).astimezone(timezone.utc).time()
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1_000_000 + moment.microsecond


def time_of_day_boundaries(model: Any) -> tuple[int, ...] | None:
    """Where, in UTC microseconds of the day, the model's price may switch (time-of-day windows); `None` when a
    constraint kind is unknown to us (then nothing is memoised by time: each call asks genai-prices)."""
    from genai_prices.types import StartDateConstraint, TimeOfDateConstraint

    conditional = model.prices if isinstance(model.prices, list) else []
    constraints = [c.constraint for c in conditional] + [v.constraint for v in model.price_variants or ()]
    boundaries: set[int] = set()
    for constraint in constraints:
        if constraint is None or isinstance(constraint, StartDateConstraint):
            continue  # dates are part of the memo key
        if not isinstance(constraint, TimeOfDateConstraint):
            return None
        boundaries.update((_utc_us(constraint.start_time) % _US_PER_DAY, _utc_us(constraint.end_time) % _US_PER_DAY))
    return tuple(sorted(boundaries))


def has_batch_price(model: Any) -> bool:
    """Whether genai-prices has a batch variant of this model's price."""
    context = PRICE_CONTEXTS[BATCH_TIER]
    return any(all(context.get(key) == value for key, value in variant.when.items())
               for variant in model.price_variants or ())


class PriceInForce(NamedTuple):
    price: Any  # genai-prices ModelPrice
    source: str  # price_source
    factor: float  # 1, or BATCH_FALLBACK_FACTOR for a batch call without a batch price of its own


class ListPrice:
    """A model's list price from genai-prices for one billing provider and service tier, at any moment."""

    def __init__(self, provider_id: str, model_ref: str, tier: str, model: Any, source: str) -> None:
        self.provider_id = provider_id
        self.model_ref = model_ref
        self.context = PRICE_CONTEXTS.get(tier)
        self.model_id = model.id
        self.boundaries = time_of_day_boundaries(model)
        self.factor = BATCH_FALLBACK_FACTOR if tier == BATCH_TIER and not has_batch_price(model) else 1.0
        self.source = source + (BATCH_FALLBACK if self.factor != 1.0 else "")
        self._at: dict[tuple[int, int], Any] = {}

    def _lookup(self, at: datetime) -> Any:
        import genai_prices

        return genai_prices.calc_price(
            probe_usage(0), self.model_ref, provider_id=self.provider_id, genai_request_timestamp=at,
            price_context=self.context,
        ).model_price

    def at(self, moment: datetime) -> Any:
        """The genai-prices `ModelPrice` in force at `moment`: memoised per UTC day and time-of-day window."""
        boundaries = self.boundaries
        if boundaries is None:
            return self._lookup(moment)
        if boundaries:
            of_day = ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1_000_000 + moment.microsecond
            key = (moment.toordinal(), bisect.bisect_right(boundaries, of_day))
        else:
            key = (moment.toordinal(), 0)
        price = self._at.get(key)
        if price is None:
            if len(self._at) > 10_000:
                self._at.clear()
            price = self._at[key] = self._lookup(moment)
        return price


class Pricer:
    def __init__(self, overrides_file: Path | None = None) -> None:
        import genai_prices

        self._genai_prices = genai_prices
        self.overrides = load_overrides(overrides_file) if overrides_file else PriceOverrides()
        self.overrides_name = overrides_file.name if overrides_file else ""
        self.source = f"genai-prices@{genai_prices.__version__}"
        self._list_prices: dict[tuple[str, str, str, str, str], ListPrice | None] = {}
        self._override_prices: dict[int, Any] = {}
        self._hosts: dict[str, str | None] = {}
        self._unknown_servers_told: set[tuple[str, str]] = set()  # (host, provider) already logged
        # (id(ModelPrice), tier level) → (tier starts, rates); the price objects are kept alive alongside.
        self._starts: dict[int, tuple[list[int], Any]] = {}
        self._rates: dict[tuple[int, int], Rates | None] = {}

    # -- which price ---------------------------------------------------------------------------------------------

    def is_unknown_server(self, provider: str, host: str) -> bool:
        """A server no price list knows and the prices file does not declare: its calls stay unpriced."""
        return bool(host) and self.overrides.server(host) is None and self._vendor_of_host(host) is None

    def _tell_unknown_server(self, record: CallRecord, host: str) -> None:
        """Once per server and provider: why its calls are unpriced, and the prices file entry that prices them
        if it bills at a vendor's list prices (a gateway, a local stand-in for the vendor)."""
        key = (host, record.provider)
        if key in self._unknown_servers_told or not self.is_unknown_server(record.provider, host):
            return
        self._unknown_servers_told.add(key)
        logger.warning(
            "calls to %s (%s/%s) are unpriced: it is not a vendor's API host and no prices file declares it "
            "(a local model server stays unpriced). If it bills at a vendor's list prices (a gateway, a stand-in "
            "for the vendor), add to the prices file (--prices-file / LLMSIGHT_PRICES_FILE):\n%s",
            host, record.provider, record.response_model or record.request_model,
            server_declaration(host, record.provider),
        )

    def _vendor_of_host(self, host: str) -> str | None:
        """genai-prices provider id whose API host this is (its own URL patterns), or None."""
        if host not in self._hosts:
            from genai_prices.data_snapshot import get_snapshot

            try:
                self._hosts[host] = get_snapshot().find_provider(None, None, f"https://{host}").id
            except LookupError:
                self._hosts[host] = None
        return self._hosts[host]

    def _known_provider(self, provider_id: str) -> bool:
        from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

        return bool(provider_id) and find_provider_by_id(get_snapshot().providers, provider_id) is not None

    def billing_provider(self, provider: str, host: str) -> tuple[str, str] | None:
        """(genai-prices provider id, price_source suffix) of the provider that bills a call, or None: unpriced.
        The rule is in the module docstring."""
        stated = PROVIDER_IDS.get(provider, provider)
        if host:
            declared = self.overrides.server(host)
            if declared is not None:
                index, entry = declared
                billed = PROVIDER_IDS.get(entry.provider, entry.provider) if entry.provider else stated
                suffix = f"+server:{self.overrides_name}#servers[{index}]"
                return (billed, suffix) if self._known_provider(billed) else None
            vendor = self._vendor_of_host(host)
            if vendor is None:
                return None  # a local or self-hosted server: never a vendor's list price
            return vendor, "" if vendor == stated else INFERRED_PROVIDER
        return (stated, "") if self._known_provider(stated) else None

    def list_price(self, provider: str, host: str, model: str, request_model: str, tier: str) -> ListPrice | None:
        key = (provider, host, model, request_model, tier)
        if key in self._list_prices:
            return self._list_prices[key]
        found = None
        billing = self.billing_provider(provider, host)
        if billing is not None:
            provider_id, suffix = billing
            for ref in dict.fromkeys(r for r in (model, request_model) if r):
                try:
                    calculation = self._genai_prices.calc_price(
                        probe_usage(0), ref, provider_id=provider_id, price_context=PRICE_CONTEXTS.get(tier)
                    )
                except LookupError:
                    continue
                except Exception:
                    logger.debug("genai-prices failed for %s/%s", provider_id, ref, exc_info=True)
                    continue
                found = ListPrice(provider_id, ref, tier, calculation.model, self.source + suffix)
                break
        if len(self._list_prices) > 100_000:
            self._list_prices.clear()
        self._list_prices[key] = found
        return found

    def override_price(self, index: int) -> Any:
        """A `models:` override as a genai-prices ModelPrice, so overrides share the same arithmetic."""
        price = self._override_prices.get(index)
        if price is None:
            from genai_prices.types import ModelPrice

            entry = self.overrides.models[index]
            price = self._override_prices[index] = ModelPrice(
                input_mtok=entry.input_mtok, output_mtok=entry.output_mtok, cache_read_mtok=entry.cache_read_mtok,
                cache_write_mtok=entry.cache_write_mtok, cache_write_1h_mtok=entry.cache_write_1h_mtok,
            )
        return price

    def price_in_force(self, record: CallRecord) -> PriceInForce | None:
        """(genai-prices ModelPrice, price_source, batch factor) for a call, or None when it must stay unpriced."""
        model = record.response_model or record.request_model
        if not model:
            return None
        host = record.attributes.get(SERVER_ADDRESS, "")
        if self.overrides.models:
            override = self.overrides.model_price(record.provider, model, record.ts, host) or (
                self.overrides.model_price(record.provider, record.request_model, record.ts, host)
                if record.request_model and record.request_model != model
                else None
            )
            if override is not None:
                index = override[0]
                source = f"override:{self.overrides_name}#models[{index}]"
                if record.service_tier == BATCH_TIER:  # an override is one price: its batch price is half
                    return PriceInForce(self.override_price(index), source + BATCH_FALLBACK, BATCH_FALLBACK_FACTOR)
                return PriceInForce(self.override_price(index), source, 1.0)
        found = self.list_price(record.provider, host, model, record.request_model, record.service_tier)
        if found is None:
            return None
        return PriceInForce(found.at(record.ts), found.source, found.factor)

    # -- arithmetic ------------------------------------------------------------------------------------------------

    def rates(self, price: Any, input_tokens: int) -> Rates | None:
        """Per-token rates of `price` at this request size, memoised per price object and tier level; None when
        genai-prices cannot price our token kinds with it (the call stays unpriced)."""
        known = self._starts.get(id(price))
        if known is None:
            if len(self._starts) > 10_000:  # bounded: only a price that changes with every call could get here
                self._starts.clear()
                self._rates.clear()
            known = self._starts[id(price)] = (tier_starts(price), price)  # the price stays alive: its id stays valid
        starts = known[0]
        key = (id(price), bisect.bisect_left(starts, input_tokens) if starts else 0)
        if key in self._rates:
            return self._rates[key]
        try:
            rates: Rates | None = rates_at(price, input_tokens)
        except Exception:
            logger.warning("genai-prices cannot price token usage with %r", price, exc_info=True)
            rates = None
        self._rates[key] = rates
        return rates

    def price(self, record: CallRecord) -> None:
        if record.service_tier == BATCH_TIER and record.attributes.get(LLMSIGHT_BATCH_RESULT) in _UNBILLED_RESULTS:
            record.input_cost = record.cache_read_cost = record.cache_write_cost = 0.0
            record.output_cost = record.total_cost = record.cache_savings = 0.0
            record.price_source = NOT_BILLED
            return
        found = self.price_in_force(record)
        r = self.rates(found[0], record.input_tokens) if found is not None else None
        if found is None or r is None:  # unpriced: costs NULL (also when a reprice finds no price any more)
            host = record.attributes.get(SERVER_ADDRESS, "")
            if host:
                self._tell_unknown_server(record, host)
            record.input_cost = record.cache_read_cost = record.cache_write_cost = None
            record.output_cost = record.total_cost = record.cache_savings = None
            record.price_source = ""
            return
        source = found.source
        reads = record.cache_read_tokens
        writes_1h = record.cache_write_1h_tokens
        writes_5m = record.cache_write_tokens - writes_1h
        reasoning = record.reasoning_tokens
        input_cost = record.uncached_input_tokens * r.input
        read_cost = reads * r.cache_read
        write_cost = writes_5m * r.cache_write_5m + writes_1h * r.cache_write_1h
        output_cost = (record.output_tokens - reasoning) * r.output + reasoning * r.reasoning
        # What caching saved: the cached tokens (read or written) at the uncached input rate, minus what the
        # reads and writes cost. A fully cached call saves reads × (input - read rate) > 0; writes that are never
        # read back cost their premium (negative savings).
        savings = (reads + writes_5m + writes_1h) * r.input - read_cost - write_cost
        factor = found.factor
        if self.overrides.discounts:
            discount = self.overrides.discount(record.provider, record.response_model or record.request_model, record.ts)
            if discount is not None:
                index, entry = discount
                factor *= float(1 - entry.percent / 100)
                source += f"+discount:{self.overrides_name}#discounts[{index}]"
        record.input_cost = input_cost * factor
        record.cache_read_cost = read_cost * factor
        record.cache_write_cost = write_cost * factor
        record.output_cost = output_cost * factor
        record.total_cost = (input_cost + read_cost + write_cost + output_cost + r.request) * factor
        record.cache_savings = savings * factor
        record.price_source = source


def server_declaration(host: str, provider: str) -> str:
    """The prices file entry that bills calls to `host` at a vendor's list prices: the span's provider, or
    OpenAI (the wire format) for what an instrumentation named `self_hosted`."""
    vendor = providers.OPENAI.name if provider in ("", providers.SELF_HOSTED.name) else provider
    return f"servers:\n  - address: {host}\n    provider: {vendor}"


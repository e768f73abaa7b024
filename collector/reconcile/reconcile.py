"""Reconciling (a read): the providers' reports against the stored calls, per UTC day.

For every day × provider × model × token class (uncached input, cache read, 5-minute and 1-hour cache writes,
output), from the latest pulled version of each bucket (tables.latest_rows):

- coverage            stored tokens / provider tokens;
- provider rate       provider dollars / provider tokens of that class (the cost report over the usage report);
- unexplained spend   (provider tokens − stored tokens) × provider rate: what calls llmsight never saw cost;
- price drift         stored tokens × (provider rate − llmsight's rate): the same calls billed at another price
                      (a discount missing from the prices file, an outdated price table). Unexplained + drift is
                      the provider's dollars − llmsight's, exactly.

Unexplained tokens are also broken down by API key (the provider's api_key_id, matched to the stored calls' key
hints through its key list) and by batch / service tier. Charges that are not per-call tokens (web search, code
execution, storage…) are lines of their own, never counted as missing calls. Amounts are Decimal; a currency other
than USD is kept on its lines and never summed with USD.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from llmsight.collector.columns import CALLS_TABLE, DATABASE
from llmsight.collector.instants import utc_parameter
from llmsight.collector.reconcile.tables import (
    COSTS_TABLE,
    KEYS_TABLE,
    PULLS_TABLE,
    TOKEN_CLASSES,
    USAGE_TABLE,
    latest_rows,
)
from llmsight.key_hint import hint_matches

USD = "USD"
PLACES = Decimal("0.000000000001")
RECONCILED_PROVIDERS = ("openai", "anthropic")


class Reader(Protocol):
    def __call__(self, sql: str, parameters: dict[str, Any] | None = None) -> Any: ...


@dataclass
class TokenLine:
    """One day × provider × model × token class."""

    day: date
    provider: str
    model: str
    token_class: str
    provider_tokens: int = 0
    stored_tokens: int = 0
    provider_usd: Decimal | None = None  # None: the cost report has no line for it
    stored_usd: Decimal = Decimal(0)

    @property
    def unexplained_tokens(self) -> int:
        return self.provider_tokens - self.stored_tokens

    @property
    def coverage(self) -> float | None:
        return self.stored_tokens / self.provider_tokens if self.provider_tokens else None

    @property
    def provider_rate(self) -> Decimal | None:
        if self.provider_usd is None or not self.provider_tokens:
            return None
        return self.provider_usd / self.provider_tokens

    @property
    def stored_rate(self) -> Decimal | None:
        return self.stored_usd / self.stored_tokens if self.stored_tokens else None

    @property
    def unexplained_usd(self) -> Decimal | None:
        rate = self.provider_rate
        return (rate * self.unexplained_tokens).quantize(PLACES) if rate is not None else None

    @property
    def drift_usd(self) -> Decimal | None:
        """What the calls llmsight stored cost at the provider's rate, beyond what llmsight charged for them."""
        rate = self.provider_rate
        return (rate * self.stored_tokens - self.stored_usd).quantize(PLACES) if rate is not None else None


@dataclass
class KeyLine:
    """Unexplained tokens of one day × provider × model × token class × API key (or project / workspace)."""

    day: date
    provider: str
    model: str
    token_class: str
    api_key_id: str
    key_hint: str  # as the provider's key list shows it; '' when the key is not listed
    project_id: str
    service_tier: str
    batch: bool
    provider_tokens: int
    stored_tokens: int
    unexplained_usd: Decimal | None

    @property
    def unexplained_tokens(self) -> int:
        return self.provider_tokens - self.stored_tokens


@dataclass
class ChargeLine:
    day: date
    provider: str
    line_item: str
    cost_type: str
    amount: Decimal
    currency: str


@dataclass
class ModelDrift:
    provider: str
    model: str
    provider_usd: Decimal  # the stored calls' tokens at the provider's rates
    stored_usd: Decimal  # what llmsight charged for them

    @property
    def drift(self) -> float | None:
        return float(self.provider_usd / self.stored_usd - 1) if self.stored_usd else None

    def fix(self) -> str:
        """The prices-file entry that would make llmsight charge what the provider bills."""
        drift = self.drift
        if drift is None:
            return ""
        if drift < 0:
            percent = round(-drift * 100, 2)
            return f"discounts: [{{provider: {self.provider}, model: \"{self.model}\", percent: {percent:g}}}]"
        return (f"models: [{{provider: {self.provider}, model: \"{self.model}\", …}}] at the provider's rates "
                f"(+{drift * 100:.2f} %: the price table may be out of date)")


@dataclass
class DaySummary:
    day: date
    provider: str
    currency: str
    bill: Decimal  # the provider's total: tokens and other charges
    explained: Decimal  # the stored calls' tokens at the provider's rates
    unexplained: Decimal  # tokens llmsight never saw, at the provider's rates
    drift: Decimal  # explained − what llmsight charged for the same calls
    charges: Decimal  # non-token line items
    complete: bool  # every bucket of the day had ended when it was pulled

    @property
    def coverage(self) -> float | None:
        tokens = self.bill - self.charges
        return float(self.explained / tokens) if tokens else None


@dataclass
class Reconciliation:
    start: datetime
    end: datetime
    days: list[DaySummary] = field(default_factory=list)
    tokens: list[TokenLine] = field(default_factory=list)
    keys: list[KeyLine] = field(default_factory=list)
    charges: list[ChargeLine] = field(default_factory=list)
    drift: list[ModelDrift] = field(default_factory=list)
    incomplete_pulls: list[str] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return bool(self.days)


def _decimal(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(repr(float(value))).quantize(PLACES)


def _window(start: datetime, end: datetime) -> dict[str, Any]:
    return {"start": utc_parameter(start), "end": utc_parameter(end)}


def reconcile(read: Reader, start: datetime, end: datetime) -> Reconciliation:
    """The reconciliation of the whole UTC days between `start` and `end`."""
    params = _window(start, end)
    in_window = "bucket_start >= {start:DateTime} AND bucket_start < {end:DateTime}"
    usage = read(
        "SELECT toDate(bucket_start) AS day, provider, model, api_key_id, project_id, service_tier, batch, "
        "sum(uncached_input_tokens), sum(cache_read_tokens), sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), "
        f"sum(output_tokens) FROM {latest_rows(USAGE_TABLE, in_window)} WHERE model != '' "
        "GROUP BY day, provider, model, api_key_id, project_id, service_tier, batch",
        params,
    ).rows
    completeness = read(
        f"SELECT toDate(bucket_start) AS day, provider, min(complete) FROM {latest_rows(USAGE_TABLE, in_window)} "
        "GROUP BY day, provider",
        params,
    ).rows
    costs = read(
        "SELECT toDate(bucket_start) AS day, provider, model, token_class, line_item, cost_type, currency, sum(amount) "
        f"FROM {latest_rows(COSTS_TABLE, in_window)} WHERE line_item != '' "
        "GROUP BY day, provider, model, token_class, line_item, cost_type, currency",
        params,
    ).rows
    stored = read(
        "SELECT toDate(ts) AS day, provider, if(response_model != '', response_model, request_model) AS model, "
        "api_key_hint, service_tier, "
        "sum(toInt64(input_tokens) - cache_read_tokens - cache_write_tokens), sum(cache_read_tokens), "
        "sum(toInt64(cache_write_tokens) - cache_write_1h_tokens), sum(cache_write_1h_tokens), sum(output_tokens), "
        "sum(input_cost), sum(cache_read_cost), sum(cache_write_cost), sum(output_cost) "
        f"FROM {DATABASE}.{CALLS_TABLE} WHERE ts >= {{start:DateTime}} AND ts < {{end:DateTime}} AND status = 'ok' "
        f"AND provider IN {RECONCILED_PROVIDERS!r} GROUP BY day, provider, model, api_key_hint, service_tier",
        params,
    ).rows
    keys = read(
        f"SELECT provider, api_key_id, argMax(hint, pulled_at) FROM {DATABASE}.{KEYS_TABLE} GROUP BY provider, api_key_id"
    ).rows
    pulls = read(
        f"SELECT provider, endpoint, argMax(status, pulled_at), argMax(detail, pulled_at), max(window_start), "
        f"max(window_end) FROM {DATABASE}.{PULLS_TABLE} GROUP BY provider, endpoint"
    ).rows

    result = Reconciliation(start, end)
    result.incomplete_pulls = [f"{endpoint}: {detail or 'incomplete'}" for _, endpoint, status, detail, _, _ in pulls
                               if status != "complete"]
    lines: dict[tuple[date, str, str, str], TokenLine] = {}

    def line(day: date, provider: str, model: str, token_class: str) -> TokenLine:
        key = (day, provider, model, token_class)
        if key not in lines:
            lines[key] = TokenLine(day, provider, model, token_class)
        return lines[key]

    for day, provider, model, _key, _project, _tier, _batch, *tokens in usage:
        for token_class, count in zip(TOKEN_CLASSES, tokens, strict=True):
            if count:
                line(day, provider, model, token_class).provider_tokens += int(count)
    # By batch or not too: the providers report batch usage on lines of its own (docs/batch.md).
    stored_by_hint: dict[tuple[date, str, str, str, str, bool], int] = defaultdict(int)
    for day, provider, model, hint, tier, *values in stored:
        tokens, dollars = values[:5], values[5:]
        # llm_calls keeps one cost for all cache writes: split between 5m and 1h in proportion to their tokens.
        writes = int(tokens[2]) + int(tokens[3])
        write_cost = _decimal(dollars[2])
        class_dollars = [_decimal(dollars[0]), _decimal(dollars[1]),
                         (write_cost * int(tokens[2]) / writes).quantize(PLACES) if writes else Decimal(0),
                         (write_cost * int(tokens[3]) / writes).quantize(PLACES) if writes else Decimal(0),
                         _decimal(dollars[3])]
        for token_class, count, usd in zip(TOKEN_CLASSES, tokens, class_dollars, strict=True):
            if count:
                target = line(day, provider, model, token_class)
                target.stored_tokens += int(count)
                target.stored_usd += usd
                stored_by_hint[(day, provider, model, token_class, hint, tier == "batch")] += int(count)
    charges: dict[tuple[date, str, str], Decimal] = defaultdict(Decimal)
    for day, provider, model, token_class, line_item, cost_type, currency, amount in costs:
        amount = _decimal(amount)
        if token_class and model and currency == USD:
            target = line(day, provider, model, token_class)
            target.provider_usd = (target.provider_usd or Decimal(0)) + amount
        else:  # another currency is never mixed into USD rates: kept as a line of its own
            result.charges.append(ChargeLine(day, provider, line_item, cost_type or "other", amount, currency))
            charges[(day, provider, currency)] += amount
    result.tokens = sorted(lines.values(), key=lambda t: (t.day, t.provider, t.model, TOKEN_CLASSES.index(t.token_class)))
    result.keys = _key_lines(usage, stored_by_hint, lines, keys)
    result.days = _day_summaries(result.tokens, charges, completeness)
    result.drift = _model_drift(result.tokens)
    return result


def _key_lines(
    usage: list[Any], stored_by_hint: dict[tuple[date, str, str, str, str, bool], int],
    lines: dict[tuple[date, str, str, str], TokenLine], keys: list[Any],
) -> list[KeyLine]:
    hints = {(provider, key_id): hint for provider, key_id, hint in keys}
    out: list[KeyLine] = []
    for day, provider, model, key_id, project, tier, batch, *tokens in usage:
        hint = hints.get((provider, key_id), "")
        for token_class, count in zip(TOKEN_CLASSES, tokens, strict=True):
            if not count:
                continue
            stored = sum(n for (d, p, m, c, h, b), n in stored_by_hint.items()
                         if (d, p, m, c, b) == (day, provider, model, token_class, bool(batch)) and hint
                         and hint_matches(h, hint))
            rate = lines[(day, provider, model, token_class)].provider_rate
            missing = int(count) - stored
            out.append(KeyLine(day, provider, model, token_class, key_id, hint, project, tier, bool(batch), int(count),
                               stored, (rate * missing).quantize(PLACES) if rate is not None else None))
    return sorted(out, key=lambda k: (k.day, k.provider, k.model, k.api_key_id, TOKEN_CLASSES.index(k.token_class)))


def _day_summaries(
    tokens: list[TokenLine], charges: dict[tuple[date, str, str], Decimal], completeness: list[Any]
) -> list[DaySummary]:
    complete = {(day, provider): bool(flag) for day, provider, flag in completeness}
    days: dict[tuple[date, str, str], DaySummary] = {}
    for day, provider in complete:
        days[(day, provider, USD)] = DaySummary(day, provider, USD, Decimal(0), Decimal(0), Decimal(0), Decimal(0),
                                                Decimal(0), complete[(day, provider)])
    for t in tokens:
        summary = days.setdefault((t.day, t.provider, USD), DaySummary(
            t.day, t.provider, USD, Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal(0), False))
        if t.provider_usd is not None:
            summary.bill += t.provider_usd
            summary.explained += t.provider_usd - (t.unexplained_usd or Decimal(0))
            summary.unexplained += t.unexplained_usd or Decimal(0)
            summary.drift += t.drift_usd or Decimal(0)
    for (day, provider, currency), amount in charges.items():
        summary = days.setdefault((day, provider, currency), DaySummary(
            day, provider, currency, Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal(0),
            complete.get((day, provider), False)))
        summary.bill += amount
        summary.charges += amount
    return sorted(days.values(), key=lambda s: (s.day, s.provider, s.currency))


def _model_drift(tokens: list[TokenLine]) -> list[ModelDrift]:
    by_model: dict[tuple[str, str], ModelDrift] = {}
    for t in tokens:
        rate = t.provider_rate
        if rate is None or not t.stored_tokens:
            continue
        entry = by_model.setdefault((t.provider, t.model), ModelDrift(t.provider, t.model, Decimal(0), Decimal(0)))
        entry.provider_usd += rate * t.stored_tokens
        entry.stored_usd += t.stored_usd
    return sorted(by_model.values(), key=lambda d: (d.provider, d.model))

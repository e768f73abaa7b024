"""Budgets: a spend limit per scope (the whole org, or each service, tenant, user, task, model or API key) and
calendar period (day, week from Monday, month) in a stated time zone, with a forecast of the spend at the
period's end. A budget is declared once, in the alerts file, and compiled to ONE SQL statement that Grafana's
alert rules, the built-in evaluator and the Budgets dashboard all run.

The forecast model (all days are local days in the budget's time zone):
- `spent`: the period's spend so far.
- A typical day for each weekday: the median of that weekday's spend over the 28 complete days before today
  (a day with no calls counts as 0; days before the scope's first call do not count). With fewer than 7 such
  days, every weekday uses the median of the days there are; with none (the scope's first day), today's spend
  so far, extrapolated to the whole day.
- `projected` = spent + the rest of today (today's typical day × the share of today still to come) + the
  typical day of each remaining day of the period.
- `crossing`: the first day on which spent plus the forecast reaches the budget.
It is robust by construction to a spike today (spent money counts once, never as a rate) and to a period's
first days (the rates come from the 28 days before today, not from the few days of the new period). Local days
are made of UTC hours: in a time zone with a non-whole-hour offset a day boundary is off by that fraction.
"""

from __future__ import annotations

import math
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmsight.collector.columns import CALLS_TABLE, DATABASE, HOURLY_TABLE

Scope = Literal["org", "service", "tenant", "user", "task", "model", "api_key"]
Period = Literal["day", "week", "month"]

# Scope -> call-row column. The hourly rollup keys the first ones; the others are read from raw rows.
SCOPE_COLUMNS: Final[dict[str, str]] = {
    "service": "service",
    "tenant": "tenant",
    "task": "task",
    "model": "request_model",
    "user": "user_id",
    "api_key": "api_key_hint",
}
ROLLUP_SCOPES: Final = frozenset({"org", "service", "tenant", "task", "model"})
HISTORY_DAYS: Final = 28
MIN_WEEKDAY_HISTORY_DAYS: Final = 7
ALL: Final = "all"  # the scope label of an org-wide budget


class Budget(BaseModel):
    """One budget of the alerts file's `budgets:` list."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=15)  # rule ids and Grafana uids (40 chars) derive from it
    scope: Scope = "org"
    value: str | None = Field(default=None, min_length=1)  # one scope value; None: each value is its own budget
    period: Period = "month"
    timezone: str = "UTC"
    amount: float = Field(gt=0)  # USD
    warn: float = Field(default=0.8, gt=0, le=10)  # share of the amount: a warning when spent reaches it
    critical: float = Field(default=1.0, gt=0, le=10)  # share of the amount that counts as exceeded

    @field_validator("amount", "warn", "critical", mode="before")
    @classmethod
    def _finite_number(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"must be a finite number, not {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Paris or UTC)") from None
        if value not in available_timezones() and value != "UTC":
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Paris or UTC)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Budget:
        if self.scope == "org" and self.value is not None:
            raise ValueError("an org budget covers all spend: it takes no `value`")
        if self.warn > self.critical:
            raise ValueError(f"warn ({self.warn:g}) must not exceed critical ({self.critical:g})")
        return self

    @property
    def describe(self) -> str:
        """How alerts name it: `monthly budget team_x of $1,000.00 (tenant acme)`."""
        period = {"day": "daily", "week": "weekly", "month": "monthly"}[self.period]
        return f"{period} budget {self.name} of ${self.amount:,.2f}"


def _literal(text: str) -> str:
    """A ClickHouse string literal safe by construction: hex digits only ever reach the query."""
    return f"unhex('{text.encode().hex()}')"


def _period_start(budget: Budget) -> str:
    return {"day": "today", "week": "toMonday(today)", "month": "toStartOfMonth(today)"}[budget.period]


def _period_end(budget: Budget) -> str:
    """The first local day after the period."""
    return {"day": "today + 1", "week": "toMonday(today) + 7", "month": "addMonths(toStartOfMonth(today), 1)"}[budget.period]


def _daily_spend(budget: Budget) -> str:
    """Spend per scope value and local day, over enough days for the period and the history."""
    zone = _literal(budget.timezone)
    column = SCOPE_COLUMNS.get(budget.scope)
    scope = column if column else _literal(ALL)
    only = f" AND {column} = {_literal(budget.value)}" if column and budget.value is not None else ""
    oldest = f"toDateTime(toDate($__toTime, {zone}) - {HISTORY_DAYS + 7}, {zone})"
    if budget.scope in ROLLUP_SCOPES:
        return (f"SELECT {scope} AS scope, toDate(hour, {zone}) AS day, sum(total_cost) AS cost "
                f"FROM {DATABASE}.{HOURLY_TABLE} WHERE hour >= {oldest} AND hour <= $__toTime{only} GROUP BY scope, day")
    return (f"SELECT {scope} AS scope, toDate(ts, {zone}) AS day, sum(total_cost) AS cost "
            f"FROM {DATABASE}.{CALLS_TABLE} WHERE ts >= {oldest} AND ts <= $__toTime{only} GROUP BY scope, day")


def status_sql(budget: Budget) -> str:
    """One row per scope value: budget, scope, amount, spent, projected, crossing (a date, or '' when the
    forecast stays under the budget), period_start, period_end (exclusive), each a column; `$__toTime` is now."""
    zone = _literal(budget.timezone)
    typical = (  # the typical spend of local day `d`
        f"if(length(history) >= {MIN_WEEKDAY_HISTORY_DAYS}, "
        "arrayReduce('quantileExactInclusive(0.5)', arrayFilter((c, h) -> toDayOfWeek(h) = toDayOfWeek(d), history_cost, history)), "
        "if(length(history) > 0, arrayReduce('quantileExactInclusive(0.5)', history_cost), "
        "by_day[today] / greatest(today_elapsed, 1 / 24)))"
    )
    return (
        f"SELECT {_literal(budget.name)} AS budget, toString(scope) AS scope, toFloat64({budget.amount!r}) AS amount, "
        "spent, projected, crossing, toString(period_start) AS period_start, toString(period_end) AS period_end FROM ("
        "SELECT scope, "
        f"toDate($__toTime, {zone}) AS today, {_period_start(budget)} AS period_start, {_period_end(budget)} AS period_end, "
        f"dateDiff('second', toDateTime(today, {zone}), $__toTime) / 86400 AS today_elapsed, "
        "mapFromArrays(groupArray(day), groupArray(cost)) AS by_day, min(day) AS first_day, "
        f"arrayFilter(h -> h >= first_day, arrayMap(i -> today - {HISTORY_DAYS} + i, range({HISTORY_DAYS}))) AS history, "
        "arrayMap(h -> by_day[h], history) AS history_cost, "
        "sumIf(cost, day >= period_start AND day <= today) AS spent, "
        f"arrayMap(d -> {typical}, [today]) [1] * (1 - least(today_elapsed, 1)) AS rest_of_today, "
        "arrayMap(i -> today + 1 + i, range(toUInt32(greatest(period_end - today - 1, 0)))) AS days_left, "
        f"arrayMap(d -> {typical}, days_left) AS forecast, "
        "spent + rest_of_today + arraySum(forecast) AS projected, "
        f"arrayFirstIndex(x -> spent + x >= {budget.amount!r}, arrayCumSum(arrayConcat([rest_of_today], forecast))) AS crossing_index, "
        "if(crossing_index = 0, '', toString(today + crossing_index - 1)) AS crossing "
        f"FROM ({_daily_spend(budget)}) GROUP BY scope)"
    )

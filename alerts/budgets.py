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
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal
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


def literal(text: str) -> str:
    """A ClickHouse string literal safe by construction: hex digits only ever reach the query."""
    return f"unhex('{text.encode().hex()}')"


def _period_start(budget: Budget, today: str = "today") -> str:
    return {"day": today, "week": f"toMonday({today})", "month": f"toStartOfMonth({today})"}[budget.period]


def _period_end(budget: Budget, today: str = "today") -> str:
    """The first local day after the period."""
    return {"day": f"{today} + 1", "week": f"toMonday({today}) + 7", "month": f"addMonths(toStartOfMonth({today}), 1)"}[budget.period]


def _only(budget: Budget) -> str:
    """The condition on the scope value of a budget that names one ('' otherwise)."""
    column = SCOPE_COLUMNS.get(budget.scope)
    return f" AND {column} = {literal(budget.value)}" if column and budget.value is not None else ""


def source(budget: Budget) -> tuple[str, str]:
    """(table, time column) the budget's spend is read from: the hourly rollup where it keys the scope."""
    if budget.scope in ROLLUP_SCOPES:
        return f"{DATABASE}.{HOURLY_TABLE}", "hour"
    return f"{DATABASE}.{CALLS_TABLE}", "ts"


def scope_sql(budget: Budget) -> str:
    """The scope value of a row: its scope column, or 'all' for an org budget."""
    column = SCOPE_COLUMNS.get(budget.scope)
    return column if column else literal(ALL)


def period_filter(budget: Budget) -> str:
    """Rows of this period up to now (`$__toTime`), of the budget's scope value when it names one."""
    zone = literal(budget.timezone)
    _, time = source(budget)
    today = f"toDate($__toTime, {zone})"
    start, end = _period_start(budget, today), _period_end(budget, today)
    return f"toDate({time}, {zone}) >= {start} AND toDate({time}, {zone}) < {end} AND {time} <= $__toTime{_only(budget)}"


def _daily_spend(budget: Budget) -> str:
    """Spend per scope value and local day, over enough days for the period and the history."""
    zone = literal(budget.timezone)
    oldest = f"toDateTime(toDate($__toTime, {zone}) - {HISTORY_DAYS + 7}, {zone})"
    table, time = source(budget)
    return (f"SELECT {scope_sql(budget)} AS scope, toDate({time}, {zone}) AS day, sum(total_cost) AS cost "
            f"FROM {table} WHERE {time} >= {oldest} AND {time} <= $__toTime{_only(budget)} GROUP BY scope, day")


def status_sql(budget: Budget) -> str:
    """One row per scope value: budget, scope, amount, spent, projected, crossing (a date, or '' when the
    forecast stays under the budget), period_start, period_end (exclusive), each a column; `$__toTime` is now."""
    zone = literal(budget.timezone)
    typical = (  # the typical spend of local day `d`
        f"if(length(history) >= {MIN_WEEKDAY_HISTORY_DAYS}, "
        "arrayReduce('quantileExactInclusive(0.5)', arrayFilter((c, h) -> toDayOfWeek(h) = toDayOfWeek(d), history_cost, history)), "
        "if(length(history) > 0, arrayReduce('quantileExactInclusive(0.5)', history_cost), "
        "by_day[today] / greatest(today_elapsed, 1 / 24)))"
    )
    return (
        f"SELECT {literal(budget.name)} AS budget, toString(scope) AS scope, toFloat64({budget.amount!r}) AS amount, "
        "spent, projected, crossing, toString(period_start) AS period_start, toString(period_end) AS period_end, "
        "days_to_go, line_days, line_kinds, line_values FROM ("
        "SELECT scope, "
        f"toDate($__toTime, {zone}) AS today, {_period_start(budget)} AS period_start, {_period_end(budget)} AS period_end, "
        f"dateDiff('second', toDateTime(today, {zone}), $__toTime) / 86400 AS today_elapsed, "
        "mapFromArrays(groupArray(day), groupArray(cost)) AS by_day, min(day) AS first_day, "
        f"arrayFilter(h -> h >= first_day, arrayMap(i -> today - {HISTORY_DAYS} + i, range({HISTORY_DAYS}))) AS history, "
        "arrayMap(h -> by_day[h], history) AS history_cost, "
        "sumIf(cost, day >= period_start AND day <= today) AS spent, "
        f"arrayMap(d -> {typical}, [today]) [1] * (1 - least(today_elapsed, 1)) AS rest_of_today, "
        "toUInt32(period_end - today) AS days_to_go, "  # today included
        "arrayMap(i -> today + 1 + i, range(days_to_go - 1)) AS days_left, "
        f"arrayMap(d -> {typical}, days_left) AS forecast, "
        "spent + rest_of_today + arraySum(forecast) AS projected, "
        f"arrayFirstIndex(x -> spent + x >= {budget.amount!r}, arrayCumSum(arrayConcat([rest_of_today], forecast))) AS crossing_index, "
        "if(crossing_index = 0, '', toString(today + crossing_index - 1)) AS crossing, "
        # The dashboard's line: spend to date at the end of each day so far, then the forecast to the period's end.
        "arrayMap(i -> period_start + i, range(toUInt32(today - period_start + 1))) AS days_so_far, "
        "arrayConcat(days_so_far, days_left) AS line_days, "
        "arrayConcat(arrayMap(d -> 'spent', days_so_far), arrayMap(d -> 'forecast', days_left)) AS line_kinds, "
        "arrayConcat(arrayCumSum(arrayMap(d -> by_day[d], days_so_far)), "
        "arrayMap(x -> spent + rest_of_today + x, arrayCumSum(forecast))) AS line_values "
        f"FROM ({_daily_spend(budget)}) GROUP BY scope)"
    )


def report_section(budgets: Sequence[Budget]) -> Callable[[Any, datetime], list[dict[str, Any]]] | None:
    """The report's budgets section (build_report's `budgets`): their status as of the window's end; None without any."""
    if not budgets:
        return None
    return lambda query, at: budget_status(query, budgets, at)


def budget_status(query: Callable[[str], Any], budgets: Sequence[Budget], at: datetime) -> list[dict[str, Any]]:
    """Each budget's status per scope value as of `at`: what `llmsight report` shows (the dashboard's table)."""
    from llmsight.alerts.macros import expand

    found: list[dict[str, Any]] = []
    for budget in budgets:
        sql = expand(status_sql(budget), time_from=at - timedelta(hours=1), time_to=at)
        for row in query(sql).dicts():
            found.append({key: row[key] for key in ("budget", "scope", "amount", "spent", "projected", "crossing",
                                                     "period_end", "days_to_go")} | {"period": budget.period})
    return sorted(found, key=lambda row: (-row["projected"] / row["amount"], row["budget"], row["scope"]))

"""The Budgets dashboard, generated from the alerts file's budgets (alerts/budgets.py): each budget's period to
date against its amount, the forecast to the period's end, days left and the top contributors. Every figure comes
from the same SQL the budget alerts run, so the dashboard and the alerts agree."""

from __future__ import annotations

from collections.abc import Sequence

from llmsight.alerts.budgets import Budget, literal, period_filter, scope_sql, source, status_sql
from llmsight.dashboards.panels import Panel

BUDGETS_DASHBOARD = "budgets"
TOP_CONTRIBUTORS = 5


def _all_status(budgets: Sequence[Budget]) -> str:
    return " UNION ALL ".join(f"({status_sql(budget)})" for budget in budgets)


def _contributors(budget: Budget) -> str:
    """The tasks that spent most of each scope value's budget this period."""
    table, _ = source(budget)
    return (f"SELECT {literal(budget.name)} AS budget, toString({scope_sql(budget)}) AS scope, task, "
            f"sum(total_cost) AS spent FROM {table} WHERE {period_filter(budget)} GROUP BY scope, task")


def budget_panels(budgets: Sequence[Budget]) -> list[Panel]:
    status = _all_status(budgets)
    return [
        Panel("Budgets this period", "table",
              f"SELECT budget, scope, amount, spent, spent / amount AS spent_share, projected, projected / amount AS "
              f"projected_share, crossing AS projected_to_cross_on, period_end, days_to_go FROM ({status}) "
              f"ORDER BY projected_share DESC, budget, scope",
              "Per budget and scope value: spend so far this period, the forecast for the period's end (weekday "
              "medians of the 28 days before today, see docs/budgets.md), the day it crosses the budget, days left "
              "(today included).", width=24, height=10),
        Panel("Spend to date and forecast to the period's end", "timeseries",
              f"SELECT toDateTime(day) AS time, concat(budget, ' ', scope, ' ', kind) AS series, value FROM ({status}) "
              f"ARRAY JOIN line_days AS day, line_kinds AS kind, line_values AS value ORDER BY time",
              "Cumulative spend at the end of each day so far, then the forecast day by day to the period's end.",
              "currencyUSD", width=24, time_series=True),
        Panel("Top contributors this period", "table",
              "SELECT budget, scope, task, spent FROM ("
              + " UNION ALL ".join(f"({_contributors(budget)})" for budget in budgets)
              + f") ORDER BY spent DESC LIMIT {TOP_CONTRIBUTORS} BY budget, scope",
              f"The {TOP_CONTRIBUTORS} tasks that spent most of each budget's scope value this period.",
              "currencyUSD", width=24),
    ]

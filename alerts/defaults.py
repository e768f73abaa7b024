"""Budget defaults, defined once: the alert rules' budget thresholds and the dashboards' budget lines and
gauges read them from here (an alerts file's `params` overrides them for alerting)."""

from __future__ import annotations

from typing import Final

DAILY_BUDGET_USD: Final = 50.0  # all spend of one service over 24 hours
TENANT_DAILY_BUDGET_USD: Final = 10.0  # one tenant's spend over 24 hours

# Parameter name (as in alerts/rules.yaml and an alerts file's `params`) -> default.
BUDGET_PARAMS: Final[dict[str, float]] = {
    "daily_budget_usd": DAILY_BUDGET_USD,
    "tenant_daily_budget_usd": TENANT_DAILY_BUDGET_USD,
}

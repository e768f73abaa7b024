"""Budgets: strict configuration, the period-end forecast against hand arithmetic on calls stored through a real
collector (steady, weekday pattern, a spike today, the first day of a month, another time zone), and the
budget alerts: one per tenant over its forecast, not sent again, resolved when the budget is raised."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from llmsight.alerts.budgets import Budget, report_section, status_sql
from llmsight.alerts.evaluator import AlertEvaluator
from llmsight.alerts.macros import expand
from llmsight.alerts.rules import AlertsConfig, load_config
from llmsight.collector.app import Collector
from llmsight.collector.config import CollectorSettings
from llmsight.collector.config_file import ConfigFileError
from llmsight.collector.report.queries import build_report
from llmsight.collector.report.render import print_report, to_csv
from llmsight.collector.report.window import Window
from llmsight.dashboards.build import render_all
from tests.dashboards.conftest import CHEAPER_MODELS, Seeded
from tests.dashboards.grafana_backend import expand as grafana_expand
from tests.dashboards.seed import Call, healthy_calls, write_prices


# --- configuration ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("item", "error"), [
    ("    scope: team\n", "scope"),
    ("    period: quarter\n", "period"),
    ("    timezone: Mars/Olympus\n", "unknown time zone"),
    ("    value: acme\n", "takes no `value`"),
    ("    warn: 1.5\n", "must not exceed critical"),
])
def test_a_wrong_budget_is_a_file_line_error(tmp_path: Path, item: str, error: str) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("budgets:\n  - name: team\n    amount: 100\n" + item)
    with pytest.raises(ConfigFileError) as raised:
        load_config(path)
    assert f"{path}:" in str(raised.value) and error in str(raised.value)


def test_a_negative_amount_and_a_duplicate_name_point_at_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("budgets:\n  - name: team\n    amount: 100\n  - name: other\n    amount: -5\n")
    with pytest.raises(ConfigFileError) as raised:
        load_config(path)
    assert f"{path}:5:" in str(raised.value)
    path.write_text("budgets:\n  - name: team\n    amount: 100\n  - name: team\n    amount: 5\n")
    with pytest.raises(ConfigFileError, match="unique"):
        load_config(path)


# --- the forecast, by hand --------------------------------------------------------------------------------
@dataclass
class Forecast:
    spent: float
    projected: float
    crossing: str


def by_hand(calls: list[Call], at: datetime, budget: Budget) -> Forecast:
    """The documented model (alerts/budgets.py), written out with the standard library."""
    zone = ZoneInfo(budget.timezone)
    days: dict[date, float] = defaultdict(float)
    for call in calls:
        if call.ts <= at:
            days[call.ts.astimezone(zone).date()] += call.total_cost
    today = at.astimezone(zone).date()
    start = {"day": today, "week": today - timedelta(days=today.weekday()), "month": today.replace(day=1)}[budget.period]
    end = {"day": today + timedelta(days=1), "week": start + timedelta(days=7),
           "month": (start + timedelta(days=32)).replace(day=1)}[budget.period]
    spent = sum(cost for day, cost in days.items() if start <= day <= today)
    history = [today - timedelta(days=28 - i) for i in range(28) if today - timedelta(days=28 - i) >= min(days)]
    elapsed = (at - datetime.combine(today, time(0), zone)).total_seconds() / 86400

    def typical(day: date) -> float:
        if len(history) >= 7:
            return statistics.median(days.get(h, 0.0) for h in history if h.isoweekday() == day.isoweekday())
        if history:
            return statistics.median(days.get(h, 0.0) for h in history)
        return days[today] / max(elapsed, 1 / 24)

    left = [today + timedelta(days=1 + i) for i in range((end - today).days - 1)]
    steps = [typical(today) * (1 - min(elapsed, 1))] + [typical(day) for day in left]
    projected = spent + sum(steps)
    running, crossing = spent, ""
    for day, step in zip([today, *left], steps, strict=True):
        running += step
        if running >= budget.amount:
            crossing = day.isoformat()
            break
    return Forecast(spent, projected, crossing)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    directory = tmp_path_factory.mktemp("budgets")
    settings = CollectorSettings(data_dir=directory / "data", otlp_http_port=0, otlp_grpc_port=0, read_api_port=0,
                                 prices_file=write_prices(directory), cheaper_models=CHEAPER_MODELS, accept_past_days=70)
    collector = Collector(settings).start()
    try:
        # "Now" is yesterday noon, whatever the clock says: a spike "today" and a period's days before it exist
        # at any hour the suite runs (at 00:05 today would have no hour before now).
        noon = (datetime.now(timezone.utc) - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
        yield Seeded(collector, noon)
    finally:
        collector.stop()


TEMPLATE = healthy_calls(datetime.now(timezone.utc), count=1)[0]


def daily_calls(tenant: str, until: datetime, days: int, per_day: dict[int, int], *, base: int) -> list[Call]:
    """Calls of `tenant` on each of the `days` days before `until` (per_day: ISO weekday -> calls that day)."""
    calls = []
    for back in range(1, days + 1):
        moment = until - timedelta(days=back, minutes=30)
        for n in range(per_day.get(moment.isoweekday(), 2)):
            call = Call(**{**TEMPLATE.__dict__, "attributes": {}})
            call.tenant, call.ts, call.span_id = tenant, moment - timedelta(minutes=n), base + back * 100 + n
            call.status, call.http_status, call.error_type, call.output_tokens = "ok", 200, "", 300
            calls.append(call)
    return calls


def forecast_in_clickhouse(store: Seeded, budget: Budget, at: datetime) -> dict[str, Forecast]:
    sql = expand(status_sql(budget), time_from=at - timedelta(hours=1), time_to=at)
    return {row["scope"]: Forecast(row["spent"], row["projected"], row["crossing"]) for row in store.query(sql).dicts()}


def check(store: Seeded, calls: list[Call], budget: Budget, at: datetime) -> Forecast:
    expected = by_hand(calls, at, budget)
    got = forecast_in_clickhouse(store, budget, at)[budget.value or "all"]
    assert got.spent == pytest.approx(expected.spent, rel=1e-9)
    assert got.projected == pytest.approx(expected.projected, rel=1e-9)
    assert got.crossing == expected.crossing
    return got


def test_forecast_steady_weekday_pattern_spike_today_and_first_day_of_a_month(store: Seeded) -> None:
    at = store.now
    steady = daily_calls("steady", at, 35, {}, base=10_000_000)
    mondays = daily_calls("mondays", at, 35, {1: 10}, base=20_000_000)
    spike = daily_calls("spike", at, 35, {}, base=30_000_000)
    for n in range(40):  # today: forty times a normal day, an hour before now
        call = Call(**{**spike[0].__dict__, "attributes": {}})
        call.ts, call.span_id = at - timedelta(minutes=20 + n % 30), 39_000_000 + n
        spike.append(call)
    first_of_month = (at - timedelta(days=1)).replace(day=1, hour=6)  # within the last month: a day-1 morning
    early = [c for c in daily_calls("early", first_of_month, 30, {}, base=40_000_000)]
    for n in range(3):
        call = Call(**{**early[0].__dict__, "attributes": {}})
        call.ts, call.span_id = first_of_month - timedelta(hours=2, minutes=n), 49_000_000 + n
        early.append(call)
    store.add(steady + mondays + spike + early)
    unit = steady[0].total_cost
    assert unit > 0

    month = check(store, steady, Budget(name="steady", scope="tenant", value="steady", amount=1e6), at)
    assert month.crossing == ""
    small = check(store, steady, Budget(name="steady", scope="tenant", value="steady", amount=unit * 3), at)
    assert small.crossing != ""
    week = check(store, mondays, Budget(name="mondays", scope="tenant", value="mondays", period="week", amount=unit * 20), at)
    paris = check(store, mondays, Budget(name="mondays", scope="tenant", value="mondays", timezone="America/New_York",
                                         amount=unit * 100), at)
    assert week.projected > 0 and paris.projected > 0
    # A spike today is spent money, counted once: the rest of the period is forecast at the usual rate.
    spiked = check(store, spike, Budget(name="spike", scope="tenant", value="spike", period="day", amount=1e6), at)
    usual = by_hand([c for c in spike if c.span_id < 39_000_000], at, Budget(name="x", period="day", amount=1e6))
    assert spiked.projected == pytest.approx(usual.projected + 40 * unit, rel=1e-9)
    # The first morning of a month forecasts from the days before it, not from six hours of the new month.
    first = check(store, early, Budget(name="early", scope="tenant", value="early", amount=1e6), first_of_month)
    assert first.spent == pytest.approx(3 * unit, rel=1e-9) and first.projected > 2 * unit * 28


# --- the alerts -------------------------------------------------------------------------------------------
def test_a_tenant_projected_over_its_budget_alerts_once_and_resolves_when_the_budget_is_raised(
        store: Seeded, tmp_path: Path) -> None:
    at = store.now
    calls = daily_calls("bigspender", at, 20, {}, base=50_000_000) + daily_calls("frugal", at, 20, {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}, base=60_000_000)
    store.add(calls)
    unit = calls[0].total_cost
    monthly = Budget(name="tenants", scope="tenant", amount=unit * 2 * 20)  # about 20 days of bigspender's rate

    def engine(budget: Budget) -> AlertEvaluator:
        return AlertEvaluator(store.query, AlertsConfig(budgets=[budget]), tmp_path / "state.json")

    first = engine(monthly)
    fired = [t for t in first.evaluate_once(at) if t.rule_id == "budget_tenants_forecast"]
    expected = {scope: forecast.projected > monthly.amount
                for scope, forecast in forecast_in_clickhouse(store, monthly, at).items()}
    assert expected["bigspender"] and not expected["frugal"]
    assert sorted(t.labels["scope"] for t in fired) == sorted(s for s, over in expected.items() if over)
    alert = next(t for t in fired if t.labels["scope"] == "bigspender")
    assert alert.status == "firing" and alert.labels["budget"] == "tenants"
    assert alert.summary.startswith(f"Monthly budget tenants of ${monthly.amount:,.2f} (tenant bigspender): projected to exceed")
    assert "%!" not in alert.summary and "[no value]" not in alert.summary
    assert [t for t in first.evaluate_once(at + timedelta(minutes=1)) if t.rule_id == "budget_tenants_forecast"] == []
    raised = engine(monthly.model_copy(update={"amount": 1e9}))
    resolved = [t for t in raised.evaluate_once(at + timedelta(minutes=2)) if t.rule_id == "budget_tenants_forecast"]
    assert {(t.labels["scope"], t.status) for t in resolved} == {(s, "resolved") for s, over in expected.items() if over}


# --- the Budgets dashboard ------------------------------------------------------------------------------
def test_the_budgets_dashboard_shows_the_forecast_the_alerts_use(store: Seeded) -> None:
    at = store.now
    calls = daily_calls("dashboarded", at, 30, {6: 5}, base=70_000_000)
    for n, call in enumerate(calls):
        call.task = "summarise" if n % 3 else "extract"
    store.add(calls)
    budget = Budget(name="dash", scope="tenant", value="dashboarded", amount=calls[0].total_cost * 50)
    expected = by_hand(calls, at, budget)
    document = json.loads(render_all(budgets=[budget, Budget(name="org", amount=1e6)])["budgets.json"])
    panels = {panel["title"]: panel for panel in document["panels"]}

    def rows(title: str) -> list[dict[str, Any]]:
        sql = grafana_expand(panels[title]["targets"][0]["rawSql"], time_from=at - timedelta(days=7), time_to=at)
        return list(store.query(sql).dicts())

    table = {(r["budget"], r["scope"]): r for r in rows("Budgets this period")}
    mine = table[("dash", "dashboarded")]
    assert mine["spent"] == pytest.approx(expected.spent, rel=1e-9)
    assert mine["projected"] == pytest.approx(expected.projected, rel=1e-9)
    assert mine["projected_to_cross_on"] == expected.crossing
    assert mine["spent_share"] == pytest.approx(expected.spent / budget.amount, rel=1e-9)
    assert table[("org", "all")]["spent"] >= mine["spent"]  # the org budget covers every tenant
    line = [r for r in rows("Spend to date and forecast to the period's end") if r["series"].startswith("dash ")]
    spent_points = [r["value"] for r in line if r["series"].endswith(" spent")]
    forecast_points = [r["value"] for r in line if r["series"].endswith(" forecast")]
    assert spent_points[-1] == pytest.approx(expected.spent, rel=1e-9)
    assert spent_points == sorted(spent_points)
    if forecast_points:  # none on the period's last day
        assert forecast_points[-1] == pytest.approx(expected.projected, rel=1e-9)
    local_today = at.astimezone(ZoneInfo("UTC")).date()
    by_task: dict[str, float] = defaultdict(float)
    for call in calls:
        if call.ts.date().replace(day=1) == local_today.replace(day=1) and call.ts <= at:
            by_task[call.task] += call.total_cost
    top = {r["task"]: r["spent"] for r in rows("Top contributors this period") if r["budget"] == "dash"}
    assert top == pytest.approx(dict(by_task), rel=1e-9)


def test_the_report_shows_each_budget_with_its_forecast(store: Seeded) -> None:
    at = store.now
    calls = daily_calls("reported", at, 10, {}, base=80_000_000)
    store.add(calls)
    budget = Budget(name="rep", scope="tenant", value="reported", amount=calls[0].total_cost * 5, period="week")
    expected = by_hand(calls, at, budget)
    query = store.collector.store.query
    report = build_report(query, Window(at - timedelta(days=1), at), report_section([budget]))
    (row,) = report["budgets"]
    assert (row["budget"], row["scope"], row["period"]) == ("rep", "reported", "week")
    assert row["spent"] == pytest.approx(expected.spent, rel=1e-9)
    assert row["projected"] == pytest.approx(expected.projected, rel=1e-9) and row["crossing"] == expected.crossing
    console = Console(record=True, width=200)
    print_report(report, console)
    text = console.export_text()
    assert "Budgets (this period" in text and "rep (week)" in text and (f"${expected.projected:,.2f}" in text or f"${expected.projected:,.4f}" in text)
    assert "budgets,rep/reported,projected," in to_csv(report)
    assert "budgets" not in build_report(query, Window(at - timedelta(days=1), at))


def test_a_period_rolling_over_resolves_what_it_ends_and_sends_nothing_new(store: Seeded, tmp_path: Path) -> None:
    """A daily budget over at 23:50 (exceeded, warned, forecast over) is, at 00:10, resolved where the new day's
    spend is 0 and still forecast over (its usual day is over the budget) without a second notification."""
    at = store.now
    midnight = at.replace(hour=0)
    # Two calls at 23:29 and 23:30 on each of the ten days before that midnight.
    calls = daily_calls("roller", midnight + timedelta(days=1), 10, {}, base=90_000_000)
    store.add(calls)
    budget = Budget(name="daily", scope="tenant", value="roller", period="day", amount=calls[0].total_cost * 1.5)
    engine = AlertEvaluator(store.query, AlertsConfig(budgets=[budget]), tmp_path / "state.json")
    before = {(t.rule_id, t.status) for t in engine.evaluate_once(midnight - timedelta(minutes=10))}
    assert before == {("budget_daily_exceeded", "firing"), ("budget_daily_warning", "firing"),
                      ("budget_daily_forecast", "firing")}
    after = {(t.rule_id, t.status) for t in engine.evaluate_once(midnight + timedelta(minutes=10))}
    assert after == {("budget_daily_exceeded", "resolved"), ("budget_daily_warning", "resolved")}

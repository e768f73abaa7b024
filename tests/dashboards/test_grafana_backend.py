"""The plugin's backend macros, emulated independently (grafana_backend.py): first against the plugin's own test
cases and documented examples (grafana/clickhouse-datasource commit 1d04063a31fb30f9582cd0b3aeaacb7d350b0dcf,
pkg/macros/macros_test.go and docs/sources/query-editor.md), then against llmsight's expander
(`llmsight.alerts.macros`, which the built-in alert evaluator runs) on every query of the dashboards and the
alert rules Grafana is given: both must send ClickHouse the same SQL."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from llmsight.alerts import macros
from llmsight.alerts.budgets import Budget
from llmsight.alerts.grafana import compile_rules
from llmsight.alerts.rules import AlertsConfig
from llmsight.dashboards.build import render_all

from .grafana_backend import NotEmulated, PluginQueryError, expand, go_parse_duration_ns
from .grafana_frontend import Scene, apply_template_variables, variables_from_dashboard


def go_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


# macros_test.go's ranges: the unit tests use .371 at both ends, TestInterpolate .123 and .456.
UNIT_FROM, UNIT_TO = go_time("2014-11-12T11:45:26.371Z"), go_time("2015-11-12T11:45:26.371Z")
FROM, TO = go_time("2014-11-12T11:45:26.123Z"), go_time("2015-11-12T11:45:26.456Z")

# (sql, interval seconds, expected) from macros_test.go's unit tests (each handler called alone) and the
# documentation's table (interval 20 s), over the unit tests' range.
UNIT_CASES = [
    ("$__fromTime", 0, "toDateTime(1415792726)"),
    ("$__toTime", 0, "toDateTime(1447328726)"),
    ("$__fromTime_ms", 0, "fromUnixTimestamp64Milli(1415792726371)"),
    ("$__toTime_ms", 0, "fromUnixTimestamp64Milli(1447328726371)"),
    ("$__dateFilter(dateCol)", 0, "dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')"),
    ("$__dateTimeFilter(dateCol, timeCol)", 0,
     "(dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')) AND "
     "(timeCol >= toDateTime(1415792726) AND timeCol <= toDateTime(1447328726))"),
    ("$__dt(dateCol, timeCol)", 0,
     "(dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')) AND "
     "(timeCol >= toDateTime(1415792726) AND timeCol <= toDateTime(1447328726))"),
    ("$__timeInterval(col)", 20, "toStartOfInterval(toDateTime(col), INTERVAL 20 second)"),
    ("$__timeInterval_ms(col)", 20, "toStartOfInterval(toDateTime64(col, 3), INTERVAL 20000 millisecond)"),
    ("$__interval_s", 20, "20"),
    ("$__timeFrom(ts)", 0, "ts >= toDateTime(1415792726)"),
    ("$__timeTo(ts)", 0, "ts <= toDateTime(1447328726)"),
    ("$__timeGroup(ts, 5m)", 0, "toStartOfInterval(toDateTime(ts), INTERVAL 300 second)"),
    ("$__timeGroup(ts, 1h)", 0, "toStartOfInterval(toDateTime(ts), INTERVAL 3600 second)"),
    ("$__timeFilter(time)", 20, "time >= toDateTime(1415792726) AND time <= toDateTime(1447328726)"),
]

# TestInterpolate, TestInterpolateNestedMacros (interval: one minute), TestInterpolateBackslashEscapedStringLiterals,
# TestInterpolateBacktickAndDollarQuotedRegions: whole queries over FROM..TO.
INTERPOLATE_CASES = [
    ("select * from foo where $__timeFilter(cast(sth as timestamp))",
     "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= toDateTime(1447328726)"),
    ("select * from foo where $__timeFilter(cast(sth as timestamp) )",
     "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= toDateTime(1447328726)"),
    ("select * from foo where $__timeFilter_ms(cast(sth as timestamp))",
     "select * from foo where cast(sth as timestamp) >= fromUnixTimestamp64Milli(1415792726123) AND cast(sth as timestamp) <= fromUnixTimestamp64Milli(1447328726456)"),
    ("select * from foo where ( date >= $__fromTime and date <= $__toTime ) limit 100",
     "select * from foo where ( date >= toDateTime(1415792726) and date <= toDateTime(1447328726) ) limit 100"),
    ("select * from foo where ( date >= $__fromTime_ms ) and ( date <= $__toTime_ms ) limit 100",
     "select * from foo where ( date >= fromUnixTimestamp64Milli(1415792726123) ) and ( date <= fromUnixTimestamp64Milli(1447328726456) ) limit 100"),
    ("SELECT $__timeInterval($__fromTime) AS from_time",
     "SELECT toStartOfInterval(toDateTime(toDateTime(1415792726)), INTERVAL 60 second) AS from_time"),
    ("SELECT $__timeInterval_ms($__fromTime_ms)",
     "SELECT toStartOfInterval(toDateTime64(fromUnixTimestamp64Milli(1415792726123), 3), INTERVAL 60000 millisecond)"),
    ("select * from foo where $__timeFilter(coalesce(closed_at, $__toTime))",
     "select * from foo where coalesce(closed_at, toDateTime(1447328726)) >= toDateTime(1415792726) AND coalesce(closed_at, toDateTime(1447328726)) <= toDateTime(1447328726)"),
    ("select * from foo where msg = 'it\\'s -- fine' and $__fromTime",
     "select * from foo where msg = 'it\\'s -- fine' and toDateTime(1415792726)"),
    ("select * from foo where msg = 'a\\'/*x' and $__toTime", "select * from foo where msg = 'a\\'/*x' and toDateTime(1447328726)"),
    ("select * from foo where msg = 'it''s' and $__fromTime", "select * from foo where msg = 'it''s' and toDateTime(1415792726)"),
    ("SELECT `it's` AS x, msg FROM t WHERE msg = 'a--b' AND $__timeFilter(ts)",
     "SELECT `it's` AS x, msg FROM t WHERE msg = 'a--b' AND ts >= toDateTime(1415792726) AND ts <= toDateTime(1447328726)"),
    ("SELECT `a--b`, `c/*d` FROM t WHERE $__fromTime", "SELECT `a--b`, `c/*d` FROM t WHERE toDateTime(1415792726)"),
    ("SELECT $doc$a--b$doc$ AS x FROM t WHERE $__toTime", "SELECT $doc$a--b$doc$ AS x FROM t WHERE toDateTime(1447328726)"),
]


@pytest.mark.parametrize(("sql", "interval_s", "expected"), UNIT_CASES)
def test_the_plugins_unit_cases(sql: str, interval_s: float, expected: str) -> None:
    assert expand(sql, time_from=UNIT_FROM, time_to=UNIT_TO, interval_s=interval_s) == expected


@pytest.mark.parametrize(("sql", "expected"), INTERPOLATE_CASES)
def test_the_plugins_interpolate_cases(sql: str, expected: str) -> None:
    assert expand(sql, time_from=FROM, time_to=TO, interval_s=60) == expected


@pytest.mark.parametrize("sql", [
    "$__timeFilter()", "$__timeFilter_ms()", "$__dateFilter()", "$__dateTimeFilter(d)", "$__timeInterval()",
    "$__timeInterval_ms()", "$__timeFrom()", "$__timeTo()", "$__timeGroup(ts)", "$__timeGroup(ts, not-a-duration)",
    "$__timeGroup(ts, 1d)",  # time.ParseDuration knows no days
])
def test_the_plugins_error_cases(sql: str) -> None:
    with pytest.raises(PluginQueryError):
        expand(sql, time_from=UNIT_FROM, time_to=UNIT_TO)


def test_comments_unknown_names_and_what_is_not_emulated() -> None:
    blanked = "-- $__timeFilter(x)"
    assert expand(f"a {blanked}\nb /* $__toTime */", time_from=FROM, time_to=TO) == (
        f"a {' ' * len(blanked)}\nb {' ' * len('/* $__toTime */')}")
    assert expand("$__unknown($__fromTime) $__fromTimeX", time_from=FROM, time_to=TO) == (
        "$__unknown(toDateTime(1415792726)) $__fromTimeX")
    with pytest.raises(NotEmulated):
        expand("$__columns(ts, k, v) FROM t", time_from=FROM, time_to=TO)
    assert go_parse_duration_ns("1h30m") == 5400 * 10**9 and go_parse_duration_ns(".5s") == 5 * 10**8


# --- llmsight's expander agrees on every query Grafana is given -------------------------------------------
BACKEND_MACRO = re.compile(r"\$__(\w+)")
FRONTEND_ONLY = {"conditionalAll", "all"}  # expanded in the browser (grafana_frontend.py)
CONFIG = AlertsConfig(budgets=[Budget(name="org", amount=1000, timezone="Europe/Paris"),
                               Budget(name="tenants", scope="tenant", period="week", amount=50)])


def raw_queries(node: Any, where: str) -> list[tuple[str, str]]:
    """(where, SQL) of every panel target, annotation and query variable in a dashboard's JSON."""
    if isinstance(node, list):
        return [found for item in node for found in raw_queries(item, where)]
    if not isinstance(node, dict):
        return []
    found = []
    if isinstance(node.get("rawSql"), str):
        found.append((f"{where}/{node.get('refId', '')}", node["rawSql"]))
    if node.get("type") == "query" and isinstance(node.get("query"), str):
        found.append((f"{where}/${node['name']}", node["query"]))
    for key, value in node.items():
        found += raw_queries(value, f"{where}/{node.get('title', key)}" if key == "targets" else where)
    return found


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, SQL after the browser's steps) of every panel, annotation and query variable, with every variable
    on All and with every variable on one value (a condition `$__conditionalAll` keeps)."""
    queries = []
    for name, text in render_all(budgets=CONFIG.budgets).items():
        document = json.loads(text)
        raw = raw_queries(document, name)
        names = [item["name"] for item in document["templating"]["list"]]
        for selection in ({}, {n: ["one"] for n in names}):
            variables = variables_from_dashboard(document, {n: ["one", "two"] for n in names}, selection)
            scene = Scene(variables, FROM, TO)
            queries += [(where, apply_template_variables(sql, scene)) for where, sql in raw]
    return queries


def alert_queries() -> list[tuple[str, str, float]]:
    """(rule/ref, rawSql, interval s) of every data query in Grafana's provisioning, budgets' rules included."""
    document = compile_rules(CONFIG)
    return [(f"{rule['uid']}/{node['refId']}", node["model"]["rawSql"], node["model"]["intervalMs"] / 1000)
            for group in document["groups"] for rule in group["rules"] for node in rule["data"]
            if "rawSql" in node["model"]]


RANGES = [
    (FROM, TO),
    (datetime(2026, 12, 4, 23, 59, 59, 999_000, tzinfo=timezone.utc), datetime(2026, 12, 5, 0, 30, 0, 1_000, tzinfo=timezone.utc)),
    (datetime(2026, 3, 29, 0, 30, 0, 500_000, tzinfo=timezone(timedelta(hours=2))),
     datetime(2026, 3, 29, 3, 0, 0, tzinfo=timezone(timedelta(hours=2)))),
]


def test_the_queries_use_backend_macros_the_emulation_has() -> None:
    used = {m for _, sql in dashboard_queries() for m in BACKEND_MACRO.findall(sql)} | \
        {m for _, sql, _ in alert_queries() for m in BACKEND_MACRO.findall(sql)}
    assert {"fromTime", "toTime", "timeFilter", "timeInterval"} <= used - FRONTEND_ONLY
    assert len(alert_queries()) >= 20 and len(dashboard_queries()) >= 100


@pytest.mark.parametrize("interval_s", [0.5, 20, 3600, 86400])
def test_llmsights_expander_sends_what_the_plugin_sends_for_every_dashboard_query(interval_s: float) -> None:
    for where, sql in dashboard_queries():
        assert "$" not in sql.replace("$__", ""), (where, sql)  # the browser replaced every template variable
        for time_from, time_to in RANGES:
            plugin = expand(sql, time_from=time_from, time_to=time_to, interval_s=interval_s)
            assert "$__" not in plugin, where
            assert macros.expand(sql, time_from=time_from, time_to=time_to, interval_s=interval_s) == plugin, where


def test_llmsights_expander_sends_what_the_plugin_sends_for_every_alert_query() -> None:
    for where, sql, interval_s in alert_queries():
        for time_from, time_to in RANGES:
            plugin = expand(sql, time_from=time_from, time_to=time_to, interval_s=interval_s)
            assert "$__" not in plugin, where
            assert macros.expand(sql, time_from=time_from, time_to=time_to, interval_s=interval_s) == plugin, where


EDGE_CASES = [
    "$__timeGroup(ts, 1d)",  # Go's durations have no days
    "$__timeGroup(ts, 2.5s)",  # math.Round: halves away from zero
    "$__timeGroup(ts, '90s')", "$__timeGroup(ts, 1h30m)", "$__timeGroup(ts, 0)", "$__timeGroup(ts, 400ms)",
    "$__timeFilter(ts) -- $__toTime\r$__fromTime",  # a carriage return ends a line comment
    "$__fromTime /* $__toTime",  # an unclosed block comment runs to the end
    "$__timeFilter(a, b)", "$__timeFilter(a", "$__timeFilter (ts)", "$__timeFilter()",
    "$__timeFilter(toDateTime(ts, 'UTC'))", "$__timeFilter('a,(b')", "$__timeFilter_ms(a) AND $__timeFilter(b)",
    "$__timeInterval($__toTime) $__interval_s $__interval_ms", "$__timeFilter(coalesce(x, $__fromTime_ms))",
    "x = 'it''s -- no comment' AND $__toTime", "x = \"q\\\"\" AND $__toTime", "`a``b--c` $__toTime",
    "$$a--b$$ $__toTime", "$__fromTimeX $__toTime_msx $__dt(d, t)",
]


@pytest.mark.parametrize("sql", EDGE_CASES)
@pytest.mark.parametrize("interval_s", [0.25, 20, 90.5])
def test_llmsights_expander_agrees_with_the_plugin_on_edge_cases(sql: str, interval_s: float) -> None:
    """Beyond what the queries use: equal SQL, or both reject the query."""
    def outcome(run: Any) -> str:
        try:
            return str(run(sql, time_from=FROM, time_to=TO, interval_s=interval_s))
        except (PluginQueryError, macros.MacroError) as exc:
            return f"rejected ({type(exc).__name__})".replace("PluginQueryError", "").replace("MacroError", "")

    assert outcome(macros.expand) == outcome(expand)

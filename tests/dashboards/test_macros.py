"""The plugin's macro expansion, against the outputs its own tests and docs state."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from llmsight.dashboards.macros import ALL, MacroError, expand

FROM = datetime.fromtimestamp(1415792726.123, timezone.utc)
TO = datetime.fromtimestamp(1447328726.456, timezone.utc)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("$__timeFilter(col)", "col >= toDateTime(1415792726) AND col <= toDateTime(1447328726)"),
        ("$__timeFilter_ms(col)", "col >= fromUnixTimestamp64Milli(1415792726123) AND col <= fromUnixTimestamp64Milli(1447328726456)"),
        ("$__dateFilter(d)", "d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')"),
        ("$__dateTimeFilter(d, t)", "(d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')) AND (t >= toDateTime(1415792726) AND t <= toDateTime(1447328726))"),
        ("$__dt(d, t)", "(d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')) AND (t >= toDateTime(1415792726) AND t <= toDateTime(1447328726))"),
        ("$__fromTime", "toDateTime(1415792726)"),
        ("$__toTime_ms", "fromUnixTimestamp64Milli(1447328726456)"),
        ("$__timeInterval(ts)", "toStartOfInterval(toDateTime(ts), INTERVAL 20 second)"),
        ("$__timeInterval_ms(ts)", "toStartOfInterval(toDateTime64(ts, 3), INTERVAL 20000 millisecond)"),
        ("$__interval_s", "20"),
        ("$__timeFilter(toDateTime(ts, 'UTC'))", "toDateTime(ts, 'UTC') >= toDateTime(1415792726) AND toDateTime(ts, 'UTC') <= toDateTime(1447328726)"),
    ],
)
def test_backend_macros(sql: str, expected: str) -> None:
    assert expand(sql, time_from=FROM, time_to=TO, interval_s=20, server_side=True) == expected


def test_conditional_all_and_multi_value_variables() -> None:
    sql = "WHERE $__conditionalAll(service IN ($service), $service) AND $__conditionalAll(tenant IN (${tenant}), $tenant)"
    assert expand(sql, time_from=FROM, time_to=TO, variables={"service": ["a", "it's"], "tenant": ALL}) == (
        "WHERE service IN ('a','it\\'s') AND 1=1"
    )


def test_alert_queries_keep_variables_untouched_server_side() -> None:
    assert expand("x = $service", time_from=FROM, time_to=TO, server_side=True, variables={"service": ["a"]}) == "x = $service"


def test_bad_argument_counts_are_errors() -> None:
    with pytest.raises(MacroError, match="expected 1"):
        expand("$__timeFilter(a, b)", time_from=FROM, time_to=TO)
    with pytest.raises(MacroError, match="unbalanced"):
        expand("$__timeFilter(a", time_from=FROM, time_to=TO)

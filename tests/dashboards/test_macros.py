"""The emulation, against what the sources' own tests and documentation state: the plugin's backend macros
(pkg/macros/macros_test.go), macropro's parsing rules, the plugin's applyConditionalAll (CHDatasource.test.ts),
and Grafana's variable formats (scenes formatRegistry, MultiValueVariable, CustomAllValue)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from llmsight.alerts.macros import MacroError, expand, format_duration, parse_duration

from .grafana_frontend import (
    ALL,
    Scene,
    Variable,
    apply_conditional_all,
    apply_template_variables,
    interpolate,
)

# macros_test.go: 2014-11-12T11:45:26.371Z .. 2015-11-12T11:45:26.371Z
FROM = datetime(2014, 11, 12, 11, 45, 26, 371000, tzinfo=timezone.utc)
TO = datetime(2015, 11, 12, 11, 45, 26, 371000, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("$__fromTime", "toDateTime(1415792726)"),
        ("$__toTime", "toDateTime(1447328726)"),
        ("$__fromTime_ms", "fromUnixTimestamp64Milli(1415792726371)"),
        ("$__toTime_ms", "fromUnixTimestamp64Milli(1447328726371)"),
        ("$__timeFilter(col)", "col >= toDateTime(1415792726) AND col <= toDateTime(1447328726)"),
        ("$__timeFilter_ms(col)", "col >= fromUnixTimestamp64Milli(1415792726371) AND col <= fromUnixTimestamp64Milli(1447328726371)"),
        ("$__timeFrom(col)", "col >= toDateTime(1415792726)"),
        ("$__timeTo(col)", "col <= toDateTime(1447328726)"),
        ("$__dateFilter(d)", "d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')"),
        ("$__dateTimeFilter(d, t)", "(d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')) AND (t >= toDateTime(1415792726) AND t <= toDateTime(1447328726))"),
        ("$__dt(d, t)", "(d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')) AND (t >= toDateTime(1415792726) AND t <= toDateTime(1447328726))"),
        ("$__timeInterval(ts)", "toStartOfInterval(toDateTime(ts), INTERVAL 20 second)"),
        ("$__timeInterval_ms(ts)", "toStartOfInterval(toDateTime64(ts, 3), INTERVAL 20000 millisecond)"),
        ("$__interval_s", "20"),
        ("$__interval", "20s"),
        ("$__interval_ms", "20000"),
        ("$__timeGroup(ts, '5m')", "toStartOfInterval(toDateTime(ts), INTERVAL 300 second)"),
        # a nested call and a comma inside a string stay one argument
        ("$__timeFilter(toDateTime(ts, 'UTC'))", "toDateTime(ts, 'UTC') >= toDateTime(1415792726) AND toDateTime(ts, 'UTC') <= toDateTime(1447328726)"),
        # the longest name wins: $__timeFilter_ms is not $__timeFilter followed by "_ms"
        ("$__timeFilter_ms(a) AND $__timeFilter(b)", "a >= fromUnixTimestamp64Milli(1415792726371) AND a <= fromUnixTimestamp64Milli(1447328726371) AND b >= toDateTime(1415792726) AND b <= toDateTime(1447328726)"),
        # unknown $__ names stay; comments are blanked before expansion (same length)
        ("$__unknown(x)", "$__unknown(x)"),
        ("a -- $__timeFilter(x)\nb", "a " + " " * len("-- $__timeFilter(x)") + "\nb"),
        ("a /* $__fromTime */ b", "a " + " " * len("/* $__fromTime */") + " b"),
        ("'-- not a comment' $__fromTime", "'-- not a comment' toDateTime(1415792726)"),
    ],
)
def test_backend_macros(sql: str, expected: str) -> None:
    assert expand(sql, time_from=FROM, time_to=TO, interval_s=20) == expected


def test_backend_macro_errors_fail_the_query() -> None:
    with pytest.raises(MacroError, match="expected 1 argument"):
        expand("$__timeFilter(a, b)", time_from=FROM, time_to=TO)
    with pytest.raises(MacroError, match="expected 1 argument"):  # unbalanced: taken as a call without arguments
        expand("$__timeFilter(a", time_from=FROM, time_to=TO)
    with pytest.raises(MacroError, match="statement macro"):
        expand("SELECT $__columns(t, k, v) FROM x", time_from=FROM, time_to=TO)


def test_durations_as_grafana_writes_and_reads_them() -> None:
    assert [format_duration(parse_duration(t) * __import__("datetime").timedelta(seconds=1)) for t in ("90m", "2d", "1500ms", "400d")] == ["1h", "2d", "1s", "1y"]
    assert parse_duration("1h30m") == 5400 and parse_duration("1w") == 7 * 86400


# --- the plugin's applyConditionalAll (CHDatasource.test.ts) -------------------------------------------------
def test_conditional_all_as_the_plugin_tests_state() -> None:
    sql = "select stuff from table where $__conditionalAll(fieldVal in ($fieldVal), $fieldVal);"
    assert apply_conditional_all(sql, {"fieldVal": Variable("fieldVal", value=ALL)}) == "select stuff from table where 1=1;"
    assert apply_conditional_all(sql, {"fieldVal": Variable("fieldVal", value="'val1', 'val2'")}) == (
        "select stuff from table where fieldVal in ($fieldVal);")
    both = ("select stuff from table where $__conditionalAll(fieldVal in ($fieldVal), $fieldVal) and "
            "$__conditionalAll(fieldVal in ($fieldVal2), $fieldVal2);")
    assert apply_conditional_all(both, {"fieldVal": Variable("fieldVal", value="'val1', 'val2'"),
                                        "fieldVal2": Variable("fieldVal2", value=ALL)}) == (
        "select stuff from table where fieldVal in ($fieldVal) and 1=1;")


def test_conditional_all_details_from_the_source() -> None:
    # All as a scene stores it (['$__all']), and an empty multi-value selection ([].toString() === '')
    assert apply_conditional_all("$__conditionalAll(a IN ($v), $v)", {"v": Variable("v", value=[ALL])}) == "1=1"
    assert apply_conditional_all("$__conditionalAll(a IN ($v), ${v})", {"v": Variable("v", value=[])}) == "1=1"
    # an unknown variable keeps the condition; a call without two arguments stops the whole pass
    assert apply_conditional_all("$__conditionalAll(a, $nope)", {}) == "a"
    assert apply_conditional_all("$__conditionalAll(a, $v) AND $__conditionalAll(b)", {"v": Variable("v", value=ALL)}) == (
        "$__conditionalAll(a, $v) AND $__conditionalAll(b)")
    # the replacement is a JavaScript replacement string: $$ becomes $
    assert apply_conditional_all("$__conditionalAll(x = '$$', $v)", {"v": Variable("v", value=["a"])}) == "x = '$'"


# --- template interpolation (scenes sceneInterpolator + formatRegistry) ---------------------------------------
def scene(**variables: Variable) -> Scene:
    return Scene(variables, FROM, TO)


MULTI = Variable("v", value=["a", "it's"], options=["a", "b", "it's"])
ALL_OPTIONS = Variable("v", value=[ALL], options=["a", "b"])
CUSTOM_ALL = Variable("v", value=[ALL], options=["a", "b"], all_value="'*'")


@pytest.mark.parametrize(
    ("target", "variable", "expected"),
    [
        ("${v:csv}", MULTI, "a,it's"),
        ("${v:pipe}", MULTI, "a|it's"),
        ("${v:raw}", MULTI, "a,it's"),
        ("${v:singlequote}", MULTI, "'a','it\\'s'"),
        ("${v:doublequote}", MULTI, '"a","it\'s"'),
        ("${v:sqlstring}", MULTI, "'a','it''s'"),
        ("${v:json}", MULTI, '["a","it\'s"]'),
        ("${v}", MULTI, "{a,it's}"),  # glob is the default format
        ("${v:text}", ALL_OPTIONS, "All"),
        ("${v:csv}", ALL_OPTIONS, "a,b"),  # All without a custom value: every option
        ("${v:singlequote}", CUSTOM_ALL, "'*'"),  # a custom all value is inserted unformatted
        ("[[v:csv]] and $v", Variable("v", value=["x"]), "x and x"),
        ("${v:sqlstring}", Variable("v", "textbox", "say \"hi\"", multi=False, include_all=False), "'say \\\"hi\\\"'"),
        ("${v:percentencode}", Variable("v", value=["a b", "c"]), "%7Ba%20b%2Cc%7D"),
        ("$unknown ${unknown:csv}", MULTI, "$unknown ${unknown:csv}"),
    ],
)
def test_variable_formats(target: str, variable: Variable, expected: str) -> None:
    assert interpolate(target, scene(v=variable)) == expected


def test_the_plugins_own_format_for_variables_without_one() -> None:
    # CHDatasource.format: arrays are joined with "','" and quoted, NOT escaped; strings stay as they are
    assert apply_template_variables("x IN ($v) AND y = $c", scene(v=MULTI, c=Variable("c", "constant", "42", multi=False))) == (
        "x IN ('a','it's') AND y = 42")


def test_a_dashboard_filter_expands_to_valid_sql_for_every_selection() -> None:
    condition = "$__conditionalAll(service IN (${service:singlequote}), $service)"
    assert apply_template_variables(condition, scene(service=Variable("service", value=[ALL], options=["a"]))) == "1=1"
    assert apply_template_variables(condition, scene(service=Variable("service", value=["o'neil"]))) == "service IN ('o\\'neil')"
    assert apply_template_variables(condition, scene(service=Variable("service", value=["a", "b"]))) == "service IN ('a','b')"


def test_time_macros_of_the_browser() -> None:
    assert interpolate("${__from}-${__to:date:seconds}", scene()) == "1415792726371-1447328726"

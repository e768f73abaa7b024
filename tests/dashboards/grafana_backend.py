"""The ClickHouse data source plugin's backend macro expansion, as Grafana runs it for a panel query or an alert
query, written for the tests from the plugin's documentation and tests — it shares no code with
`llmsight.alerts.macros` (the built-in evaluator's expander), so the two can be compared
(tests/dashboards/test_grafana_backend.py).

Read at grafana/clickhouse-datasource commit 1d04063a31fb30f9582cd0b3aeaacb7d350b0dcf (2026-08-20), which expands
with grafana/macropro v1.0.1: the macro table of docs/sources/query-editor.md, pkg/macros/macros.go (`Interpolate`:
statement macros first, then macropro with `--` and `/* */` comments, backslash escapes, backtick and dollar
quotes), pkg/macros/macros_test.go (the fixtures of test_grafana_backend.py), macropro's README (comment
stripping, one forward pass reading the longest name, argument splitting) and its changelog (v1.0.1: macros nested
in arguments expand).

- Comments become spaces of the same length: `--` to the end of the line (`\\n` or `\\r`), `/* … */` (to the end
  of the query when unclosed). Not inside a quoted region: '…' and "…" (a doubled quote or a backslash escapes),
  `…` (a doubled backtick escapes), $tag$…$tag$.
- One pass from left to right: at `$__`, the longest run of `[A-Za-z0-9_]` is the name. A name the plugin does not
  know stays as written. A `(` right after the name opens its arguments, up to the `)` that balances it ('…' and
  "…" respected); without one the macro has no arguments and the text stays.
- Macros inside the arguments expand first; the arguments are then split at commas outside parentheses and
  quotes, each trimmed; an empty list is no arguments.
- A wrong argument count or an invalid `$__timeGroup` period fails the query.
- Times are Go's: `toDateTime(t.Unix())` (whole seconds, rounded down), `fromUnixTimestamp64Milli(t.UnixMilli())`,
  dates in the plugin process's zone (UTC, as in Grafana's images). The interval is the query's `intervalMs`.

Not emulated (they raise, so a query using them cannot pass unnoticed): the statement macros ($__columns, …),
$__interval, $__table, $__column.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
NOT_EMULATED = frozenset({"columns", "rateColumns", "perSecondColumns", "increaseColumns", "lttb", "interval",
                          "table", "column"})


class PluginQueryError(Exception):
    """The plugin rejects the query (Grafana shows the error; an alert rule goes to its error state)."""


class NotEmulated(Exception):
    pass


# --- comments ---------------------------------------------------------------------------------------------
_QUOTED = re.compile(
    r"""'(?:\\.|''|[^'\\])*'?"""  # single-quoted, to the end when unclosed
    r'''|"(?:\\.|""|[^"\\])*"?'''
    r"|`(?:``|[^`])*`?"
    r"|\$(?P<tag>[A-Za-z0-9_]*)\$.*?\$(?P=tag)\$",
    re.DOTALL,
)
_COMMENT = re.compile(r"--[^\n\r]*|/\*.*?(?:\*/|\Z)", re.DOTALL)


def blank_comments(sql: str) -> str:
    out: list[str] = []
    position = 0
    while position < len(sql):
        quoted = _QUOTED.match(sql, position)
        if quoted is not None and quoted.end() > position:
            out.append(quoted.group(0))
            position = quoted.end()
            continue
        comment = _COMMENT.match(sql, position)
        if comment is not None:
            out.append(" " * len(comment.group(0)))
            position = comment.end()
            continue
        out.append(sql[position])
        position += 1
    return "".join(out)


# --- arguments --------------------------------------------------------------------------------------------
_ARGUMENT_QUOTE = re.compile(r"'(?:''|[^'])*'?|\"(?:\"\"|[^\"])*\"?")  # the argument scanner knows no backslash


def _balanced_end(text: str, start: int) -> int | None:
    """Index after the `)` that balances the `(` at `start`, or None."""
    depth, position = 0, start
    while position < len(text):
        quoted = _ARGUMENT_QUOTE.match(text, position)
        if quoted is not None:
            position = quoted.end()
            continue
        depth += {"(": 1, ")": -1}.get(text[position], 0)
        position += 1
        if depth == 0:
            return position
    return None


def split_arguments(raw: str) -> list[str]:
    if not raw.strip():
        return []
    pieces, depth, current, position = [], 0, "", 0
    while position < len(raw):
        quoted = _ARGUMENT_QUOTE.match(raw, position)
        if quoted is not None:
            current += quoted.group(0)
            position = quoted.end()
            continue
        char = raw[position]
        position += 1
        if char == "," and depth == 0:
            pieces.append(current.strip())
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise PluginQueryError("unexpected ')' in macro arguments")
        current += char
    if depth:
        raise PluginQueryError("unbalanced parentheses in macro arguments")
    return [*pieces, current.strip()]


# --- Go's time and duration arithmetic --------------------------------------------------------------------
def go_unix(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(seconds=1)


def go_unix_milli(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


_GO_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
               "h": 3600 * 10**9}
_GO_DURATION_PART = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)")


def go_parse_duration_ns(text: str) -> int:
    """time.ParseDuration: `[-+]` then number+unit pairs ("1h30m", ".5s"); a bare "0" is the only unitless one."""
    sign = -1 if text.startswith("-") else 1
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    total, position = Decimal(0), 0
    while position < len(body):
        part = _GO_DURATION_PART.match(body, position)
        if part is None or part.group(1) in ("", "."):
            raise PluginQueryError(f"time: invalid duration {text!r}")
        total += Decimal(part.group(1)) * _GO_UNIT_NS[part.group(2)]
        position = part.end()
    if position == 0:
        raise PluginQueryError(f"time: invalid duration {text!r}")
    return sign * int(total.to_integral_value(ROUND_FLOOR))


# --- the macros: the documentation's table (docs/sources/query-editor.md), arity from pkg/macros/macros.go ---------
# name → (number of arguments, None: any; the output with the arguments as {0}, {1} and the query's context).
DOCUMENTED: dict[str, tuple[int | None, str]] = {
    "fromTime": (None, "toDateTime({from_s})"),
    "toTime": (None, "toDateTime({to_s})"),
    "fromTime_ms": (None, "fromUnixTimestamp64Milli({from_ms})"),
    "toTime_ms": (None, "fromUnixTimestamp64Milli({to_ms})"),
    "interval_s": (None, "{bucket_s}"),
    "interval_ms": (None, "{interval_ms}"),
    "timeFilter": (1, "{0} >= toDateTime({from_s}) AND {0} <= toDateTime({to_s})"),
    "timeFilter_ms": (1, "{0} >= fromUnixTimestamp64Milli({from_ms}) AND {0} <= fromUnixTimestamp64Milli({to_ms})"),
    "timeFrom": (1, "{0} >= toDateTime({from_s})"),
    "timeTo": (1, "{0} <= toDateTime({to_s})"),
    "dateFilter": (1, "{0} >= toDate('{from_day}') AND {0} <= toDate('{to_day}')"),
    "dateTimeFilter": (2, "({0} >= toDate('{from_day}') AND {0} <= toDate('{to_day}')) AND "
                          "({1} >= toDateTime({from_s}) AND {1} <= toDateTime({to_s}))"),
    "timeInterval": (1, "toStartOfInterval(toDateTime({0}), INTERVAL {bucket_s} second)"),
    "timeInterval_ms": (1, "toStartOfInterval(toDateTime64({0}, 3), INTERVAL {bucket_ms} millisecond)"),
    "timeGroup": (2, "toStartOfInterval(toDateTime({0}), INTERVAL {period_s} second)"),
}
DOCUMENTED["dt"] = DOCUMENTED["dateTimeFilter"]


def _period_seconds(period: str) -> int:
    """$__timeGroup's period: Go's time.ParseDuration, quotes around it dropped, rounded as Go's math.Round."""
    seconds = Decimal(go_parse_duration_ns(period.strip().strip("'\""))) / 10**9
    whole = int(seconds.to_integral_value(ROUND_HALF_UP))  # halves away from zero
    if whole <= 0:
        raise PluginQueryError(f"$__timeGroup: interval must be positive, got {period!r}")
    return whole


def context_of(time_from: datetime, time_to: datetime, interval_ms: int) -> dict[str, object]:
    return {
        "from_s": go_unix(time_from), "to_s": go_unix(time_to),
        "from_ms": go_unix_milli(time_from), "to_ms": go_unix_milli(time_to),
        "from_day": time_from.astimezone(timezone.utc).date().isoformat(),
        "to_day": time_to.astimezone(timezone.utc).date().isoformat(),
        "interval_ms": interval_ms,
        "bucket_s": max(interval_ms // 1000, 1),  # int(max(Interval.Seconds(), 1)): whole seconds, at least one
        "bucket_ms": max(interval_ms, 1),
    }


def expand_macro(name: str, args: list[str], context: dict[str, object]) -> str:
    count, output = DOCUMENTED[name]
    if count is not None and len(args) != count:
        raise PluginQueryError(f"$__{name} expected {count} argument(s), received {len(args)}")
    if name == "timeGroup":
        args = [args[0].strip(), args[1]]
        context = {**context, "period_s": _period_seconds(args[1])}
    return output.format(*args, **context)


_NAME = re.compile(r"[A-Za-z0-9_]*")


def _expand(text: str, context: dict[str, object]) -> str:
    out: list[str] = []
    position = 0
    while True:
        found = text.find("$__", position)
        if found < 0:
            out.append(text[position:])
            return "".join(out)
        out.append(text[position:found])
        longest = _NAME.match(text, found + 3)
        name_end = longest.end() if longest is not None else found + 3
        name = text[found + 3:name_end]
        if name in NOT_EMULATED:
            raise NotEmulated(f"$__{name} is not emulated: extend tests/dashboards/grafana_backend.py")
        if name not in DOCUMENTED:
            out.append(text[found:name_end])
            position = name_end
            continue
        raw, position = "", name_end
        if text.startswith("(", name_end):
            closing = _balanced_end(text, name_end)
            if closing is not None:
                raw, position = text[name_end + 1:closing - 1], closing
        out.append(expand_macro(name, split_arguments(_expand(raw, context)), context))


def expand(sql: str, *, time_from: datetime, time_to: datetime, interval_s: float = 60) -> str:
    """The SQL the plugin sends to ClickHouse for a query whose template variables the browser has replaced
    (alert rules have none). `interval_s`: the query's interval (Grafana's `intervalMs` / 1000)."""
    if time_from.tzinfo is None or time_to.tzinfo is None:
        raise ValueError("Grafana's time range is absolute: pass aware datetimes")
    return _expand(blank_comments(sql), context_of(time_from, time_to, round(interval_s * 1000)))

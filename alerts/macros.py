"""The ClickHouse data source plugin's backend macro expansion (grafana-clickhouse-datasource, pkg/macros), as it
runs for every panel query and every Grafana alert query, and as the built-in alert evaluator runs it.

Behaviour follows the plugin's `Interpolate` (macros.go) on top of grafana/macropro's engine (parser.go,
macropro.go, defaults.go):

- comments (`--`, `/* */`) are blanked first, string literals ('…' with backslash or doubled-quote escapes,
  "…", `…`, $tag$…$tag$) are kept as they are;
- macro names are expanded one name at a time, longest name first, each over the whole query; a name must
  not be followed by a name character; an optional `( … )` argument list is split on top-level commas (quotes
  and nested parentheses respected) and each argument trimmed; unbalanced parentheses mean "no arguments";
- unknown `$__names` are left as they are; a handler error fails the whole query;
- statement macros ($__columns, $__lttb, …) rewrite whole statements: llmsight does not use them, so a query
  that does is rejected here rather than half-emulated.

    $__timeFilter(c)      c >= toDateTime(FROM) AND c <= toDateTime(TO)            (Unix seconds, truncated)
    $__timeFilter_ms(c)   c >= fromUnixTimestamp64Milli(FROM_MS) AND c <= fromUnixTimestamp64Milli(TO_MS)
    $__timeFrom(c) / $__timeTo(c)          c >= toDateTime(FROM) / c <= toDateTime(TO)
    $__dateFilter(c)      c >= toDate('YYYY-MM-DD') AND c <= toDate('YYYY-MM-DD')
    $__dateTimeFilter(d, t) / $__dt(d, t)   (d >= toDate(…) AND d <= toDate(…)) AND (t >= toDateTime(…) AND t <= toDateTime(…))
    $__fromTime / $__toTime                toDateTime(SECONDS)
    $__fromTime_ms / $__toTime_ms          fromUnixTimestamp64Milli(MS)
    $__timeInterval(c)    toStartOfInterval(toDateTime(c), INTERVAL N second)       (N = int(max(interval, 1)))
    $__timeInterval_ms(c) toStartOfInterval(toDateTime64(c, 3), INTERVAL N millisecond)
    $__timeGroup(c, 5m)   toStartOfInterval(toDateTime(c), INTERVAL 300 second)
    $__interval_s         N;   $__interval  Grafana duration text (1h, 5m);   $__interval_ms  milliseconds

Template variables and `$__conditionalAll` are expanded before this, in the browser (Grafana and the plugin's
frontend): the test suite emulates that part (tests/dashboards/grafana_frontend.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone

from llmsight.errors import LLMSightError

PREFIX = "$__"
STATEMENT_MACROS = ("columns", "rateColumns", "perSecondColumns", "increaseColumns", "lttb")


class MacroError(LLMSightError, ValueError):
    pass


# --- query context, as the plugin's backend receives it ---------------------------------------------------
def _unix_seconds(t: datetime) -> int:
    return math.floor(t.timestamp())  # Go time.Unix(): whole seconds, rounded down


def _unix_millis(t: datetime) -> int:
    return math.floor(t.timestamp() * 1000)


# --- comment stripping (macropro.StripComments with the plugin's ClickHouse comment style) -----------------
def _scan_string(sql: str, start: int) -> int:
    """Index after the literal opening at `start`: doubled quotes and backslash escapes continue it; an
    unterminated literal runs to the end."""
    quote, index = sql[start], start + 1
    while index < len(sql):
        char = sql[index]
        if char == "\\" and index + 1 < len(sql):
            index += 2
        elif char == quote:
            if index + 1 < len(sql) and sql[index + 1] == quote:
                index += 2
                continue
            return index + 1
        else:
            index += 1
    return len(sql)


_DOLLAR_TAG = re.compile(r"\$[A-Za-z0-9_]*\$")
_LINE_END = re.compile(r"[\n\r]")


def strip_comments(sql: str) -> str:
    """Comments become spaces of the same length; literals are copied verbatim."""
    if not any(needle in sql for needle in "-/$"):
        return sql
    out, index = [], 0
    while index < len(sql):
        char = sql[index]
        if char in "'\"" or char == "`":
            end = _scan_string(sql, index)
        elif char == "$":
            tag = _DOLLAR_TAG.match(sql, index)
            closing = sql.find(tag.group(0), tag.end()) if tag else -1
            if tag is None or closing < 0:
                out.append(char)
                index += 1
                continue
            end = closing + len(tag.group(0))
        elif sql.startswith("--", index):
            line_end = _LINE_END.search(sql, index)  # \n or \r ends it
            end = len(sql) if line_end is None else line_end.start()
            out.append(" " * (end - index))
            index = end
            continue
        elif sql.startswith("/*", index):
            closing = sql.find("*/", index + 2)
            end = len(sql) if closing < 0 else closing + 2
            out.append(" " * (end - index))
            index = end
            continue
        else:
            out.append(char)
            index += 1
            continue
        out.append(sql[index:end])
        index = end
    return "".join(out)


# --- argument parsing (macropro findClosingParen / parseArgs) -------------------------------------------------
def _outside_quotes(text: str) -> Iterator[tuple[int, str]]:
    """(index, char) of the characters outside '…' and "…" literals (quotes toggle; no escapes, as macropro)."""
    in_single = in_double = False
    for index, char in enumerate(text):
        if char == "'" and not in_double:
            in_single = not in_single
        elif char == '"' and not in_single:
            in_double = not in_double
        elif not (in_single or in_double):
            yield index, char


def _closing_paren(sql: str) -> int:
    """Index of the ')' closing the '(' at 0, or -1."""
    depth = 0
    for index, char in _outside_quotes(sql):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _parse_args(raw: str) -> list[str]:
    raw = raw.strip()
    if raw == "":
        return []
    args, depth, start = [], 0, 0
    for index, char in _outside_quotes(raw):
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                raise MacroError(f"unexpected ')' at position {index}")
            depth -= 1
        elif char == "," and depth == 0:
            args.append(raw[start:index].strip())
            start = index + 1
    if depth != 0:
        raise MacroError("unbalanced parentheses in arguments")
    args.append(raw[start:].strip())
    return args


def _is_name_char(char: str) -> bool:
    return char == "_" or ("a" <= char <= "z") or ("A" <= char <= "Z") or ("0" <= char <= "9")


def _replace_all(sql: str, token: str, handler: Callable[[list[str]], str]) -> str:
    out, rest = [], sql
    while True:
        index = rest.find(token)
        if index < 0:
            out.append(rest)
            return "".join(out)
        after = index + len(token)
        if after < len(rest) and _is_name_char(rest[after]):  # the prefix of a longer name
            out.append(rest[:after])
            rest = rest[after:]
            continue
        out.append(rest[:index])
        rest = rest[after:]
        raw = ""
        if rest.startswith("("):
            end = _closing_paren(rest)
            if end >= 0:
                raw, rest = rest[1:end], rest[end + 1:]
        try:
            out.append(handler(_parse_args(raw)))
        except MacroError as exc:
            raise MacroError(f"macro {token}: {exc}") from None


# --- the macros (pkg/macros/macros.go over macropro.DefaultMacros) ----------------------------------------
def _want(name: str, args: list[str], count: int) -> list[str]:
    if len(args) != count:
        raise MacroError(f"{name} expected {count} argument(s), received {len(args)}")
    return args


def format_duration(interval: timedelta) -> str:
    """Grafana's interval text ($__interval): the largest unit that fits, remainder dropped."""
    units = (("y", timedelta(days=365)), ("d", timedelta(days=1)), ("h", timedelta(hours=1)),
             ("m", timedelta(minutes=1)), ("s", timedelta(seconds=1)), ("ms", timedelta(milliseconds=1)))
    for suffix, unit in units:
        if interval >= unit:
            return f"{interval // unit}{suffix}"
    return "1ms"


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_CALENDAR = {"d": 86400.0, "w": 7 * 86400.0, "M": 365.25 * 86400 / 12, "y": 365.25 * 86400}
_GO_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Grafana/Go duration ("5m", "1h30m", "2d")."""
    if len(text) >= 2 and text[:-1].isdigit() and text[-1] in _CALENDAR:
        return int(text[:-1]) * _CALENDAR[text[-1]]
    return parse_go_duration(text)


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration (time.ParseDuration: "5m", "1h30m"; no days)."""
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    parts = _GO_DURATION.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise MacroError(f"invalid duration {text!r}")
    seconds = sum(float(n) * _GO_UNITS[u] for n, u in parts)
    return -seconds if text.startswith("-") else seconds


def backend_macros(time_from: datetime, time_to: datetime, interval: timedelta) -> dict[str, Callable[[list[str]], str]]:
    from_s, to_s = _unix_seconds(time_from), _unix_seconds(time_to)
    from_ms, to_ms = _unix_millis(time_from), _unix_millis(time_to)
    from_day = time_from.astimezone(timezone.utc).strftime("%Y-%m-%d")
    to_day = time_to.astimezone(timezone.utc).strftime("%Y-%m-%d")
    interval_ms = interval // timedelta(milliseconds=1)
    whole_seconds = int(max(interval.total_seconds(), 1))

    def time_filter(args: list[str]) -> str:
        (column,) = _want("$__timeFilter", args, 1)
        return f"{column} >= toDateTime({from_s}) AND {column} <= toDateTime({to_s})"

    def time_filter_ms(args: list[str]) -> str:
        (column,) = _want("$__timeFilter_ms", args, 1)
        return f"{column} >= fromUnixTimestamp64Milli({from_ms}) AND {column} <= fromUnixTimestamp64Milli({to_ms})"

    def date_filter(args: list[str]) -> str:
        (column,) = _want("$__dateFilter", args, 1)
        return f"{column} >= toDate('{from_day}') AND {column} <= toDate('{to_day}')"

    def date_time_filter(args: list[str]) -> str:
        day, moment = _want("$__dateTimeFilter", args, 2)
        return (f"({day} >= toDate('{from_day}') AND {day} <= toDate('{to_day}')) AND "
                f"({moment} >= toDateTime({from_s}) AND {moment} <= toDateTime({to_s}))")

    def time_group(args: list[str]) -> str:
        column, period = _want("$__timeGroup", args, 2)
        # The plugin parses with Go's time.ParseDuration and rounds with math.Round (halves away from zero).
        exact = parse_go_duration(period.strip().strip("'\""))
        seconds = int(math.copysign(math.floor(abs(exact) + 0.5), exact))
        if seconds <= 0:
            raise MacroError(f"$__timeGroup: interval must be positive, got {period!r}")
        return f"toStartOfInterval(toDateTime({column.strip()}), INTERVAL {seconds} second)"

    def no_context(name: str) -> Callable[[list[str]], str]:
        def handler(args: list[str]) -> str:
            raise MacroError(f"{name}: no {name.removeprefix('$__')} name in query context")
        return handler

    return {
        # macropro defaults
        "interval": lambda args: format_duration(interval),
        "interval_ms": lambda args: str(interval_ms),
        "table": no_context("$__table"),
        "column": no_context("$__column"),
        # the plugin's
        "timeFilter": time_filter,
        "timeFrom": lambda args: f"{_want('$__timeFrom', args, 1)[0]} >= toDateTime({from_s})",
        "timeTo": lambda args: f"{_want('$__timeTo', args, 1)[0]} <= toDateTime({to_s})",
        "timeGroup": time_group,
        "fromTime": lambda args: f"toDateTime({from_s})",
        "toTime": lambda args: f"toDateTime({to_s})",
        "fromTime_ms": lambda args: f"fromUnixTimestamp64Milli({from_ms})",
        "toTime_ms": lambda args: f"fromUnixTimestamp64Milli({to_ms})",
        "timeFilter_ms": time_filter_ms,
        "dateFilter": date_filter,
        "dateTimeFilter": date_time_filter,
        "dt": date_time_filter,
        "timeInterval": lambda args: (
            f"toStartOfInterval(toDateTime({_want('$__timeInterval', args, 1)[0]}), INTERVAL {whole_seconds} second)"),
        "timeInterval_ms": lambda args: (
            f"toStartOfInterval(toDateTime64({_want('$__timeInterval_ms', args, 1)[0]}, 3), "
            f"INTERVAL {int(max(interval_ms, 1))} millisecond)"),
        "interval_s": lambda args: str(whole_seconds),
    }


def interpolate(sql: str, macros: Mapping[str, Callable[[list[str]], str]]) -> str:
    sql = strip_comments(sql)
    for name in STATEMENT_MACROS:
        if re.search(re.escape(PREFIX + name) + r"(?![A-Za-z0-9_])", sql):
            raise MacroError(f"{PREFIX}{name} is a statement macro, which llmsight's emulation does not expand")
    for name in sorted(macros, key=lambda n: (-len(n), n)):
        sql = _replace_all(sql, PREFIX + name, macros[name])
    return sql


def expand(
    sql: str,
    *,
    time_from: datetime,
    time_to: datetime,
    interval_s: float = 60,
    server_side: bool = True,
) -> str:
    """The SQL the plugin's backend sends to ClickHouse for a query whose template variables are already
    interpolated (always the case for alert rules, which have none)."""
    if not server_side:
        raise MacroError("template variables are expanded in the browser: use the frontend emulation first")
    interval = timedelta(milliseconds=round(interval_s * 1000))
    return interpolate(sql, backend_macros(time_from, time_to, interval))

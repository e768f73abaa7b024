"""Expand queries exactly as Grafana and the official ClickHouse plugin (grafana-clickhouse-datasource) do.

Order, as in Grafana: `$__conditionalAll(condition, $var)` first (frontend: the condition, or `1=1` when
the variable is "All"), then template variables (multi-value and All-capable variables become quoted,
comma-separated lists: `'a','b'`), then the plugin's backend macros (pkg/macros/macros.go):

    $__timeFilter(c)      c >= toDateTime(FROM) AND c <= toDateTime(TO)            (Unix seconds)
    $__timeFilter_ms(c)   c >= fromUnixTimestamp64Milli(FROM_MS) AND c <= fromUnixTimestamp64Milli(TO_MS)
    $__dateFilter(c)      c >= toDate('YYYY-MM-DD') AND c <= toDate('YYYY-MM-DD')
    $__dateTimeFilter(d, t) / $__dt(d, t)   (d >= toDate(…) AND d <= toDate(…)) AND (t >= toDateTime(…) AND t <= toDateTime(…))
    $__fromTime / $__toTime                toDateTime(SECONDS)
    $__fromTime_ms / $__toTime_ms          fromUnixTimestamp64Milli(MS)
    $__timeInterval(c)    toStartOfInterval(toDateTime(c), INTERVAL N second)       (N = max(interval, 1))
    $__timeInterval_ms(c) toStartOfInterval(toDateTime64(c, 3), INTERVAL N millisecond)
    $__interval_s         N

Alert queries run server-side: only the backend macros apply there (`server_side=True`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone

ALL = "$__all"
Variables = Mapping[str, Sequence[str] | str]

_MACRO = re.compile(r"\$__(\w+)")
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")


class MacroError(ValueError):
    pass


def _arguments(sql: str, open_index: int) -> tuple[list[str], int]:
    """Comma-separated arguments of a call whose '(' is at `open_index` (nested parentheses respected);
    returns the arguments and the index just after ')'."""
    depth, start, args = 0, open_index + 1, []
    for index in range(open_index, len(sql)):
        char = sql[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:index].strip())
                return [a for a in args if a != ""] if args != [""] else [], index + 1
        elif char == "," and depth == 1:
            args.append(sql[start:index].strip())
            start = index + 1
    raise MacroError(f"unbalanced parentheses in macro call at: {sql[open_index - 20:open_index + 40]!r}")


def _rewrite(sql: str, handlers: Mapping[str, Callable[[list[str]], str]]) -> str:
    out, position = [], 0
    while True:
        match = _MACRO.search(sql, position)
        if match is None:
            out.append(sql[position:])
            return "".join(out)
        name = match.group(1)
        handler = handlers.get(name)
        if handler is None:
            out.append(sql[position:match.end()])
            position = match.end()
            continue
        out.append(sql[position:match.start()])
        end = match.end()
        args: list[str] = []
        if end < len(sql) and sql[end] == "(":
            args, end = _arguments(sql, end)
        out.append(handler(args))
        position = end


def _one(name: str, args: list[str], count: int = 1) -> list[str]:
    if len(args) != count:
        raise MacroError(f"{name}: expected {count} argument(s), received {len(args)}")
    return args


def backend_macros(time_from: datetime, time_to: datetime, interval_s: float) -> dict[str, Callable[[list[str]], str]]:
    def seconds(t: datetime) -> str:
        return f"toDateTime({int(t.timestamp())})"

    def millis(t: datetime) -> str:
        return f"fromUnixTimestamp64Milli({int(t.timestamp() * 1000)})"

    def day(t: datetime) -> str:
        return f"toDate('{t.astimezone(timezone.utc).strftime('%Y-%m-%d')}')"

    def time_filter(args: list[str]) -> str:
        (column,) = _one("$__timeFilter", args)
        return f"{column} >= {seconds(time_from)} AND {column} <= {seconds(time_to)}"

    def time_filter_ms(args: list[str]) -> str:
        (column,) = _one("$__timeFilter_ms", args)
        return f"{column} >= {millis(time_from)} AND {column} <= {millis(time_to)}"

    def date_filter(args: list[str]) -> str:
        (column,) = _one("$__dateFilter", args)
        return f"{column} >= {day(time_from)} AND {column} <= {day(time_to)}"

    def date_time_filter(args: list[str]) -> str:
        date_column, time_column = _one("$__dateTimeFilter", args, 2)
        return (
            f"({date_column} >= {day(time_from)} AND {date_column} <= {day(time_to)}) AND "
            f"({time_column} >= {seconds(time_from)} AND {time_column} <= {seconds(time_to)})"
        )

    whole_seconds = int(max(interval_s, 1))
    whole_millis = int(max(interval_s * 1000, 1))
    return {
        "fromTime": lambda args: seconds(time_from),
        "toTime": lambda args: seconds(time_to),
        "fromTime_ms": lambda args: millis(time_from),
        "toTime_ms": lambda args: millis(time_to),
        "timeFilter": time_filter,
        "timeFilter_ms": time_filter_ms,
        "dateFilter": date_filter,
        "dateTimeFilter": date_time_filter,
        "dt": date_time_filter,
        "timeInterval": lambda args: f"toStartOfInterval(toDateTime({_one('$__timeInterval', args)[0]}), INTERVAL {whole_seconds} second)",
        "timeInterval_ms": lambda args: f"toStartOfInterval(toDateTime64({_one('$__timeInterval_ms', args)[0]}, 3), INTERVAL {whole_millis} millisecond)",
        "interval_s": lambda args: str(whole_seconds),
    }


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def interpolate_variables(sql: str, variables: Variables, options: Mapping[str, Sequence[str]] | None = None) -> str:
    """Grafana template variables: a multi-value or All selection becomes `'a','b'`; a single text value
    is inserted as is. All expands to every option (when given) — or is removed by $__conditionalAll."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name.startswith("__") or name not in variables:
            return match.group(0)
        value = variables[name]
        if value == ALL:
            value = list((options or {}).get(name, []))
        if isinstance(value, str):
            return value
        return ",".join(_quote(v) for v in value)

    return _VARIABLE.sub(replace, sql)


def conditional_all(sql: str, variables: Variables) -> str:
    def handler(args: list[str]) -> str:
        condition, variable = _one("$__conditionalAll", args, 2)
        name = variable.lstrip("$").strip("{}")
        value = variables.get(name)
        return "1=1" if value in (ALL, "", None) or value == [] else condition

    return _rewrite(sql, {"conditionalAll": handler})


def expand(
    sql: str,
    *,
    time_from: datetime,
    time_to: datetime,
    interval_s: float = 60,
    variables: Variables | None = None,
    options: Mapping[str, Sequence[str]] | None = None,
    server_side: bool = False,
) -> str:
    """The SQL the plugin sends to ClickHouse for this query (server_side: as in a Grafana alert rule)."""
    if not server_side:
        sql = conditional_all(sql, variables or {})
        sql = interpolate_variables(sql, variables or {}, options)
    return _rewrite(sql, backend_macros(time_from, time_to, interval_s))

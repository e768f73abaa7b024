"""The report's queries: every aggregate from the same source the dashboards read, so both agree for any window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from llmsight.attributes import SERVER_ADDRESS
from llmsight.collector.columns import CALLS_TABLE, DATABASE, QUANTILE_LEVELS
from llmsight.collector.instants import utc_parameter
from llmsight.collector.report.window import Window
from llmsight.collector.store.schema import hourly_window

CALLS = f"{DATABASE}.{CALLS_TABLE}"
# A section the report gets from outside the collector (the budgets' status, from alerts/budgets.py): given the
# query and the window's end, its rows. Wired in by the report's callers, so the report depends on no alerts code.
Section = Callable[[Any, datetime], list[dict[str, Any]]]

def _params(window: Window) -> dict[str, Any]:
    return {"start": utc_parameter(window.start), "end": utc_parameter(window.end)}


# The window [start, end) as the dashboards read a time range (schema.hourly_window). The rollup has no TTL, so for a
# window older than the raw rows' TTL both see the whole hours the rollup keeps (and both lose the partial edges).
_START, _END = "{start:DateTime64(6, 'UTC')}", "{end:DateTime64(6, 'UTC')}"  # typed UTC: never the session's zone
SOURCE = hourly_window(_START, _END, f"ts >= {_START} AND ts < {_END}")
_QUANTILES = ", ".join(str(level) for level in QUANTILE_LEVELS)
# Rows per breakdown: the heaviest groups, then one OTHER row summing the rest. Group values come from spans
# (tenants, tasks, model names), so their number is unbounded; a read's result is not (READ_LIMITS).
TOP_GROUPS = 100
OTHER = "(other)"


def _top(column: str, weight: str, where: str = "1") -> str:
    """`column` where it is one of the TOP_GROUPS heaviest values (by sum(weight)) in the window, else OTHER."""
    heaviest = (f"SELECT {column} FROM {SOURCE} WHERE {where} GROUP BY {column} "
                f"ORDER BY sum({weight}) DESC, {column} LIMIT {TOP_GROUPS}")
    return f"if({column} IN ({heaviest}), {column}, '{OTHER}')"


def _other_last(rows: list[dict[str, Any]], key: str, order: Any) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: (row[key] == OTHER, order(row)))


def build_report(query: Any, window: Window, budgets: Section | None = None) -> dict[str, Any]:
    """Everything `llmsight report` shows, as plain JSON-able data (stable keys for --json); with `budgets` (the
    alerts file's, alerts/budgets.py `report_section`), each one's status as of the window's end."""
    p = _params(window)
    previous = _params(window.previous_week())

    def rows(sql: str, params: dict[str, Any] = p) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = query(sql, params).dicts()
        return found

    totals = rows(
        f"SELECT sum(h.calls) AS calls, sum(h.error_calls) AS errors, sum(h.unpriced_calls) AS unpriced_calls, "
        f"sum(h.input_tokens) AS input_tokens, sum(h.cache_read_tokens) AS cache_read_tokens, "
        f"sum(h.cache_write_tokens) AS cache_write_tokens, sum(h.output_tokens) AS output_tokens, "
        f"sum(h.reasoning_tokens) AS reasoning_tokens, sum(h.retries) AS retries, sum(h.total_cost) AS total_cost, "
        f"sum(h.cache_savings) AS saved_by_cache_usd FROM {SOURCE} AS h"
    )[0]

    def cost_by(column: str) -> list[dict[str, Any]]:
        now_rows = _other_last(rows(
            f"SELECT {_top(column, 'total_cost')} AS key, sum(calls) AS calls, sum(total_cost) AS cost FROM {SOURCE} "
            f"GROUP BY key ORDER BY cost DESC, key"), "key", lambda row: (-(row["cost"] or 0), row["key"]))
        shown = [row["key"] for row in now_rows if row["key"] != OTHER]  # the same groups, a week before
        before = {r["key"]: r["cost"] for r in rows(
            f"SELECT if({column} IN {{shown:Array(String)}}, {column}, '{OTHER}') AS key, sum(total_cost) AS cost "
            f"FROM {SOURCE} GROUP BY key", {**previous, "shown": shown})}
        for row in now_rows:
            prior = before.get(row["key"])
            row["cost_previous_week"] = prior
            row["change_pct"] = (row["cost"] - prior) / prior * 100 if prior else None
        return now_rows

    by_calls = _top("request_model", "calls")
    cache = rows(
        f"SELECT {by_calls} AS model, sum(h.input_tokens) AS input_tokens, sum(h.cache_read_tokens) AS cache_read_tokens, "
        f"sum(h.cache_write_tokens) AS cache_write_tokens, cache_read_tokens / greatest(input_tokens, 1) AS hit_ratio, "
        f"sum(h.cache_savings) AS saved_usd FROM {SOURCE} AS h GROUP BY model ORDER BY model = '{OTHER}', model"
    )
    latency = rows(
        f"SELECT {by_calls} AS model, sum(calls) AS calls, quantilesTDigestMerge({_QUANTILES})(ttft_ms_q) AS ttft, "
        f"quantilesTDigestMerge({_QUANTILES})(duration_ms_q) AS duration FROM {SOURCE} "
        f"GROUP BY model ORDER BY model = '{OTHER}', model"
    )
    for row in latency:
        ttft, duration = row.pop("ttft"), row.pop("duration")
        row.update({f"ttft_p{q}_ms": _num(v) for q, v in zip((50, 95, 99), ttft, strict=False)})
        row.update({f"duration_p{q}_ms": _num(v) for q, v in zip((50, 95, 99), duration, strict=False)})
    errors = rows(
        f"SELECT {_top('provider', 'calls')} AS provider, sum(h.calls) AS calls, sum(h.error_calls) AS errors, sum(h.rate_limited_calls) AS rate_limited, "
        f"sum(h.overloaded_calls) AS overloaded, sum(h.retries) AS retries, sum(h.retried_calls) AS retried_calls "
        f"FROM {SOURCE} AS h GROUP BY provider ORDER BY provider = '{OTHER}', provider"
    )
    unpriced = rows(
        f"SELECT {_top('provider', 'unpriced_calls', 'unpriced_calls > 0')} AS provider, "
        f"{_top('request_model', 'unpriced_calls', 'unpriced_calls > 0')} AS model, sum(unpriced_calls) AS calls "
        f"FROM {SOURCE} GROUP BY provider, model HAVING calls > 0 "
        f"ORDER BY provider = '{OTHER}' OR model = '{OTHER}', calls DESC, provider, model"
    )
    totals["cache_hit_ratio"] = totals["cache_read_tokens"] / totals["input_tokens"] if totals["input_tokens"] else 0.0
    batch = rows(  # batch APIs (docs/batch.md): their requests' calls and spend, against each provider's
        f"SELECT {_top('provider', 'calls')} AS provider, sumIf(calls, service_tier = 'batch') AS batch_calls, "
        f"sum(calls) AS provider_calls, sumIf(total_cost, service_tier = 'batch') AS batch_cost, sum(total_cost) AS provider_cost "
        f"FROM {SOURCE} GROUP BY provider HAVING batch_calls > 0 ORDER BY provider = '{OTHER}', batch_cost DESC, provider"
    )
    for row in batch:
        row["share_of_calls"] = row["batch_calls"] / row["provider_calls"] if row["provider_calls"] else 0.0
        row["share_of_spend"] = row["batch_cost"] / row["provider_cost"] if row["provider_cost"] else 0.0
    report: dict[str, Any] = {
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "totals": totals,
        "cost_by_model": cost_by("request_model"),
        "cost_by_task": cost_by("task"),
        "cost_by_tenant": cost_by("tenant"),
        "cache": cache,
        "latency": latency,
        "errors": errors,
        "unpriced": unpriced,
        "unpriced_servers": _unknown_servers(rows) if unpriced else [],
        "batch": batch,
        "vs_the_bill": _vs_the_bill(query, window),
    }
    if budgets is not None:
        report["budgets"] = budgets(query, window.end)
    return report


def _vs_the_bill(query: Any, window: Window) -> str | None:
    """One line comparing the window's whole UTC days with the providers' bill, when their reports were pulled."""
    from llmsight.collector.reconcile.render import bill_line
    from llmsight.collector.reconcile.service import day_bounds, reconciliation_json
    from llmsight.collector.store import StoreError

    try:
        return bill_line(reconciliation_json(query, *day_bounds(window.start, window.end)))
    except StoreError:  # a store from before the provider tables: no bill to compare with
        return None


def _unknown_servers(rows: Any) -> list[dict[str, Any]]:
    """Servers of the window's unpriced calls that no price list knows, each with the prices file entry that
    bills them at a vendor's list prices (a gateway, a local stand-in for a vendor). From the raw rows (the
    rollup keeps no server): empty for windows older than their TTL."""
    from llmsight.collector.pricing.pricer import Pricer, server_declaration

    found = rows(
        f"SELECT attributes['{SERVER_ADDRESS}'] AS server, provider, count() AS calls FROM {CALLS} "
        f"WHERE ts >= {_START} AND ts < {_END} AND total_cost IS NULL AND server != '' "
        f"GROUP BY server, provider ORDER BY calls DESC, server, provider LIMIT 20"
    )
    pricer = Pricer()
    return [{**row, "prices_file_entry": server_declaration(row["server"], row["provider"])}
            for row in found if pricer.is_unknown_server(row["provider"], row["server"])]


def _num(value: Any) -> float | None:
    return None if value is None or value != value else float(value)  # NaN (no data) → None

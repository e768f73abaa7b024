"""The report's queries: every aggregate from the same source the dashboards read, so both agree for any window."""

from __future__ import annotations

from typing import Any

from llmsight.collector.columns import DATABASE, HOURLY_TABLE, QUANTILE_LEVELS
from llmsight.collector.report.window import Window
from llmsight.collector.store.schema import ROLLUP_SELECT_COLUMNS, rollup_select

HOURLY = f"{DATABASE}.{HOURLY_TABLE}"


def _params(window: Window) -> dict[str, Any]:
    return {"start": window.start.replace(tzinfo=None), "end": window.end.replace(tzinfo=None)}


# The window [start, end) as the dashboards read a time range: the hourly rollup for the whole hours inside it,
# UNION ALL the same aggregation over raw rows for the partial hours at its edges. The rollup has no TTL, so for a
# window older than the raw rows' TTL both see the whole hours the rollup keeps (and both lose the partial edges).
_WHOLE_FROM = "toStartOfHour(addMicroseconds({start:DateTime64(6)}, 3599999999))"  # first hour starting >= start
_WHOLE_TO = "toStartOfHour({end:DateTime64(6)})"
_EDGES = f"ts >= {{start:DateTime64(6)}} AND ts < {{end:DateTime64(6)}} AND (ts < {_WHOLE_FROM} OR ts >= {_WHOLE_TO})"
SOURCE = (
    f"(SELECT {', '.join(ROLLUP_SELECT_COLUMNS)} FROM {HOURLY} WHERE hour >= {_WHOLE_FROM} AND hour < {_WHOLE_TO} "
    f"UNION ALL {rollup_select(_EDGES)})"
)
_QUANTILES = ", ".join(str(level) for level in QUANTILE_LEVELS)


def build_report(query: Any, window: Window) -> dict[str, Any]:
    """Everything `llmsight report` shows, as plain JSON-able data (stable keys for --json)."""
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
        now_rows = rows(f"SELECT {column} AS key, sum(calls) AS calls, sum(total_cost) AS cost FROM {SOURCE} "
                        f"GROUP BY key ORDER BY cost DESC, key")
        before = {r["key"]: r["cost"] for r in rows(
            f"SELECT {column} AS key, sum(total_cost) AS cost FROM {SOURCE} GROUP BY key", previous)}
        for row in now_rows:
            prior = before.get(row["key"])
            row["cost_previous_week"] = prior
            row["change_pct"] = (row["cost"] - prior) / prior * 100 if prior else None
        return now_rows

    cache = rows(
        f"SELECT request_model AS model, sum(h.input_tokens) AS input_tokens, sum(h.cache_read_tokens) AS cache_read_tokens, "
        f"sum(h.cache_write_tokens) AS cache_write_tokens, cache_read_tokens / greatest(input_tokens, 1) AS hit_ratio, "
        f"sum(h.cache_savings) AS saved_usd FROM {SOURCE} AS h GROUP BY model ORDER BY model"
    )
    latency = rows(
        f"SELECT request_model AS model, sum(calls) AS calls, quantilesTDigestMerge({_QUANTILES})(ttft_ms_q) AS ttft, "
        f"quantilesTDigestMerge({_QUANTILES})(duration_ms_q) AS duration FROM {SOURCE} "
        f"GROUP BY model ORDER BY model"
    )
    for row in latency:
        ttft, duration = row.pop("ttft"), row.pop("duration")
        row.update({f"ttft_p{q}_ms": _num(v) for q, v in zip((50, 95, 99), ttft, strict=False)})
        row.update({f"duration_p{q}_ms": _num(v) for q, v in zip((50, 95, 99), duration, strict=False)})
    errors = rows(
        f"SELECT provider, sum(h.calls) AS calls, sum(h.error_calls) AS errors, sum(h.rate_limited_calls) AS rate_limited, "
        f"sum(h.overloaded_calls) AS overloaded, sum(h.retries) AS retries, sum(h.retried_calls) AS retried_calls "
        f"FROM {SOURCE} AS h GROUP BY provider ORDER BY provider"
    )
    unpriced = rows(
        f"SELECT provider, request_model AS model, sum(unpriced_calls) AS calls FROM {SOURCE} "
        f"GROUP BY provider, model HAVING calls > 0 ORDER BY calls DESC, provider, model"
    )
    totals["cache_hit_ratio"] = totals["cache_read_tokens"] / totals["input_tokens"] if totals["input_tokens"] else 0.0
    return {
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "totals": totals,
        "cost_by_model": cost_by("request_model"),
        "cost_by_task": cost_by("task"),
        "cost_by_tenant": cost_by("tenant"),
        "cache": cache,
        "latency": latency,
        "errors": errors,
        "unpriced": unpriced,
    }


def _num(value: Any) -> float | None:
    return None if value is None or value != value else float(value)  # NaN (no data) → None

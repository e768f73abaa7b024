"""The report's queries: rollup wherever the numbers allow, raw rows only for per-call detail."""

from __future__ import annotations

from typing import Any

from llmsight.collector.report.window import Window

HOURLY = "llmsight.llm_calls_hourly"
RAW = "llmsight.llm_calls"
# Columns are qualified (c.) where the SELECT reuses their names as aliases.
_SAVED = (
    "sum(c.cache_read_tokens * c.input_cost / greatest(c.input_tokens - c.cache_read_tokens - c.cache_write_tokens, 1)"
    " - c.cache_read_cost)"
)


def _params(window: Window) -> dict[str, Any]:
    return {"start": window.start.replace(tzinfo=None), "end": window.end.replace(tzinfo=None)}


RAW_WINDOW = "ts >= {start:DateTime64(6)} AND ts < {end:DateTime64(6)}"
# The rollup is hourly: an hour belongs to the window when it starts inside it.
HOURLY_WINDOW = "hour >= toStartOfHour({start:DateTime}) AND hour < {end:DateTime}"


def build_report(query: Any, window: Window) -> dict[str, Any]:
    """Everything `llmsight report` shows, as plain JSON-able data (stable keys for --json)."""
    p = _params(window)
    previous = _params(window.previous_week())

    def rows(sql: str, params: dict[str, Any] = p) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = query(sql, params).dicts()
        return found

    totals = rows(
        f"SELECT count() AS calls, countIf(c.status = 'error') AS errors, countIf(c.total_cost IS NULL AND c.status = 'ok') AS unpriced_calls, "
        f"sum(c.input_tokens) AS input_tokens, sum(c.cache_read_tokens) AS cache_read_tokens, sum(c.cache_write_tokens) AS cache_write_tokens, "
        f"sum(c.output_tokens) AS output_tokens, sum(c.reasoning_tokens) AS reasoning_tokens, sum(c.retries) AS retries, "
        f"sum(ifNull(c.total_cost, 0)) AS total_cost FROM {RAW} AS c WHERE {RAW_WINDOW}"
    )[0]

    def cost_by(column: str) -> list[dict[str, Any]]:
        now_rows = rows(f"SELECT {column} AS key, count() AS calls, sum(ifNull(total_cost, 0)) AS cost FROM {RAW} "
                        f"WHERE {RAW_WINDOW} GROUP BY key ORDER BY cost DESC, key")
        before = {r["key"]: r["cost"] for r in rows(
            f"SELECT {column} AS key, sum(ifNull(total_cost, 0)) AS cost FROM {RAW} WHERE {RAW_WINDOW} GROUP BY key", previous)}
        for row in now_rows:
            prior = before.get(row["key"])
            row["cost_previous_week"] = prior
            row["change_pct"] = (row["cost"] - prior) / prior * 100 if prior else None
        return now_rows

    cache = rows(
        f"SELECT request_model AS model, sum(input_tokens) AS input_tokens, sum(cache_read_tokens) AS cache_read_tokens, "
        f"sum(cache_write_tokens) AS cache_write_tokens, cache_read_tokens / greatest(input_tokens, 1) AS hit_ratio, "
        f"{_SAVED} AS saved_usd FROM {RAW} AS c WHERE {RAW_WINDOW} AND status = 'ok' GROUP BY model ORDER BY model"
    )
    latency = rows(
        f"SELECT request_model AS model, count() AS calls, quantiles(0.5, 0.95, 0.99)(ttft_ms) AS ttft, "
        f"quantiles(0.5, 0.95, 0.99)(duration_ms) AS duration FROM {RAW} WHERE {RAW_WINDOW} GROUP BY model ORDER BY model"
    )
    for row in latency:
        ttft, duration = row.pop("ttft"), row.pop("duration")
        row.update({f"ttft_p{q}_ms": _num(v) for q, v in zip((50, 95, 99), ttft)})
        row.update({f"duration_p{q}_ms": _num(v) for q, v in zip((50, 95, 99), duration)})
    errors = rows(
        f"SELECT provider, count() AS calls, countIf(status = 'error') AS errors, countIf(http_status = 429) AS rate_limited, "
        f"countIf(http_status >= 500 AND http_status < 600) AS overloaded, sum(c.retries) AS retries, "
        f"countIf(c.retries > 0) AS retried_calls FROM {RAW} AS c WHERE {RAW_WINDOW} GROUP BY provider ORDER BY provider"
    )
    unpriced = rows(
        f"SELECT provider, request_model AS model, count() AS calls FROM {RAW} WHERE {RAW_WINDOW} "
        f"AND total_cost IS NULL AND status = 'ok' GROUP BY provider, model ORDER BY calls DESC"
    )
    totals["cache_hit_ratio"] = totals["cache_read_tokens"] / totals["input_tokens"] if totals["input_tokens"] else 0.0
    totals["saved_by_cache_usd"] = sum(r["saved_usd"] for r in cache)
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

"""The panels of llmsight's five dashboards: one SQL query each, on the hourly rollup wherever a panel
needs no per-call detail. `build.py` turns these into Grafana dashboard JSON.

Filters: every query applies the dashboard variables through `$__conditionalAll`, so "All" costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLLUP = "llmsight.llm_calls_hourly"
RAW = "llmsight.llm_calls"
FILTERS = " AND ".join(
    f"$__conditionalAll({column} IN (${variable}), ${variable})"
    for column, variable in (
        ("service", "service"),
        ("environment", "environment"),
        ("provider", "provider"),
        ("request_model", "model"),
        ("model_tier", "tier"),
        ("task", "task"),
        ("tenant", "tenant"),
    )
)
HOURLY = f"$__timeFilter(hour) AND {FILTERS}"
PER_CALL = f"$__timeFilter(ts) AND {FILTERS}"
SAVED_BY_CACHE = (
    "sum(cache_read_tokens * input_cost / greatest(input_tokens - cache_read_tokens - cache_write_tokens, 1)"
    " - cache_read_cost)"
)


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # Grafana panel type: timeseries, stat, table, gauge, barchart, piechart
    sql: str
    description: str = ""
    unit: str = ""
    width: int = 12
    height: int = 8
    time_series: bool = False


SPEND = [
    Panel("Cost over time by model", "timeseries",
          f"SELECT $__timeInterval(hour) AS time, request_model, sum(total_cost) AS cost FROM {ROLLUP} "
          f"WHERE {HOURLY} GROUP BY time, request_model ORDER BY time",
          "USD per interval, by requested model.", "currencyUSD", time_series=True),
    Panel("Cost over time by task", "timeseries",
          f"SELECT $__timeInterval(hour) AS time, task, sum(total_cost) AS cost FROM {ROLLUP} "
          f"WHERE {HOURLY} GROUP BY time, task ORDER BY time", "USD per interval, by task.", "currencyUSD", time_series=True),
    Panel("Cost over time by tenant", "timeseries",
          f"SELECT $__timeInterval(hour) AS time, tenant, sum(total_cost) AS cost FROM {ROLLUP} "
          f"WHERE {HOURLY} GROUP BY time, tenant ORDER BY time", "USD per interval, by tenant.", "currencyUSD", time_series=True),
    Panel("Total spend", "stat", f"SELECT sum(total_cost) AS spend FROM {ROLLUP} WHERE {HOURLY}",
          "Priced calls only; see Unpriced calls.", "currencyUSD", width=6),
    Panel("Cost per request", "stat",
          f"SELECT sum(total_cost) / greatest(sum(calls) - sum(unpriced_calls), 1) AS cost_per_request "
          f"FROM {ROLLUP} WHERE {HOURLY}", "Average USD per priced call.", "currencyUSD", width=6),
    Panel("Spend today vs budget", "gauge",
          f"SELECT sum(total_cost) AS spend_today, toFloat64(${{daily_budget}}) AS budget FROM {ROLLUP} "
          f"WHERE hour >= toStartOfDay(now()) AND {FILTERS}",
          "Since midnight UTC, against the daily_budget constant.", "currencyUSD", width=6),
    Panel("Projected month-end spend", "stat",
          f"SELECT sum(total_cost) / greatest(dateDiff('second', toStartOfMonth(now()), now()), 1) "
          f"* dateDiff('second', toStartOfMonth(now()), toStartOfMonth(now()) + INTERVAL 1 MONTH) AS projected "
          f"FROM {ROLLUP} WHERE hour >= toStartOfMonth(now()) AND {FILTERS}",
          "Month-to-date spend extrapolated linearly to the end of the month.", "currencyUSD", width=6),
    Panel("Top 10 spenders", "table",
          f"SELECT tenant, task, sum(calls) AS calls, sum(total_cost) AS cost FROM {ROLLUP} WHERE {HOURLY} "
          f"GROUP BY tenant, task ORDER BY cost DESC LIMIT 10", "Tenant × task pairs by spend.", "currencyUSD"),
    Panel("Unpriced calls", "table",
          f"SELECT provider, request_model, sum(unpriced_calls) AS unpriced_calls FROM {ROLLUP} WHERE {HOURLY} "
          f"GROUP BY provider, request_model HAVING unpriced_calls > 0 ORDER BY unpriced_calls DESC",
          "Models with no known price: add them to the prices overrides file."),
]

CACHE = [
    Panel("Cache hit ratio by model", "timeseries",
          f"SELECT $__timeInterval(hour) AS time, request_model, sum(cache_read_tokens) / greatest(sum(input_tokens), 1) AS hit_ratio "
          f"FROM {ROLLUP} WHERE {HOURLY} GROUP BY time, request_model ORDER BY time",
          "Cached input tokens / all input tokens.", "percentunit", time_series=True),
    Panel("Cache hit ratio by prompt", "table",
          f"SELECT prompt_name, prompt_version, sum(calls) AS calls, sum(cache_read_tokens) / greatest(sum(input_tokens), 1) AS hit_ratio "
          f"FROM {ROLLUP} WHERE {HOURLY} AND prompt_name != '' GROUP BY prompt_name, prompt_version ORDER BY prompt_name, prompt_version",
          "Per prompt name and version.", "percentunit"),
    Panel("Cache read vs write tokens", "timeseries",
          f"SELECT $__timeInterval(hour) AS time, sum(cache_read_tokens) AS read_tokens, sum(cache_write_tokens) AS write_tokens "
          f"FROM {ROLLUP} WHERE {HOURLY} GROUP BY time ORDER BY time", "", "short", time_series=True),
    Panel("Saved by caching", "stat",
          f"SELECT {SAVED_BY_CACHE} AS saved FROM {ROLLUP} WHERE {HOURLY}",
          "Cached tokens priced at the uncached input rate, minus what the cache reads cost.", "currencyUSD", width=6),
    Panel("Missed savings: large repeated prefixes never cached", "table",
          f"SELECT prompt_name, prompt_prefix_hash, count() AS calls, avg(input_tokens) AS avg_input_tokens, "
          f"sum(input_cost) AS uncached_input_cost FROM {RAW} WHERE {PER_CALL} AND prompt_prefix_hash != '' "
          f"GROUP BY prompt_name, prompt_prefix_hash HAVING calls >= 3 AND avg_input_tokens >= 1024 AND sum(cache_read_tokens) = 0 "
          f"ORDER BY uncached_input_cost DESC LIMIT 20",
          "Same static prefix sent repeatedly, >= 1024 tokens, never read from cache."),
    Panel("Prefix hashes per prompt", "table",
          f"SELECT prompt_name, prompt_prefix_hash, min(ts) AS first_seen, max(ts) AS last_seen, count() AS calls, "
          f"sum(cache_read_tokens) / greatest(sum(input_tokens), 1) AS hit_ratio FROM {RAW} WHERE {PER_CALL} AND prompt_name != '' "
          f"GROUP BY prompt_name, prompt_prefix_hash ORDER BY prompt_name, first_seen",
          "When the ratio drops, the hash first seen at that time is the template change that broke caching.", width=18),
]

LATENCY = [
    Panel("TTFT percentiles by model", "table",
          f"SELECT request_model, quantilesTDigestMerge(0.5, 0.95, 0.99)(ttft_ms_q) AS q, q[1] AS p50_ms, q[2] AS p95_ms, q[3] AS p99_ms "
          f"FROM {ROLLUP} WHERE {HOURLY} AND streaming GROUP BY request_model ORDER BY request_model",
          "Time to first content chunk (streamed calls).", "ms"),
    Panel("Duration percentiles by provider", "table",
          f"SELECT provider, quantilesTDigestMerge(0.5, 0.95, 0.99)(duration_ms_q) AS q, q[1] AS p50_ms, q[2] AS p95_ms, q[3] AS p99_ms "
          f"FROM {ROLLUP} WHERE {HOURLY} GROUP BY provider ORDER BY provider", "", "ms"),
    Panel("TTFT p95 over time", "timeseries",
          f"SELECT $__timeInterval(hour) AS time, request_model, quantilesTDigestMerge(0.95)(ttft_ms_q)[1] AS p95_ms "
          f"FROM {ROLLUP} WHERE {HOURLY} AND streaming GROUP BY time, request_model ORDER BY time", "", "ms", time_series=True),
    Panel("Streaming vs not: duration p50", "table",
          f"SELECT streaming, sum(calls) AS calls, quantilesTDigestMerge(0.5)(duration_ms_q)[1] AS p50_ms, "
          f"sum(duration_ms_sum) / greatest(calls, 1) AS mean_ms FROM {ROLLUP} WHERE {HOURLY} GROUP BY streaming ORDER BY streaming",
          "", "ms"),
    Panel("Output tokens per second by model", "table",
          f"SELECT request_model, sum(output_tokens) / greatest(sum(duration_ms_sum) / 1000, 0.001) AS tokens_per_second "
          f"FROM {ROLLUP} WHERE {HOURLY} GROUP BY request_model ORDER BY request_model",
          "Output tokens over wall-clock call duration.", "short"),
]

RELIABILITY = [
    Panel("Error rate over time", "timeseries",
          f"SELECT $__timeInterval(hour) AS time, sum(error_calls) / greatest(sum(calls), 1) AS error_rate, "
          f"sum(rate_limited_calls) / greatest(sum(calls), 1) AS rate_limited, sum(overloaded_calls) / greatest(sum(calls), 1) AS overloaded, "
          f"sum(timeout_calls) / greatest(sum(calls), 1) AS timeouts FROM {ROLLUP} WHERE {HOURLY} GROUP BY time ORDER BY time",
          "429 rate limits, 5xx/529 overloads and timeouts as shares of calls.", "percentunit", time_series=True),
    Panel("Errors by type and HTTP status", "table",
          f"SELECT provider, error_type, http_status, count() AS calls FROM {RAW} WHERE {PER_CALL} AND status = 'error' "
          f"GROUP BY provider, error_type, http_status ORDER BY calls DESC", "Final outcome of failed calls."),
    Panel("Retries per call", "stat",
          f"SELECT sum(retries) / greatest(sum(calls), 1) AS retries_per_call FROM {ROLLUP} WHERE {HOURLY}",
          "SDK retries (429, 5xx, timeouts) per call.", "short", width=6),
    Panel("Truncated outputs", "table",
          f"SELECT request_model, task, sum(truncated_calls) AS truncated, sum(calls) AS calls, "
          f"truncated / greatest(calls, 1) AS truncated_ratio FROM {ROLLUP} WHERE {HOURLY} "
          f"GROUP BY request_model, task HAVING truncated > 0 ORDER BY truncated_ratio DESC",
          "finish reason length / max_tokens / max_output_tokens.", "percentunit"),
]

TIERS = [
    Panel("Model tier by task", "table",
          f"SELECT task, model_tier, sum(calls) AS calls, sum(total_cost) AS cost FROM {ROLLUP} WHERE {HOURLY} "
          f"GROUP BY task, model_tier ORDER BY task, model_tier", "", "short"),
    Panel("What cheaper routing would have cost", "table",
          f"SELECT task, sum(total_cost) AS actual_cost, "
          f"sumIf(total_cost, service_tier != 'batch') * 0.5 + sumIf(total_cost, service_tier = 'batch') AS batch_api_cost, "
          f"(sum(input_tokens - cache_read_tokens) * ${{small_input_per_mtok}} + sum(cache_read_tokens) * ${{small_input_per_mtok}} * 0.5 "
          f"+ sum(output_tokens) * ${{small_output_per_mtok}}) / 1e6 AS small_tier_cost "
          f"FROM {ROLLUP} WHERE {HOURLY} GROUP BY task ORDER BY actual_cost DESC",
          "Batch API bills 50%; the small-tier estimate prices the same tokens at the small_input/output_per_mtok "
          "constants (cache reads at half the input rate).", "currencyUSD", width=24),
]

DASHBOARDS = {
    "spend": ("llmsight — Spend", SPEND),
    "prompt-cache": ("llmsight — Prompt cache", CACHE),
    "latency": ("llmsight — Latency", LATENCY),
    "reliability": ("llmsight — Reliability", RELIABILITY),
    "model-tiers": ("llmsight — Model tiers & savings", TIERS),
}

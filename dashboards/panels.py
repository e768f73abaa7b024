"""The panels of llmsight's six dashboards: one SQL query each. `build.py` turns these into Grafana dashboard JSON.

Sources:
- `HOURLY`: the hourly rollup for the whole hours inside the time range, UNION ALL the same aggregation over raw
  rows for the partial hours at its edges (schema.hourly_window, as the report reads it), so sums over any range — including one that
  starts or ends mid-hour — equal sums over the raw rows that `$__timeFilter(ts)` selects.
- `RAW` with `$__timeFilter(ts)` where a panel needs per-call detail (prefix hashes, traces, users, exact
  quantiles).

Filters: every query applies the dashboard variables through `$__conditionalAll`, so "All" costs nothing; values
are inserted with the `singlequote` format (quotes escaped), as the plugin's documentation recommends.
Quantiles: exact (quantilesExactInclusive over raw rows) for groups with at most EXACT_QUANTILE_MAX_CALLS calls in
the range, merged t-digests from the rollup above that — a digest merged from a few sparse hourly states is far off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from llmsight.alerts import defaults
from llmsight.attributes import LLMSIGHT_BATCH_ID
from llmsight.collector.columns import (
    BATCH_SUBMISSIONS_TABLE,
    CALLS_TABLE,
    DATABASE,
    HOURLY_TABLE,
    PRICES_TABLE,
)
from llmsight.collector.reconcile.tables import KEYS_TABLE, USAGE_TABLE, bill_lines
from llmsight.collector.store.schema import hourly_window

ROLLUP = f"{DATABASE}.{HOURLY_TABLE}"
RAW = f"{DATABASE}.{CALLS_TABLE}"
PRICES = f"{DATABASE}.{PRICES_TABLE}"
SUBMISSIONS = f"{DATABASE}.{BATCH_SUBMISSIONS_TABLE}"

# The daily budget the "Spend today" gauge measures against (USD): the alert rules' default, defined once there.
DAILY_BUDGET_USD: Final = defaults.DAILY_BUDGET_USD
BUDGET_WARNING_SHARE: Final = 0.8  # the gauge turns orange at 80% of the budget, red at 100%
EXACT_QUANTILE_MAX_CALLS: Final = 5000
# Where the "open trace" links go; {trace_id} is replaced by the call's 32-hex trace id. A dashboard constant,
# editable in Grafana (Dashboard settings → Variables) or at build time (build.py --trace-url).
TRACE_URL_TEMPLATE: Final = "http://localhost:16686/trace/{trace_id}"
# Tasks whose calls could have waited for a batch API; '*' (the variable's All value) means every task.
ALL_TASKS: Final = "'*'"

# (variable, column) for the dashboard filters
FILTER_COLUMNS: Final = (
    ("service", "service"),
    ("environment", "environment"),
    ("provider", "provider"),
    ("model", "request_model"),
    ("tier", "model_tier"),
    ("task", "task"),
    ("tenant", "tenant"),
)
FILTERS = " AND ".join(
    f"$__conditionalAll({column} IN (${{{variable}:singlequote}}), ${variable})" for variable, column in FILTER_COLUMNS
)
# The rollup for the whole hours inside [from, to] plus raw rows for the partial hours at its edges, as the report reads
# a window (schema.hourly_window).
HOURLY = hourly_window("$__fromTime", "$__toTime", "$__timeFilter(ts)", FILTERS)
PER_CALL = f"$__timeFilter(ts) AND {FILTERS}"
SAVED_BY_CACHE = "sum(cache_savings)"  # priced per call when it was priced (collector/columns.py defines it)


def typed_text(variable: str) -> str:
    """A free-text variable as a ClickHouse string: percent-encoded by Grafana (only A-Z a-z 0-9 - _ . ~ and %XX
    reach the query) and decoded by ClickHouse. `sqlstring` escapes quotes but not backslashes, which
    ClickHouse reads as escapes: a typed backslash would break the query or match nothing."""
    return f"decodeURLComponent('${{{variable}:percentencode}}')"


TRACE_LINK = f"replaceAll({typed_text('trace_url_template')}, '{{trace_id}}', toString(trace_id)) AS trace_link"


def _text_filter(variable: str, column: str) -> str:
    return f"({typed_text(variable)} = '' OR {column} = {typed_text(variable)})"



@dataclass(frozen=True)
class Link:
    """A data link on a table column: to the Calls dashboard filtered by the row's value, or to a URL column."""

    column: str
    calls_variable: str = ""  # the Calls dashboard variable the value goes into
    url_column: str = ""  # or: a column of the row holding the URL (trace viewer)
    title: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # Grafana panel type: timeseries, stat, table, gauge
    sql: str
    description: str = ""
    unit: str = ""
    width: int = 12
    height: int = 8
    time_series: bool = False
    links: tuple[Link, ...] = ()
    hidden: tuple[str, ...] = ()  # table columns that only feed links
    extra_targets: tuple[tuple[str, str], ...] = ()  # (refId, sql)
    field_defaults: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    transformations: tuple[dict[str, Any], ...] = ()


def _quantiles(keys: tuple[str, ...], value: str, state: str, where: str, levels: tuple[float, ...],
               names: tuple[str, ...], *, over_time: bool = False) -> str:
    """Quantiles of `value` per group of `keys`: exact over raw rows for small groups, merged t-digest states
    (`state`) from HOURLY for the rest. `where` applies to both (it names columns both sources have)."""
    group = ", ".join(keys)
    levels_sql = ", ".join(str(level) for level in levels)
    small = f"({group}) IN (SELECT {group} FROM {HOURLY} AS h WHERE {where} GROUP BY {group} HAVING sum(calls) <= {EXACT_QUANTILE_MAX_CALLS})"
    # Exact points use the rollup's hour buckets too, so a series' points mean the same whichever source it has.
    time_raw = "$__timeInterval(toStartOfHour(ts)) AS time, " if over_time else ""
    time_hourly = "$__timeInterval(hour) AS time, " if over_time else ""
    by = f"time, {group}" if over_time else group
    picked = ", ".join(f"q[{index}] AS {name}" for index, name in enumerate(names, start=1))
    return (
        f"SELECT {'time, ' if over_time else ''}{group}, {picked}, method FROM ("
        f"SELECT {time_raw}{group}, quantilesExactInclusive({levels_sql})(assumeNotNull({value})) AS q, 'exact' AS method "
        f"FROM {RAW} WHERE {PER_CALL} AND {where} AND {value} IS NOT NULL AND {small} GROUP BY {by} "
        f"UNION ALL SELECT {time_hourly}{group}, quantilesTDigestMerge({levels_sql})({state}) AS q, 't-digest' AS method "
        f"FROM {HOURLY} AS r WHERE {where} AND NOT {small} GROUP BY {by}"
        f") ORDER BY {by}"
    )


def _over_time(label: str, values: str, where: str = "1") -> str:
    return (f"SELECT $__timeInterval(hour) AS time, {label}, {values} FROM {HOURLY} AS r WHERE {where} "
            f"GROUP BY time, label ORDER BY time")


MODEL_LABEL = "concat(provider, ' / ', request_model) AS label"
TO_CALLS_BY_MODEL = Link("request_model", calls_variable="model")
TO_CALLS_BY_PROMPT = Link("prompt_name", calls_variable="prompt")
TO_CALLS_BY_TRACE = Link("trace_id", calls_variable="trace_id")
TO_TRACE_VIEWER = Link("trace_id", url_column="trace_link", title="Open trace ${__data.fields.trace_id}")

SPEND = [
    Panel("Cost over time by model", "timeseries", _over_time(MODEL_LABEL, "sum(total_cost) AS cost"),
          "USD per interval, by provider and requested model.", "currencyUSD", time_series=True),
    Panel("Cost over time by task", "timeseries", _over_time("task AS label", "sum(total_cost) AS cost"),
          "USD per interval, by task.", "currencyUSD", time_series=True),
    Panel("Cost over time by tenant", "timeseries", _over_time("tenant AS label", "sum(total_cost) AS cost"),
          "USD per interval, by tenant.", "currencyUSD", time_series=True),
    Panel("Total spend", "stat", f"SELECT sum(total_cost) AS spend FROM {HOURLY} AS r",
          "Priced calls only; see Unpriced calls.", "currencyUSD", width=6),
    Panel("Cost per request", "stat",
          f"SELECT sum(total_cost) / greatest(sum(calls) - sum(unpriced_calls), 1) AS cost_per_request FROM {HOURLY} AS r",
          "Average USD per priced call.", "currencyUSD", width=6),
    Panel("Spend today vs budget", "gauge",
          f"SELECT sum(total_cost) AS spend_today FROM {ROLLUP} WHERE hour >= toStartOfDay(now('UTC')) AND {FILTERS}",
          "Since midnight UTC; the gauge's maximum is the daily_budget constant, orange from 80%, red at 100%.",
          "currencyUSD", width=6,
          # One column per handler: configFromData keeps the first mapping of a field name, and its threshold
          # steps (one per column, in column order) replace the panel's, so the green base step comes from data too.
          extra_targets=(("B", f"SELECT toFloat64(${{daily_budget}}) AS budget, 0 AS ok_from, "
                               f"budget * {BUDGET_WARNING_SHARE} AS warn_from, budget AS over_from"),),
          field_defaults={"min": 0, "max": DAILY_BUDGET_USD, "thresholds": {"mode": "absolute", "steps": [
              {"color": "green", "value": None},
              {"color": "orange", "value": DAILY_BUDGET_USD * BUDGET_WARNING_SHARE},
              {"color": "red", "value": DAILY_BUDGET_USD}]}},
          options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "/^spend_today$/", "values": False},
                   "showThresholdMarkers": True, "showThresholdLabels": False},
          transformations=({"id": "configFromData", "options": {"configRefId": "B", "applyTo": {"id": "byName", "options": "spend_today"},
                            "mappings": [{"fieldName": "budget", "handlerKey": "max"},
                                         *({"fieldName": name, "handlerKey": "threshold1", "handlerArguments": {"threshold": {"color": color}}}
                                           for name, color in (("ok_from", "green"), ("warn_from", "orange"), ("over_from", "red")))]}},)),
    Panel("Projected month-end spend", "stat",
          f"SELECT sum(total_cost) / greatest(dateDiff('second', toStartOfMonth(now('UTC')), now('UTC')), 1) "
          f"* dateDiff('second', toStartOfMonth(now('UTC')), toStartOfMonth(now('UTC')) + INTERVAL 1 MONTH) AS projected "
          f"FROM {ROLLUP} WHERE hour >= toStartOfMonth(now('UTC')) AND {FILTERS}",
          "Month-to-date spend extrapolated linearly to the end of the month.", "currencyUSD", width=6),
    Panel("Requests over time by model", "timeseries", _over_time(MODEL_LABEL, "sum(calls) AS requests"),
          "Calls per interval, by provider and requested model.", "short", time_series=True),
    Panel("Tokens over time by model", "timeseries",
          _over_time(MODEL_LABEL, "sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens"),
          "Input tokens (cache reads and writes included) and output tokens per interval.", "short", time_series=True),
    Panel("Top 10 spenders", "table",
          f"SELECT tenant, task, sum(calls) AS calls, sum(total_cost) AS cost FROM {HOURLY} AS r "
          f"GROUP BY tenant, task ORDER BY cost DESC LIMIT 10", "Tenant × task pairs by spend.", "currencyUSD"),
    Panel("Cost per user", "table",
          f"SELECT user_id, uniqExact(session_id) AS sessions, count() AS calls, sum(total_cost) AS cost, "
          f"sum(total_cost) / greatest(countIf(total_cost IS NOT NULL), 1) AS cost_per_call "
          f"FROM {RAW} WHERE {PER_CALL} AND user_id != '' GROUP BY user_id ORDER BY cost DESC, user_id LIMIT 50",
          "End users (llmsight.tags(user=...) → user.id).", "currencyUSD", links=(Link("user_id", calls_variable="user"),)),
    Panel("Cost per session", "table",
          f"SELECT session_id, any(user_id) AS user_id, min(ts) AS started, max(ts) AS last_call, count() AS calls, "
          f"sum(total_cost) AS cost FROM {RAW} WHERE {PER_CALL} AND session_id != '' "
          f"GROUP BY session_id ORDER BY cost DESC, session_id LIMIT 50",
          "Conversations / sessions (llmsight.tags(session=...) → session.id).", "currencyUSD",
          links=(Link("session_id", calls_variable="session"),)),
    Panel("Unpriced calls", "table",
          f"SELECT provider, request_model, sum(unpriced_calls) AS unpriced_calls FROM {HOURLY} AS r "
          f"GROUP BY provider, request_model HAVING unpriced_calls > 0 ORDER BY unpriced_calls DESC",
          "Models with no known price: add them to the prices overrides file.", width=24, height=6,
          links=(TO_CALLS_BY_MODEL,)),
    Panel("Most expensive traces", "table",
          f"SELECT trace_id, min(ts) AS started, arrayStringConcat(arraySort(groupUniqArray(service)), ', ') AS services, "
          f"arrayStringConcat(arraySort(groupUniqArray(task)), ', ') AS tasks, "
          f"any(user_id) AS user_id, count() AS calls, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
          f"sum(total_cost) AS cost, {TRACE_LINK} FROM {RAW} WHERE {PER_CALL} GROUP BY trace_id ORDER BY cost DESC, trace_id LIMIT 50",
          "Workflows and agent runs (one trace each) by the cost of their LLM calls in the range.", "currencyUSD", width=24,
          links=(TO_CALLS_BY_TRACE, TO_TRACE_VIEWER), hidden=("trace_link",)),
]

CACHE = [
    Panel("Cache hit ratio by model", "timeseries",
          _over_time(MODEL_LABEL, "sum(cache_read_tokens) / greatest(sum(input_tokens), 1) AS hit_ratio"),
          "Cached input tokens / all input tokens.", "percentunit", time_series=True),
    Panel("Cache hit ratio by prompt version over time", "timeseries",
          _over_time("concat(prompt_name, ' v', prompt_version) AS label",
                     "sum(cache_read_tokens) / greatest(sum(input_tokens), 1) AS hit_ratio", "prompt_name != ''"),
          "Per prompt name and version: a drop right after a new version points at the template change.",
          "percentunit", time_series=True),
    Panel("Cache hit ratio by prompt", "table",
          f"SELECT prompt_name, prompt_version, sum(calls) AS calls, sum(cache_read_tokens) / greatest(sum(input_tokens), 1) AS hit_ratio "
          f"FROM {HOURLY} AS r WHERE prompt_name != '' GROUP BY prompt_name, prompt_version ORDER BY prompt_name, prompt_version",
          "Per prompt name and version.", "percentunit", links=(TO_CALLS_BY_PROMPT,)),
    Panel("Distinct prefix hashes per prompt over time", "timeseries",
          f"SELECT $__timeInterval(ts) AS time, prompt_name AS label, uniqExact(prompt_prefix_hash) AS prefix_hashes "
          f"FROM {RAW} WHERE {PER_CALL} AND prompt_name != '' AND prompt_prefix_hash != '' GROUP BY time, label ORDER BY time",
          "More than one per interval: the \"static\" prefix changes between calls, so the cache cannot warm.",
          "short", time_series=True),
    Panel("Cache read vs write tokens", "timeseries",
          f"SELECT $__timeInterval(hour) AS time, sum(cache_read_tokens) AS read_tokens, sum(cache_write_tokens) AS write_tokens "
          f"FROM {HOURLY} AS r GROUP BY time ORDER BY time", "", "short", time_series=True),
    Panel("Saved by caching", "stat",
          f"SELECT {SAVED_BY_CACHE} AS saved FROM {HOURLY} AS r",
          "Cached tokens at the uncached input rate, minus what the cache reads and writes cost.", "currencyUSD"),
    Panel("Missed savings: large repeated prefixes never cached", "table",
          f"SELECT prompt_name, prompt_prefix_hash, count() AS calls, avg(input_tokens) AS avg_input_tokens, "
          f"sum(input_cost) AS uncached_input_cost FROM {RAW} WHERE {PER_CALL} AND prompt_prefix_hash != '' "
          f"GROUP BY prompt_name, prompt_prefix_hash HAVING calls >= 3 AND avg_input_tokens >= 1024 AND sum(cache_read_tokens) = 0 "
          f"ORDER BY uncached_input_cost DESC LIMIT 20",
          "Same static prefix sent repeatedly, >= 1024 tokens, never read from cache.", width=24,
          links=(TO_CALLS_BY_PROMPT, Link("prompt_prefix_hash", calls_variable="prefix_hash"))),
    Panel("Prefix hashes per prompt", "table",
          f"SELECT prompt_name, prompt_prefix_hash, min(ts) AS first_seen, max(ts) AS last_seen, count() AS calls, "
          f"sum(cache_read_tokens) / greatest(sum(input_tokens), 1) AS hit_ratio FROM {RAW} WHERE {PER_CALL} AND prompt_name != '' "
          f"GROUP BY prompt_name, prompt_prefix_hash ORDER BY prompt_name, first_seen",
          "When the ratio drops, the hash first seen at that time is the template change that broke caching.", width=24,
          links=(TO_CALLS_BY_PROMPT, Link("prompt_prefix_hash", calls_variable="prefix_hash"))),
]

# Latency is what an app waits for: a request inside a batch has none (its call is timed at the batch's completion).
INTERACTIVE = "service_tier != 'batch'"
LATENCY = [
    Panel("TTFT percentiles by model", "table",
          _quantiles(("request_model",), "ttft_ms", "ttft_ms_q", "streaming", (0.5, 0.95, 0.99), ("p50_ms", "p95_ms", "p99_ms")),
          f"Time to first content chunk (streamed calls). Exact up to {EXACT_QUANTILE_MAX_CALLS} calls per model, t-digest above.",
          "ms", links=(TO_CALLS_BY_MODEL,)),
    Panel("Duration percentiles by provider", "table",
          _quantiles(("provider",), "duration_ms", "duration_ms_q", INTERACTIVE, (0.5, 0.95, 0.99), ("p50_ms", "p95_ms", "p99_ms")),
          f"Exact up to {EXACT_QUANTILE_MAX_CALLS} calls per provider, t-digest above. Batch requests left out.", "ms"),
    Panel("TTFT p95 over time", "timeseries",
          _quantiles(("request_model",), "ttft_ms", "ttft_ms_q", "streaming", (0.95,), ("p95_ms",), over_time=True),
          "", "ms", time_series=True),
    Panel("Streaming vs not: duration p50", "table",
          "SELECT q.streaming AS streaming, c.calls AS calls, q.p50_ms AS p50_ms, c.mean_ms AS mean_ms, q.method AS method FROM ("
          + _quantiles(("streaming",), "duration_ms", "duration_ms_q", INTERACTIVE, (0.5,), ("p50_ms",))
          + f") AS q INNER JOIN (SELECT streaming, sum(calls) AS calls, sum(duration_ms_sum) / greatest(calls, 1) AS mean_ms "
          f"FROM {HOURLY} AS r WHERE {INTERACTIVE} GROUP BY streaming) AS c ON c.streaming = q.streaming ORDER BY streaming",
          "Batch requests left out.", "ms"),
    Panel("Output tokens per second by model", "table",
          f"SELECT request_model, sum(output_tokens) / greatest(sum(duration_ms_sum) / 1000, 0.001) AS tokens_per_second "
          f"FROM {HOURLY} AS r WHERE {INTERACTIVE} GROUP BY request_model ORDER BY request_model",
          "Output tokens over wall-clock call duration (batch requests left out).", "short", width=24, links=(TO_CALLS_BY_MODEL,)),
]

RELIABILITY = [
    Panel("Error rate over time", "timeseries",
          f"SELECT $__timeInterval(hour) AS time, sum(error_calls) / greatest(sum(calls), 1) AS error_rate, "
          f"sum(rate_limited_calls) / greatest(sum(calls), 1) AS rate_limited, sum(overloaded_calls) / greatest(sum(calls), 1) AS overloaded, "
          f"sum(timeout_calls) / greatest(sum(calls), 1) AS timeouts FROM {HOURLY} AS r GROUP BY time ORDER BY time",
          "429 rate limits, 5xx/529 overloads and timeouts as shares of calls.", "percentunit", time_series=True),
    Panel("429s over time by model", "timeseries",
          _over_time(MODEL_LABEL, "sum(rate_limited_calls) AS rate_limited", "rate_limited_calls > 0"),
          "Rate-limited calls (HTTP 429) per interval, by provider and requested model.", "short", time_series=True),
    Panel("Errors by type and HTTP status", "table",
          f"SELECT provider, request_model, error_type, http_status, count() AS calls FROM {RAW} WHERE {PER_CALL} AND status = 'error' "
          f"GROUP BY provider, request_model, error_type, http_status ORDER BY calls DESC", "Final outcome of failed calls.",
          links=(TO_CALLS_BY_MODEL,)),
    Panel("Retries per call", "stat",
          f"SELECT sum(retries) / greatest(sum(calls), 1) AS retries_per_call FROM {HOURLY} AS r",
          "SDK retries (429, 5xx, timeouts) per call.", "short"),
    Panel("Truncated outputs", "table",
          f"SELECT request_model, task, sum(truncated_calls) AS truncated, sum(calls) AS calls, "
          f"truncated / greatest(calls, 1) AS truncated_ratio FROM {HOURLY} AS r "
          f"GROUP BY request_model, task HAVING truncated > 0 ORDER BY truncated_ratio DESC",
          "finish reason length / max_tokens / max_output_tokens.", "percentunit", width=24, links=(TO_CALLS_BY_MODEL,)),
]

# Unit prices per (provider, model) and each provider's cheaper model, newest row wins (several collectors write).
_PRICE_VALUES = ("input_per_token", "cache_read_per_token", "cache_write_per_token", "output_per_token")
_BATCH_VALUES = tuple(f"batch_{name}" for name in _PRICE_VALUES)
_MODEL_PRICES = f"(SELECT provider, model, {', '.join(_BATCH_VALUES)} FROM {PRICES} FINAL)"
_CHEAPER = (f"(SELECT provider, argMax(model, updated_at) AS model, {', '.join(f'argMax({n}, updated_at) AS {n}' for n in _PRICE_VALUES)} "
            f"FROM {PRICES} FINAL WHERE cheaper_alternative GROUP BY provider)")


def _priced(prefix: str, names: tuple[str, ...]) -> str:
    tokens = ("(r.input_tokens - r.cache_read_tokens - r.cache_write_tokens)", "r.cache_read_tokens",
              "r.cache_write_tokens", "r.output_tokens")
    return " + ".join(f"{token} * {prefix}.{name}" for token, name in zip(tokens, names, strict=True))


COULD_WAIT = ("NOT r.streaming AND r.service_tier != 'batch' "
              "AND (r.task IN (${batch_tasks:singlequote}) OR '*' IN (${batch_tasks:singlequote}))")
TIERS = [
    Panel("Model tier by task", "table",
          f"SELECT task, model_tier, sum(calls) AS calls, sum(total_cost) AS cost FROM {HOURLY} AS r "
          f"GROUP BY task, model_tier ORDER BY task, model_tier", "", "short", width=24),
    Panel("What batch or a cheaper model would have cost", "table",
          f"SELECT r.task AS task, sum(r.total_cost) AS actual_cost, "
          f"sumIf(r.total_cost, r.service_tier = 'batch') AS batch_cost, "
          f"if(actual_cost > 0, batch_cost / actual_cost, 0) AS measured_batch_share, "
          f"sum(if({COULD_WAIT} AND b.batch_input_per_token IS NOT NULL, {_priced('b', _BATCH_VALUES)}, r.total_cost)) AS batch_api_cost, "
          f"sumIf(r.calls, {COULD_WAIT} AND b.batch_input_per_token IS NOT NULL) AS batchable_calls, "
          f"sum(if(c.model != '' AND c.model != r.request_model, least({_priced('c', _PRICE_VALUES)}, r.total_cost), r.total_cost)) "
          f"AS cheaper_model_cost, arrayStringConcat(arraySort(groupUniqArrayIf(c.model, c.model != '')), ', ') AS cheaper_models "
          f"FROM {HOURLY} AS r LEFT JOIN {_MODEL_PRICES} AS b ON b.provider = r.provider AND b.model = r.request_model "
          f"LEFT JOIN {_CHEAPER} AS c ON c.provider = r.provider GROUP BY task ORDER BY actual_cost DESC",
          "Measured: what the task already spends through batch APIs (batch_cost, measured_batch_share). "
          "Batch: calls that could have waited (not streamed, not batched already, in the batch_tasks selection) at "
          "their model's batch price; "
          "cheaper model: every call at its provider's configured cheaper model (collector setting cheaper_models), never "
          "above what it cost. Prices: the collector's model_prices table (genai-prices + overrides).",
          "currencyUSD", width=24),
    Panel("Batch share of spend and calls", "table",
          f"SELECT provider, sum(calls) AS all_calls, sumIf(calls, service_tier = 'batch') AS batch_calls, "
          f"batch_calls / greatest(all_calls, 1) AS batch_share_of_calls, sum(total_cost) AS cost, "
          f"sumIf(total_cost, service_tier = 'batch') AS batch_cost, if(cost > 0, batch_cost / cost, 0) AS batch_share_of_spend "
          f"FROM {HOURLY} AS r GROUP BY provider ORDER BY cost DESC",
          "Calls and spend through batch APIs (OpenAI Batch, Anthropic Message Batches: docs/batch.md), per provider.",
          "short", width=12),
    Panel("Batch turnaround", "table",
          f"SELECT c.provider AS provider, count() AS batches, sum(c.requests) AS requests, "
          f"quantileExactInclusive(0.5)(c.seconds) AS p50_s, max(c.seconds) AS max_s FROM ("
          f"SELECT b.provider AS provider, b.requests AS requests, "
          f"(toUnixTimestamp64Micro(b.completed_at) - toUnixTimestamp64Micro(s.submitted_at)) / 1e6 AS seconds FROM ("
          f"SELECT provider, attributes['{LLMSIGHT_BATCH_ID}'] AS batch_id, min(ts) AS completed_at, count() AS requests "
          f"FROM {RAW} WHERE {PER_CALL} AND service_tier = 'batch' AND batch_id != '' GROUP BY provider, batch_id) AS b "
          f"INNER JOIN (SELECT provider, batch_id, min(submitted_at) AS submitted_at FROM {SUBMISSIONS} "
          f"GROUP BY provider, batch_id) AS s ON s.provider = b.provider AND s.batch_id = b.batch_id) AS c "
          f"GROUP BY provider ORDER BY provider",
          "From submission to completion, per provider, for batches completed in the range whose submission the "
          "collector recorded (kept 30 days).", "s", width=12),
]

CALLS = [
    Panel("Calls", "table",
          f"SELECT ts AS time, service, provider, request_model, task, prompt_name, prompt_version, "
          f"input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, total_cost, ttft_ms, duration_ms, status, http_status, "
          f"error_type, prompt_prefix_hash, user_id, session_id, trace_id, {TRACE_LINK} FROM {RAW} WHERE {PER_CALL} "
          f"AND {_text_filter('trace_id', 'trace_id')} AND {_text_filter('prompt', 'prompt_name')} "
          f"AND {_text_filter('prefix_hash', 'prompt_prefix_hash')} AND {_text_filter('user', 'user_id')} "
          f"AND {_text_filter('session', 'session_id')} "
          f"ORDER BY ts DESC, span_id LIMIT 1000",
          "Individual calls, newest first (at most 1000). The trace id opens the trace viewer (trace_url_template).",
          width=24, height=20, links=(TO_TRACE_VIEWER,), hidden=("trace_link",)),
]

# Dashboard annotations: when a prompt's static prefix got a new hash, and when a service shipped a new version
# (resource attribute service.version). "New" = first seen, looking back 30 days before the range.
ANNOTATIONS = (
    ("Prompt prefix changed", "orange",
     (f"SELECT first_seen AS time, concat('Prompt ', prompt_name, ': new prefix hash ', prompt_prefix_hash) AS text, "
     f"concat('prompt:', prompt_name) AS tags FROM (SELECT prompt_name, prompt_prefix_hash, min(ts) AS first_seen, "
     f"min(first_seen) OVER (PARTITION BY prompt_name) AS prompt_first_seen FROM {RAW} "
     f"WHERE ts >= $__fromTime - INTERVAL 30 DAY AND ts <= $__toTime AND prompt_name != '' AND prompt_prefix_hash != '' AND {FILTERS} "
     f"GROUP BY prompt_name, prompt_prefix_hash) WHERE first_seen >= $__fromTime AND first_seen > prompt_first_seen "
     f"ORDER BY time LIMIT 200")),
    ("Service version changed", "blue",
     (f"SELECT first_seen AS time, concat(service, ' ', version) AS text, concat('deploy:', service) AS tags "
     f"FROM (SELECT service, attributes['service.version'] AS version, min(ts) AS first_seen, "
     f"min(first_seen) OVER (PARTITION BY service) AS service_first_seen FROM {RAW} "
     f"WHERE ts >= $__fromTime - INTERVAL 30 DAY AND ts <= $__toTime AND attributes['service.version'] != '' AND {FILTERS} "
     f"GROUP BY service, version) WHERE first_seen >= $__fromTime AND first_seen > service_first_seen ORDER BY time LIMIT 200")),
)

# The bill (llmsight reconcile): the UTC days the time range overlaps, from the providers' pulled reports.
_FIRST_DAY = "toStartOfDay(toTimeZone($__fromTime, 'UTC'))"
_END_DAY = "(toStartOfDay(toTimeZone($__toTime, 'UTC')) + INTERVAL 1 DAY)"
_BILL_LINES = bill_lines(_FIRST_DAY, _END_DAY)
_UNEXPLAINED_USD = "if(provider_tokens > 0, provider_usd * (provider_tokens - stored_tokens) / provider_tokens, 0)"
_LATEST_USAGE = (f"(provider, endpoint, bucket_start, pulled_at) IN (SELECT provider, endpoint, bucket_start, "
                 f"max(pulled_at) FROM {DATABASE}.{USAGE_TABLE} GROUP BY provider, endpoint, bucket_start)")
_KEY_USAGE = (
    f"(SELECT toDate(u.bucket_start) AS day, u.provider AS provider, u.model AS model, "
    f"if(k.hint != '', k.hint, u.api_key_id) AS key_hint, sum(u.uncached_input_tokens + u.cache_read_tokens + "
    f"u.cache_write_5m_tokens + u.cache_write_1h_tokens + u.output_tokens) AS billed_tokens "
    f"FROM {DATABASE}.{USAGE_TABLE} AS u LEFT JOIN (SELECT provider, api_key_id, argMax(hint, pulled_at) AS hint "
    f"FROM {DATABASE}.{KEYS_TABLE} GROUP BY provider, api_key_id) AS k ON k.provider = u.provider AND k.api_key_id = u.api_key_id "
    f"WHERE u.model != '' AND u.bucket_start >= {_FIRST_DAY} AND u.bucket_start < {_END_DAY} "
    f"AND (u.provider, u.endpoint, u.bucket_start, u.pulled_at) IN (SELECT provider, endpoint, bucket_start, max(pulled_at) "
    f"FROM {DATABASE}.{USAGE_TABLE} GROUP BY provider, endpoint, bucket_start) "
    f"GROUP BY day, provider, model, key_hint)"
)
_KEY_STORED = (
    f"(SELECT toDate(ts) AS day, provider, if(response_model != '', response_model, request_model) AS model, "
    f"api_key_hint AS key_hint, sum(input_tokens + output_tokens) AS seen_tokens FROM {RAW} "
    f"WHERE ts >= {_FIRST_DAY} AND ts < {_END_DAY} AND status = 'ok' AND provider IN ('openai', 'anthropic') "
    f"GROUP BY day, provider, model, key_hint)"
)
BILL = [
    Panel("Bill and llmsight per day", "timeseries",
          f"SELECT toDateTime(day) AS time, provider, any(bill) AS billed, sum(stored_usd) AS llmsight, "
          f"sum({_UNEXPLAINED_USD}) AS unexplained FROM {_BILL_LINES} GROUP BY day, provider ORDER BY time, provider",
          "Per UTC day and provider: what the provider billed (its cost report, every USD line), what llmsight "
          "charged for the calls it stored, and the tokens it never saw at the provider's own rates. Needs `llmsight "
          "reconcile pull` (or a collector with admin keys).", "currencyUSD", width=24, time_series=True),
    Panel("Coverage by model", "table",
          f"SELECT day, provider, model, sum(provider_tokens) AS billed_tokens, sum(stored_tokens) AS seen_tokens, "
          f"seen_tokens / nullIf(billed_tokens, 0) AS coverage, sum({_UNEXPLAINED_USD}) AS unexplained_usd "
          f"FROM {_BILL_LINES} GROUP BY day, provider, model ORDER BY day, provider, model",
          "Tokens the provider billed vs tokens of stored calls, and the unexplained part at the provider's rates.",
          width=12),
    Panel("Coverage by API key", "table",
          f"SELECT u.day AS day, u.provider AS provider, u.model AS model, u.key_hint AS key_hint, u.billed_tokens AS billed_tokens, "
          f"ifNull(s.seen_tokens, 0) AS seen_tokens, seen_tokens / nullIf(billed_tokens, 0) AS coverage "
          f"FROM {_KEY_USAGE} AS u LEFT JOIN {_KEY_STORED} AS s ON s.day = u.day AND s.provider = u.provider "
          f"AND s.model = u.model AND s.key_hint = u.key_hint ORDER BY day, provider, model, key_hint",
          "Per key (as the provider's key list shows it, matched to the key hint on llmsight's spans): a key whose "
          "tokens llmsight never saw is an app nobody instrumented.", width=12),
    Panel("Price drift by model", "table",
          f"SELECT provider, model, sum(provider_usd / provider_tokens * stored_tokens) AS billed_for_seen_usd, "
          f"sum(stored_usd) AS llmsight_usd, billed_for_seen_usd / nullIf(llmsight_usd, 0) - 1 AS drift "
          f"FROM {_BILL_LINES} WHERE provider_tokens > 0 AND stored_tokens > 0 GROUP BY provider, model "
          f"ORDER BY provider, model",
          "The provider's price for the tokens of stored calls vs llmsight's: -10 % is a 10 % discount missing from the "
          "prices file (llmsight reconcile show prints the entry).", width=24),
]

DASHBOARDS = {
    "spend": ("llmsight — Spend", SPEND),
    "prompt-cache": ("llmsight — Prompt cache", CACHE),
    "latency": ("llmsight — Latency", LATENCY),
    "reliability": ("llmsight — Reliability", RELIABILITY),
    "model-tiers": ("llmsight — Model tiers & savings", TIERS),
    "calls": ("llmsight — Calls", CALLS),
    "bill": ("llmsight — Bill", BILL),
}
CALLS_DASHBOARD = "calls"

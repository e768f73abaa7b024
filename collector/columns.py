"""Storage naming contract: the columns of `llmsight.llm_calls` and its hourly rollup.

Dashboards, alert rules, the report and user queries depend on these names (ARCHITECTURE.md).
The DDL in `llmsight.collector.store.schema` is generated from these lists, so a column is
declared exactly once. Costs are USD and Nullable: NULL means "no known price", never 0.
"""

from typing import Final

DATABASE: Final = "llmsight"
CALLS_TABLE: Final = "llm_calls"
HOURLY_TABLE: Final = "llm_calls_hourly"

# (name, ClickHouse type) in table order. `input_tokens` INCLUDES cache reads and writes, so the
# cache hit ratio is sum(cache_read_tokens) / sum(input_tokens).
CALL_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("ts", "DateTime64(6, 'UTC')"),  # span start
    ("trace_id", "FixedString(32)"),  # hex
    ("span_id", "FixedString(16)"),  # hex
    ("service", "LowCardinality(String)"),
    ("environment", "LowCardinality(String)"),
    ("provider", "LowCardinality(String)"),
    ("operation", "LowCardinality(String)"),
    ("request_model", "LowCardinality(String)"),
    ("response_model", "LowCardinality(String)"),
    ("model_tier", "LowCardinality(String)"),
    ("service_tier", "LowCardinality(String)"),
    ("streaming", "Bool"),
    ("stream_completed", "Bool"),
    ("status", "LowCardinality(String)"),  # 'ok' | 'error'
    ("error_type", "LowCardinality(String)"),  # '' when ok
    ("http_status", "UInt16"),  # 0 when unknown
    ("retries", "UInt16"),
    ("input_tokens", "UInt64"),
    ("cache_read_tokens", "UInt64"),
    ("cache_write_tokens", "UInt64"),
    ("cache_write_1h_tokens", "UInt64"),
    ("output_tokens", "UInt64"),
    ("reasoning_tokens", "UInt64"),
    ("ttft_ms", "Nullable(Float64)"),  # NULL: not streamed / no content chunk
    ("duration_ms", "Float64"),
    ("input_cost", "Nullable(Float64)"),  # uncached input only
    ("cache_read_cost", "Nullable(Float64)"),
    ("cache_write_cost", "Nullable(Float64)"),
    ("output_cost", "Nullable(Float64)"),
    ("total_cost", "Nullable(Float64)"),  # the parts above plus any per-request fee
    ("price_source", "LowCardinality(String)"),  # e.g. 'genai-prices@0.2.3[+inferred-provider]', 'override:FILE#models[i]', '' if unpriced
    ("task", "LowCardinality(String)"),
    ("prompt_name", "LowCardinality(String)"),
    ("prompt_version", "LowCardinality(String)"),
    ("prompt_prefix_hash", "String"),
    ("tenant", "LowCardinality(String)"),
    ("finish_reason", "LowCardinality(String)"),  # first finish reason, '' if none
    ("instrumentation", "LowCardinality(String)"),  # which library produced the span
    ("attributes", "Map(String, String)"),  # everything else on the span (and the resource's service.version)
    # Appended (schema v2), so rows spooled by an older collector still map field by field.
    ("user_id", "String"),  # user.id: the end user, '' if not set
    ("session_id", "String"),  # session.id: the conversation / session, '' if not set
    # Appended (schema v3). What prompt caching saved on this call, at this call's own prices (computed when it was priced):
    #   (cache_read_tokens + cache_write_tokens) × uncached input rate − cache_read_cost − cache_write_cost.
    # Reads save (input − read rate) per token, so a fully cached call saves > 0; writes cost their premium over
    # uncached input (negative until read back). Discounts apply as to the costs. NULL when unpriced.
    ("cache_savings", "Nullable(Float64)"),
    # Captured prompts and completions (opt-in on the app side), under their own short TTL (content_ttl_days);
    # added in schema v4 with its TTL (schema.content_column_ddl).
    ("content", "Map(String, String)"),
    # Appended (schema v5). Hex; one row per call id: spans of one call are merged (collector/normalise/merge.py).
    ("call_id", "FixedString(32)"),
)
# Columns added after the first schema version: (schema version, name). Migrations add them to stores
# created before, with ALTER TABLE ... ADD COLUMN IF NOT EXISTS.
ADDED_CALL_COLUMNS: Final[tuple[tuple[int, str], ...]] = ((2, "user_id"), (2, "session_id"), (3, "cache_savings"), (5, "call_id"))
CONTENT_COLUMN: Final = "content"
# Columns ClickHouse computes from others at insert (MATERIALIZED): never in an insert's column list nor in
# `SELECT *`, so the call record and the spool do not carry them. (schema version, name, type, expression)
API_KEY_HINT_COLUMN: Final = "api_key_hint"
MATERIALIZED_CALL_COLUMNS: Final[tuple[tuple[int, str, str, str], ...]] = (
    # The key hint llmsight spans carry (llmsight.api_key.hint): what reconciliation matches a provider's
    # api_key_id to, through its key list. '' for other instrumentations' spans.
    (6, API_KEY_HINT_COLUMN, "LowCardinality(String)", "attributes['llmsight.api_key.hint']"),
)

# The hourly rollup (AggregatingMergeTree fed by a materialized view). The report and the dashboards read it for
# the whole hours of every aggregate (raw rows for partial edge hours), so they agree for any window; it has no
# TTL, so aggregates outlive the raw rows' TTL (per-call panels show only calls younger than that).
HOURLY_KEY_COLUMNS: Final[tuple[str, ...]] = (
    "hour",  # toStartOfHour(ts), DateTime('UTC')
    "service",
    "environment",
    "provider",
    "request_model",
    "model_tier",
    "service_tier",
    "task",
    "prompt_name",
    "prompt_version",
    "tenant",
    "streaming",
)
# Sums: SimpleAggregateFunction(sum, ...). `calls` counts rows; the *_calls columns count rows
# matching a condition; cost sums skip NULLs, `unpriced_calls` counts them.
HOURLY_SUM_COLUMNS: Final[tuple[str, ...]] = (
    "calls",
    "error_calls",
    "rate_limited_calls",  # http_status = 429
    "overloaded_calls",  # http_status in (500..599) incl. Anthropic 529
    "timeout_calls",
    "truncated_calls",  # finish_reason in ('length', 'max_tokens', 'max_output_tokens')
    "unpriced_calls",
    "retries",
    "retried_calls",  # retries > 0
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "input_cost",
    "cache_read_cost",
    "cache_write_cost",
    "output_cost",
    "total_cost",
    "cache_savings",  # sum; the one source of "saved by caching" for the report, dashboards and alerts
    "duration_ms_sum",
)
# Quantile states: AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64); read them with
# quantilesTDigestMerge(0.5, 0.95, 0.99)(col).
HOURLY_QUANTILE_COLUMNS: Final[tuple[str, ...]] = ("ttft_ms_q", "duration_ms_q")
QUANTILE_LEVELS: Final = (0.5, 0.95, 0.99)
# Rollup sums added after the first schema version: (schema version, name), as ADDED_CALL_COLUMNS.
ADDED_HOURLY_COLUMNS: Final[tuple[tuple[int, str], ...]] = ((3, "retried_calls"), (3, "cache_savings"))

# Unit prices (USD per token) the collector writes for every model it has priced, and for each provider's
# configured cheaper model, so dashboards can show what batch or a cheaper model would have cost with the
# same arithmetic genai-prices (and the overrides file) applied to the calls. ReplacingMergeTree on
# (provider, model): several collectors may write the same row.
PRICES_TABLE: Final = "model_prices"
PRICE_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("provider", "LowCardinality(String)"),
    ("model", "LowCardinality(String)"),
    ("input_per_token", "Float64"),  # uncached input
    ("cache_read_per_token", "Float64"),
    ("cache_write_per_token", "Float64"),  # 5-minute writes
    ("output_per_token", "Float64"),
    # The batch price of the same model; NULL when the price data has no separate batch price.
    ("batch_input_per_token", "Nullable(Float64)"),
    ("batch_cache_read_per_token", "Nullable(Float64)"),
    ("batch_cache_write_per_token", "Nullable(Float64)"),
    ("batch_output_per_token", "Nullable(Float64)"),
    ("cheaper_alternative", "Bool"),  # this model is its provider's configured cheaper model
    ("price_source", "LowCardinality(String)"),
    ("updated_at", "DateTime64(3, 'UTC')"),
)

# Batch submissions (docs/batch.md): one row per submitted batch, from its `batch.create` span, so the attribution
# recorded at submission reaches the batch's result rows whichever process or collector reads them, and dashboards
# measure turnaround. ReplacingMergeTree on (provider, batch_id): a resent span or a second collector writes the
# same row again. Kept for BATCH_SUBMISSION_TTL_DAYS.
BATCH_SUBMISSIONS_TABLE: Final = "batch_submissions"
BATCH_SUBMISSION_TTL_DAYS: Final = 30  # results can be downloaded for 29 days (Anthropic) after a 24 h window
BATCH_SUBMISSION_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("provider", "LowCardinality(String)"),
    ("batch_id", "String"),
    ("submitted_at", "DateTime64(6, 'UTC')"),
    ("service", "LowCardinality(String)"),
    ("environment", "LowCardinality(String)"),
    ("endpoint", "LowCardinality(String)"),
    ("request_count", "UInt64"),  # 0 when the span did not say (OpenAI: the input file's lines)
    ("task", "LowCardinality(String)"),
    ("prompt_name", "LowCardinality(String)"),
    ("prompt_version", "LowCardinality(String)"),
    ("tenant", "LowCardinality(String)"),
    ("user_id", "String"),
    ("session_id", "String"),
    ("trace_id", "FixedString(32)"),
    ("span_id", "FixedString(16)"),
)

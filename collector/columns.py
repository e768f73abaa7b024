"""Storage naming contract: the columns of `llmsight.llm_calls` and its hourly rollup.

Dashboards, alert rules, the report and user queries depend on these names (ARCHITECTURE.md).
The DDL in `llmsight.collector.store.schema` is generated from these lists, and the call row's columns from
CallRecord (collector/record.py), so a column is declared exactly once. Costs are USD and Nullable: NULL
means "no known price", never 0.
"""

from typing import Final

from llmsight.collector.record import RECORD_COLUMNS

DATABASE: Final = "llmsight"
CALLS_TABLE: Final = "llm_calls"
HOURLY_TABLE: Final = "llm_calls_hourly"

# (name, ClickHouse type) in table order, derived from the one definition of the row: CallRecord's fields
# (collector/record.py), where each column's type, default and meaning are declared.
CALL_COLUMNS: Final[tuple[tuple[str, str], ...]] = tuple((name, column.type) for name, column in RECORD_COLUMNS)
CONTENT_COLUMN: Final = "content"
# Columns added after the first schema version: (schema version, name). Migrations add them to stores
# created before, with ALTER TABLE ... ADD COLUMN IF NOT EXISTS; the content column comes with its own TTL
# (schema.content_column_ddl).
ADDED_CALL_COLUMNS: Final[tuple[tuple[int, str], ...]] = tuple(
    (column.added_in, name) for name, column in RECORD_COLUMNS if column.added_in > 1 and name != CONTENT_COLUMN
)
# Columns ClickHouse computes from others at insert (MATERIALIZED): never in an insert's column list nor in
# `SELECT *`, so the call record and the spool do not carry them. (schema version, name, type, expression)
API_KEY_HINT_COLUMN: Final = "api_key_hint"
MATERIALIZED_CALL_COLUMNS: Final[tuple[tuple[int, str, str, str], ...]] = (
    # The key hint llmsight spans carry (llmsight.api_key.hint): what reconciliation matches a provider's
    # api_key_id to, through its key list. '' for other instrumentations' spans.
    (6, API_KEY_HINT_COLUMN, "LowCardinality(String)", "attributes['llmsight.api_key.hint']"),
)

# A call's token counts (input includes cache reads and writes, output includes reasoning): columns of the call
# row, summed per hour under the same names by the rollup.
TOKEN_COLUMNS: Final[tuple[str, ...]] = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
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
    *TOKEN_COLUMNS,
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

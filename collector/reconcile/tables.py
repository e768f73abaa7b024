"""Storage contract of the provider reports: `provider_usage`, `provider_costs`, `provider_api_keys`, `provider_pulls`.

Rows are stored as the provider reports them: its buckets, its group keys, exact decimals, its currency. Every pull
of a window writes each bucket it saw with one `pulled_at` version (a bucket with no usage gets a marker row, all
zeros), in one insert per endpoint and window: a pull killed before its insert leaves the previous version, and
readers take, per bucket, only the rows of the latest version (`latest_rows`). Several collectors pulling the same
window write whole versions each, so readers see one of them, never a mix. ReplacingMergeTree drops superseded
versions of a row at merge time; the reads never depend on it.
"""

from __future__ import annotations

from typing import Final

from llmsight.collector.columns import DATABASE

USAGE_TABLE: Final = "provider_usage"
COSTS_TABLE: Final = "provider_costs"
KEYS_TABLE: Final = "provider_api_keys"
PULLS_TABLE: Final = "provider_pulls"

# Token classes, as reconciliation names them (Anthropic's usage fields; OpenAI reports no cache writes).
TOKEN_CLASSES: Final = ("uncached_input", "cache_read", "cache_write_5m", "cache_write_1h", "output")

_BUCKET: Final = (
    ("provider", "LowCardinality(String)"),  # openai | anthropic
    ("endpoint", "LowCardinality(String)"),  # the adapter's name, e.g. openai.usage.completions
    ("bucket_start", "DateTime('UTC')"),
    ("bucket_end", "DateTime('UTC')"),
)
USAGE_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    *_BUCKET,
    ("model", "String"),  # '' for a bucket's marker row
    ("api_key_id", "String"),
    ("project_id", "String"),  # OpenAI project / Anthropic workspace ('' = the default workspace)
    ("service_tier", "LowCardinality(String)"),
    ("batch", "Bool"),
    ("context_window", "LowCardinality(String)"),
    ("uncached_input_tokens", "UInt64"),
    ("cache_read_tokens", "UInt64"),
    ("cache_write_5m_tokens", "UInt64"),
    ("cache_write_1h_tokens", "UInt64"),
    ("output_tokens", "UInt64"),
    ("input_audio_tokens", "UInt64"),  # OpenAI: part of its input_tokens
    ("output_audio_tokens", "UInt64"),
    ("requests", "UInt64"),  # OpenAI num_model_requests (Anthropic reports none: 0)
    ("web_search_requests", "UInt64"),  # Anthropic server_tool_use
    ("complete", "Bool"),  # the bucket had ended when it was pulled (providers revise recent buckets)
    ("pulled_at", "DateTime64(6, 'UTC')"),  # the version
)
USAGE_KEY: Final = ("provider", "endpoint", "bucket_start", "model", "api_key_id", "project_id", "service_tier",
                    "batch", "context_window")

COST_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    *_BUCKET,
    ("project_id", "String"),
    ("line_item", "String"),  # OpenAI line_item / Anthropic description; '' for a marker row
    ("cost_type", "LowCardinality(String)"),  # tokens | web_search | code_execution | … ('' when not known)
    ("model", "String"),  # '' for charges that are not tokens of a model
    ("token_class", "LowCardinality(String)"),  # one of TOKEN_CLASSES, or '' for a non-token charge
    ("service_tier", "LowCardinality(String)"),
    ("context_window", "LowCardinality(String)"),
    ("amount", "Decimal(38, 12)"),  # in `currency`, whole units (Anthropic's cents divided by 100)
    ("currency", "LowCardinality(String)"),  # upper case ISO 4217: never summed across currencies
    ("complete", "Bool"),
    ("pulled_at", "DateTime64(6, 'UTC')"),
)
COST_KEY: Final = ("provider", "endpoint", "bucket_start", "project_id", "line_item", "model", "token_class",
                   "service_tier", "context_window", "currency")

KEY_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("provider", "LowCardinality(String)"),
    ("api_key_id", "String"),
    ("hint", "String"),  # redacted_value / partial_key_hint, exactly as listed
    ("name", "String"),
    ("project_id", "String"),
    ("pulled_at", "DateTime64(6, 'UTC')"),
)

PULL_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("provider", "LowCardinality(String)"),
    ("endpoint", "LowCardinality(String)"),
    ("window_start", "DateTime('UTC')"),
    ("window_end", "DateTime('UTC')"),
    ("pulled_at", "DateTime64(6, 'UTC')"),
    ("status", "LowCardinality(String)"),  # complete | incomplete (the provider did not answer: nothing written)
    ("detail", "String"),  # why incomplete; what was skipped
    ("buckets", "UInt32"),
    ("rows", "UInt32"),
    ("skipped", "UInt32"),  # results of an unexpected shape, left out
)


def _table_ddl(table: str, columns: tuple[tuple[str, str], ...], engine: str, order_by: tuple[str, ...]) -> str:
    body = ",\n".join(f"    {name} {ch_type}" for name, ch_type in columns)
    return f"CREATE TABLE IF NOT EXISTS {DATABASE}.{table}\n(\n{body}\n)\nENGINE = {engine}\nORDER BY ({', '.join(order_by)})"


def reconcile_tables_ddl() -> list[str]:
    return [
        _table_ddl(USAGE_TABLE, USAGE_COLUMNS, "ReplacingMergeTree(pulled_at)", USAGE_KEY),
        _table_ddl(COSTS_TABLE, COST_COLUMNS, "ReplacingMergeTree(pulled_at)", COST_KEY),
        _table_ddl(KEYS_TABLE, KEY_COLUMNS, "ReplacingMergeTree(pulled_at)", ("provider", "api_key_id")),
        _table_ddl(PULLS_TABLE, PULL_COLUMNS, "MergeTree", ("provider", "endpoint", "pulled_at")),
    ]


def latest_rows(table: str, where: str = "1") -> str:
    """The rows of the latest pulled version of every bucket (the one read every report query goes through)."""
    return (
        f"(SELECT * FROM {DATABASE}.{table} WHERE ({where}) AND (provider, endpoint, bucket_start, pulled_at) IN "
        f"(SELECT provider, endpoint, bucket_start, max(pulled_at) FROM {DATABASE}.{table} WHERE {where} "
        "GROUP BY provider, endpoint, bucket_start))"
    )


def _latest(table: str) -> str:
    return (f"(provider, endpoint, bucket_start, pulled_at) IN (SELECT provider, endpoint, bucket_start, max(pulled_at) "
            f"FROM {DATABASE}.{table} GROUP BY provider, endpoint, bucket_start)")


def bill_lines(first_day: str, end_day: str) -> str:
    """SQL (a FROM clause) for alert rules and dashboards: one row per UTC day × provider × model × token class for
    the days from `first_day` up to (not including) `end_day` (SQL expressions of day starts), with provider_tokens,
    stored_tokens, provider_usd, stored_usd (USD lines only) and the provider's `bill` for the day (every USD line,
    other charges included). Cache writes are one class here (llm_calls keeps one cost for both TTLs)."""
    latest_usage, latest_costs = _latest(USAGE_TABLE), _latest(COSTS_TABLE)
    in_days = f"bucket_start >= {first_day} AND bucket_start < {end_day}"
    usage = (
        "SELECT toDate(bucket_start) AS day, provider, model, tupleElement(c, 1) AS token_class, "
        "tupleElement(c, 2) AS provider_tokens, toInt64(0) AS stored_tokens, toFloat64(0) AS provider_usd, "
        f"toFloat64(0) AS stored_usd FROM {DATABASE}.{USAGE_TABLE} ARRAY JOIN "
        "[('uncached_input', toInt64(uncached_input_tokens)), ('cache_read', toInt64(cache_read_tokens)), "
        "('cache_write', toInt64(cache_write_5m_tokens) + toInt64(cache_write_1h_tokens)), "
        "('output', toInt64(output_tokens))] AS c "
        f"WHERE model != '' AND {in_days} AND {latest_usage}"
    )
    stored = (
        "SELECT toDate(ts), provider, if(response_model != '', response_model, request_model), tupleElement(c, 1), "
        f"toInt64(0), tupleElement(c, 2), toFloat64(0), tupleElement(c, 3) FROM {DATABASE}.llm_calls ARRAY JOIN "
        "[('uncached_input', toInt64(input_tokens) - toInt64(cache_read_tokens) - toInt64(cache_write_tokens), "
        "ifNull(input_cost, 0)), ('cache_read', toInt64(cache_read_tokens), ifNull(cache_read_cost, 0)), "
        "('cache_write', toInt64(cache_write_tokens), ifNull(cache_write_cost, 0)), "
        "('output', toInt64(output_tokens), ifNull(output_cost, 0))] AS c "
        f"WHERE ts >= {first_day} AND ts < {end_day} AND status = 'ok' AND provider IN ('openai', 'anthropic')"
    )
    costs = (
        "SELECT toDate(bucket_start), provider, model, "
        "if(token_class IN ('cache_write_5m', 'cache_write_1h'), 'cache_write', token_class), "
        f"toInt64(0), toInt64(0), toFloat64(amount), toFloat64(0) FROM {DATABASE}.{COSTS_TABLE} "
        f"WHERE token_class != '' AND currency = 'USD' AND {in_days} AND {latest_costs}"
    )
    return (
        "(SELECT day, provider, model, token_class, sum(provider_tokens) AS provider_tokens, "
        "sum(stored_tokens) AS stored_tokens, sum(provider_usd) AS provider_usd, sum(stored_usd) AS stored_usd "
        f"FROM ({usage} UNION ALL {stored} UNION ALL {costs}) GROUP BY day, provider, model, token_class) AS line "
        f"LEFT JOIN (SELECT toDate(bucket_start) AS day, provider, toFloat64(sum(amount)) AS bill "
        f"FROM {DATABASE}.{COSTS_TABLE} WHERE currency = 'USD' AND {in_days} AND {latest_costs} "
        "GROUP BY day, provider) AS day_bill USING (day, provider)"
    )


def completed_day_lines(day: str) -> str:
    """bill_lines of the one UTC day starting at `day`."""
    return bill_lines(day, f"{day} + INTERVAL 1 DAY")


# The last completed UTC day before the alert's evaluation time (Grafana's $__toTime).
COMPLETED_DAY: Final = "(toStartOfDay(toTimeZone($__toTime, 'UTC')) - INTERVAL 1 DAY)"

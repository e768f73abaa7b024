"""DDL for llmsight's ClickHouse schema, generated from collector/columns.py (names and types live there).

`llm_calls` (one row per call) is a MergeTree partitioned by day and ordered for the dashboards'
filters; `llm_calls_hourly` is an AggregatingMergeTree fed by a materialized view. Rollup semantics,
which dashboards and alerts depend on:

- calls                count()
- error_calls          status = 'error'
- rate_limited_calls   http_status = 429
- overloaded_calls     http_status 500-599 (Anthropic's 529 included)
- timeout_calls        error_type contains 'imeout'
- truncated_calls      finish_reason in ('length', 'max_tokens', 'max_output_tokens')
- unpriced_calls       total_cost IS NULL AND status = 'ok'
- retried_calls        retries > 0
- *_cost               sum, NULLs skipped
- cache_savings        sum, NULLs skipped (the per-call column is defined in columns.py)
- duration_ms_sum      sum(duration_ms)
- ttft_ms_q / duration_ms_q   quantilesTDigest(0.5, 0.95, 0.99) states (NULL TTFT skipped)

One row per call (version 3): `call_id` is a deterministic identity (hash of trace id + response id, else
trace id + span id; collector/normalise/spans.py), with a bloom-filter skip index. Spans of one call are
merged before insert — within an OTLP request, within a batch, and against the rows already stored (a
lookup of the batch's call ids, collector/normalise/merge.py) — so the raw table and the insert-fed rollup
both count the call once, and the report (raw) and dashboards (rollup) agree. The decision is read from
ClickHouse, so it survives resends, restarts, spool replays and holds across collectors sharing one
ClickHouse; the one race left is two collectors inserting the two halves of a call in the same instant
(each lookup runs before the other's insert is visible): then both rows stay. A ReplacingMergeTree keyed on
call_id would close it only at merge time and would need FINAL on every query and a rollup that can
subtract, so it was not chosen. Measured cost: bench/ingest.py (README).
"""

from __future__ import annotations

from collections.abc import Sequence

from llmsight.collector.columns import (
    ADDED_CALL_COLUMNS,
    ADDED_HOURLY_COLUMNS,
    BATCH_SUBMISSION_COLUMNS,
    BATCH_SUBMISSION_TTL_DAYS,
    BATCH_SUBMISSIONS_TABLE,
    CALL_COLUMNS,
    CALLS_TABLE,
    CONTENT_COLUMN,
    DATABASE,
    HOURLY_KEY_COLUMNS,
    HOURLY_QUANTILE_COLUMNS,
    HOURLY_SUM_COLUMNS,
    HOURLY_TABLE,
    MATERIALIZED_CALL_COLUMNS,
    PRICE_COLUMNS,
    PRICES_TABLE,
    QUANTILE_LEVELS,
    TOKEN_COLUMNS,
)
from llmsight.collector.normalise.variants import CONTENT_PREFIXES
from llmsight.collector.reconcile.tables import reconcile_tables_ddl

SCHEMA_VERSION = 8
DEFAULT_CONTENT_TTL_DAYS = 7
TRUNCATED_REASONS = "('length', 'max_tokens', 'max_output_tokens')"
QUANTILES = ", ".join(str(level) for level in QUANTILE_LEVELS)
# Dedup window: how many recent insert blocks (batches) a non-replicated MergeTree remembers, so a
# batch replayed after a crash (same insert_deduplication_token) is dropped instead of counted twice.
DEDUP_WINDOW = 10_000

_CODECS = {
    "ts": "CODEC(Delta, ZSTD(1))",
    "duration_ms": "CODEC(ZSTD(1))",
    "attributes": "CODEC(ZSTD(3))",
    CONTENT_COLUMN: "CODEC(ZSTD(3))",
    "prompt_prefix_hash": "CODEC(ZSTD(1))",
    "call_id": "CODEC(ZSTD(1))",
}
CALL_ID_INDEX = "call_id_idx call_id TYPE bloom_filter(0.01) GRANULARITY 4"
_COUNTER_CODEC = "CODEC(T64, ZSTD(1))"
_COUNTERS = {*TOKEN_COLUMNS, "retries", "http_status"}

# Expressions the materialized view sums per hour (name -> expression over llm_calls).
# Column references are qualified (src.) because the view's aliases reuse the column names.
_HOURLY_SUMS = {
    "calls": "count()",
    "error_calls": "countIf(src.status = 'error')",
    "rate_limited_calls": "countIf(src.http_status = 429)",
    "overloaded_calls": "countIf(src.http_status >= 500 AND src.http_status < 600)",
    "timeout_calls": "countIf(positionCaseInsensitive(src.error_type, 'timeout') > 0)",
    "truncated_calls": f"countIf(src.finish_reason IN {TRUNCATED_REASONS})",
    "unpriced_calls": "countIf(src.total_cost IS NULL AND src.status = 'ok')",
    "retries": "sum(src.retries)",
    "retried_calls": "countIf(src.retries > 0)",
    **{name: f"sum(src.{name})" for name in TOKEN_COLUMNS},
    "input_cost": "sum(ifNull(src.input_cost, 0))",
    "cache_read_cost": "sum(ifNull(src.cache_read_cost, 0))",
    "cache_write_cost": "sum(ifNull(src.cache_write_cost, 0))",
    "output_cost": "sum(ifNull(src.output_cost, 0))",
    "total_cost": "sum(ifNull(src.total_cost, 0))",
    "cache_savings": "sum(ifNull(src.cache_savings, 0))",
    "duration_ms_sum": "sum(src.duration_ms)",
}
_HOURLY_QUANTILES = {
    "ttft_ms_q": f"quantilesTDigestStateIf({QUANTILES})(assumeNotNull(src.ttft_ms), src.ttft_ms IS NOT NULL)",
    "duration_ms_q": f"quantilesTDigestState({QUANTILES})(src.duration_ms)",
}
assert set(_HOURLY_SUMS) == set(HOURLY_SUM_COLUMNS) and set(_HOURLY_QUANTILES) == set(HOURLY_QUANTILE_COLUMNS)

_CALL_TYPES = dict(CALL_COLUMNS)
_FLOAT_SUMS = {name for name in HOURLY_SUM_COLUMNS if name.endswith("_cost") or name in ("cache_savings", "duration_ms_sum")}


def content_ttl(days: int) -> str:
    """The content column's own TTL: expired prompts and completions are emptied by merges, the row stays."""
    return f"TTL toDateTime(ts) + INTERVAL {int(days)} DAY"


def _column_ddl(name: str, ch_type: str, content_ttl_days: int = DEFAULT_CONTENT_TTL_DAYS) -> str:
    codec = _CODECS.get(name) or (_COUNTER_CODEC if name in _COUNTERS else "")
    ttl = content_ttl(content_ttl_days) if name == CONTENT_COLUMN else ""
    return f"    {name} {ch_type} {codec} {ttl}".rstrip()


def calls_table_ddl(
    *, engine: str = "MergeTree", table: str = CALLS_TABLE, ttl_days: int = 90, content_ttl_days: int = DEFAULT_CONTENT_TTL_DAYS
) -> str:
    columns = ",\n".join(
        [_column_ddl(name, ch_type, content_ttl_days) for name, ch_type in CALL_COLUMNS]
        + [f"    {_materialized_ddl(name)}" for _, name, _, _ in MATERIALIZED_CALL_COLUMNS]
        + [f"    INDEX {CALL_ID_INDEX}"]
    )
    settings = f"non_replicated_deduplication_window = {DEDUP_WINDOW}" if engine == "MergeTree" else "index_granularity = 8192"
    # ORDER BY: dashboards filter on service/environment first, then provider/model, over a time range.
    return (
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{table}\n(\n{columns}\n)\n"
        f"ENGINE = {engine}\n"
        "PARTITION BY toDate(ts)\n"
        "ORDER BY (service, environment, provider, request_model, ts)\n"
        f"TTL toDateTime(ts) + INTERVAL {ttl_days} DAY\n"
        f"SETTINGS {settings}"
    )


def _materialized_ddl(name: str) -> str:
    _, _, ch_type, expression = next(column for column in MATERIALIZED_CALL_COLUMNS if column[1] == name)
    return f"{name} {ch_type} MATERIALIZED {expression}"


def added_materialized_ddl(version: int, table: str = CALLS_TABLE) -> list[str]:
    """ALTERs that give a store created before `version` its derived columns (computed for old rows on read)."""
    added = [name for added_in, name, _, _ in MATERIALIZED_CALL_COLUMNS if added_in == version]
    if not added:
        return []
    clauses = ", ".join(f"ADD COLUMN IF NOT EXISTS {_materialized_ddl(name)}" for name in added)
    return [f"ALTER TABLE {DATABASE}.{table} {clauses}"]


def _hourly_key_type(name: str) -> str:
    return "DateTime('UTC')" if name == "hour" else _CALL_TYPES[name]


def hourly_table_ddl(*, engine: str = "AggregatingMergeTree", table: str = HOURLY_TABLE) -> str:
    lines = [f"    {name} {_hourly_key_type(name)}" for name in HOURLY_KEY_COLUMNS]
    lines += [
        f"    {name} {_hourly_sum_type(name)}" for name in HOURLY_SUM_COLUMNS
    ]
    lines += [f"    {name} AggregateFunction(quantilesTDigest({QUANTILES}), Float64)" for name in HOURLY_QUANTILE_COLUMNS]
    settings = f"non_replicated_deduplication_window = {DEDUP_WINDOW}" if engine == "AggregatingMergeTree" else "index_granularity = 8192"
    return (
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{table}\n(\n" + ",\n".join(lines) + "\n)\n"
        f"ENGINE = {engine}\n"
        "PARTITION BY toYYYYMM(hour)\n"
        f"ORDER BY ({', '.join(HOURLY_KEY_COLUMNS)})\n"
        f"SETTINGS {settings}"
    )


def _hourly_sum_type(name: str) -> str:
    return f"SimpleAggregateFunction(sum, {'Float64' if name in _FLOAT_SUMS else 'UInt64'})"


def _hourly_view_select(source: str) -> str:
    keys = ", ".join(name if name != "hour" else "toStartOfHour(ts) AS hour" for name in HOURLY_KEY_COLUMNS)
    aggregates = ",\n    ".join(
        [f"{expr} AS {name}" for name, expr in _HOURLY_SUMS.items()]
        + [f"{expr} AS {name}" for name, expr in _HOURLY_QUANTILES.items()]
    )
    return (
        f"SELECT {keys},\n    {aggregates}\n"
        f"FROM {DATABASE}.{source} AS src\n"
        f"GROUP BY {', '.join(HOURLY_KEY_COLUMNS)}"
    )


ROLLUP_SELECT_COLUMNS: tuple[str, ...] = (*HOURLY_KEY_COLUMNS, *_HOURLY_SUMS, *_HOURLY_QUANTILES)
"""The columns `rollup_select` returns, in its order: a UNION with the rollup table lists these."""


def hourly_view_ddl(*, source: str = CALLS_TABLE, target: str = HOURLY_TABLE, view: str = f"{HOURLY_TABLE}_mv") -> str:
    return f"CREATE MATERIALIZED VIEW IF NOT EXISTS {DATABASE}.{view} TO {DATABASE}.{target} AS\n" + _hourly_view_select(source)


def rollup_select(where: str, sums: Sequence[str] | None = None) -> str:
    """The view's SELECT over a slice of llm_calls: used by dashboards and the report for the partial hours at the
    edges of a time range, and (with `sums`: only those sums, no quantiles) to correct hours after a reprice."""
    keys = ", ".join(name if name != "hour" else "toStartOfHour(ts) AS hour" for name in HOURLY_KEY_COLUMNS)
    if sums is None:
        expressions = [*_HOURLY_SUMS.items(), *_HOURLY_QUANTILES.items()]
    else:
        expressions = [(name, _HOURLY_SUMS[name]) for name in sums]
    aggregates = ", ".join(f"{expr} AS {name}" for name, expr in expressions)
    return f"SELECT {keys}, {aggregates} FROM {DATABASE}.{CALLS_TABLE} AS src WHERE {where} GROUP BY {', '.join(HOURLY_KEY_COLUMNS)}"


def hourly_window(start: str, end: str, in_window: str, filters: str = "") -> str:
    """The rollup's rows for a time window, as a subquery with ROLLUP_SELECT_COLUMNS: the hourly rollup for the whole
    hours inside the window, UNION ALL the same aggregation over the raw rows of the partial hours at its edges, so
    sums over it equal sums over the raw rows `in_window` selects. The report and the dashboards both read this.

    `start` and `end` are SQL expressions of the window's bounds (DateTime or DateTime64; naive values are read in
    the session's time zone, so pass typed UTC parameters or absolute times), `in_window` the raw rows' condition
    for the window (the report's half-open [start, end), Grafana's `$__timeFilter(ts)`), `filters` conditions
    applied to both parts. Hours are UTC hours, as the rollup's, whatever the session's time zone."""
    start_utc, end_utc = f"toDateTime64({start}, 6, 'UTC')", f"toDateTime64({end}, 6, 'UTC')"
    whole_from = f"toStartOfHour(addMicroseconds({start_utc}, 3599999999), 'UTC')"  # the first hour starting at or after start
    whole_to = f"toStartOfHour({end_utc}, 'UTC')"
    both = f" AND {filters}" if filters else ""
    return (
        f"(SELECT {', '.join(ROLLUP_SELECT_COLUMNS)} FROM {DATABASE}.{HOURLY_TABLE} "
        f"WHERE hour >= {whole_from} AND hour < {whole_to}{both} "
        f"UNION ALL {rollup_select(f'{in_window} AND (ts < {whole_from} OR ts >= {whole_to}){both}')})"
    )


def hourly_sum_is_float(name: str) -> bool:
    return name in _FLOAT_SUMS


def prices_table_ddl(*, engine: str = "ReplacingMergeTree(updated_at)", table: str = PRICES_TABLE) -> str:
    columns = ",\n".join(f"    {name} {ch_type}" for name, ch_type in PRICE_COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{table}\n(\n{columns}\n)\n"
        f"ENGINE = {engine}\nORDER BY (provider, model)"
    )


def batch_submissions_ddl(*, engine: str = "ReplacingMergeTree", table: str = BATCH_SUBMISSIONS_TABLE) -> str:
    columns = ",\n".join(f"    {name} {ch_type}" for name, ch_type in BATCH_SUBMISSION_COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{table}\n(\n{columns}\n)\n"
        f"ENGINE = {engine}\nORDER BY (provider, batch_id)\n"
        f"TTL toDateTime(submitted_at) + INTERVAL {BATCH_SUBMISSION_TTL_DAYS} DAY"
    )


def added_columns_ddl(version: int, table: str = CALLS_TABLE) -> list[str]:
    """ALTERs that give a store created before `version` the columns added in it (a no-op on a new store)."""
    types = dict(CALL_COLUMNS)
    added = [name for added_in, name in ADDED_CALL_COLUMNS if added_in == version]
    if not added:
        return []
    clauses = ", ".join(f"ADD COLUMN IF NOT EXISTS {name} {types[name]}" for name in added)
    return [f"ALTER TABLE {DATABASE}.{table} {clauses}"]


def added_rollup_ddl(version: int) -> list[str]:
    """ALTERs that give a store created before `version` the rollup sums added in it, where a new store has them,
    and the view switched to the new SELECT in one statement (MODIFY QUERY: never a moment without a view, so no
    insert skips the rollup)."""
    added = [name for added_in, name in ADDED_HOURLY_COLUMNS if added_in == version]
    if not added:
        return []
    names = [*HOURLY_KEY_COLUMNS, *HOURLY_SUM_COLUMNS]
    clauses = ", ".join(
        f"ADD COLUMN IF NOT EXISTS {name} {_hourly_sum_type(name)} AFTER {names[names.index(name) - 1]}" for name in added
    )
    return [
        f"ALTER TABLE {DATABASE}.{HOURLY_TABLE} {clauses}",
        f"ALTER TABLE {DATABASE}.{HOURLY_TABLE}_mv MODIFY QUERY " + _hourly_view_select(CALLS_TABLE),
    ]


_IS_CONTENT_KEY = f"arrayExists(prefix -> startsWith(k, prefix), {list(CONTENT_PREFIXES)!r})"


def content_column_ddl(content_ttl_days: int, *, modify: bool = False) -> str:
    """Add the content column (no-op when it exists), or MODIFY it to another TTL."""
    _, ch_type = next(column for column in CALL_COLUMNS if column[0] == CONTENT_COLUMN)
    verb = "MODIFY COLUMN" if modify else "ADD COLUMN IF NOT EXISTS"
    return f"ALTER TABLE {DATABASE}.{CALLS_TABLE} {verb} {_column_ddl(CONTENT_COLUMN, ch_type, content_ttl_days).strip()}"


def migrations(ttl_days: int = 90, content_ttl_days: int = DEFAULT_CONTENT_TTL_DAYS) -> list[tuple[int, list[str]]]:
    """Ordered (version, statements). Append new versions; never edit an applied one."""
    return [
        (
            1,
            [
                calls_table_ddl(ttl_days=ttl_days, content_ttl_days=content_ttl_days),
                hourly_table_ddl(),
                hourly_view_ddl(),
            ],
        ),
        # v2: who and which conversation (user_id, session_id), and the unit-price table for savings panels.
        (2, [*added_columns_ddl(2), prices_table_ddl()]),
        # v3: per-call cache savings (priced at pricing time) and its hourly sum; retried calls in the rollup, so the
        # report reads every aggregate from the rollup.
        (3, [*added_columns_ddl(3), *added_rollup_ddl(3)]),
        (
            # Captured content leaves the 90-day `attributes` map for a column with its own short TTL.
            4,
            [
                content_column_ddl(content_ttl_days),
                f"ALTER TABLE {DATABASE}.{CALLS_TABLE} UPDATE "
                f"{CONTENT_COLUMN} = mapFilter((k, v) -> {_IS_CONTENT_KEY}, attributes), "
                f"attributes = mapFilter((k, v) -> NOT {_IS_CONTENT_KEY}, attributes) "
                f"WHERE mapExists((k, v) -> {_IS_CONTENT_KEY}, attributes) "
                "SETTINGS mutations_sync = 1",  # done before the collector starts writing
            ],
        ),
        (
            5,
            [  # one row per call: the call identity the collector merges spans on (no-ops on a new store)
                *added_columns_ddl(5),
                f"ALTER TABLE {DATABASE}.{CALLS_TABLE} ADD INDEX IF NOT EXISTS {CALL_ID_INDEX}",
            ],
        ),
        # v6: the API key hint of llmsight's spans as a column, for reconciliation with the provider's bill.
        (6, added_materialized_ddl(6)),
        # v7: the providers' usage and cost reports, their key lists and the pulls (collector/reconcile/tables.py).
        (7, reconcile_tables_ddl()),
        # v8: batch submissions, so a batch's result rows get the attribution recorded when it was submitted.
        (8, [batch_submissions_ddl()]),
    ]


def bootstrap_ddl() -> list[str]:
    return [
        f"CREATE DATABASE IF NOT EXISTS {DATABASE}",
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.schema_version (version UInt32, applied_at DateTime DEFAULT now()) "
        "ENGINE = MergeTree ORDER BY version",
    ]


def cluster_ddl(cluster: str, *, ttl_days: int = 90, content_ttl_days: int = DEFAULT_CONTENT_TTL_DAYS) -> list[str]:
    """The same schema for a ClickHouse cluster: Replicated*MergeTree local tables on every shard plus
    Distributed tables with the public names, so queries and inserts need no change."""
    on = f"ON CLUSTER {cluster}"
    local_calls, local_hourly = f"{CALLS_TABLE}_local", f"{HOURLY_TABLE}_local"
    replicated = "ReplicatedMergeTree('/clickhouse/tables/{shard}/llmsight/llm_calls', '{replica}')"
    replicated_agg = "ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/llmsight/llm_calls_hourly', '{replica}')"
    calls = calls_table_ddl(engine=replicated, table=local_calls, ttl_days=ttl_days, content_ttl_days=content_ttl_days)
    hourly = hourly_table_ddl(engine=replicated_agg, table=local_hourly)
    view = hourly_view_ddl(source=local_calls, target=local_hourly, view=f"{HOURLY_TABLE}_local_mv")
    local_prices = f"{PRICES_TABLE}_local"
    prices = prices_table_ddl(
        engine="ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/llmsight/model_prices', '{replica}', updated_at)",
        table=local_prices,
    )
    local_submissions = f"{BATCH_SUBMISSIONS_TABLE}_local"
    batch_submissions = batch_submissions_ddl(
        engine="ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/llmsight/batch_submissions', '{replica}')",
        table=local_submissions,
    )
    return [
        f"CREATE DATABASE IF NOT EXISTS {DATABASE} {on}",
        calls.replace(f"{DATABASE}.{local_calls}", f"{DATABASE}.{local_calls} {on}", 1),
        hourly.replace(f"{DATABASE}.{local_hourly}", f"{DATABASE}.{local_hourly} {on}", 1),
        view.replace(f"{DATABASE}.{HOURLY_TABLE}_local_mv", f"{DATABASE}.{HOURLY_TABLE}_local_mv {on}", 1),
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{CALLS_TABLE} {on} AS {DATABASE}.{local_calls} "
        f"ENGINE = Distributed({cluster}, {DATABASE}, {local_calls}, cityHash64(trace_id))",
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{HOURLY_TABLE} {on} AS {DATABASE}.{local_hourly} "
        f"ENGINE = Distributed({cluster}, {DATABASE}, {local_hourly}, rand())",
        prices.replace(f"{DATABASE}.{local_prices}", f"{DATABASE}.{local_prices} {on}", 1),
        # Sharded by key: every version of a (provider, model) row lands on one shard, so FINAL dedupes it.
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{PRICES_TABLE} {on} AS {DATABASE}.{local_prices} "
        f"ENGINE = Distributed({cluster}, {DATABASE}, {local_prices}, cityHash64(provider, model))",
        batch_submissions.replace(f"{DATABASE}.{local_submissions}", f"{DATABASE}.{local_submissions} {on}", 1),
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{BATCH_SUBMISSIONS_TABLE} {on} AS {DATABASE}.{local_submissions} "
        f"ENGINE = Distributed({cluster}, {DATABASE}, {local_submissions}, cityHash64(provider, batch_id))",
    ]

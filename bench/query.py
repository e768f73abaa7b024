"""Dashboard-style aggregate latency over 10 M stored calls, rollup vs raw, in the embedded store.

    python bench/query.py [--rows 10000000] [--repeat 5]

Rows are generated inside ClickHouse (INSERT … SELECT FROM numbers()) into llm_calls, so the
materialized view fills the hourly rollup exactly as live ingest would.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from llmsight.collector.store import Store

GENERATE = """
INSERT INTO llmsight.llm_calls (ts, trace_id, span_id, service, environment, provider, operation, request_model,
    response_model, model_tier, service_tier, streaming, status, error_type, http_status, retries, input_tokens,
    cache_read_tokens, cache_write_tokens, output_tokens, ttft_ms, duration_ms, input_cost, cache_read_cost,
    output_cost, total_cost, price_source, task, prompt_name, prompt_version, tenant, finish_reason)
SELECT now64(6) - toIntervalSecond(n % (30 * 86400)) AS ts,
    leftPad(hex(n), 32, '0'), leftPad(hex(n), 16, '0'),
    ['api', 'worker', 'batch'][n % 3 + 1], 'prod', ['openai', 'anthropic'][n % 2 + 1], 'chat',
    ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'gpt-5'][n % 5 + 1], '', 'standard', 'default',
    n % 2 = 0, if(n % 50 = 0, 'error', 'ok'), if(n % 50 = 0, 'RateLimitError', ''),
    if(n % 50 = 0, 429, 200), n % 3, 1000 + n % 4000, (1000 + n % 4000) / 2, 0, 50 + n % 500,
    if(n % 2 = 0, 100 + n % 900, NULL), 300 + n % 5000, 0.001, 0.0001, 0.002, 0.0031, 'bench',
    ['support', 'summarise', 'classify', 'plan'][n % 4 + 1], 'p', '1', concat('tenant-', toString(n % 50)),
    if(n % 40 = 0, 'length', 'stop')
FROM (SELECT number + {offset} AS n FROM numbers({rows}))
"""

QUERIES = {
    "spend by model, 30 days (rollup)": "SELECT request_model, sum(total_cost) FROM llmsight.llm_calls_hourly "
                                        "WHERE hour >= now() - INTERVAL 30 DAY GROUP BY request_model",
    "spend by model, 30 days (raw)": "SELECT request_model, sum(total_cost) FROM llmsight.llm_calls "
                                     "WHERE ts >= now() - INTERVAL 30 DAY GROUP BY request_model",
    "hourly cost series by task (rollup)": "SELECT toStartOfInterval(hour, INTERVAL 6 HOUR) t, task, sum(total_cost) "
                                           "FROM llmsight.llm_calls_hourly WHERE hour >= now() - INTERVAL 30 DAY GROUP BY t, task",
    "TTFT p50/p95/p99 by model (rollup)": "SELECT request_model, quantilesTDigestMerge(0.5, 0.95, 0.99)(ttft_ms_q) "
                                          "FROM llmsight.llm_calls_hourly WHERE streaming GROUP BY request_model",
    "TTFT p50/p95/p99 by model (raw)": "SELECT request_model, quantiles(0.5, 0.95, 0.99)(ttft_ms) FROM llmsight.llm_calls "
                                       "WHERE streaming GROUP BY request_model",
    "cache hit ratio by tenant (rollup)": "SELECT tenant, sum(cache_read_tokens) / sum(input_tokens) "
                                          "FROM llmsight.llm_calls_hourly GROUP BY tenant",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    store = Store.open(f"chdb://{tempfile.mkdtemp()}/store")
    store.ensure_schema(ttl_days=365)
    started = time.monotonic()
    step = 1_000_000
    for offset in range(0, args.rows, step):
        store.command(GENERATE.format(rows=min(step, args.rows - offset), offset=offset))
    store.command("OPTIMIZE TABLE llmsight.llm_calls_hourly FINAL")
    rollup_rows = store.query("SELECT count() FROM llmsight.llm_calls_hourly").rows[0][0]
    print(f"seeded {args.rows:,} calls in {time.monotonic() - started:.0f}s; hourly rollup rows: {rollup_rows:,}")
    for name, sql in QUERIES.items():
        store.query(sql)  # warm
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            store.query(sql)
            times.append((time.perf_counter() - start) * 1000)
        print(f"{name:40s} median {statistics.median(times):8.1f} ms   max {max(times):8.1f} ms")
    store.close()


if __name__ == "__main__":
    main()

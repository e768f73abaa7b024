"""Pricing cost per row: `Pricer.price` over a realistic mix of calls (models, providers, cache reads and
writes, long-context tiers, batch, time-of-day priced models, unpriced models), after warm-up, so the
figure is the steady-state per-row cost the store process pays.

    python bench/pricing.py [--rows 200000] [--repeat 5]

Prints the best of `--repeat` runs in µs of this process's CPU time per row (CPU time, not wall time: the figure
holds on a machine shared with other work).
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta, timezone

from llmsight.collector.pricing import Pricer
from llmsight.collector.record import CallRecord

# (provider, model, server.address, service tier, input tokens range)
MIX = (
    ("openai", "gpt-4o", "api.openai.com", "", (200, 20_000)),
    ("openai", "gpt-4o-mini", "api.openai.com", "batch", (200, 20_000)),
    ("anthropic", "claude-sonnet-4-5", "api.anthropic.com", "", (1_000, 400_000)),  # crosses the 200k tier
    ("anthropic", "claude-haiku-4-5", "api.anthropic.com", "", (1_000, 50_000)),
    ("deepseek", "deepseek-chat", "api.deepseek.com", "", (100, 10_000)),  # time-of-day prices
    ("openai", "gpt-oss-20b", "10.0.0.7", "", (100, 10_000)),  # self-hosted vLLM: unpriced (was priced as OpenAI)
)


def make_rows(count: int, seed: int = 1) -> list[CallRecord]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 20, tzinfo=timezone.utc)
    rows = []
    for index in range(count):
        provider, model, host, tier, (low, high) = MIX[index % len(MIX)]
        total = rng.randint(low, high)
        read = rng.randint(0, total // 2)
        write = rng.randint(0, (total - read) // 4)
        output = rng.randint(10, 2_000)
        rows.append(CallRecord(
            ts=start + timedelta(seconds=rng.randint(0, 3 * 86_400)), trace_id="a" * 32, span_id="b" * 16,
            provider=provider, request_model=model, response_model=model, service_tier=tier,
            input_tokens=total, cache_read_tokens=read, cache_write_tokens=write, cache_write_1h_tokens=write // 3,
            output_tokens=output, reasoning_tokens=output // 4, attributes={"server.address": host},
        ))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    pricer = Pricer()
    rows = make_rows(args.rows)
    for row in rows[:5_000]:  # warm the memo tables
        pricer.price(row)
    best = float("inf")
    for _ in range(args.repeat):
        started = time.process_time()
        for row in rows:
            pricer.price(row)
        best = min(best, time.process_time() - started)
    priced = sum(row.total_cost is not None for row in rows)
    print(f"{best / len(rows) * 1e6:.2f} µs CPU/row over {len(rows):,} rows ({priced:,} priced), best of {args.repeat}")


if __name__ == "__main__":
    main()

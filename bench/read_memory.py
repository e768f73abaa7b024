"""Peak memory of the collector's store process while reports run through its read API at the same time as the
alert evaluation: the read limits must keep it within the documented bound (docs/collector.md, "Memory bound").

    python bench/read_memory.py [--rows 1000000] [--key-bytes 300] [--rounds 3]

Rows are generated inside ClickHouse (INSERT … SELECT FROM numbers()) in the current, partial hour, each with its
own tenant, task and prompt (long ones), so the report's raw-row edge aggregates a million large groups: the heaviest read the
API can be asked for. Then, each round, two reports (the read API's limit of operations at once) and an
`alerts check` are sent together; the store process's peak RSS (VmHWM) is compared with the bound.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.ingest import RSS_BOUND_MIB, rss_mb, start_collector  # noqa: E402
from llmsight.collector.read_api import running_collector  # noqa: E402
from llmsight.collector.store import Store, StoreError  # noqa: E402

GENERATE = """
INSERT INTO llmsight.llm_calls (ts, trace_id, span_id, service, provider, request_model, tenant, task, prompt_name,
    input_tokens, output_tokens, ttft_ms, duration_ms, total_cost)
SELECT now64(6) - toIntervalMillisecond(n % 1200000), leftPad(hex(n), 32, '0'), leftPad(hex(n), 16, '0'), 'api',
    'openai', concat('model-', toString(n % 1000)), concat('tenant-', toString(n), {pad}),
    concat('task-', toString(n), {pad}), concat('prompt-', toString(n), {pad}), 1000, 100, 100 + n % 900, 300 + n % 5000,
    0.001
FROM (SELECT number + {offset} AS n FROM numbers({rows}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--key-bytes", type=int, default=300, help="padding of each group's tenant, task and prompt")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp()) / "data"
    store = Store.open(f"chdb://{data_dir / 'store'}")
    store.ensure_schema()
    started = time.monotonic()
    for offset in range(0, args.rows, 500_000):
        store.command(GENERATE.format(rows=min(500_000, args.rows - offset), offset=offset,
                                      pad=f"repeat('x', {args.key_bytes})"))
    store.close()
    print(f"seeded {args.rows:,} calls (one group each) in {time.monotonic() - started:.0f}s")
    process, state = start_collector(data_dir)
    try:
        client = running_collector(data_dir)
        assert client is not None
        now = datetime.now(timezone.utc)
        outcomes: list[str] = []

        def report() -> None:
            try:
                client.report(now - timedelta(minutes=25), now + timedelta(minutes=1))
                outcomes.append("report ok")
            except StoreError as exc:
                outcomes.append(f"report refused: {' '.join(str(exc).split())[:160]}")

        def alerts() -> None:
            try:
                client.check_alerts()
                outcomes.append("alerts ok")
            except StoreError as exc:
                outcomes.append(f"alerts refused: {' '.join(str(exc).split())[:160]}")

        for round_number in range(args.rounds):
            threads = [threading.Thread(target=report), threading.Thread(target=report), threading.Thread(target=alerts)]
            began = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            print(f"round {round_number + 1}: {time.monotonic() - began:.1f}s, store process peak RSS so far "
                  f"{rss_mb(process.pid):,.0f} MiB")
        for outcome in sorted(set(outcomes)):
            print(f"  {outcomes.count(outcome)} × {outcome}")
        peak = rss_mb(process.pid)
        verdict = "within" if peak <= RSS_BOUND_MIB["store"] else "OVER"
        print(f"store process peak RSS {peak:,.0f} MiB: {verdict} the {RSS_BOUND_MIB['store']:,} MiB bound")
    finally:
        process.terminate()
        process.wait(60)


if __name__ == "__main__":
    main()

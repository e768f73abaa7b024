"""`llmsight reprice` over a stored window: wall time and the peak memory of the process, for growing windows.

    python bench/reprice.py [--rows 100000 300000 600000] [--days 20]

For each size: a fresh embedded store holding ROWS priced calls (bench/pricing.py's mix, spread over DAYS days),
then `llmsight reprice --since 30d` with 30 % off every provider the mix prices, run as the CLI runs it, in a child
process.
Prints rows, seconds, calls per second and the child's peak resident set size (what the machine must have free).
The store holds ROWS calls in every run, so the figure is memory for that window, chDB's caches included.
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from pricing import make_rows

from llmsight.collector.pricing import Pricer
from llmsight.collector.store import Store

# 30 % off every provider the mix prices: every priced call changes (the mix's self-hosted calls stay unpriced).
DISCOUNT = "discounts:\n" + "".join(f"  - provider: {name}\n    percent: 30\n" for name in ("openai", "anthropic", "deepseek"))


def seed(data_dir: Path, rows: int, days: int) -> None:
    store = Store.open(f"chdb://{data_dir / 'store'}")
    store.ensure_schema()
    pricer = Pricer()
    now = datetime.now(timezone.utc) - timedelta(hours=1)
    records = make_rows(rows)
    for index, record in enumerate(records):  # unique calls, spread back from now
        record.ts = now - timedelta(seconds=index * days * 86_400 // rows)
        record.trace_id, record.span_id = f"{index:032x}", f"{index + 1:016x}"
        pricer.price(record)
    for offset in range(0, rows, 50_000):
        store.insert(records[offset:offset + 50_000], f"seed:{offset}")
    store.close()


def run(rows: int, days: int) -> tuple[float, int, int]:
    """(seconds, peak RSS in MiB, calls changed) of one reprice over `rows` stored calls, each in a child process of its own."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        prices = Path(tmp) / "prices.yaml"
        prices.write_text(DISCOUNT)
        seed(data_dir, rows, days)  # in this process: only the reprice child's memory is measured
        started = time.perf_counter()
        # A child per size: RUSAGE_CHILDREN's peak is the largest of all children so far, so sizes go up.
        out = subprocess.run([sys.executable, "-m", "llmsight.cli", "reprice", "--data-dir", str(data_dir),
                              "--since", "30d", "--prices-file", str(prices)], capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        changed = re.search(r"\(([\d,]+) changed\)", out.stderr)
        return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, int(changed.group(1).replace(",", "")) if changed else -1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 300_000, 600_000])
    parser.add_argument("--days", type=int, default=20)
    args = parser.parse_args()
    print(f"{'rows':>9} {'changed':>9} {'seconds':>8} {'calls/s':>8} {'peak RSS MiB':>13}")
    for rows in sorted(args.rows):
        seconds, peak, changed = run(rows, args.days)
        print(f"{rows:>9,} {changed:>9,} {seconds:>8.1f} {rows / seconds:>8,.0f} {peak:>13,}")


if __name__ == "__main__":
    main()

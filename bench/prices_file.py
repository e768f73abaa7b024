"""Load time of a large prices overrides file (LLMSIGHT_PRICES_FILE): parse, check and validate.

    python bench/prices_file.py --entries 200000

Writes a file with ENTRIES model prices (and ENTRIES/10 discounts) in a temporary directory, then loads it
with the collector's loader a few times and prints the median wall and CPU time (CPU time is the figure
to compare on a shared machine).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from llmsight.collector.pricing.overrides import load_overrides


def write_file(path: Path, entries: int) -> None:
    lines = ["models:"]
    for index in range(entries):
        lines += [
            "  - provider: self_hosted",
            f"    model: private-model-{index}",
            f"    input_mtok: {index % 97 / 10}",
            f"    output_mtok: {index % 89 / 5}",
            "    cache_read_mtok: 0.05",
            f"    from: 2026-{index % 12 + 1:02d}-01",
        ]
    lines.append("discounts:")
    for index in range(entries // 10):
        lines += ["  - provider: openai", f"    model: gpt-{index}*", "    percent: 15", "    from: 2026-06-01"]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "prices.yaml"
        write_file(path, args.entries)
        size_mb = path.stat().st_size / 1e6
        times, cpu = [], []
        for _ in range(args.runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            overrides = load_overrides(path)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        assert len(overrides.models) == args.entries
    print(f"{args.entries} model prices + {args.entries // 10} discounts ({size_mb:.1f} MB): "
          f"load median {statistics.median(times):.2f} s wall, {statistics.median(cpu):.2f} s CPU "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)} s wall)")


if __name__ == "__main__":
    main()

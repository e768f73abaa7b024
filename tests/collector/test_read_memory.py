"""The read API's memory limits add up to the store process's documented bound: the reads that can run at once
times each one's max_memory_usage, plus what the process holds beside them (bench/read_memory.py measures the
peak against the bound with reports at the limit)."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from llmsight.collector.read_api import (
    READ_LIMITS,
    READS_AT_ONCE,
    STORE_BASE_MIB,
    STORE_MEMORY_BOUND_MIB,
    LimitedQuery,
)
from llmsight.collector.store import Store, StoreError

MIB = 1024 * 1024
DOCS = Path(__file__).resolve().parents[2] / "docs" / "collector.md"


def test_read_limits_add_up_to_the_documented_bound() -> None:
    assert READS_AT_ONCE * READ_LIMITS["max_memory_usage"] + STORE_BASE_MIB * MIB <= STORE_MEMORY_BOUND_MIB * MIB
    assert READ_LIMITS["max_bytes_before_external_group_by"] < READ_LIMITS["max_memory_usage"]  # spills before refusing
    stated = re.search(r"store process ≤ ([\d.]+) GiB", DOCS.read_text())
    assert stated is not None and float(stated.group(1)) * 1024 == STORE_MEMORY_BOUND_MIB


def test_reads_run_one_at_a_time_as_the_arithmetic_assumes(store: Store) -> None:
    """Two bounded reads asked for at once: the second waits for the first, and no longer than its own deadline."""
    running: list[int] = []
    errors: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            found = store.query("SELECT count() FROM system.processes WHERE query LIKE '/* llmsight-read:%'")
            running.append(int(found.rows[0][0]))
            time.sleep(0.05)

    def long_read(timeout_s: float) -> None:
        try:
            LimitedQuery(store.read, timeout_s=timeout_s)("SELECT count() FROM numbers(100000000000) WHERE number % 7 = 3")
        except StoreError as exc:  # its time limit, or its deadline passed while the other read ran
            errors.append(str(exc))

    watcher = threading.Thread(target=watch)
    watcher.start()
    first, second = threading.Thread(target=long_read, args=(4,)), threading.Thread(target=long_read, args=(1,))
    first.start()
    deadline = time.monotonic() + 10
    while not any(running) and time.monotonic() < deadline:
        time.sleep(0.02)
    second.start()
    for reader in (first, second):
        reader.join(30)
    done.set()
    watcher.join(10)
    assert max(running) == READS_AT_ONCE and len(running) > 5
    assert len(errors) == 2 and any("another read held the store" in error for error in errors), errors

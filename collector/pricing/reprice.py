"""Recompute the costs of stored calls after prices change (new genai-prices data or overrides).

Whole hours are repriced, and nothing is deleted or re-inserted, so no fault can lose or double a call:
- the new costs of the changed calls go into a Join table keyed by (trace_id, span_id), and
  `ALTER TABLE llm_calls UPDATE … = joinGet(…)` mutations write them. A mutation rewrites each data part into a
  part that covers the old one by name, so after a kill -9 at any point every row is there exactly once, with
  either its old or its new costs (REPLACE PARTITION, used before, commits the new part before the empty part
  that hides the old ones: a kill between the two left every row of that day twice). Rows a collector inserts
  meanwhile are not touched, so with a ClickHouse server nothing is dropped;
- the hourly rollup is corrected by inserting, for each (hour, key) whose priced sums differ from what the raw
  rows give now, one row with the difference (SimpleAggregateFunction(sum) adds it in). Computed from the
  current state each run, this converges: a run killed anywhere is finished by the next, and a run with nothing
  left to correct inserts nothing.

The window is repriced a slice of hours at a time (at most about SLICE_ROWS calls), so memory holds one slice.
Before a slice's costs are changed, the original rows of its changed calls are written to a file in the run's
backup directory (`DATA_DIR/reprice-backups/RUN/`, JSON lines, kept); `restore()` (`llmsight reprice --restore
DIR`) puts their costs back the same way. The embedded store must not be in use by a running collector (its lock
says so).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from llmsight.collector.columns import CALL_COLUMNS, CALLS_TABLE, DATABASE, HOURLY_KEY_COLUMNS, HOURLY_TABLE
from llmsight.collector.dead_letter import read_rows, write_rows
from llmsight.collector.instants import as_utc, utc_parameter
from llmsight.collector.record import RECORD_FIELDS, CallRecord
from llmsight.collector.store import Store, StoreError, StoreUnavailableError
from llmsight.collector.store.schema import hourly_sum_is_float, rollup_select
from llmsight.errors import LLMSightError

# What pricing writes: a reprice compares and rewrites these (price_source last: it is not a cost).
COST_FIELDS = (
    "input_cost", "cache_read_cost", "cache_write_cost", "output_cost", "total_cost", "cache_savings", "price_source",
)
# The rollup sums a price change can move (unpriced_calls: a call priced now was counted unpriced before).
PRICED_SUMS = ("input_cost", "cache_read_cost", "cache_write_cost", "output_cost", "total_cost", "cache_savings", "unpriced_calls")
BACKUP_DIR = "reprice-backups"
COSTS_TABLE_PREFIX = f"{CALLS_TABLE}_reprice_"  # + run id: the Join table one run's mutation reads
# Left by the REPLACE PARTITION version of reprice; dropped when found.
_FORMER_STAGING = (f"{CALLS_TABLE}_reprice_staging", f"{HOURLY_TABLE}_reprice_staging")
# Below a billionth of a dollar per hour and key, a difference is float summation order, not a price change.
_COST_NOISE = 1e-9
_INSERT_CHUNK = 50_000
SLICE_ROWS = 100_000  # calls priced, held in memory and written (one mutation per day partition) at a time
_POLL_SECONDS = 0.1
# (phase, done, total) in calls.
Progress = Callable[[str, int, int], None]
# Test hooks (tests/collector/test_reprice.py kills runs at known points, not after guessed delays):
# PAUSE_ENV=STAGE:N stops the run at STAGE of slice N (1-based; STAGE: backed-up, queued, written) or, as
# "rollup:0", before the rollup correction: it says so on stderr and waits to be killed. SLICE_ROWS_ENV sets the
# slice size, so a small window has several slices.
PAUSE_ENV = "LLMSIGHT_TEST_REPRICE_PAUSE"
SLICE_ROWS_ENV = "LLMSIGHT_TEST_REPRICE_SLICE_ROWS"


class RepriceError(LLMSightError, RuntimeError):
    """ClickHouse refused or failed the rewrite; nothing was lost (each row has its old or its new costs)."""


@dataclass
class RepriceResult:
    start: datetime
    end: datetime
    rows: int
    changed: int
    total_before: float
    total_after: float
    unpriced_after: int
    backup: Path | None = None
    rollup_corrections: int = 0


def reprice(
    store: Store,
    pricer: object,
    since: datetime,
    until: datetime | None = None,
    *,
    work_dir: Path,
    raw_ttl_days: int | None = None,
    progress: Progress | None = None,
    slice_rows: int | None = None,
) -> RepriceResult:
    """Reprice the whole hours from `since` to `until` (default: now), a slice of at most about `SLICE_ROWS` calls at
    a time: each slice is priced, the originals of its changed calls written to a backup file, and its new costs
    written by mutations (set_costs), so memory holds one slice whatever the window. With `raw_ttl_days`,
    hours the raw table's TTL may already have emptied are left out: the rollup keeps them, and the raw rows no
    longer say what they held."""
    now = datetime.now(timezone.utc)
    start = _hour(since)
    if raw_ttl_days is not None:
        start = max(start, _hour(now - timedelta(days=raw_ttl_days)) + timedelta(hours=1))
    end = _hour(until or now) + timedelta(hours=1)
    _check_engine(store)
    settle(store)
    slices = _slices(store, start, end, slice_rows or int(os.environ.get(SLICE_ROWS_ENV) or SLICE_ROWS))
    total = sum(rows for _, _, rows in slices)
    result = RepriceResult(start, end, 0, 0, 0.0, 0.0, 0)
    for number, (slice_start, slice_end, _) in enumerate(slices, 1):
        originals, changed = _price_slice(store, pricer, slice_start, slice_end, result)
        if changed:
            if result.backup is None:
                stamp = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
                result.backup = work_dir / BACKUP_DIR / f"{start:%Y%m%dT%H}-{end:%Y%m%dT%H}-{stamp}"
            write_rows(result.backup / f"{slice_start:%Y%m%dT%H}.jsonl", originals,
                       {"reprice_backup": True, "start": slice_start.isoformat(), "end": slice_end.isoformat()})
            _pause_point("backed-up", number)
            set_costs(store, changed, queued=functools.partial(_pause_point, "queued", number))
            _pause_point("written", number)
        if progress:
            progress("repricing", result.rows, total)
    # Always: a run killed after a mutation but before the rollup finds nothing changed next time.
    _pause_point("rollup", 0)
    if progress:
        progress("correcting the rollup", total, total)
    result.rollup_corrections = correct_rollup(store, start, end)
    return result


def _slices(store: Store, start: datetime, end: datetime, slice_rows: int) -> list[tuple[datetime, datetime, int]]:
    """[start, end) cut into runs of whole hours holding calls: (slice start, slice end, calls), at most about
    `slice_rows` calls each (an hour is never split)."""
    counts = store.query(
        f"SELECT toStartOfHour(ts) AS hour, count() FROM {DATABASE}.{CALLS_TABLE} "
        "WHERE ts >= {start:DateTime64(6, 'UTC')} AND ts < {end:DateTime64(6, 'UTC')} GROUP BY hour ORDER BY hour",
        {"start": utc_parameter(start), "end": utc_parameter(end)},
    ).rows
    slices: list[tuple[datetime, datetime, int]] = []
    for hour, calls in counts:
        hour = _hour(hour)
        if slices:
            first, _, held = slices[-1]
            if held + calls <= slice_rows:
                slices[-1] = (first, hour + timedelta(hours=1), held + calls)
                continue
        slices.append((hour, hour + timedelta(hours=1), calls))
    return slices


def _price_slice(
    store: Store, pricer: object, start: datetime, end: datetime, result: RepriceResult
) -> tuple[list[CallRecord], list[CallRecord]]:
    """(originals, repriced) of the calls in [start, end) whose costs the prices change; totals into `result`."""
    stored = store.query(
        f"SELECT {', '.join(RECORD_FIELDS)} FROM {DATABASE}.{CALLS_TABLE} "
        "WHERE ts >= {start:DateTime64(6, 'UTC')} AND ts < {end:DateTime64(6, 'UTC')}",
        {"start": utc_parameter(start), "end": utc_parameter(end)},
    )
    rows = [dict(zip(stored.column_names, row, strict=True)) for row in stored.rows]
    originals: list[CallRecord] = []
    changed: list[CallRecord] = []
    for row in rows:
        row["ts"] = as_utc(row["ts"])
        original = CallRecord(**row)
        record = CallRecord(**row)
        result.total_before += record.total_cost or 0.0
        for name in COST_FIELDS[:-1]:
            setattr(record, name, None)
        record.price_source = ""
        pricer.price(record)  # type: ignore[attr-defined]
        result.total_after += record.total_cost or 0.0
        result.unpriced_after += record.total_cost is None and record.status == "ok"
        if tuple(getattr(record, name) for name in COST_FIELDS) != tuple(getattr(original, name) for name in COST_FIELDS):
            originals.append(original)
            changed.append(record)
    result.rows += len(rows)
    result.changed += len(changed)
    return originals, changed


def restore(store: Store, backup: Path) -> int:
    """Put back the costs a reprice backup holds (a run's directory of files, or one file), matched by trace and
    span id, one file at a time; returns how many calls."""
    files = sorted(backup.glob("*.jsonl")) if backup.is_dir() else [backup]
    _check_engine(store)
    settle(store)
    restored = 0
    first = last = None
    for path in files:
        _, records = read_rows(path)
        if not records:
            continue
        for record in records:
            record.ts = as_utc(record.ts)
        set_costs(store, records)
        restored += len(records)
        low, high = min(_hour(r.ts) for r in records), max(_hour(r.ts) for r in records)
        first, last = min(first or low, low), max(last or high, high)
    if first is not None and last is not None:
        correct_rollup(store, first, last + timedelta(hours=1))
    return restored


def _check_engine(store: Store) -> None:
    """A cluster's `llm_calls` is a Distributed table, which takes no mutation: say so before pricing anything."""
    engine = store.query(
        "SELECT engine FROM system.tables WHERE database = {db:String} AND name = {table:String}",
        {"db": DATABASE, "table": CALLS_TABLE},
    ).rows
    if engine and not engine[0][0].endswith("MergeTree"):
        raise RepriceError(
            f"{DATABASE}.{CALLS_TABLE} is a {engine[0][0]} table: reprice runs against the embedded store or one "
            "ClickHouse server, not a cluster's Distributed tables"
        )


def settle(store: Store) -> None:
    """Stop what a killed run left running (its mutation: every part it finished keeps its new costs, the rest
    their old ones, and this run redoes the difference) and drop its tables."""
    store.command(
        f"KILL MUTATION WHERE database = '{DATABASE}' AND table = '{CALLS_TABLE}' "
        f"AND position(command, '{COSTS_TABLE_PREFIX}') > 0 SYNC"
    )
    leftovers = store.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND startsWith(name, {prefix:String})",
        {"db": DATABASE, "prefix": COSTS_TABLE_PREFIX},
    ).rows
    for (name,) in leftovers:
        store.command(f"DROP TABLE IF EXISTS {DATABASE}.{name}")
    for name in _FORMER_STAGING:
        store.command(f"DROP TABLE IF EXISTS {DATABASE}.{name}")


def set_costs(store: Store, records: Sequence[CallRecord], *, queued: Callable[[], None] | None = None) -> None:
    """Write the cost fields of `records` over the stored rows with the same (trace_id, span_id): one mutation per
    day partition they fall in, all reading one Join table (`queued` is called once they are all queued)."""
    if not records:
        return
    types = dict(CALL_COLUMNS)
    costs_table = f"{COSTS_TABLE_PREFIX}{uuid.uuid4().hex[:12]}"
    columns = ["trace_id", "span_id", *COST_FIELDS]
    definitions = ", ".join(f"{name} {types[name]}" for name in columns)
    store.command(
        f"CREATE TABLE {DATABASE}.{costs_table} ({definitions}, found UInt8 DEFAULT 1) "
        "ENGINE = Join(ANY, LEFT, trace_id, span_id)"
    )
    try:
        for offset in range(0, len(records), _INSERT_CHUNK):
            chunk = records[offset:offset + _INSERT_CHUNK]
            store.insert_rows(costs_table, columns, [[getattr(r, name) for r in chunk] for name in columns], column_oriented=True)
        table = f"'{DATABASE}.{costs_table}'"
        assignments = ", ".join(f"{name} = joinGet({table}, '{name}', trace_id, span_id)" for name in COST_FIELDS)
        # One mutation per day partition (PARTITION BY toDate(ts)): without IN PARTITION a mutation reads every part
        # of the table to find its rows. Queued without waiting (ClickHouse runs them together), then polled.
        for day in sorted({record.ts.date() for record in records}):
            try:
                store.command(
                    f"ALTER TABLE {DATABASE}.{CALLS_TABLE} UPDATE {assignments} IN PARTITION ID '{day:%Y%m%d}' "
                    f"WHERE joinGet({table}, 'found', trace_id, span_id) = 1 SETTINGS mutations_sync = 0"
                )
            except StoreUnavailableError:
                raise
            except StoreError as exc:  # ClickHouse refused the statement itself
                raise RepriceError(_refused(str(exc))) from None
        if queued is not None:
            queued()
        _wait_for_mutation(store, costs_table)
    except BaseException:
        with contextlib.suppress(Exception):  # the next run settles what is left
            settle(store)
        raise
    settle(store)


def _wait_for_mutation(store: Store, costs_table: str) -> None:
    """Poll the mutations that read `costs_table` until they are done; raise RepriceError if ClickHouse reports one
    failing (it would retry it forever, and hold up every later mutation of the table)."""
    while True:
        rows = store.query(
            "SELECT is_done, latest_fail_reason FROM system.mutations WHERE database = {db:String} "
            "AND table = {table:String} AND position(command, {costs:String}) > 0",
            {"db": DATABASE, "table": CALLS_TABLE, "costs": costs_table},
        ).rows
        if not rows:
            raise RepriceError(f"the mutations reading {costs_table} are not in system.mutations")
        failing = [reason for done, reason in rows if not done and reason]
        if failing:
            raise RepriceError(_refused(failing[0]))
        if all(done for done, _ in rows):
            return
        time.sleep(_POLL_SECONDS)


def correct_rollup(store: Store, start: datetime, end: datetime) -> int:
    """Make the rollup's priced sums for the hours in [start, end) equal what the raw rows give, by inserting the
    differences; returns how many (hour, key) rows were corrected."""
    keys = ", ".join(HOURLY_KEY_COLUMNS)
    # unpriced_calls is UInt64: its difference is summed as Int64 and written modulo 2^64, which the rollup's sum
    # (UInt64 arithmetic wraps) adds back exactly.
    signed = [f"{name} AS d_{name}" if hourly_sum_is_float(name) else f"toInt64({name}) AS d_{name}" for name in PRICED_SUMS]
    negated = [f"-{name} AS d_{name}" if hourly_sum_is_float(name) else f"-toInt64({name}) AS d_{name}" for name in PRICED_SUMS]
    totals = [f"sum(d_{name})" if hourly_sum_is_float(name) else f"toUInt64(sum(d_{name}))" for name in PRICED_SUMS]
    differs = " OR ".join(
        f"abs(sum(d_{name})) > {_COST_NOISE}" if hourly_sum_is_float(name) else f"sum(d_{name}) != 0" for name in PRICED_SUMS
    )
    window = {"start": utc_parameter(start), "end": utc_parameter(end)}
    in_window = "ts >= {start:DateTime64(6, 'UTC')} AND ts < {end:DateTime64(6, 'UTC')}"
    differences = (
        f"SELECT {keys}, {', '.join(totals)} FROM ("
        f"SELECT {keys}, {', '.join(signed)} FROM ({rollup_select(in_window, PRICED_SUMS)}) "
        f"UNION ALL SELECT {keys}, {', '.join(negated)} FROM {DATABASE}.{HOURLY_TABLE} "
        "WHERE hour >= {start:DateTime64(6, 'UTC')} AND hour < {end:DateTime64(6, 'UTC')}"
        f") GROUP BY {keys} HAVING {differs}"
    )
    count = store.query(f"SELECT count() FROM ({differences})", window).rows[0][0]
    if count:
        # insert_deduplicate = 0: two runs may write identical differences (prices changed there and back).
        store.command(
            f"INSERT INTO {DATABASE}.{HOURLY_TABLE} ({keys}, {', '.join(PRICED_SUMS)}) {differences} "
            "SETTINGS insert_deduplicate = 0",
            window,
        )
    return int(count)


def _pause_point(stage: str, slice_number: int) -> None:
    """The test hook (PAUSE_ENV): at the chosen point, say so and wait to be killed."""
    if os.environ.get(PAUSE_ENV) == f"{stage}:{slice_number}":
        print(f"reprice paused at {stage}:{slice_number}", file=sys.stderr, flush=True)
        while True:
            time.sleep(60)


def _refused(message: str) -> str:
    reason = message.strip().split("\n", 1)[0][:1000]  # ClickHouse's message without the stack trace it appends
    return (f"ClickHouse could not apply the new costs: {reason} — the calls it had not rewritten keep their old "
            "costs; fix the cause and run the same command again")


def _hour(ts: datetime) -> datetime:
    return as_utc(ts).replace(minute=0, second=0, microsecond=0)

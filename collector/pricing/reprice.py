"""Recompute the costs of stored calls after prices change (new genai-prices data or overrides).

Whole hours are repriced, and nothing is deleted or re-inserted, so no fault can lose or double a call:
- the new costs of the changed calls go into a Join table keyed by (trace_id, span_id), and one
  `ALTER TABLE llm_calls UPDATE … = joinGet(…)` mutation writes them. A mutation rewrites each data part into a
  part that covers the old one by name, so after a kill -9 at any point every row is there exactly once, with
  either its old or its new costs (REPLACE PARTITION, used before, commits the new part before the empty part
  that hides the old ones: a kill between the two left every row of that day twice). Rows a collector inserts
  meanwhile are not touched, so with a ClickHouse server nothing is dropped;
- the hourly rollup is corrected by inserting, for each (hour, key) whose priced sums differ from what the raw
  rows give now, one row with the difference (SimpleAggregateFunction(sum) adds it in). Computed from the
  current state each run, this converges: a run killed anywhere is finished by the next, and a run with nothing
  left to correct inserts nothing.

Before anything is changed the original rows of the window are written to a backup file in the data dir
(`reprice-backups/`, JSON lines, kept); `restore()` (`llmsight reprice --restore FILE`) puts their costs back the
same way. The embedded store must not be in use by a running collector (its lock says so).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from llmsight.collector.columns import CALL_COLUMNS, CALLS_TABLE, DATABASE, HOURLY_KEY_COLUMNS, HOURLY_TABLE
from llmsight.collector.dead_letter import read_rows, write_rows
from llmsight.collector.record import RECORD_FIELDS, CallRecord
from llmsight.collector.store import Store, StoreError, StoreUnavailableError
from llmsight.collector.store.schema import hourly_sum_is_float, rollup_select

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
_POLL_SECONDS = 0.1
# (phase, done, total): pricing in calls, then writing in data parts.
Progress = Callable[[str, int, int], None]


class RepriceError(RuntimeError):
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
) -> RepriceResult:
    """Reprice the whole hours from `since` to `until` (default: now). With `raw_ttl_days`, hours the raw table's
    TTL may already have emptied are left out: the rollup keeps them, and the raw rows no longer say what they held."""
    now = datetime.now(timezone.utc)
    start = _hour(since)
    if raw_ttl_days is not None:
        start = max(start, _hour(now - timedelta(days=raw_ttl_days)) + timedelta(hours=1))
    end = _hour(until or now) + timedelta(hours=1)
    _check_engine(store)
    settle(store)
    window = {"start": start.replace(tzinfo=None), "end": end.replace(tzinfo=None)}
    result = store.query(
        f"SELECT {', '.join(RECORD_FIELDS)} FROM {DATABASE}.{CALLS_TABLE} "
        "WHERE ts >= {start:DateTime64(6, 'UTC')} AND ts < {end:DateTime64(6, 'UTC')}",
        window,
    )
    originals: list[CallRecord] = []
    changed: list[CallRecord] = []
    before = after = 0.0
    unpriced = 0
    for index, row in enumerate(result.rows):
        original = CallRecord(*row)
        original.ts = original.ts.replace(tzinfo=timezone.utc)
        originals.append(original)
        record = CallRecord(*(getattr(original, name) for name in RECORD_FIELDS))
        before += record.total_cost or 0.0
        for name in COST_FIELDS[:-1]:
            setattr(record, name, None)
        record.price_source = ""
        pricer.price(record)  # type: ignore[attr-defined]
        after += record.total_cost or 0.0
        unpriced += record.total_cost is None and record.status == "ok"
        if tuple(getattr(record, name) for name in COST_FIELDS) != tuple(getattr(original, name) for name in COST_FIELDS):
            changed.append(record)
        if progress and index % 5000 == 0:
            progress("pricing", index, len(result.rows))
    backup = None
    if changed:
        stamp = datetime.now(timezone.utc)
        backup = work_dir / BACKUP_DIR / f"{start:%Y%m%dT%H}-{end:%Y%m%dT%H}-{stamp:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}.jsonl"
        write_rows(backup, originals, {"reprice_backup": True, "start": start.isoformat(), "end": end.isoformat()})
        set_costs(store, changed, progress)
    # Always: a run killed after the mutation but before the rollup finds nothing changed next time.
    if progress:
        progress("correcting the rollup", 0, 1)
    corrections = correct_rollup(store, start, end)
    if progress:
        progress("done", 1, 1)
    return RepriceResult(start, end, len(originals), len(changed), before, after, unpriced, backup, corrections)


def restore(store: Store, backup: Path) -> int:
    """Put the costs of a reprice backup's rows back as they were (matched by trace and span id); returns how many."""
    _, records = read_rows(backup)
    if not records:
        return 0
    for record in records:
        record.ts = record.ts.astimezone(timezone.utc)
    _check_engine(store)
    settle(store)
    set_costs(store, records)
    correct_rollup(store, min(_hour(r.ts) for r in records), max(_hour(r.ts) for r in records) + timedelta(hours=1))
    return len(records)


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


def set_costs(store: Store, records: Sequence[CallRecord], progress: Progress | None = None) -> None:
    """Write the cost fields of `records` over the stored rows with the same (trace_id, span_id), in one mutation."""
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
        first, last = min(r.ts for r in records), max(r.ts for r in records)
        try:  # the embedded store runs the mutation within the statement; a server runs it in the background
            store.command(
                f"ALTER TABLE {DATABASE}.{CALLS_TABLE} UPDATE {assignments} "
                "WHERE ts >= {first:DateTime64(6, 'UTC')} AND ts <= {last:DateTime64(6, 'UTC')} "
                f"AND joinGet({table}, 'found', trace_id, span_id) = 1",
                {"first": first.replace(tzinfo=None), "last": last.replace(tzinfo=None)},
            )
        except StoreError as exc:
            if isinstance(exc, StoreUnavailableError):
                raise
            raise RepriceError(_refused(str(exc))) from None
        _wait_for_mutation(store, costs_table, progress)
    except BaseException:
        with contextlib.suppress(Exception):  # the next run settles what is left
            settle(store)
        raise
    settle(store)


def _wait_for_mutation(store: Store, costs_table: str, progress: Progress | None) -> None:
    """Poll the mutation that reads `costs_table` until it is done (progress in data parts); raise RepriceError if
    ClickHouse reports it failing (it would retry forever)."""
    total = 0
    while True:
        rows = store.query(
            "SELECT is_done, parts_to_do, latest_fail_reason FROM system.mutations WHERE database = {db:String} "
            "AND table = {table:String} AND position(command, {costs:String}) > 0",
            {"db": DATABASE, "table": CALLS_TABLE, "costs": costs_table},
        ).rows
        if not rows:
            raise RepriceError(f"the mutation reading {costs_table} is not in system.mutations")
        is_done, parts_to_do, fail_reason = rows[0]
        if is_done:
            return
        if fail_reason:
            raise RepriceError(_refused(fail_reason))
        total = max(total, parts_to_do)
        if progress:
            progress("writing costs (data parts)", total - parts_to_do, total)
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
    window = {"start": start.replace(tzinfo=None), "end": end.replace(tzinfo=None)}
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


def _refused(message: str) -> str:
    reason = message.strip().split("\n", 1)[0][:1000]  # ClickHouse's message without the stack trace it appends
    return (f"ClickHouse could not apply the new costs: {reason} — the calls it had not rewritten keep their old "
            "costs; fix the cause and run the same command again")


def _hour(ts: datetime) -> datetime:
    return ts.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)

"""Recompute the costs of stored calls after prices change (new genai-prices data or overrides).

Whole hours are repriced. Nothing is deleted and re-inserted: each day partition of `llm_calls` that holds
changed rows is rebuilt in a staging table (the repriced rows plus every other row of that day, copied inside
ClickHouse) and swapped in with `ALTER TABLE … REPLACE PARTITION`, which is atomic; the hourly rollup's month
partitions are rebuilt the same way from the raw rows of the repriced hours. So a run killed at any point
leaves each partition either as it was or fully repriced, and running again (with the same or other prices)
converges on the same rows: idempotent, nothing to roll back, no deduplication token that a second run could
collide with.

Before touching anything the original rows of the window are written to a backup file in the data dir
(`reprice-backups/`, JSON lines, kept); `restore()` (`llmsight reprice --restore FILE`) puts them back the
same way. The embedded store must not be in use by a running collector (its lock says so); with a
ClickHouse server, pause the collectors writing into the window's days while it runs: REPLACE PARTITION
would drop rows inserted into those days between the copy and the swap.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from llmsight.collector.columns import CALLS_TABLE, DATABASE, HOURLY_TABLE
from llmsight.collector.dead_letter import read_rows, write_rows
from llmsight.collector.record import RECORD_FIELDS, CallRecord
from llmsight.collector.store import Store
from llmsight.collector.store.schema import ROLLUP_SELECT_COLUMNS, rollup_select

# What pricing writes: a reprice compares and rewrites these (price_source last: it is not a cost).
COST_FIELDS = (
    "input_cost", "cache_read_cost", "cache_write_cost", "output_cost", "total_cost", "cache_savings", "price_source",
)
BACKUP_DIR = "reprice-backups"
CALLS_STAGING = f"{CALLS_TABLE}_reprice_staging"
HOURLY_STAGING = f"{HOURLY_TABLE}_reprice_staging"
_NO_DEDUP = "SETTINGS insert_deduplicate = 0"  # staging copies are new data every time


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


def reprice(
    store: Store,
    pricer: object,
    since: datetime,
    until: datetime | None = None,
    *,
    work_dir: Path,
    progress: Callable[[int, int], None] | None = None,
) -> RepriceResult:
    start = since.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    end = (until or datetime.now(timezone.utc)).astimezone(timezone.utc)
    end = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    window = {"start": start.replace(tzinfo=None), "end": end.replace(tzinfo=None)}
    condition = "ts >= {start:DateTime64(6)} AND ts < {end:DateTime64(6)}"
    result = store.query(f"SELECT {', '.join(RECORD_FIELDS)} FROM {DATABASE}.{CALLS_TABLE} WHERE {condition}", window)
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
            progress(index, len(result.rows))
    backup = None
    if changed:
        stamp = datetime.now(timezone.utc)
        backup = work_dir / BACKUP_DIR / f"{start:%Y%m%dT%H}-{end:%Y%m%dT%H}-{stamp:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}.jsonl"
        write_rows(backup, originals, {"reprice_backup": True, "start": start.isoformat(), "end": end.isoformat()})
        replace_rows(store, changed)
    # Always: a run killed after swapping raw partitions but before the rollup finds nothing changed next time.
    rebuild_rollup(store, {toStartOfHour(record.ts) for record in originals})
    if progress:
        progress(len(result.rows), len(result.rows))
    return RepriceResult(start, end, len(originals), len(changed), before, after, unpriced, backup)


def restore(store: Store, backup: Path) -> int:
    """Put the rows of a reprice backup back as they were (matched by trace and span id); returns how many."""
    _, records = read_rows(backup)
    for record in records:
        record.ts = record.ts.astimezone(timezone.utc)
    replace_rows(store, records)
    rebuild_rollup(store, {toStartOfHour(record.ts) for record in records})
    return len(records)


def replace_rows(store: Store, records: Sequence[CallRecord]) -> None:
    """Swap `records` in for the stored rows with the same (trace_id, span_id), one atomic day partition at a time."""
    by_day: dict[date, list[CallRecord]] = {}
    for record in records:
        by_day.setdefault(record.ts.date(), []).append(record)
    _staging(store, CALLS_TABLE, CALLS_STAGING)
    try:
        for day, rows in sorted(by_day.items()):
            store.command(f"TRUNCATE TABLE {DATABASE}.{CALLS_STAGING}")
            store.insert(rows, f"reprice:{uuid.uuid4().hex}", table=CALLS_STAGING)
            store.command(
                f"INSERT INTO {DATABASE}.{CALLS_STAGING} SELECT * FROM {DATABASE}.{CALLS_TABLE} "
                f"WHERE toDate(ts) = toDate('{day.isoformat()}') AND (trace_id, span_id) NOT IN "
                f"(SELECT trace_id, span_id FROM {DATABASE}.{CALLS_STAGING}) {_NO_DEDUP}"
            )
            store.command(f"ALTER TABLE {DATABASE}.{CALLS_TABLE} REPLACE PARTITION ID '{day:%Y%m%d}' FROM {DATABASE}.{CALLS_STAGING}")
    finally:
        store.command(f"DROP TABLE IF EXISTS {DATABASE}.{CALLS_STAGING}")


def rebuild_rollup(store: Store, hours: set[datetime]) -> None:
    """Recompute the hourly rollup for `hours` from the raw rows; each month partition swapped atomically."""
    by_month: dict[str, list[datetime]] = {}
    for hour in hours:
        by_month.setdefault(f"{hour:%Y%m}", []).append(hour)
    if not by_month:
        return
    _staging(store, HOURLY_TABLE, HOURLY_STAGING)
    try:
        for month, month_hours in sorted(by_month.items()):
            listed = ", ".join(f"toDateTime('{hour:%Y-%m-%d %H:00:00}', 'UTC')" for hour in sorted(month_hours))
            store.command(f"TRUNCATE TABLE {DATABASE}.{HOURLY_STAGING}")
            store.command(
                f"INSERT INTO {DATABASE}.{HOURLY_STAGING} SELECT * FROM {DATABASE}.{HOURLY_TABLE} "
                f"WHERE toYYYYMM(hour) = {int(month)} AND hour NOT IN ({listed}) {_NO_DEDUP}"
            )
            store.command(
                f"INSERT INTO {DATABASE}.{HOURLY_STAGING} ({', '.join(ROLLUP_SELECT_COLUMNS)}) "
                f"{rollup_select(f'toStartOfHour(src.ts) IN ({listed})')} {_NO_DEDUP}"
            )
            store.command(f"ALTER TABLE {DATABASE}.{HOURLY_TABLE} REPLACE PARTITION ID '{month}' FROM {DATABASE}.{HOURLY_STAGING}")
    finally:
        store.command(f"DROP TABLE IF EXISTS {DATABASE}.{HOURLY_STAGING}")


def _staging(store: Store, table: str, staging: str) -> None:
    """A fresh empty table with `table`'s structure and partitioning (what REPLACE PARTITION requires)."""
    store.command(f"DROP TABLE IF EXISTS {DATABASE}.{staging}")
    store.command(f"CREATE TABLE {DATABASE}.{staging} AS {DATABASE}.{table}")


def toStartOfHour(ts: datetime) -> datetime:  # noqa: N802 - named after the ClickHouse function it mirrors
    return ts.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)

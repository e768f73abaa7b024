"""Recompute the costs of stored calls after prices change (new genai-prices data or overrides).

Whole hours are repriced so the hourly rollup stays exact: the repriced rows are written to a file in the
data dir first (nothing is lost if the process dies midway), the window is deleted from the raw table and
the rollup, and the rows are inserted again — the materialized view rebuilds the rollup for those hours.
The embedded store must not be in use by a running collector (its lock says so).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from llmsight.collector.columns import CALLS_TABLE, DATABASE, HOURLY_TABLE
from llmsight.collector.record import RECORD_FIELDS, CallRecord
from llmsight.collector.store import Store

COST_FIELDS = ("input_cost", "cache_read_cost", "cache_write_cost", "output_cost", "total_cost", "price_source")


@dataclass
class RepriceResult:
    start: datetime
    end: datetime
    rows: int
    changed: int
    total_before: float
    total_after: float
    unpriced_after: int


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
    records = []
    changed = 0
    before = after = 0.0
    unpriced = 0
    for index, row in enumerate(result.rows):
        record = CallRecord(*row)
        record.ts = record.ts.replace(tzinfo=timezone.utc)
        old = tuple(getattr(record, name) for name in COST_FIELDS)
        before += record.total_cost or 0.0
        for name in COST_FIELDS[:-1]:
            setattr(record, name, None)
        record.price_source = ""
        pricer.price(record)  # type: ignore[attr-defined]
        after += record.total_cost or 0.0
        unpriced += record.total_cost is None and record.status == "ok"
        changed += tuple(getattr(record, name) for name in COST_FIELDS) != old
        records.append(record)
        if progress and index % 5000 == 0:
            progress(index, len(result.rows))
    if changed:
        backup = work_dir / f"reprice-{start:%Y%m%dT%H}-{end:%Y%m%dT%H}.pickle"
        backup.write_bytes(pickle.dumps([tuple(getattr(r, f) for f in RECORD_FIELDS) for r in records]))
        sync = "SETTINGS mutations_sync = 2"
        store.command(f"ALTER TABLE {DATABASE}.{CALLS_TABLE} DELETE WHERE {condition} {sync}", window)
        store.command(
            f"ALTER TABLE {DATABASE}.{HOURLY_TABLE} DELETE WHERE hour >= {{start:DateTime}} AND hour < {{end:DateTime}} {sync}",
            window,
        )
        for offset in range(0, len(records), 20_000):
            store.insert(records[offset:offset + 20_000], f"reprice:{start.isoformat()}:{end.isoformat()}:{offset}")
        backup.unlink()
    if progress:
        progress(len(result.rows), len(result.rows))
    return RepriceResult(start, end, len(records), changed, before, after, unpriced)

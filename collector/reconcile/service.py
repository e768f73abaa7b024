"""Where a reconciliation is read: through the running collector (it owns an embedded store), else the store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from llmsight.collector.config import CollectorSettings
from llmsight.collector.read_api import running_collector
from llmsight.collector.reconcile.reconcile import reconcile
from llmsight.collector.reconcile.render import as_json
from llmsight.collector.store import Store


def day_bounds(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Whole UTC days covering [start, end): provider buckets are days."""
    first = start.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    last = end.astimezone(timezone.utc)
    last_day = last.replace(hour=0, minute=0, second=0, microsecond=0)
    return first, last_day if last == last_day else last_day + timedelta(days=1)


def reconciliation_json(query: Any, start: datetime, end: datetime) -> dict[str, Any]:
    def rows(sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return query(sql, parameters)

    return as_json(reconcile(rows, start, end))


def read_reconciliation(settings: CollectorSettings, start: datetime, end: datetime) -> dict[str, Any]:
    collector = None if settings.clickhouse_dsn else running_collector(settings.data_dir)
    if collector is not None:
        return collector.reconcile(start, end)
    store = Store.open(settings.effective_dsn, create=False)
    try:
        store.ensure_schema(ttl_days=settings.raw_ttl_days, content_ttl_days=settings.content_ttl_days)
        return reconciliation_json(store.query, start, end)
    finally:
        store.close()

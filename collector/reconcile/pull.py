"""Pull a window of the providers' usage and cost reports (and their key lists) into ClickHouse.

Per provider endpoint and window: every page is fetched first, then the buckets are written in one insert with
one `pulled_at` version (tables.py says how reads pick the latest), so pulling twice, several collectors pulling,
or a kill -9 mid-pull all leave exactly one copy of every bucket visible. A provider that keeps failing leaves its
window incomplete — nothing written for it, a `provider_pulls` row saying why — and the others go on. A refused
admin key stops the pull with `AdminKeyError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from llmsight.collector.reconcile.adapters import ADAPTERS, KeyListAdapter, ReportAdapter, ShapeError
from llmsight.collector.reconcile.http import AdminClient, ProviderRequestError, ProviderUnavailableError
from llmsight.collector.reconcile.settings import ProviderAccess
from llmsight.collector.reconcile.tables import (
    COST_COLUMNS,
    KEY_COLUMNS,
    KEYS_TABLE,
    PULL_COLUMNS,
    PULLS_TABLE,
    USAGE_COLUMNS,
    USAGE_TABLE,
)

logger = logging.getLogger("llmsight.reconcile")
MAX_PAGES = 10_000  # per endpoint and window: a provider that always says has_more cannot loop forever


class Inserter:
    """What pulling needs of the store (Store.insert_rows)."""

    def insert_rows(self, table: str, column_names: list[str], rows: Sequence[Sequence[Any]]) -> None: ...


@dataclass
class EndpointResult:
    provider: str
    endpoint: str
    status: str  # complete | incomplete
    buckets: int = 0
    rows: int = 0
    skipped: int = 0
    detail: str = ""


@dataclass
class PullSummary:
    window_start: datetime
    window_end: datetime
    endpoints: list[EndpointResult] = field(default_factory=list)
    keys: int = 0

    @property
    def complete(self) -> bool:
        return all(e.status == "complete" for e in self.endpoints)


def day_window(since: timedelta, now: datetime) -> tuple[datetime, datetime]:
    """Whole UTC days: from the start of the day `since` ago to the end of today."""
    today = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (now - since).astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, today + timedelta(days=1)


def pull(
    store: Any, accesses: Sequence[ProviderAccess], since: timedelta, *, now: datetime | None = None,
    client: Callable[[ProviderAccess], AdminClient] = AdminClient,
    progress: Callable[[str], None] = lambda line: None,
) -> PullSummary:
    now = now or datetime.now(timezone.utc)
    start, end = day_window(since, now)
    summary = PullSummary(start, end)
    for access in accesses:
        with client(access) as http:
            summary.keys += _pull_keys(store, http, now)
            for adapter in (a for a in ADAPTERS if a.provider == access.provider):
                result = _pull_endpoint(store, http, adapter, start, end, now)
                summary.endpoints.append(result)
                progress(f"{adapter.name}: {result.status}, {result.buckets} buckets, {result.rows} rows"
                         + (f", {result.skipped} skipped" if result.skipped else "")
                         + (f" ({result.detail})" if result.detail else ""))
    return summary


def _pull_keys(store: Any, http: AdminClient, now: datetime) -> int:
    try:
        listed = KeyListAdapter(http.provider).keys(http.get)
    except (ProviderUnavailableError, ProviderRequestError, ShapeError, KeyError) as exc:
        logger.warning("%s key list not pulled: %s", http.name, exc)
        return 0
    rows = [(http.provider, k.api_key_id, k.hint, k.name, k.project_id, now) for k in listed]
    if rows:
        store.insert_rows(KEYS_TABLE, [name for name, _ in KEY_COLUMNS], rows)
    return len(rows)


def _chunks(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    spans, cursor = [], start
    while cursor < end:
        spans.append((cursor, min(cursor + timedelta(days=days), end)))
        cursor = spans[-1][1]
    return spans


def _pull_endpoint(
    store: Any, http: AdminClient, adapter: ReportAdapter, start: datetime, end: datetime, now: datetime
) -> EndpointResult:
    result = EndpointResult(http.provider, adapter.name, "complete")
    columns = [name for name, _ in (USAGE_COLUMNS if adapter.table == USAGE_TABLE else COST_COLUMNS)]
    rows: list[tuple[Any, ...]] = []
    skipped_reasons: list[str] = []
    try:
        for chunk_start, chunk_end in _chunks(start, end, adapter.max_buckets):
            page: str | None = None
            for _ in range(MAX_PAGES):
                body = http.get(adapter.path, adapter.params(chunk_start, chunk_end, page))
                buckets = body.get("data") if isinstance(body, dict) else None
                if not isinstance(buckets, list):
                    raise ShapeError("the response has no data list")
                for bucket in buckets:
                    try:
                        bucket_start, bucket_end, bucket_rows = adapter.read_bucket(bucket)
                    except ShapeError as exc:
                        result.skipped += 1
                        skipped_reasons.append(str(exc))
                        logger.warning("%s: bucket skipped: %s", adapter.name, exc)
                        continue
                    result.buckets += 1
                    blank = {**{name: "" for name in columns}, **_zeros(columns)}
                    # [{}]: every pulled bucket gets a marker row (all zeros) of this version, so an empty bucket
                    # also replaces what an earlier pull saw there.
                    for row in [*bucket_rows, {}]:
                        values = blank | row
                        values |= {"provider": http.provider, "endpoint": adapter.name, "bucket_start": bucket_start,
                                   "bucket_end": bucket_end, "complete": bucket_end <= now, "pulled_at": now}
                        rows.append(tuple(values[name] for name in columns))
                page = body.get("next_page") if body.get("has_more") else None
                if not page:
                    break
    except (ProviderUnavailableError, ProviderRequestError, ShapeError) as exc:
        result.status, result.detail, result.buckets, rows = "incomplete", f"nothing written: {exc}", 0, []
        logger.warning("%s %s..%s incomplete: %s", adapter.name, start.date(), end.date(), exc)
    if rows:
        store.insert_rows(adapter.table, columns, rows)
    result.rows = len(rows) - result.buckets
    if skipped_reasons and not result.detail:
        result.detail = f"skipped: {skipped_reasons[0]}" + (f" (+{len(skipped_reasons) - 1} more)" if len(skipped_reasons) > 1 else "")
    store.insert_rows(PULLS_TABLE, [name for name, _ in PULL_COLUMNS], [(
        http.provider, adapter.name, start, end, now, result.status, result.detail, result.buckets, max(result.rows, 0),
        result.skipped,
    )])
    return result


def _zeros(columns: list[str]) -> dict[str, Any]:
    from decimal import Decimal

    numeric = {"uncached_input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
               "output_tokens", "input_audio_tokens", "output_audio_tokens", "requests", "web_search_requests"}
    values: dict[str, Any] = {name: 0 for name in columns if name in numeric}
    if "amount" in columns:
        values["amount"] = Decimal(0)
    if "batch" in columns:
        values["batch"] = False
    return values

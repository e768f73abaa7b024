"""Whole hours from the rollup plus raw rows at the edges is one SQL definition (schema.hourly_window), used by the
report and the dashboards: over odd windows (mid-hour edges with seconds, a window inside one hour, one ending on
the hour) and whatever the ClickHouse session's time zone (a ClickHouse server's default is its machine's, and
half-hour zones shift hour boundaries), the report, the dashboards and the raw rows give the same figures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from llmsight.collector.pricing import Pricer
from llmsight.collector.record import CallRecord
from llmsight.collector.report.queries import build_report
from llmsight.collector.report.window import Window
from llmsight.collector.store import QueryResult, Store

from .test_report_rollup import NOW, RECENT, calls, panel

WINDOWS = {
    "ragged": Window(NOW - timedelta(hours=5, minutes=23, seconds=17, microseconds=500_000), NOW - timedelta(minutes=41, seconds=3)),
    "inside one hour": Window(NOW - timedelta(hours=2, minutes=50), NOW - timedelta(hours=2, minutes=5)),
    "ends on the hour": Window(NOW - timedelta(hours=4, minutes=59, seconds=59), NOW - timedelta(hours=1)),
}


class _InTimeZone:
    """The store as a ClickHouse session whose time zone is `zone` (session_timezone)."""

    def __init__(self, store: Store, zone: str) -> None:
        self.store, self.zone = store, zone

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        return self.store.query(f"{sql} SETTINGS session_timezone = '{self.zone}'", parameters)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, list[CallRecord]]]:
    path: Path = tmp_path_factory.mktemp("hourly-window")
    store = Store.open(f"chdb://{path / 'store'}")
    store.ensure_schema()
    records = calls(RECENT, 7)
    pricer = Pricer()
    for record in records:
        pricer.price(record)
    store.insert(records, dedup_token="recent")
    yield store, records
    store.close()


@pytest.mark.parametrize("zone", ["UTC", "America/St_Johns", "Asia/Kolkata"])
@pytest.mark.parametrize("name", list(WINDOWS))
def test_report_dashboards_and_raw_rows_agree_on_odd_windows(stored: tuple[Store, list[CallRecord]], name: str, zone: str) -> None:
    store, records = stored
    window = WINDOWS[name]
    inside = [r for r in records if window.start <= r.ts < window.end]
    assert inside
    session = _InTimeZone(store, zone)
    totals = build_report(session.query, window)["totals"]
    assert totals["calls"] == len(inside)
    assert totals["total_cost"] == pytest.approx(sum(r.total_cost or 0.0 for r in inside), rel=1e-12)
    assert panel(session, "Total spend", window).rows[0][0] == pytest.approx(totals["total_cost"], rel=1e-12)

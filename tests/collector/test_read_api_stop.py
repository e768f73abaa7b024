"""Stopping while reports run: the read API kills their queries (and any read queued behind them) and answers
their clients 503 within 2 s, instead of letting them run to the operation's time limit and answering 500."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from llmsight.collector.read_api import (
    LimitedQuery,
    Operations,
    ReadApiClient,
    ReadApiServer,
    ReportRequest,
)
from llmsight.collector.store import Store, StoreError

TOKEN = "t" * 43
LONG_QUERY = "SELECT count() FROM numbers(100000000000) WHERE number % 7 = 3"  # minutes on two cores


class LongReports(Operations):
    """Reports whose query runs far longer than a stop may take (a real ClickHouse query, killed or not)."""

    def report(self, request: ReportRequest, query: LimitedQuery) -> dict[str, Any]:
        query(LONG_QUERY)
        return {"totals": {"calls": 0}}


def _running_reads(store: Store) -> int:
    return int(store.query("SELECT count() FROM system.processes WHERE query LIKE '/* llmsight-read:%'").rows[0][0])


@pytest.mark.parametrize("reports", [1, 2])
def test_stop_kills_running_reports_within_2_s_and_their_clients_get_503(store: Store, reports: int) -> None:
    server = ReadApiServer(LongReports(store.read, store.kill_reads), 0, TOKEN, cancel_reads=store.cancel_reads)
    server.start()
    answers: list[str] = []
    now = datetime.now(timezone.utc)

    def ask() -> None:
        try:
            ReadApiClient(server.port, TOKEN).report(now - timedelta(hours=1), now)
            answers.append("200")
        except StoreError as exc:
            answers.append(str(exc))

    clients = [threading.Thread(target=ask) for _ in range(reports)]
    for client in clients:
        client.start()
    deadline = time.monotonic() + 20
    while _running_reads(store) < 1 and time.monotonic() < deadline:  # a query runs (the others queue behind it)
        time.sleep(0.05)
    assert _running_reads(store) == 1
    stopping = time.monotonic()
    server.stop()
    took = time.monotonic() - stopping
    for client in clients:
        client.join(30)
    assert took < 2.0, f"stopping took {took:.1f} s"
    assert len(answers) == reports and all("answered 503" in answer and "stopping" in answer for answer in answers), answers
    deadline = time.monotonic() + 5
    while _running_reads(store) and time.monotonic() < deadline:  # KILL QUERY … ASYNC: gone within moments
        time.sleep(0.05)
    assert _running_reads(store) == 0

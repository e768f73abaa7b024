"""The Bill dashboard's queries, expanded as the ClickHouse plugin's backend expands them, on a store holding
instrumented calls, calls nobody instrumented (one with another key) and a discount the prices file lacks: each
panel shows what `llmsight reconcile` computes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from llmsight.dashboards.build import JSON_DIR
from tests.dashboards.grafana_backend import expand

from .bill_panels import BILL_TITLES, check_bill_panel, reconciled
from .test_reconcile import OPENAI_MODEL, _instrumented_calls, _run, _uninstrumented_calls


def test_every_bill_panel_shows_what_reconcile_computes(collector, traced, provider_server) -> None:
    provider_server.admin.config.discounts[("openai", OPENAI_MODEL)] = Decimal("0.10")
    _instrumented_calls(provider_server, ["one", "two"])
    _uninstrumented_calls(provider_server)
    _run(collector, provider_server)
    assert collector.store is not None
    document = json.loads((JSON_DIR / "bill.json").read_text())
    assert [p["title"] for p in document["panels"]] == list(BILL_TITLES)
    now = datetime.now(timezone.utc)
    expected = reconciled(collector.store.query, now - timedelta(hours=24), now)
    assert any(k.stored_tokens == 0 for k in expected.keys) and expected.drift  # something to show
    for panel in document["panels"]:
        sql = expand(panel["targets"][0]["rawSql"], time_from=now - timedelta(hours=24), time_to=now, interval_s=3600)
        assert "$" not in sql, panel["title"]
        rows = collector.store.query(sql).dicts()
        assert rows, panel["title"]
        check_bill_panel(panel["title"], rows, expected)

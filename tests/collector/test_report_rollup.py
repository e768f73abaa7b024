"""The report and the dashboards agree for every window — whole hours, partial hours at the edges, and a window
older than the raw rows' TTL: both read the rollup for whole hours and raw rows for partial edges, and the rollup
outlives the raw rows. Calls are priced by the real Pricer (list prices, a self-hosted server left unpriced) and
stored in real chDB; the committed dashboard JSON goes through the emulated Grafana frontend and plugin."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmsight.collector.pricing import Pricer
from llmsight.collector.record import CallRecord
from llmsight.collector.report.queries import build_report
from llmsight.collector.report.window import Window
from llmsight.collector.store import Store
from llmsight.dashboards.build import JSON_DIR
from tests.dashboards.grafana_backend import expand
from tests.dashboards.grafana_frontend import Scene, apply_template_variables, variables_from_dashboard

DOCUMENTS = [json.loads(path.read_text()) for path in sorted(JSON_DIR.glob("*.json"))]
RAW_TTL_DAYS = 1
NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
OLD = Window(NOW - timedelta(days=10), NOW - timedelta(days=10) + timedelta(hours=6))  # far older than the TTL
RECENT = Window(NOW - timedelta(hours=6), NOW)
RAGGED = Window(NOW - timedelta(hours=5, minutes=23, seconds=17), NOW - timedelta(minutes=41))  # partial edge hours


def calls(window: Window, seed: int) -> list[CallRecord]:
    out = []
    for i in range(60):
        model, provider, server = [("claude-sonnet-4-5", "anthropic", "api.anthropic.com"), ("gpt-4o", "openai", ""),
                                   ("gpt-oss-20b", "openai", "10.0.0.7")][i % 3]  # the last: self-hosted vLLM
        inputs = 2_000 + 97 * i
        out.append(CallRecord(
            ts=window.start + timedelta(minutes=5 * i + 1), trace_id=f"{seed:016x}{i:016x}", span_id=f"{i + 1:016x}",
            service="api", provider=provider, request_model=model, response_model=model, task=f"task{i % 2}",
            tenant=f"t{i % 3}", status="error" if i % 10 == 0 else "ok", retries=i % 2,
            input_tokens=inputs, cache_read_tokens=inputs if i % 4 == 0 else inputs // 3,  # some fully cached
            cache_write_tokens=0 if i % 4 == 0 else inputs // 5, output_tokens=50 + i, duration_ms=100.0 + i,
            attributes={"server.address": server} if server else {},
        ))
    return out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Store, list[CallRecord], list[CallRecord]]]:
    opened = Store.open(f"chdb://{tmp_path / 'store'}")
    opened.ensure_schema(ttl_days=RAW_TTL_DAYS)
    pricer = Pricer()
    old, recent = calls(OLD, 1), calls(RECENT, 2)
    for record in old + recent:
        pricer.price(record)
    opened.insert(old, dedup_token="old")
    opened.insert(recent, dedup_token="recent")
    opened.command("OPTIMIZE TABLE llmsight.llm_calls FINAL")  # merge now: expired raw rows are dropped
    yield opened, old, recent
    opened.close()


def panel(store: Store, title: str, window: Window):
    """A panel's query as Grafana runs it with every filter on All, over [window.start, window.end]."""
    document, found = next((d, p) for d in DOCUMENTS for p in d["panels"] if p["title"] == title)
    scene = Scene(variables_from_dashboard(document, {}), window.start, window.end, 3600)
    for item in document["templating"]["list"]:  # query variables: their options come from their own query
        if item["type"] == "query":
            options = expand(apply_template_variables(item["query"], scene), time_from=window.start, time_to=window.end)
            scene.variables[item["name"]].options = [str(row[0]) for row in store.query(options).rows]
    sql = apply_template_variables(found["targets"][0]["rawSql"], scene)
    return store.query(expand(sql, time_from=window.start, time_to=window.end, interval_s=3600))


@pytest.mark.parametrize("which", ["old", "recent", "ragged"])
def test_report_equals_dashboards_for_any_window(store, which: str) -> None:
    db, old, recent = store
    window, records = {"old": (OLD, old), "recent": (RECENT, recent), "ragged": (RAGGED, recent)}[which]
    records = [r for r in records if window.start <= r.ts < window.end]
    raw = db.query("SELECT count() FROM llmsight.llm_calls WHERE ts >= {start:DateTime64(6)} AND ts < {end:DateTime64(6)}",
                   {"start": window.start.replace(tzinfo=None), "end": window.end.replace(tzinfo=None)}).rows[0][0]
    assert raw == (0 if which == "old" else len(records))  # the old window's raw rows are gone (TTL)
    report = build_report(db.query, window)
    totals = report["totals"]
    spend = sum(r.total_cost or 0.0 for r in records)
    saved = sum(r.cache_savings or 0.0 for r in records)
    unpriced = sum(r.total_cost is None and r.status == "ok" for r in records)
    assert totals["calls"] == len(records)
    assert totals["total_cost"] == pytest.approx(spend, rel=1e-12) == panel(db, "Total spend", window).rows[0][0]
    assert totals["saved_by_cache_usd"] == pytest.approx(saved, rel=1e-12)
    assert totals["saved_by_cache_usd"] == pytest.approx(panel(db, "Saved by caching", window).rows[0][0], rel=1e-12)
    assert saved > 0
    # The self-hosted calls are unpriced, and counted so on both sides.
    assert unpriced == sum(r.request_model == "gpt-oss-20b" and r.status == "ok" for r in records) > 0
    assert totals["unpriced_calls"] == unpriced
    assert report["unpriced"] == [{"provider": "openai", "model": "gpt-oss-20b", "calls": unpriced}]
    assert panel(db, "Unpriced calls", window).dicts() == [
        {"provider": "openai", "request_model": "gpt-oss-20b", "unpriced_calls": unpriced}
    ]
    by_model: dict[str, float] = defaultdict(float)
    for row in panel(db, "Cost over time by model", window).dicts():
        by_model[row["label"].split(" / ")[1]] += row["cost"]  # label: provider / model
    assert {r["key"]: pytest.approx(r["cost"], rel=1e-12) for r in report["cost_by_model"]} == by_model
    dashboard_retries = panel(db, "Retries per call", window).rows[0][0]
    assert dashboard_retries == pytest.approx(totals["retries"] / totals["calls"])
    errors = {r["provider"]: r for r in report["errors"]}
    assert sum(r["retried_calls"] for r in errors.values()) == sum(r.retries > 0 for r in records)
    latency = {r["model"]: r for r in report["latency"]}
    assert latency["gpt-4o"]["calls"] == sum(r.request_model == "gpt-4o" for r in records)

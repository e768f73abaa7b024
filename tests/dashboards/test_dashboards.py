"""Every dashboard panel query, expanded exactly as the ClickHouse plugin expands it, runs against real
ClickHouse (chDB) seeded through the collector; values are checked against sums computed here."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest

from llmsight.dashboards.build import CONSTANTS, FILTER_VARIABLES, JSON_DIR, render_all
from llmsight.dashboards.macros import ALL, expand
from llmsight.dashboards.panels import DASHBOARDS, Panel

from .seed import PRICES, Call

ALL_SELECTED = {name: ALL for name, _, _ in FILTER_VARIABLES} | {name: value for name, value, _ in CONSTANTS}
PANELS = {panel.title: panel for _, panels in DASHBOARDS.values() for panel in panels}


def run(seeded, panel: Panel, **selection):
    variables = {**ALL_SELECTED, **selection}
    sql = expand(panel.sql, time_from=seeded.now - timedelta(hours=24), time_to=seeded.now + timedelta(minutes=1),
                 interval_s=3600, variables=variables)
    return seeded.query(sql)


def window(calls: list[Call], seeded) -> list[Call]:
    # Rollup panels filter on the hour bucket: a call counts if its hour starts inside the range.
    start = (seeded.now - timedelta(hours=24)).replace(minute=0, second=0)
    return [c for c in calls if c.ts.replace(minute=0, second=0, microsecond=0) >= start]


@pytest.mark.parametrize("title", sorted(PANELS))
def test_every_panel_query_runs_on_seeded_data(seeded, title: str) -> None:
    panel = PANELS[title]
    sql = expand(panel.sql, time_from=seeded.now - timedelta(hours=24), time_to=seeded.now, interval_s=3600,
                 variables=ALL_SELECTED)
    columns = [row[0] for row in seeded.query(f"DESCRIBE TABLE ({sql})").rows]
    if panel.time_series:
        assert columns[0] == "time", title  # the plugin's time-series format wants the time column first
    assert len(columns) >= 1
    result = run(seeded, panel)
    assert not result.rows or result.column_names == columns
    filtered = run(seeded, panel, service=["api"], tenant=["acme", "globex"])
    assert not filtered.rows or filtered.column_names == columns


def test_template_variable_queries_list_the_seeded_values(seeded) -> None:
    from llmsight.dashboards.build import _variable

    for name, column, label in FILTER_VARIABLES:
        sql = expand(_variable(name, column, label)["query"], time_from=seeded.now - timedelta(days=1), time_to=seeded.now)
        values = {row[0] for row in seeded.query(sql).rows}
        expected = {getattr(c, {"request_model": "model", "model_tier": "model"}.get(column, column), None) for c in seeded.calls}
        if column in ("service", "task", "tenant"):
            assert values == expected, name
        else:
            assert values, name


def test_spend_panels_equal_hand_computed_costs(seeded) -> None:
    calls = window(seeded.calls, seeded)
    total = sum(c.total_cost for c in calls)
    assert run(seeded, PANELS["Total spend"]).rows[0][0] == pytest.approx(total, rel=1e-9)
    priced = [c for c in calls if c.priced]
    assert run(seeded, PANELS["Cost per request"]).rows[0][0] == pytest.approx(total / len(priced), rel=1e-9)
    by_model: dict[str, float] = defaultdict(float)
    for row in run(seeded, PANELS["Cost over time by model"]).dicts():
        by_model[row["request_model"]] += row["cost"]
    for model in PRICES:
        assert by_model[model] == pytest.approx(sum(c.total_cost for c in calls if c.model == model), rel=1e-9)
    api_only = run(seeded, PANELS["Total spend"], service=["api"]).rows[0][0]
    assert api_only == pytest.approx(sum(c.total_cost for c in calls if c.service == "api"), rel=1e-9)
    top = run(seeded, PANELS["Top 10 spenders"]).dicts()
    pairs: dict[tuple[str, str], float] = defaultdict(float)
    for c in calls:
        pairs[(c.tenant, c.task)] += c.total_cost
    best = max(pairs.items(), key=lambda item: item[1])
    assert (top[0]["tenant"], top[0]["task"]) == best[0] and top[0]["cost"] == pytest.approx(best[1], rel=1e-9)


def test_unpriced_calls_are_counted_not_free(empty_store) -> None:
    from .seed import healthy_calls

    calls = healthy_calls(empty_store.now, count=30)
    for call in calls[:7]:
        call.model = "acme-experimental"
        call.status, call.error_type, call.http_status = "ok", "", 200
    empty_store.add(calls)
    rows = run(empty_store, PANELS["Unpriced calls"]).dicts()
    assert rows == [{"provider": "acme", "request_model": "acme-experimental", "unpriced_calls": 7}]
    assert run(empty_store, PANELS["Total spend"]).rows[0][0] == pytest.approx(sum(c.total_cost for c in calls[7:]))


def test_cache_panels_equal_reads_over_inputs(seeded) -> None:
    calls = window(seeded.calls, seeded)
    rows = run(seeded, PANELS["Cache hit ratio by prompt"]).dicts()
    for row in rows:
        mine = [c for c in calls if c.prompt_name == row["prompt_name"]]
        assert row["calls"] == len(mine)
        assert row["hit_ratio"] == pytest.approx(sum(c.cache_read for c in mine) / sum(c.input_tokens for c in mine))
    saved = run(seeded, PANELS["Saved by caching"]).rows[0][0]
    expected = sum(c.cache_read * (PRICES[c.model]["input"] - PRICES[c.model]["read"]) / 1e6 for c in calls if c.priced)
    assert saved == pytest.approx(expected, rel=1e-6)
    series = run(seeded, PANELS["Cache read vs write tokens"]).dicts()
    assert sum(r["read_tokens"] for r in series) == sum(c.cache_read for c in calls)
    assert sum(r["write_tokens"] for r in series) == sum(c.cache_write for c in calls)


def test_missed_savings_finds_the_uncached_repeated_prefix(empty_store) -> None:
    from .seed import healthy_calls

    calls = healthy_calls(empty_store.now, count=12)
    for call in calls[:5]:
        call.prompt_name, call.prefix_hash = "support", "deadbeefdeadbeef"
        call.cache_read, call.cache_write, call.input_tokens = 0, 0, 3000
    empty_store.add(calls)
    rows = run(empty_store, PANELS["Missed savings: large repeated prefixes never cached"]).dicts()
    assert [(r["prompt_prefix_hash"], r["calls"]) for r in rows] == [("deadbeefdeadbeef", 5)]


def test_latency_and_reliability_panels(seeded) -> None:
    calls = window(seeded.calls, seeded)
    ttft = run(seeded, PANELS["TTFT percentiles by model"]).dicts()
    for row in ttft:
        values = sorted(c.ttft_ms for c in calls if c.model == row["request_model"] and c.ttft_ms is not None)
        assert values[0] <= row["p50_ms"] <= values[-1]
        assert abs(row["p50_ms"] - values[len(values) // 2]) < 0.1 * values[-1]
    streaming = {r["streaming"]: r["calls"] for r in run(seeded, PANELS["Streaming vs not: duration p50"]).dicts()}
    assert streaming == {True: sum(c.streaming for c in calls), False: sum(not c.streaming for c in calls)}
    errors = run(seeded, PANELS["Errors by type and HTTP status"]).dicts()
    assert sum(r["calls"] for r in errors) == sum(c.status == "error" for c in calls)
    assert {(r["error_type"], r["http_status"]) for r in errors} == {("RateLimitError", 429)}
    retries = run(seeded, PANELS["Retries per call"]).rows[0][0]
    assert retries == pytest.approx(sum(c.retries for c in calls) / len(calls))
    truncated = run(seeded, PANELS["Truncated outputs"]).dicts()
    assert sum(r["truncated"] for r in truncated) == sum(c.finish_reason == "length" for c in calls)


def test_tier_and_savings_panels(seeded) -> None:
    calls = window(seeded.calls, seeded)
    tiers = run(seeded, PANELS["Model tier by task"]).dicts()
    assert sum(r["calls"] for r in tiers) == len(calls)
    routing = {r["task"]: r for r in run(seeded, PANELS["What cheaper routing would have cost"]).dicts()}
    for task, row in routing.items():
        mine = [c for c in calls if c.task == task]
        actual = sum(c.total_cost for c in mine)
        assert row["actual_cost"] == pytest.approx(actual, rel=1e-9)
        assert row["batch_api_cost"] == pytest.approx(actual * 0.5, rel=1e-9)
        small = (sum(c.input_tokens - c.cache_read for c in mine) * 0.15 + sum(c.cache_read for c in mine) * 0.075
                 + sum(c.output_tokens for c in mine) * 0.60) / 1e6
        assert row["small_tier_cost"] == pytest.approx(small, rel=1e-9)


DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "uid": {"type": "string", "maxLength": 40, "pattern": "^[a-zA-Z0-9_-]+$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {"type": "object", "required": ["list"], "properties": {"list": {"type": "array", "items": {
            "type": "object", "required": ["name", "type"],
            "properties": {"type": {"enum": ["query", "constant", "custom", "interval", "datasource", "textbox"]}},
        }}}},
        "panels": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["id", "type", "title", "gridPos", "datasource", "targets"],
            "properties": {
                "gridPos": {"type": "object", "required": ["h", "w", "x", "y"], "properties": {
                    "w": {"type": "integer", "minimum": 1, "maximum": 24}, "x": {"type": "integer", "minimum": 0, "maximum": 23},
                }},
                "datasource": {"type": "object", "required": ["type", "uid"],
                               "properties": {"type": {"const": "grafana-clickhouse-datasource"}, "uid": {"const": "llmsight-clickhouse"}}},
                "targets": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["refId", "rawSql", "format"]}},
            },
        }},
    },
}


def test_committed_json_is_generated_and_valid() -> None:
    for name, text in render_all().items():
        committed = (JSON_DIR / name).read_text()
        assert committed == text, f"{name} is stale: run python -m llmsight.dashboards.build"
        document = json.loads(committed)
        jsonschema.validate(document, DASHBOARD_SCHEMA)
        ids = [p["id"] for p in document["panels"]]
        assert len(ids) == len(set(ids))
        for panel in document["panels"]:
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    assert len(render_all()) == 5


def test_provisioning_files_point_at_the_dashboards() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2] / "dashboards" / "provisioning"
    datasource = yaml.safe_load((root / "datasources" / "clickhouse.yaml").read_text())["datasources"][0]
    assert datasource["uid"] == "llmsight-clickhouse" and datasource["type"] == "grafana-clickhouse-datasource"
    assert "READONLY" in datasource["jsonData"]["username"]
    provider = yaml.safe_load((root / "dashboards" / "llmsight.yaml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"].endswith("llmsight")

"""The committed dashboard JSON and provisioning files, checked against Grafana's dashboard model: what Grafana
needs to load, lay out and link them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from llmsight.dashboards.build import JSON_DIR, SCHEMA_VERSION, main, render_all
from llmsight.dashboards.panels import CALLS_DASHBOARD, DAILY_BUDGET_USD

from .grafana_frontend import VARIABLE_REGEX

PROVISIONING = Path(__file__).resolve().parents[2] / "dashboards" / "provisioning"
DATASOURCE = {"type": "object", "required": ["type", "uid"],
              "properties": {"type": {"const": "grafana-clickhouse-datasource"}, "uid": {"const": "llmsight-clickhouse"}}}
TARGET = {"type": "object", "required": ["refId", "rawSql", "format", "datasource", "editorType"],
          "properties": {"refId": {"type": "string", "minLength": 1}, "format": {"enum": [0, 1]}, "datasource": DATASOURCE,
                         "editorType": {"const": "sql"}, "rawSql": {"type": "string", "minLength": 10}}}
LINK = {"type": "object", "required": ["title", "url"], "properties": {"title": {"type": "string", "minLength": 1},
                                                                      "url": {"type": "string", "minLength": 1}}}
# Panel types that ship with Grafana (public/app/plugins/panel) that llmsight may use.
PANEL_TYPES = ["timeseries", "stat", "table", "gauge", "barchart", "piechart", "bargauge", "text"]
DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "time", "annotations", "links"],
    "properties": {
        "uid": {"type": "string", "maxLength": 40, "pattern": "^[a-zA-Z0-9_-]+$"},
        "schemaVersion": {"const": SCHEMA_VERSION},
        "time": {"type": "object", "required": ["from", "to"]},
        "links": {"type": "array", "items": {"type": "object", "required": ["type", "title"], "properties": {
            "type": {"enum": ["dashboards", "link"]}, "tags": {"type": "array", "items": {"type": "string"}}}}},
        "annotations": {"type": "object", "required": ["list"], "properties": {"list": {"type": "array", "items": {
            "type": "object", "required": ["name", "datasource", "enable", "iconColor"],
            "properties": {"target": TARGET}}}}},
        "templating": {"type": "object", "required": ["list"], "properties": {"list": {"type": "array", "items": {
            "type": "object", "required": ["name", "type", "label"],
            "properties": {"type": {"enum": ["query", "constant", "custom", "interval", "datasource", "textbox"]},
                           "name": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}},
        }}}},
        "panels": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["id", "type", "title", "gridPos", "datasource", "targets", "fieldConfig"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "type": {"enum": PANEL_TYPES},
                "gridPos": {"type": "object", "required": ["h", "w", "x", "y"], "properties": {
                    "h": {"type": "integer", "minimum": 1}, "y": {"type": "integer", "minimum": 0},
                    "w": {"type": "integer", "minimum": 1, "maximum": 24}, "x": {"type": "integer", "minimum": 0, "maximum": 23}}},
                "datasource": DATASOURCE,
                "targets": {"type": "array", "minItems": 1, "items": TARGET},
                "fieldConfig": {"type": "object", "required": ["defaults", "overrides"], "properties": {
                    "overrides": {"type": "array", "items": {"type": "object", "required": ["matcher", "properties"]}}}},
            },
        }},
    },
}
DOCUMENTS = {path.stem: json.loads(path.read_text()) for path in sorted(JSON_DIR.glob("*.json"))}


def test_committed_json_is_what_the_build_writes(tmp_path: Path) -> None:
    assert {f"{slug}.json" for slug in DOCUMENTS} == set(render_all())
    for name, text in render_all().items():
        assert (JSON_DIR / name).read_text() == text, f"{name} is stale: run python -m llmsight.dashboards.build"
    main(["--out", str(tmp_path), "--trace-url", "https://tempo.example/t/{trace_id}?x='1'"])
    calls = json.loads((tmp_path / f"{CALLS_DASHBOARD}.json").read_text())
    template = next(v for v in calls["templating"]["list"] if v["name"] == "trace_url_template")
    assert template["query"] == "https://tempo.example/t/{trace_id}?x='1'"


@pytest.mark.parametrize("slug", sorted(DOCUMENTS))
def test_dashboard_is_valid_for_grafana(slug: str) -> None:
    document = DOCUMENTS[slug]
    jsonschema.validate(document, DASHBOARD_SCHEMA)
    panels = document["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
    names = [v["name"] for v in document["templating"]["list"]]
    assert len(names) == len(set(names))
    used = {m.group(1) or m.group(2) or m.group(4) for p in panels for t in p["targets"] for m in VARIABLE_REGEX.finditer(t["rawSql"])}
    assert {n for n in used if not n.startswith("__")} <= set(names)  # every variable a query uses is defined


@pytest.mark.parametrize("slug", sorted(DOCUMENTS))
def test_links_are_well_formed_and_point_at_existing_dashboards(slug: str) -> None:
    document = DOCUMENTS[slug]
    uids = {d["uid"] for d in DOCUMENTS.values()}
    assert document["links"][0]["type"] == "dashboards" and "llmsight" in document["links"][0]["tags"]
    assert all("llmsight" in d["tags"] for d in DOCUMENTS.values())  # the tag link finds every dashboard
    calls_variables = {v["name"] for v in DOCUMENTS[CALLS_DASHBOARD]["templating"]["list"]}
    for panel in document["panels"]:
        for override in panel["fieldConfig"]["overrides"]:
            assert override["matcher"]["id"] == "byName"
            for prop in override["properties"]:
                if prop["id"] != "links":
                    continue
                for link in prop["value"]:
                    jsonschema.validate(link, LINK)
                    url = link["url"]
                    found = re.match(r"^/d/([\w-]+)/[\w-]+\?\$\{__url_time_range\}&var-(\w+)=\$\{__data\.fields\.(\w+):percentencode\}$", url)
                    if found:
                        uid, variable, column = found.groups()
                        assert uid in uids and variable in calls_variables
                        assert column == override["matcher"]["options"]
                    else:
                        assert url == "${__data.fields.trace_link}"
    # That the linked columns are in each table's result is checked where the queries run (test_dashboards.py).


def test_budget_gauge_is_one_gauge_with_the_budget_as_max() -> None:
    gauge = next(p for p in DOCUMENTS["spend"]["panels"] if p["type"] == "gauge")
    assert gauge["options"]["reduceOptions"]["fields"] == "/^spend_today$/"
    assert gauge["fieldConfig"]["defaults"]["max"] == DAILY_BUDGET_USD
    assert [s["color"] for s in gauge["fieldConfig"]["defaults"]["thresholds"]["steps"]] == ["green", "orange", "red"]
    (transformation,) = gauge["transformations"]
    assert transformation["id"] == "configFromData" and transformation["options"]["configRefId"] == "B"
    mapped = [m["fieldName"] for m in transformation["options"]["mappings"]]
    assert mapped[0] == "budget" and len(mapped) == len(set(mapped))  # Grafana applies only a field's first mapping
    assert [t["refId"] for t in gauge["targets"]] == ["A", "B"]


def test_provisioning_files_point_at_the_dashboards() -> None:
    datasource = yaml.safe_load((PROVISIONING / "datasources" / "clickhouse.yaml").read_text())["datasources"][0]
    assert datasource["uid"] == "llmsight-clickhouse" and datasource["type"] == "grafana-clickhouse-datasource"
    assert "READONLY" in datasource["jsonData"]["username"]
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "llmsight.yaml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"].endswith("llmsight")

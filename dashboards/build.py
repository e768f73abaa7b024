"""Generate the Grafana dashboard JSON (dashboards/json/*.json) from panels.py.

    python -m llmsight.dashboards.build                       # rewrite the JSON files
    python -m llmsight.dashboards.build --trace-url 'https://tempo.example/trace/{trace_id}'

The test suite checks that the committed JSON equals what this produces with the defaults.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmsight.alerts.budgets import Budget
from llmsight.dashboards.budgets import BUDGETS_DASHBOARD, budget_panels
from llmsight.dashboards.panels import (
    ALL_TASKS,
    ANNOTATIONS,
    CALLS_DASHBOARD,
    DAILY_BUDGET_USD,
    DASHBOARDS,
    FILTER_COLUMNS,
    ROLLUP,
    TRACE_URL_TEMPLATE,
    Link,
    Panel,
)

DATASOURCE = {"type": "grafana-clickhouse-datasource", "uid": "llmsight-clickhouse"}
JSON_DIR = Path(__file__).parent / "json"
SCHEMA_VERSION = 39
FORMAT_TIME_SERIES, FORMAT_TABLE = 0, 1
TAGS = ["llmsight", "llm"]

_LABELS = {"service": "Service", "environment": "Environment", "provider": "Provider", "model": "Model",
           "tier": "Model tier", "task": "Task", "tenant": "Tenant"}
# Filters of the Calls dashboard that data links set (textbox: one value, empty = any).
CALLS_TEXTBOXES = (("trace_id", "Trace id"), ("prompt", "Prompt"), ("prefix_hash", "Prefix hash"),
                   ("user", "User"), ("session", "Session"))
_USED = re.compile(r"\$\{(\w+)|\$(\w+)")


def _options_query(column: str) -> str:
    # Hours that overlap the range (the first, partial hour included).
    return (f"SELECT DISTINCT {column} FROM {ROLLUP} WHERE hour >= toStartOfHour(toTimeZone($__fromTime, 'UTC')) "
            f"AND hour <= $__toTime ORDER BY {column}")


def _query_variable(name: str, column: str, label: str, *, all_value: str | None = None) -> dict[str, Any]:
    variable: dict[str, Any] = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": _options_query(column),
        "definition": _options_query(column),
        "refresh": 2,  # on time range change
        "multi": True,
        "includeAll": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "sort": 1,
        "hide": 0,
    }
    if all_value is not None:
        variable["allValue"] = all_value
    return variable


def _constant(name: str, value: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "constant", "query": value, "hide": 2, "skipUrlSync": True}


def _textbox(name: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "textbox", "query": "", "hide": 0,
            "current": {"selected": False, "text": "", "value": ""}, "options": [{"selected": True, "text": "", "value": ""}]}


def all_variables(trace_url: str = TRACE_URL_TEMPLATE) -> dict[str, dict[str, Any]]:
    variables = {name: _query_variable(name, column, _LABELS[name]) for name, column in FILTER_COLUMNS}
    variables["batch_tasks"] = _query_variable("batch_tasks", "task", "Tasks that could wait (batch)", all_value=ALL_TASKS)
    variables["daily_budget"] = _constant("daily_budget", f"{DAILY_BUDGET_USD:g}", "Daily budget (USD)")
    variables["trace_url_template"] = _constant("trace_url_template", trace_url, "Trace viewer URL ({trace_id} is replaced)")
    variables |= {name: _textbox(name, label) for name, label in CALLS_TEXTBOXES}
    return variables


def _calls_url(variable: str, column: str) -> str:
    return (f"/d/llmsight-{CALLS_DASHBOARD}/llmsight-{CALLS_DASHBOARD}?${{__url_time_range}}"
            f"&var-{variable}=${{__data.fields.{column}:percentencode}}")


def _link(link: Link) -> dict[str, Any]:
    if link.url_column:
        return {"title": link.title or "Open", "url": f"${{__data.fields.{link.url_column}}}", "targetBlank": True}
    return {"title": link.title or f"Calls with this {link.column}", "url": _calls_url(link.calls_variable, link.column)}


def _overrides(panel: Panel) -> list[dict[str, Any]]:
    by_column: dict[str, list[dict[str, Any]]] = {}
    for link in panel.links:
        by_column.setdefault(link.column, []).append(_link(link))
    overrides = [{"matcher": {"id": "byName", "options": column}, "properties": [{"id": "links", "value": links}]}
                 for column, links in by_column.items()]
    overrides += [{"matcher": {"id": "byName", "options": column}, "properties": [{"id": "custom.hidden", "value": True}]}
                  for column in panel.hidden]
    return overrides


def _target(ref_id: str, sql: str, table: bool) -> dict[str, Any]:
    return {
        "refId": ref_id,
        "datasource": DATASOURCE,
        "editorType": "sql",
        "queryType": "table" if table else "timeseries",
        "format": FORMAT_TABLE if table else FORMAT_TIME_SERIES,
        "rawSql": sql,
    }


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    table = not panel.time_series
    defaults: dict[str, Any] = {"unit": panel.unit} if panel.unit else {}
    defaults |= panel.field_defaults
    out: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": _overrides(panel)},
        "options": dict(panel.options),
        "targets": [_target("A", panel.sql, table)] + [_target(ref, sql, True) for ref, sql in panel.extra_targets],
    }
    if panel.transformations:
        out["transformations"] = [dict(t) for t in panel.transformations]
    return out


def _annotations(with_queries: bool) -> list[dict[str, Any]]:
    builtin = {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
               "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}
    if not with_queries:
        return [builtin]
    return [builtin] + [
        {"name": name, "datasource": DATASOURCE, "enable": True, "hide": False, "iconColor": color,
         "target": _target("Anno", sql, True)}
        for name, color, sql in ANNOTATIONS
    ]


def _used_variables(texts: list[str]) -> set[str]:
    return {a or b for text in texts for a, b in _USED.findall(text)}


def dashboard(slug: str, title: str, panels: list[Panel], *, trace_url: str = TRACE_URL_TEMPLATE) -> dict[str, Any]:
    laid_out, x, y, row_height = [], 0, 0, 0
    for index, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        laid_out.append(_panel(panel, index, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    with_annotations = slug != CALLS_DASHBOARD
    queries = [t["rawSql"] for p in laid_out for t in p["targets"]]
    queries += [a["target"]["rawSql"] for a in _annotations(with_annotations) if "target" in a]
    used = _used_variables(queries)
    return {
        "uid": f"llmsight-{slug}",
        "title": title,
        "tags": TAGS,
        "timezone": "utc",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": [v for name, v in all_variables(trace_url).items() if name in used]},
        "annotations": {"list": _annotations(with_annotations)},
        "links": [{"title": "llmsight dashboards", "type": "dashboards", "tags": ["llmsight"], "asDropdown": False,
                   "includeVars": True, "keepTime": True, "targetBlank": False, "icon": "external link",
                   "tooltip": "", "url": ""}],
        "panels": laid_out,
    }


def render_all(trace_url: str = TRACE_URL_TEMPLATE, budgets: Sequence[Budget] = ()) -> dict[str, str]:
    """Every dashboard's JSON; with budgets (the alerts file's), the Budgets dashboard too."""
    dashboards = dict(DASHBOARDS)
    if budgets:
        dashboards[BUDGETS_DASHBOARD] = ("llmsight — Budgets", budget_panels(budgets))
    return {
        f"{slug}.json": json.dumps(dashboard(slug, title, panels, trace_url=trace_url), indent=2, ensure_ascii=False) + "\n"
        for slug, (title, panels) in dashboards.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace-url", default=TRACE_URL_TEMPLATE,
                        help="trace viewer URL template; {trace_id} is replaced by the call's trace id")
    parser.add_argument("--out", type=Path, default=JSON_DIR, help="directory for the JSON files")
    parser.add_argument("--alerts-file", type=Path, default=None,
                        help="an alerts file whose budgets get a Budgets dashboard (docs/budgets.md)")
    args = parser.parse_args(argv)
    from llmsight.alerts.rules import load_config

    budgets = load_config(args.alerts_file).budgets
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in render_all(args.trace_url, budgets).items():
        (args.out / name).write_text(text)
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()

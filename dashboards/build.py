"""Generate the Grafana dashboard JSON (dashboards/json/*.json) from panels.py.

    python -m llmsight.dashboards.build        # rewrite the JSON files
The test suite checks that the committed JSON equals what this produces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmsight.dashboards.panels import DASHBOARDS, ROLLUP, Panel

DATASOURCE = {"type": "grafana-clickhouse-datasource", "uid": "llmsight-clickhouse"}
JSON_DIR = Path(__file__).parent / "json"
SCHEMA_VERSION = 39
FORMAT_TIME_SERIES, FORMAT_TABLE = 0, 1

# (variable, column, label)
FILTER_VARIABLES = (
    ("service", "service", "Service"),
    ("environment", "environment", "Environment"),
    ("provider", "provider", "Provider"),
    ("model", "request_model", "Model"),
    ("tier", "model_tier", "Model tier"),
    ("task", "task", "Task"),
    ("tenant", "tenant", "Tenant"),
)
CONSTANTS = (
    ("daily_budget", "100", "Daily budget (USD)"),
    ("small_input_per_mtok", "0.15", "Small-tier input price per M tokens (USD)"),
    ("small_output_per_mtok", "0.60", "Small-tier output price per M tokens (USD)"),
)


def _variable(name: str, column: str, label: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": f"SELECT DISTINCT {column} FROM {ROLLUP} WHERE $__timeFilter(hour) ORDER BY {column}",
        "definition": f"SELECT DISTINCT {column} FROM {ROLLUP}",
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def _constant(name: str, value: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "constant", "query": value, "hide": 2}


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    table = not panel.time_series
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit} if panel.unit else {}, "overrides": []},
        "options": {},
        "targets": [
            {
                "refId": "A",
                "datasource": DATASOURCE,
                "editorType": "sql",
                "queryType": "table" if table else "timeseries",
                "format": FORMAT_TABLE if table else FORMAT_TIME_SERIES,
                "rawSql": panel.sql,
            }
        ],
    }


def dashboard(slug: str, title: str, panels: list[Panel]) -> dict[str, Any]:
    laid_out, x, y, row_height = [], 0, 0, 0
    for index, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        laid_out.append(_panel(panel, index, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return {
        "uid": f"llmsight-{slug}",
        "title": title,
        "tags": ["llmsight", "llm"],
        "timezone": "utc",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {
            "list": [_variable(*v) for v in FILTER_VARIABLES] + [_constant(*c) for c in CONSTANTS]
        },
        "annotations": {"list": []},
        "panels": laid_out,
    }


def render_all() -> dict[str, str]:
    return {
        f"{slug}.json": json.dumps(dashboard(slug, title, panels), indent=2, ensure_ascii=False) + "\n"
        for slug, (title, panels) in DASHBOARDS.items()
    }


def main() -> None:
    JSON_DIR.mkdir(exist_ok=True)
    for name, text in render_all().items():
        (JSON_DIR / name).write_text(text)
        print(f"wrote {JSON_DIR / name}")


if __name__ == "__main__":
    main()

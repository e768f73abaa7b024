"""Grafana dashboards and provisioning files for the ClickHouse data source plugin."""

from pathlib import Path

DASHBOARDS_DIR = Path(__file__).parent

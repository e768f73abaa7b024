"""`llmsight report`: read through the running collector, the embedded store, or a ClickHouse server."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from llmsight.alerts.budgets import report_section
from llmsight.alerts.rules import load_config
from llmsight.collector.config import load_settings
from llmsight.collector.read_api import running_collector
from llmsight.collector.report.queries import build_report
from llmsight.collector.report.render import print_report, to_csv, to_json
from llmsight.collector.report.window import Window, WindowError
from llmsight.collector.store import Store, StoreError


def run_report(*, since: str, until: str | None, as_json: bool, as_csv: bool, data_dir: Path | None, dsn: str | None) -> int:
    errors = Console(stderr=True)
    try:
        window = Window.parse(since, until)
    except WindowError as exc:
        errors.print(f"[red]llmsight report:[/red] {exc}")
        return 2
    settings = load_settings(data_dir=data_dir, clickhouse_dsn=dsn)
    if not settings.clickhouse_dsn and not (settings.data_dir / "store").exists():
        errors.print(f"[red]llmsight report:[/red] no llmsight data in {settings.data_dir}: "
                     "start `llmsight collector` (or run `llmsight demo`) first, or pass --dsn")
        return 1
    try:
        collector = None if settings.clickhouse_dsn else running_collector(settings.data_dir)
        if collector is not None:  # it owns the embedded store: it computes the report
            report = collector.report(window.start, window.end)
        else:
            store = Store.open(settings.effective_dsn, create=False)
            try:
                report = build_report(store.query, window, report_section(load_config(settings.alerts_file).budgets))
            finally:
                store.close()
    except StoreError as exc:
        errors.print(f"[red]llmsight report:[/red] {escape(str(exc))}", soft_wrap=True)  # paths stay whole
        return 1
    if report["totals"]["calls"] == 0:
        errors.print(f"[yellow]llmsight report:[/yellow] no LLM calls stored between {window.start:%Y-%m-%d %H:%M} and "
                     f"{window.end:%Y-%m-%d %H:%M} UTC ({settings.redacted_dsn}); widen --since?")
        return 1
    if as_json:
        sys.stdout.write(to_json(report) + "\n")
    elif as_csv:
        sys.stdout.write(to_csv(report))
    else:
        print_report(report, Console())
    return 0

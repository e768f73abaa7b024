"""`llmsight report` and `llmsight demo` (heavy imports happen inside the commands)."""

from __future__ import annotations

from pathlib import Path

import typer

from llmsight.extras import needs_collector_extra


def register(app: typer.Typer) -> None:
    @app.command(help="Spend, cache, latency and error tables for a time window.")
    @needs_collector_extra("report")
    def report(
        since: str = typer.Option("24h", "--since", help="Window start: 30m, 24h, 7d, or an ISO date/time."),
        until: str = typer.Option(None, "--until", help="Window end (default: now)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (stable keys) instead of tables."),
        as_csv: bool = typer.Option(False, "--csv", help="Print CSV rows: section,key,metric,value."),
        data_dir: Path = typer.Option(None, "--data-dir", help="Data directory of the embedded store."),
        dsn: str = typer.Option(None, "--dsn", help="chdb://PATH or http(s)://… of a ClickHouse server."),
    ) -> None:
        from llmsight.collector.report.run import run_report

        raise typer.Exit(run_report(since=since, until=until, as_json=as_json, as_csv=as_csv, data_dir=data_dir, dsn=dsn))

    @app.command(help="Run a realistic workload through the real SDKs into a local collector, then report.")
    @needs_collector_extra("demo", extra="demo")
    def demo(
        seed: int = typer.Option(1, "--seed", help="Same seed, same workload and numbers."),
        data_dir: Path = typer.Option(
            None, "--data-dir",
            help="Where the demo's store goes (default: its own directory, llmsight-demo beside the collector's, "
            "emptied at each run).",
        ),
        calls: int = typer.Option(240, "--calls", min=40, max=5000, help="Approximate number of LLM calls."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
        collector_endpoint: str = typer.Option(
            None, "--collector-endpoint", help="Send to this running collector (OTLP/HTTP base URL) instead of a local one."
        ),
    ) -> None:
        from llmsight.collector.report.demo import run_demo

        if collector_endpoint:
            from llmsight.collector.report.demo import run_load

            raise typer.Exit(run_load(seed=seed, calls=calls, endpoint=collector_endpoint))
        raise typer.Exit(run_demo(seed=seed, data_dir=data_dir, calls=calls, as_json=as_json))

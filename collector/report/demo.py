"""`llmsight demo`: collector on the embedded store + local provider + real SDK workload → report."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

DEMO_SERVICE = "llmsight-demo"
SUMMARY_FILE = "demo-summary.json"
# The demo's alert thresholds: low enough that its small workload shows what the rules catch.
DEMO_ALERT_PARAMS = {"daily_budget_usd": 2.0, "tenant_daily_budget_usd": 1.0}
# The demo's budgets (docs/budgets.md): the whole demo stays far under its monthly budget; each tenant's small
# monthly budget is forecast to be exceeded.
DEMO_BUDGETS = ({"name": "demo_org", "amount": 100_000.0}, {"name": "tenants", "scope": "tenant", "amount": 1.0})


def run_demo(*, seed: int, data_dir: Path | None, calls: int, as_json: bool) -> int:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    import llmsight
    from llmsight.alerts.budgets import report_section
    from llmsight.alerts.evaluator import AlertEvaluator
    from llmsight.alerts.rules import AlertsConfig
    from llmsight.collector.app import Collector
    from llmsight.collector.config import load_settings
    from llmsight.collector.report.queries import build_report
    from llmsight.collector.report.render import print_report
    from llmsight.collector.report.window import Window
    from llmsight.collector.report.workload import BackdatingProcessor, Workload
    from llmsight.collector.store import StoreError
    from llmsight.testing.server import PRICES_YAML, PROVIDER_HOSTS, ProviderServer

    console = Console(stderr=as_json)
    settings = load_settings(data_dir=data_dir, otlp_http_port=0, otlp_grpc_port=0, query_port=0)
    # The demo's provider is a local server: declare it, or the collector (rightly) prices none of its calls.
    prices_file = settings.data_dir / "demo-prices.yaml"
    prices_file.parent.mkdir(parents=True, exist_ok=True)
    prices_file.write_text(PRICES_YAML)
    settings = settings.model_copy(update={"prices_file": prices_file})
    collector = Collector(settings)
    try:
        collector.start()
    except StoreError as exc:
        console.print(f"[red]llmsight demo:[/red] {exc}")
        return 1
    server = ProviderServer(seed=seed).start()
    provider = TracerProvider(resource=Resource.create({"service.name": DEMO_SERVICE, "deployment.environment.name": "demo"}))
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{collector.http_port}/v1/traces")
    provider.add_span_processor(BackdatingProcessor(BatchSpanProcessor(exporter, max_export_batch_size=256)))
    llmsight.instrument(tracer_provider=provider, provider_hosts=PROVIDER_HOSTS)
    started = datetime.now(timezone.utc)
    try:
        workload = Workload(server, seed)
        history = list(workload.history_steps(int(calls * 0.6)))
        now = list(workload.now_steps(calls - len(history)))
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=as_json) as progress:
            task = progress.add_task("previous day (back-dated)", total=len(history))
            for step in history:
                step()
                progress.advance(task)
            task = progress.add_task("last hour (template change, 429s, cost spike)", total=len(now))
            workload.begin_incidents(len(now))
            for step in now:
                step()
                progress.advance(task)
            batches = workload.batches()  # one batch per provider, read back: calls at batch prices
            billed_to_apps = len(server.ledger)  # the calls llmsight saw (failed or not) were all billed before…
            workload.escaped_calls()  # …what nobody instrumented: the reconciliation finds it
        provider.force_flush()
        collector.flush()
        window = Window(started - timedelta(hours=24), datetime.now(timezone.utc) + timedelta(seconds=1))
        store = collector.store
        assert store is not None  # started above
        bill = _reconcile(store, server)
        alerts_config = AlertsConfig.model_validate({"params": DEMO_ALERT_PARAMS, "budgets": DEMO_BUDGETS})
        report = build_report(store.query, window, report_section(alerts_config.budgets))
        evaluator = AlertEvaluator(store.query, alerts_config)
        alerts = evaluator.evaluate_once()
        summary = {
            "seed": seed,
            "data_dir": str(settings.data_dir),
            "store": settings.effective_dsn,
            "calls_made": workload.outcome.calls,
            "calls_failed": workload.outcome.failed,
            "batches": batches,
            "ledger": server.ledger.totals(upto=billed_to_apps),  # what the instrumented apps were billed
            "ledger_entries": server.ledger.as_dicts()[:billed_to_apps],
            "escaped_entries": server.ledger.as_dicts()[billed_to_apps:],  # billed, never seen by llmsight
            "report_totals": report["totals"],
            "alerts": [t.as_json() for t in alerts],
            "vs_the_bill": report["vs_the_bill"],
            "budgets": report["budgets"],
            "unexplained_by_key": [k for k in bill["keys"] if k["unexplained_tokens"]],
            "seconds": (datetime.now(timezone.utc) - started).total_seconds(),
        }
        (settings.data_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str))
    finally:
        llmsight.uninstrument()
        provider.shutdown()
        server.stop()
        collector.stop()
    if as_json:
        shown = {k: v for k, v in summary.items() if k not in ("ledger_entries", "escaped_entries")}
        sys.stdout.write(json.dumps(shown, indent=2, default=str) + "\n")
        return 0
    print_report(report, console)
    if alerts:
        console.print("[bold red]Alerts that fired[/bold red]")
        for alert in alerts:
            labels = ", ".join(f"{k}={v}" for k, v in alert.labels.items())
            console.print(f"  • [bold]{alert.title}[/bold] ({labels}): {alert.summary}", highlight=False)
    _print_bill(bill, console, _data_dir_flag(data_dir))
    console.print(
        f"\n{workload.outcome.calls} real SDK calls ({workload.outcome.failed} failed as the app saw them) in "
        f"{summary['seconds']:.1f}s. Data: {settings.effective_dsn}\n"
        f"Next: `llmsight report --since 24h{_data_dir_flag(data_dir)}`, or `docker compose up` for Grafana.",
        highlight=False,
    )
    return 0


def _reconcile(store: Any, server: Any) -> dict[str, Any]:
    """Pull the local provider's usage and cost reports over HTTP (llmsight's real admin client) and reconcile."""
    from pydantic import SecretStr

    from llmsight.collector.reconcile.pull import pull
    from llmsight.collector.reconcile.service import day_bounds, reconciliation_json
    from llmsight.collector.reconcile.settings import ProviderAccess

    keys = server.admin.config.admin_keys
    accesses = [ProviderAccess("openai", server.openai_base_url, SecretStr(keys["openai"])),
                ProviderAccess("anthropic", server.anthropic_base_url, SecretStr(keys["anthropic"]))]
    pull(store, accesses, timedelta(days=2))
    now = datetime.now(timezone.utc)
    return reconciliation_json(store.query, *day_bounds(now - timedelta(days=1), now))


def _print_bill(bill: dict[str, Any], console: Console, flag: str) -> None:
    """The demo's closing summary: what the providers billed that llmsight did not see, by key and model."""
    from collections import defaultdict
    from decimal import Decimal

    missing: dict[tuple[str, str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for k in bill["keys"]:
        if k["unexplained_tokens"]:
            entry = missing[(k["provider"], k["key_hint"] or k["api_key_id"], k["model"])]
            entry[0] += k["unexplained_tokens"]
            entry[1] += Decimal(k["unexplained_usd"] or 0)
    console.print("[bold]The bill, reconciled[/bold] (the local provider's admin API, pulled like OpenAI's and "
                  "Anthropic's)")
    for (provider, key, model), (tokens, usd) in sorted(missing.items()):
        console.print(f"  • {provider} key {key}, {model}: {tokens:,} tokens (${usd:.6f}) no instrumented app reported",
                      highlight=False)
    console.print(f"  Details: `llmsight reconcile show --since 2d{flag}`", highlight=False)


def _data_dir_flag(data_dir: Path | None) -> str:
    return f" --data-dir {data_dir}" if data_dir else ""


def run_load(*, seed: int, calls: int, endpoint: str) -> int:
    """The demo workload against a collector that is already running (docker compose's demo profile)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    import llmsight
    from llmsight.collector.report.workload import BackdatingProcessor, Workload
    from llmsight.testing.server import PROVIDER_HOSTS, ProviderServer

    console = Console()
    server = ProviderServer(seed=seed).start()
    provider = TracerProvider(resource=Resource.create({"service.name": DEMO_SERVICE, "deployment.environment.name": "demo"}))
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
    provider.add_span_processor(BackdatingProcessor(BatchSpanProcessor(exporter)))
    llmsight.instrument(tracer_provider=provider, provider_hosts=PROVIDER_HOSTS)
    try:
        workload = Workload(server, seed)
        history = list(workload.history_steps(int(calls * 0.6)))
        now = list(workload.now_steps(calls - len(history)))
        for step in history:
            step()
        workload.begin_incidents(len(now))
        for step in now:
            step()
        provider.force_flush()
    finally:
        llmsight.uninstrument()
        provider.shutdown()
        server.stop()
    console.print(f"sent {workload.outcome.calls} calls ({workload.outcome.failed} failed) to {endpoint}")
    return 0

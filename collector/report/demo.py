"""`llmsight demo`: collector on the embedded store + local provider + real SDK workload → report.

The demo keeps its data apart from the user's: its own data directory (`demo_data_dir()`, emptied at each
run so a second run shows the same numbers), its own embedded store whatever LLMSIGHT_CLICKHOUSE_DSN says, and
a prices file that declares its local provider. `--data-dir` puts it elsewhere (and keeps what is there).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from llmsight.collector.app import Collector
    from llmsight.collector.config import CollectorSettings
    from llmsight.collector.report.workload import Workload
    from llmsight.testing.server import ProviderServer

DEMO_SERVICE = "llmsight-demo"
SUMMARY_FILE = "demo-summary.json"
MARKER_FILE = ".llmsight-demo"  # in a directory the demo created: only such a directory is emptied
# The demo's alert thresholds: low enough that its small workload shows what the rules catch.
DEMO_ALERT_PARAMS = {"daily_budget_usd": 2.0, "tenant_daily_budget_usd": 1.0}
# The demo's budgets (docs/budgets.md): the whole demo stays far under its monthly budget; each tenant's small
# monthly budget is forecast to be exceeded.
DEMO_BUDGETS = ({"name": "demo_org", "amount": 100_000.0}, {"name": "tenants", "scope": "tenant", "amount": 1.0})
HISTORY_SHARE = 0.6  # of the calls: the back-dated previous day; the rest is the last hour


def demo_data_dir() -> Path:
    """The demo's own data directory, beside (never inside) the collector's default one."""
    from llmsight.collector.config import default_data_dir

    return default_data_dir().with_name("llmsight-demo")


@dataclass
class DemoRun:
    """What one demo run produced: the workload's outcome, the provider's ledger (its first `billed_to_apps`
    entries are the instrumented calls, the rest calls nobody instrumented), the reconciled bill, the report and
    the alerts."""

    workload: Workload
    server: ProviderServer
    batches: Any
    billed_to_apps: int
    bill: dict[str, Any]
    report: dict[str, Any]
    alerts: list[Any]
    started: datetime

    @property
    def seconds(self) -> float:
        return (datetime.now(timezone.utc) - self.started).total_seconds()


def run_demo(*, seed: int, data_dir: Path | None, calls: int, as_json: bool) -> int:
    from llmsight.collector.app import Collector
    from llmsight.collector.store import StoreError

    console = Console(stderr=as_json)
    settings = _demo_settings(data_dir)
    console.print(f"demo data: {settings.data_dir}"
                  + ("" if data_dir else " (the demo's own, emptied at each run; --data-dir to choose)"),
                  highlight=False, soft_wrap=True)
    collector = Collector(settings)
    try:
        collector.start()
    except StoreError as exc:
        console.print(f"[red]llmsight demo:[/red] {exc}")
        return 1
    try:
        run = _run_workload(collector, seed, calls, console, transient=as_json)
    finally:
        collector.stop()
    summary = _summary(run, seed, settings)
    (settings.data_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str))
    if as_json:
        shown = {k: v for k, v in summary.items() if k not in ("ledger_entries", "escaped_entries")}
        sys.stdout.write(json.dumps(shown, indent=2, default=str) + "\n")
    else:
        _print_outcome(run, settings, console)
    return 0


def _demo_settings(data_dir: Path | None) -> CollectorSettings:
    """The collector's settings for the demo: its own directory and embedded store, free ports, and its local
    provider declared in a prices file (undeclared, the collector rightly prices none of its calls)."""
    from llmsight.collector.config import load_settings
    from llmsight.testing.server import PRICES_YAML

    directory = data_dir or demo_data_dir()
    if data_dir is None and (directory / MARKER_FILE).exists():
        shutil.rmtree(directory)  # the previous demo's data: a second run shows the same numbers, not twice them
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if data_dir is None:
        (directory / MARKER_FILE).touch()
    prices_file = directory / "demo-prices.yaml"
    prices_file.write_text(PRICES_YAML)
    # clickhouse_dsn="": the embedded store in the demo's directory, even where LLMSIGHT_CLICKHOUSE_DSN names a server.
    return load_settings(data_dir=directory, clickhouse_dsn="", prices_file=prices_file,
                         otlp_http_port=0, otlp_grpc_port=0, read_api_port=0)


def _run_workload(collector: Collector, seed: int, calls: int, console: Console, *, transient: bool) -> DemoRun:
    """The workload through the real SDKs into `collector`, then the report and the alerts read from its store."""
    from llmsight.alerts.budgets import report_section
    from llmsight.alerts.evaluator import AlertEvaluator
    from llmsight.alerts.rules import AlertsConfig
    from llmsight.collector.report.queries import build_report
    from llmsight.collector.report.window import Window

    started = datetime.now(timezone.utc)
    with _traced_workload(f"http://127.0.0.1:{collector.http_port}", seed) as (workload, server, flush):
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=transient) as progress:
            _drive(workload, calls, on_phase=lambda name, total: progress.add_task(name, total=total),
                   on_step=progress.advance)
        batches = workload.batches()  # one batch per provider, read back: calls at batch prices
        billed_to_apps = len(server.ledger)  # the calls llmsight saw (failed or not) were all billed before…
        workload.escaped_calls()  # …what nobody instrumented: the reconciliation finds it
        flush()
        collector.flush()
        store = collector.store
        assert store is not None  # started by the caller
        window = Window(started - timedelta(hours=24), datetime.now(timezone.utc) + timedelta(seconds=1))
        bill = _reconcile(store, server)
        alerts_config = AlertsConfig.model_validate({"params": DEMO_ALERT_PARAMS, "budgets": DEMO_BUDGETS})
        report = build_report(store.query, window, report_section(alerts_config.budgets))
        alerts = AlertEvaluator(store.query, alerts_config).evaluate_once()
        return DemoRun(workload, server, batches, billed_to_apps, bill, report, alerts, started)


@contextmanager
def _traced_workload(endpoint: str, seed: int) -> Iterator[tuple[Workload, ProviderServer, Callable[[], bool]]]:
    """The local provider, the SDKs instrumented with spans exported to `endpoint` (back-dating the previous
    day's), and the workload; yields (workload, server, flush). Everything is undone on the way out."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    import llmsight
    from llmsight.collector.report.workload import BackdatingProcessor, Workload
    from llmsight.testing.server import PROVIDER_HOSTS, ProviderServer

    server = ProviderServer(seed=seed).start()
    provider = TracerProvider(resource=Resource.create({"service.name": DEMO_SERVICE, "deployment.environment.name": "demo"}))
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
    provider.add_span_processor(BackdatingProcessor(BatchSpanProcessor(exporter, max_export_batch_size=256)))
    llmsight.instrument(tracer_provider=provider, provider_hosts=PROVIDER_HOSTS)
    try:
        yield Workload(server, seed), server, provider.force_flush
    finally:
        llmsight.uninstrument()
        provider.shutdown()
        server.stop()


def _drive(workload: Workload, calls: int, *, on_phase: Callable[[str, int], Any] = lambda name, total: None,
           on_step: Callable[[Any], Any] = lambda phase: None) -> None:
    """The previous day (back-dated), then the last hour with its incidents."""
    history = list(workload.history_steps(int(calls * HISTORY_SHARE)))
    now = list(workload.now_steps(calls - len(history)))
    phase = on_phase("previous day (back-dated)", len(history))
    for step in history:
        step()
        on_step(phase)
    phase = on_phase("last hour (template change, 429s, cost spike)", len(now))
    workload.begin_incidents(len(now))
    for step in now:
        step()
        on_step(phase)


def _summary(run: DemoRun, seed: int, settings: CollectorSettings) -> dict[str, Any]:
    return {
        "seed": seed,
        "data_dir": str(settings.data_dir),
        "store": settings.effective_dsn,
        "calls_made": run.workload.outcome.calls,
        "calls_failed": run.workload.outcome.failed,
        "batches": run.batches,
        "ledger": run.server.ledger.totals(upto=run.billed_to_apps),  # what the instrumented apps were billed
        "ledger_entries": run.server.ledger.as_dicts()[:run.billed_to_apps],
        "escaped_entries": run.server.ledger.as_dicts()[run.billed_to_apps:],  # billed, never seen by llmsight
        "report_totals": run.report["totals"],
        "alerts": [t.as_json() for t in run.alerts],
        "vs_the_bill": run.report["vs_the_bill"],
        "budgets": run.report["budgets"],
        "unexplained_by_key": [k for k in run.bill["keys"] if k["unexplained_tokens"]],
        "seconds": run.seconds,
    }


def _print_outcome(run: DemoRun, settings: CollectorSettings, console: Console) -> None:
    from llmsight.collector.report.render import print_report

    print_report(run.report, console)
    if run.alerts:
        console.print("[bold red]Alerts that fired[/bold red]")
        for alert in run.alerts:
            labels = ", ".join(f"{k}={v}" for k, v in alert.labels.items())
            console.print(f"  • [bold]{alert.title}[/bold] ({labels}): {alert.summary}", highlight=False)
    _print_bill(run.bill, console, f" --data-dir {settings.data_dir}")
    outcome = run.workload.outcome
    console.print(
        f"\n{outcome.calls} real SDK calls ({outcome.failed} failed as the app saw them) in {run.seconds:.1f}s. "
        f"Data: {settings.data_dir}\n"
        f"Next: `llmsight report --since 24h --data-dir {settings.data_dir}`, or `docker compose up` for Grafana.",
        highlight=False,
    )


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


def run_load(*, seed: int, calls: int, endpoint: str) -> int:
    """The demo workload against a collector that is already running (docker compose's demo profile)."""
    with _traced_workload(endpoint, seed) as (workload, _, flush):
        _drive(workload, calls)
        flush()
    outcome = workload.outcome
    Console().print(f"sent {outcome.calls} calls ({outcome.failed} failed) to {endpoint}")
    return 0

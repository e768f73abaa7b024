"""`llmsight reconcile pull` and `llmsight reconcile show` (heavy imports inside the commands)."""

from __future__ import annotations

from pathlib import Path

import typer

from llmsight.extras import needs_collector_extra

reconcile_app = typer.Typer(help="Compare what llmsight stored with what the providers bill.", no_args_is_help=True)


def _fail(console: object, message: str, code: int) -> typer.Exit:
    console.print(f"[red]llmsight reconcile:[/red] {message}", highlight=False)  # type: ignore[attr-defined]
    return typer.Exit(code)


@reconcile_app.command("pull")
@needs_collector_extra("reconcile pull")
def pull_command(
    since: str = typer.Option("30d", "--since", help="How far back: 30d, 72h or an ISO date (whole UTC days)."),
    data_dir: Path = typer.Option(None, "--data-dir"),
    dsn: str = typer.Option(None, "--dsn"),
) -> None:
    """Pull the providers' usage and cost reports and key lists (admin keys: LLMSIGHT_OPENAI_ADMIN_KEY,
    LLMSIGHT_ANTHROPIC_ADMIN_KEY or LLMSIGHT_ADMIN_KEYS_FILE)."""
    from datetime import datetime, timezone

    from rich.console import Console

    from llmsight.collector.config import load_settings
    from llmsight.collector.read_api import running_collector
    from llmsight.collector.reconcile.pull import pull
    from llmsight.collector.reconcile.settings import AdminKeyError, ReconcileSettings, configured_providers
    from llmsight.collector.report.window import Window, WindowError
    from llmsight.collector.store import Store, StoreError
    from llmsight.errors import ConfigurationError

    console = Console(stderr=True)
    try:
        window = Window.parse(since)
        settings = load_settings(data_dir=data_dir, clickhouse_dsn=dsn)
        accesses = configured_providers(ReconcileSettings())
    except (WindowError, ConfigurationError) as exc:
        raise _fail(console, str(exc), 2) from None
    if not accesses:
        raise _fail(console, "no admin key: set LLMSIGHT_OPENAI_ADMIN_KEY and/or LLMSIGHT_ANTHROPIC_ADMIN_KEY "
                    "(or LLMSIGHT_ADMIN_KEYS_FILE, a file of NAME=value lines readable by you only)", 2)
    if settings.effective_dsn.startswith("chdb://") and running_collector(settings.data_dir) is not None:
        raise _fail(console, f"the collector running on {settings.data_dir} owns its embedded store and pulls every hour "
                    "itself when it has the admin keys; stop it to pull now", 1)
    try:
        store = Store.open(settings.effective_dsn)  # pull may come first: it creates the store and its tables
        store.ensure_schema(ttl_days=settings.raw_ttl_days, content_ttl_days=settings.content_ttl_days)
    except StoreError as exc:
        raise _fail(console, str(exc), 1) from None
    try:
        summary = pull(store, accesses, datetime.now(timezone.utc) - window.start,
                       progress=lambda line: console.print(f"  {line}", highlight=False))
    except AdminKeyError as exc:
        raise _fail(console, str(exc), 2) from None
    except StoreError as exc:
        raise _fail(console, str(exc), 1) from None
    finally:
        store.close()
    console.print(f"pulled {summary.window_start:%Y-%m-%d} → {summary.window_end:%Y-%m-%d} UTC "
                  f"({', '.join(a.provider for a in accesses)}; {summary.keys} API keys listed)", highlight=False)
    if not summary.complete:
        raise _fail(console, "the window is left incomplete for: " + ", ".join(
            f"{e.endpoint} ({e.detail})" for e in summary.endpoints if e.status != "complete"), 1)


@reconcile_app.command("show")
@needs_collector_extra("reconcile show")
def show_command(
    since: str = typer.Option("7d", "--since", help="Window start: 7d, 30d or an ISO date (whole UTC days)."),
    until: str = typer.Option(None, "--until"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (exact amounts as strings)."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV: section, line, metric, value."),
    data_dir: Path = typer.Option(None, "--data-dir"),
    dsn: str = typer.Option(None, "--dsn"),
) -> None:
    """Per day and provider: the bill, what llmsight explains, the unexplained part by key and model, price drift."""
    from rich.console import Console

    from llmsight.collector.config import load_settings
    from llmsight.collector.reconcile.render import print_reconciliation, to_csv, to_json
    from llmsight.collector.reconcile.service import day_bounds, read_reconciliation
    from llmsight.collector.report.window import Window, WindowError
    from llmsight.collector.store import StoreError
    from llmsight.errors import ConfigurationError

    console = Console(stderr=True)
    if as_json and as_csv:
        raise _fail(console, "give --json or --csv, not both", 2)
    try:
        window = Window.parse(since, until)
        settings = load_settings(data_dir=data_dir, clickhouse_dsn=dsn)
    except (WindowError, ConfigurationError) as exc:
        raise _fail(console, str(exc), 2) from None
    start, end = day_bounds(window.start, window.end)
    try:
        data = read_reconciliation(settings, start, end)
    except (StoreError, OSError) as exc:
        raise _fail(console, str(exc), 1) from None
    if as_json:
        typer.echo(to_json(data))
    elif as_csv:
        typer.echo(to_csv(data), nl=False)
    else:
        print_reconciliation(data, Console())


def register(app: typer.Typer) -> None:
    app.add_typer(reconcile_app, name="reconcile")

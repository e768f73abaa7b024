"""`llmsight reprice` and `llmsight prices` (heavy imports inside the commands)."""

from __future__ import annotations

from pathlib import Path

import typer

from llmsight.extras import needs_collector_extra

prices_app = typer.Typer(help="Look up and check prices.", no_args_is_help=True)


@prices_app.command("show")
@needs_collector_extra("prices show")
def show(
    model: str = typer.Argument(..., help="Model name, e.g. gpt-4o or claude-sonnet-4-5."),
    provider: str = typer.Option("openai", "--provider"),
    at: str = typer.Option(None, "--at", help="ISO date or date-time (UTC) the price must be in force (default: now)."),
    service_tier: str = typer.Option("", "--service-tier", help="batch, flex or priority (default: standard)."),
    server: str = typer.Option("", "--server", help="server.address of the calls (a self-hosted server is unpriced)."),
    prices_file: Path = typer.Option(None, "--prices-file"),
) -> None:
    """Print the prices llmsight would apply: the base price and every tier with its threshold."""
    from datetime import datetime, timezone

    from llmsight.attributes import SERVER_ADDRESS
    from llmsight.collector.config import load_settings
    from llmsight.collector.instants import parse_instant
    from llmsight.collector.pricing import Pricer
    from llmsight.collector.pricing.pricer import describe_price
    from llmsight.collector.record import CallRecord

    try:
        when = parse_instant(at) if at else datetime.now(timezone.utc)
    except ValueError:
        typer.echo(f"llmsight prices show: --at {at!r} is not an ISO date or date-time (UTC), e.g. 2026-11-01 or "
                   "2026-11-01T14:30", err=True)
        raise typer.Exit(2) from None
    # The prices file the collector would use: --prices-file, else LLMSIGHT_PRICES_FILE (or the config file's).
    pricer = Pricer(load_settings(prices_file=prices_file).prices_file)
    probe = CallRecord(ts=when, trace_id="0" * 32, span_id="0" * 16, provider=provider,
                       request_model=model, service_tier=service_tier.lower(),
                       attributes={SERVER_ADDRESS: server} if server else {})
    found = pricer.price_in_force(probe)
    if found is None:
        typer.echo(f"no price for {provider}/{model}{f' at {server}' if server else ''} at {when:%Y-%m-%d %H:%M} UTC: "
                   "add it to a prices file", err=True)
        raise typer.Exit(1)
    price, source, factor = found
    typer.echo(f"{provider}/{model}{f' ({service_tier})' if service_tier else ''} at {when:%Y-%m-%d %H:%M} UTC ({source}):")
    for line in describe_price(price):
        typer.echo(f"  {line}")
    if factor != 1:
        typer.echo(f"  batch: no batch price of its own, charged {factor:.0%} of the above")
    listed = pricer.list_price(provider, server, model, model, service_tier.lower())
    if listed is not None and listed.boundaries and not source.startswith("override:"):
        times = ", ".join(f"{b // 3_600_000_000:02d}:{b // 60_000_000 % 60:02d}" for b in listed.boundaries)
        typer.echo(f"  prices change with the time of day (UTC) at {times}: shown are those in force at {when:%H:%M} UTC")


@prices_app.command("check")
@needs_collector_extra("prices check")
def check(path: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Validate a prices overrides file (errors name the line)."""
    from llmsight.collector.pricing import OverridesError, load_overrides

    try:
        overrides = load_overrides(path)
    except OverridesError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None  # a wrong prices file is wrong configuration, as for the collector
    typer.echo(f"{path}: {len(overrides.models)} model prices, {len(overrides.discounts)} discounts, "
               f"{len(overrides.servers)} servers — OK")


def register(app: typer.Typer) -> None:
    app.add_typer(prices_app, name="prices")

    @app.command(help="Recompute stored costs in a window after prices changed (or --restore a backup it kept).")
    @needs_collector_extra("reprice")
    def reprice(
        since: str | None = typer.Option(None, "--since", help="Window start: 7d, 24h or an ISO date."),
        until: str | None = typer.Option(None, "--until"),
        data_dir: Path = typer.Option(None, "--data-dir"),
        dsn: str = typer.Option(None, "--dsn"),
        prices_file: Path = typer.Option(None, "--prices-file"),
        restore: Path | None = typer.Option(
            None, "--restore", exists=True,
            help="Put back the costs an earlier reprice changed: its backup directory (DATA_DIR/reprice-backups/…) "
            "or one file of it.",
        ),
    ) -> None:
        from rich.console import Console
        from rich.progress import Progress

        from llmsight.collector.config import load_settings
        from llmsight.collector.dead_letter import RowFileError
        from llmsight.collector.pricing import OverridesError, Pricer
        from llmsight.collector.pricing.reprice import RepriceError
        from llmsight.collector.pricing.reprice import reprice as run
        from llmsight.collector.pricing.reprice import restore as run_restore
        from llmsight.collector.report.window import Window, WindowError
        from llmsight.collector.store import Store, StoreError

        console = Console(stderr=True)
        if (since is None) == (restore is None):
            console.print("[red]llmsight reprice:[/red] give either --since (reprice a window) or --restore DIR")
            raise typer.Exit(2)
        try:
            window = Window.parse(since, until) if since else None
            settings = load_settings(data_dir=data_dir, clickhouse_dsn=dsn, prices_file=prices_file)
            pricer = Pricer(settings.prices_file)
        except (WindowError, OverridesError) as exc:
            console.print(f"[red]llmsight reprice:[/red] {exc}")
            raise typer.Exit(2) from None
        try:
            store = Store.open(settings.effective_dsn, create=False)
        except StoreError as exc:
            console.print(f"[red]llmsight reprice:[/red] {exc}")
            raise typer.Exit(1) from None
        try:
            if restore is not None:
                restored = run_restore(store, restore)
                console.print(f"restored {restored:,} calls from {restore}", highlight=False)
                return
            assert window is not None
            with Progress(console=console) as progress:
                task = progress.add_task("repricing", total=None)
                result = run(store, pricer, window.start, window.end, work_dir=settings.data_dir,
                             raw_ttl_days=settings.raw_ttl_days, progress=lambda phase, done, total: progress.update(
                                 task, description=phase, completed=done, total=total))
        except (StoreError, RepriceError, RowFileError) as exc:
            console.print(f"[red]llmsight reprice:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from None
        finally:
            store.close()
        console.print(f"repriced {result.rows:,} calls ({result.changed:,} changed) from {result.start:%Y-%m-%d %H:00} "
                      f"to {result.end:%Y-%m-%d %H:00} UTC: ${result.total_before:,.4f} → ${result.total_after:,.4f}; "
                      f"unpriced now: {result.unpriced_after:,}; {result.rollup_corrections:,} rollup rows corrected",
                      highlight=False)
        if result.backup is not None:
            console.print(f"the previous costs are kept in {result.backup} (put them back: llmsight reprice --restore DIR)",
                          highlight=False)

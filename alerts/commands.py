"""`llmsight alerts compile|check` and `llmsight grafana sync`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from llmsight.extras import needs_collector_extra

alerts_app = typer.Typer(help="Alert rules: compile to Grafana provisioning, or evaluate once.", no_args_is_help=True)
grafana_app = typer.Typer(help="Push dashboards, data source and alerting to an existing Grafana.", no_args_is_help=True)


@alerts_app.command("compile")
@needs_collector_extra("alerts compile")
def compile_command(
    out_dir: Path = typer.Argument(Path("alerts/provisioning"), help="Where to write the provisioning YAML."),
    alerts_file: Path = typer.Option(
        None, "--alerts-file", envvar="LLMSIGHT_ALERTS_FILE", help="Thresholds/webhooks YAML [LLMSIGHT_ALERTS_FILE]."
    ),
) -> None:
    """Write Grafana alert rule, contact point and policy provisioning files."""
    import yaml

    from llmsight.alerts.grafana import provisioning_files

    config = _config_or_exit(alerts_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, document in provisioning_files(config).items():
        (out_dir / name).write_text(yaml.safe_dump(document, sort_keys=False, width=120))
        typer.echo(f"wrote {out_dir / name}")


@alerts_app.command("check")
@needs_collector_extra("alerts check")
def check_command(
    data_dir: Path = typer.Option(None, "--data-dir"),
    dsn: str = typer.Option(None, "--dsn"),
    alerts_file: Path = typer.Option(None, "--alerts-file", help="Thresholds/webhooks YAML [LLMSIGHT_ALERTS_FILE]."),
) -> None:
    """Evaluate every rule once against the store and print what breaches its threshold."""
    from rich.console import Console
    from rich.table import Table

    from llmsight.alerts.evaluator import RULE_FAILED, AlertEvaluator, Transition
    from llmsight.collector.config import load_settings
    from llmsight.collector.read_api import running_collector
    from llmsight.collector.store import Store, StoreError

    settings = load_settings(data_dir=data_dir, clickhouse_dsn=dsn, alerts_file=alerts_file)
    config = _config_or_exit(settings.alerts_file)  # the same validation the collector applies at start
    try:
        collector = None if settings.clickhouse_dsn else running_collector(settings.data_dir)
        if collector is not None:  # it owns the embedded store: it evaluates its rules (its alerts config)
            transitions = [Transition(**t) for t in collector.check_alerts()]
        else:
            store = Store.open(settings.effective_dsn, create=False)
            try:
                transitions = AlertEvaluator(store.query, config).evaluate_once()
            finally:
                store.close()
    except StoreError as exc:
        typer.echo(f"llmsight alerts check: {exc}", err=True)
        raise typer.Exit(1) from None
    failed = [t for t in transitions if t.rule_id == RULE_FAILED]
    breaching = [t for t in transitions if t.rule_id != RULE_FAILED]
    table = Table(title="Alerts firing now")
    for column in ("rule", "severity", "labels", "value", "threshold"):
        table.add_column(column)
    for t in breaching:
        table.add_row(t.rule_id, t.severity, ", ".join(f"{k}={v}" for k, v in t.labels.items()), f"{t.value:.4g}", f"{t.threshold:g}")
    if breaching:
        Console().print(table)
    for t in failed:  # never "nothing breaches" when a rule could not tell
        typer.echo(t.summary, err=True)
    if failed:
        typer.echo(f"{len(failed)} alert rule(s) cannot be evaluated: their thresholds were not checked", err=True)
        raise typer.Exit(1)
    if not breaching:
        Console().print("No alert rule breaches its threshold.")


def _config_or_exit(path: Path | None) -> Any:
    """The validated alerts file; on an error, `file:line: what is wrong` and exit code 2."""
    from llmsight.alerts.rules import load_config
    from llmsight.collector.config_file import ConfigFileError

    try:
        return load_config(path)
    except ConfigFileError as exc:
        typer.echo(f"invalid alerts file:\n{exc}", err=True)
        raise typer.Exit(2) from None


@grafana_app.command("sync")
@needs_collector_extra("grafana sync")
def sync_command(
    url: str = typer.Option(..., "--url", help="Grafana base URL, e.g. http://localhost:3000"),
    token: str = typer.Option(None, "--token", envvar="GRAFANA_TOKEN", help="Service account token."),
    user: str = typer.Option(None, "--user", envvar="GRAFANA_USER"),
    password: str = typer.Option(None, "--password", envvar="GRAFANA_PASSWORD"),
    clickhouse_url: str = typer.Option("http://clickhouse:8123", "--clickhouse-url", help="How Grafana reaches ClickHouse."),
    clickhouse_user: str = typer.Option("llmsight_readonly", "--clickhouse-user"),
    clickhouse_password: str = typer.Option("", "--clickhouse-password", envvar="CLICKHOUSE_READONLY_PASSWORD"),
    webhook_url: str = typer.Option(None, "--webhook-url", envvar="LLMSIGHT_ALERT_WEBHOOK_URL",
                                    help="Alert contact point URL; without one, no contact point or policy is synced."),
    alerts_file: Path = typer.Option(None, "--alerts-file", envvar="LLMSIGHT_ALERTS_FILE",
                                     help="Thresholds and budgets YAML [LLMSIGHT_ALERTS_FILE]."),
) -> None:
    """Create or update the data source, dashboards, alert rules and contact point (idempotent)."""
    from llmsight.alerts.sync import GrafanaTarget, sync

    if not token and not (user and password):
        typer.echo("grafana sync: give --token, or --user and --password", err=True)
        raise typer.Exit(2)
    target = GrafanaTarget(url=url, token=token, user=user, password=password)
    alerts = _config_or_exit(alerts_file)
    try:
        report = sync(target, clickhouse_url=clickhouse_url, clickhouse_user=clickhouse_user,
                      clickhouse_password=clickhouse_password, webhook_url=webhook_url, alerts=alerts)
    except Exception as exc:  # noqa: BLE001 - every failure of the Grafana API is a sentence, not a traceback
        message, code = _grafana_failure(exc, url)
        typer.echo(f"llmsight grafana sync: {message}", err=True)
        raise typer.Exit(code) from None
    for line in report:
        typer.echo(line)


def _grafana_failure(exc: Exception, url: str) -> tuple[str, int]:
    """What went wrong talking to Grafana, and the exit code: 2 for a URL or credentials the user must fix,
    1 for a Grafana that cannot be reached or failed. Anything else is a bug: raised again."""
    import niquests  # grafana-client's HTTP client
    from grafana_client.client import GrafanaBadInputError, GrafanaException, GrafanaUnauthorizedError

    if isinstance(exc, (niquests.exceptions.InvalidURL, niquests.exceptions.MissingSchema,
                        niquests.exceptions.InvalidSchema)):
        return f"{url!r} is not a Grafana URL (e.g. http://localhost:3000): {exc}", 2
    if isinstance(exc, GrafanaUnauthorizedError):
        return f"Grafana at {url} refused the credentials (check --token, or --user and --password): {exc}", 2
    if isinstance(exc, GrafanaBadInputError):
        return f"Grafana at {url} refused a request: {exc}", 1
    if isinstance(exc, (niquests.exceptions.RequestException, GrafanaException)):
        return f"cannot reach Grafana at {url}: {exc}", 1
    raise exc


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(grafana_app, name="grafana")

"""`llmsight collector`: run the OTLP receiver and store (imports heavy modules only when run)."""

from __future__ import annotations

from pathlib import Path

import typer

from llmsight.extras import needs_collector_extra


def register(app: typer.Typer) -> None:
    @app.command(help="Run the collector: OTLP in (HTTP 4318, gRPC 4317), priced rows in ClickHouse out.")
    @needs_collector_extra("collector")
    def collector(
        data_dir: Path = typer.Option(None, "--data-dir", help="Embedded store, spool and state [LLMSIGHT_DATA_DIR]."),
        dsn: str = typer.Option(None, "--dsn", help="chdb://PATH or http(s)://user:pass@host:8123 [LLMSIGHT_CLICKHOUSE_DSN]. "
                                "With a password, prefer --dsn-file or the variable: a command line shows in ps."),
        dsn_file: Path = typer.Option(None, "--dsn-file", help="Read the DSN from this file (mode 0600) [LLMSIGHT_CLICKHOUSE_DSN_FILE]."),
        http_port: int = typer.Option(None, "--http-port", help="OTLP/HTTP port (default 4318; 0 picks a free one)."),
        grpc_port: int = typer.Option(None, "--grpc-port", help="OTLP/gRPC port (default 4317)."),
        read_api_port: int = typer.Option(
            None, "--read-api-port", help="Read API port for report/alerts (default 4319; loopback only) [LLMSIGHT_READ_API_PORT]."
        ),
        query_port: int = typer.Option(None, "--query-port", hidden=True, help="Deprecated: --read-api-port."),
        bind: str = typer.Option(None, "--bind", help="Address OTLP listens on (default 127.0.0.1)."),
        auth_token: str = typer.Option(None, "--auth-token", help="Require this bearer token from exporters (and on /metrics) "
                                       "[LLMSIGHT_AUTH_TOKEN]. Prefer --auth-token-file or the variable: a command line shows in ps."),
        auth_token_file: Path = typer.Option(None, "--auth-token-file", help="Read the bearer token from this file (mode 0600) "
                                             "[LLMSIGHT_AUTH_TOKEN_FILE]."),
        insecure: bool = typer.Option(False, "--insecure", help="Allow a non-loopback --bind without --auth-token."),
        prices_file: Path = typer.Option(None, "--prices-file", help="Price overrides YAML."),
        alerts_file: Path = typer.Option(None, "--alerts-file", help="Alert thresholds and webhooks YAML."),
        log_level: str = typer.Option(None, "--log-level", help="debug, info, warning (default) or error, for both processes [LLMSIGHT_LOG_LEVEL]."),
        print_cluster_ddl: str = typer.Option(None, "--print-cluster-ddl", metavar="CLUSTER", help="Print the cluster DDL and exit."),
    ) -> None:
        from llmsight.collector.run import run_collector

        if print_cluster_ddl:
            from llmsight.collector.store.schema import cluster_ddl

            typer.echo(";\n\n".join(cluster_ddl(print_cluster_ddl)) + ";")
            return
        if query_port is not None:
            typer.echo("llmsight collector: --query-port is deprecated: use --read-api-port", err=True)
            read_api_port = read_api_port if read_api_port is not None else query_port
        code = run_collector(
            data_dir=data_dir, clickhouse_dsn=dsn, clickhouse_dsn_file=dsn_file, otlp_http_port=http_port,
            otlp_grpc_port=grpc_port, read_api_port=read_api_port, bind_host=bind, auth_token=auth_token,
            auth_token_file=auth_token_file, insecure=insecure or None, prices_file=prices_file,
            alerts_file=alerts_file, log_level=log_level,
        )
        raise typer.Exit(code)

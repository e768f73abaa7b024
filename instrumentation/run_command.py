"""`llmsight run <command> [args…]`: run a Python app with LLM calls traced, no code change.

Like `opentelemetry-instrument`: the child process starts with llmsight's sitecustomize on PYTHONPATH,
which configures the OTel SDK from the OTEL_* variables (default exporter: OTLP/HTTP to the collector on
127.0.0.1:4318) and instruments the provider SDKs before the app's code runs.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import typer

BOOTSTRAP_DIR = Path(__file__).parent / "_bootstrap"


def register(app: typer.Typer) -> None:
    @app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help="Run a command with its LLM calls traced (e.g. `llmsight run python app.py`).",
    )
    def run(
        ctx: typer.Context,
        service_name: str = typer.Option(None, "--service-name", help="Sets OTEL_SERVICE_NAME."),
        endpoint: str = typer.Option(
            None, "--endpoint", help="Collector OTLP/HTTP base URL (default http://127.0.0.1:4318)."
        ),
        capture_content: bool = typer.Option(False, "--capture-content", help="Record prompts and completions."),
    ) -> None:
        command = list(ctx.args)
        if not command:
            typer.echo("usage: llmsight run <command> [args...]", err=True)
            raise typer.Exit(2)
        executable = shutil.which(command[0])
        if executable is None:
            typer.echo(f"llmsight run: command not found: {command[0]}", err=True)
            raise typer.Exit(127)
        env = os.environ
        paths = [str(BOOTSTRAP_DIR), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        if service_name:
            env["OTEL_SERVICE_NAME"] = service_name
        if endpoint:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        if capture_content:
            env["LLMSIGHT_CAPTURE_CONTENT"] = "true"
        sys.stdout.flush()
        os.execve(executable, command, env)

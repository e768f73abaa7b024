"""`llmsight run <command> [args…]`: run a Python app with LLM calls traced, no code change.

Like `opentelemetry-instrument`: the child process starts with llmsight's sitecustomize on PYTHONPATH,
which configures the OTel SDK from the OTEL_* variables (default exporter: OTLP/HTTP to the collector on
127.0.0.1:4318) and instruments the provider SDKs before the app's code runs.

Parsed with argparse, not typer: `run` is the one command an app-only install (no `cli` extra) needs.
"""

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import typer

BOOTSTRAP_DIR = Path(__file__).parent / "_bootstrap"
HELP = "Run a command with its LLM calls traced (e.g. `llmsight run python app.py`)."


def _provider_host(value: str) -> tuple[str, str]:
    host, _, provider = value.partition("=")
    if not host.strip() or not provider.strip():
        raise argparse.ArgumentTypeError(f"expected HOST=PROVIDER, got {value!r}")
    return host.strip(), provider.strip()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmsight run", description=HELP)
    parser.add_argument("--service-name", help="Sets OTEL_SERVICE_NAME.")
    parser.add_argument("--endpoint", help="Collector OTLP/HTTP base URL (default http://127.0.0.1:4318).")
    parser.add_argument("--capture-content", action="store_true", help="Record prompts and completions.")
    parser.add_argument(
        "--provider-host", action="append", default=[], metavar="HOST=PROVIDER", type=_provider_host,
        help="Name the provider of OpenAI-compatible calls to HOST (or HOST:PORT, globs allowed), e.g. "
        "llm-gateway.corp=openai; repeatable. Sets LLMSIGHT_PROVIDER_HOSTS.",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="The command to run, e.g. python app.py.")
    return parser


def main(argv: list[str]) -> NoReturn:
    """Parse `llmsight run`'s arguments and replace this process with the traced command."""
    args = _parser().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("usage: llmsight run <command> [args...]", file=sys.stderr)
        sys.exit(2)
    executable = shutil.which(command[0])
    if executable is None:
        print(f"llmsight run: command not found: {command[0]}", file=sys.stderr)
        sys.exit(127)
    env = os.environ
    paths = [str(BOOTSTRAP_DIR), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if args.service_name:
        env["OTEL_SERVICE_NAME"] = args.service_name
    if args.endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = args.endpoint
    if args.provider_host:
        env["LLMSIGHT_PROVIDER_HOSTS"] = json.dumps(dict(args.provider_host))  # the flags replace the variable
    if args.capture_content:
        env["LLMSIGHT_CAPTURE_CONTENT"] = "true"
    sys.stdout.flush()
    os.execve(executable, command, env)


def register(app: "typer.Typer") -> None:
    import typer

    # Every argument, `--help` included, goes to the argparse parser above: one definition of the options.
    # (No `from __future__ import annotations` here: typer reads `ctx`'s annotation, and typer is local.)
    @app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
        help=HELP,
    )
    def run(ctx: typer.Context) -> None:
        main(list(ctx.args))

"""The `llmsight` command's entry point, and clear failures when a command needs an extra that is not
installed (`cli` for the command line, `collector` for the collector's commands) or its configuration
(environment, flags, YAML files) is wrong."""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from llmsight.errors import LLMSightError

_Command = TypeVar("_Command", bound=Callable[..., Any])

# chDB is not here: a collector in front of a ClickHouse server runs without it (the store says when it is needed).
COLLECTOR_MODULES = ("clickhouse_connect", "genai_prices", "opentelemetry.proto", "grpc", "yaml", "msgspec")
CLI_MODULES = ("typer", "rich")
# `llmsight demo`: the embedded store and the SDKs its workload drives.
DEMO_MODULES = ("chdb", "openai", "anthropic", "google.genai", "boto3")


class MissingExtraError(LLMSightError, RuntimeError):
    pass


def main() -> None:
    """`llmsight`: `run` needs nothing beyond the app-side install; every other command needs the `cli` extra."""
    if sys.argv[1:2] == ["run"]:
        from llmsight.run_command import main as run

        run(sys.argv[2:])
    missing = [name for name in CLI_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"llmsight: this command needs the command-line extra (missing: {', '.join(missing)}). Install it with: "
            "pip install 'llmsight[cli]' (or 'llmsight[collector]' for the collector). "
            "`llmsight run` works without it.",
            file=sys.stderr,
        )
        sys.exit(2)
    from llmsight.cli import main as cli

    cli()


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a dotted name whose parent is missing, or a module set to None
        return False


def require_collector_extra(extra: str = "collector") -> None:
    modules = COLLECTOR_MODULES + (DEMO_MODULES if extra == "demo" else ())
    missing = [name for name in modules if not _installed(name)]
    if missing:
        raise MissingExtraError(
            f"this command needs the {extra} extra (missing: {', '.join(missing)}). Install it with: "
            f"pip install 'llmsight[{extra}]' (from a clone of the repository: pip install '.[{extra}]')"
        )


def needs_collector_extra(name: str, extra: str = "collector") -> Callable[[_Command], _Command]:
    """Decorate a CLI command (under `@app.command`): without the extra (`collector`, or `demo`: the collector
    and the provider SDKs) it exits 2 with the install hint instead of an ImportError traceback; a configuration
    error exits 2 with its `FILE:LINE: what`."""

    def decorate(command: _Command) -> _Command:
        @functools.wraps(command)  # keeps the signature typer reads the options from
        def checked(*args: Any, **kwargs: Any) -> Any:
            import typer

            try:
                require_collector_extra(extra)
            except MissingExtraError as exc:
                typer.echo(f"llmsight {name}: {exc}", err=True)
                raise typer.Exit(2) from None
            import logging

            from llmsight.errors import ConfigurationError, LLMSightError

            # clickhouse-connect logs a warning per failed request; the command says what failed, once.
            logging.getLogger("clickhouse_connect").setLevel(logging.ERROR)
            try:
                return command(*args, **kwargs)
            except ConfigurationError as exc:
                typer.echo(f"llmsight {name}: {exc}", err=True)
                raise typer.Exit(2) from None
            except LLMSightError as exc:  # a failed operation (a store unreachable, missing or refusing): the reason
                typer.echo(f"llmsight {name}: {exc}", err=True)
                raise typer.Exit(1) from None

        return checked  # type: ignore[return-value]

    return decorate

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


def require_collector_extra() -> None:
    missing = [name for name in COLLECTOR_MODULES if importlib.util.find_spec(name.split(".")[0]) is None]
    if missing:
        raise MissingExtraError(
            f"this command needs the collector extra (missing: {', '.join(missing)}). "
            "Install it with: pip install 'llmsight[collector]'"
        )


def needs_collector_extra(name: str) -> Callable[[_Command], _Command]:
    """Decorate a CLI command (under `@app.command`): without the extra it exits 2 with the install hint
    instead of an ImportError traceback; a configuration error exits 2 with its `FILE:LINE: what`."""

    def decorate(command: _Command) -> _Command:
        @functools.wraps(command)  # keeps the signature typer reads the options from
        def checked(*args: Any, **kwargs: Any) -> Any:
            import typer

            try:
                require_collector_extra()
            except MissingExtraError as exc:
                typer.echo(f"llmsight {name}: {exc}", err=True)
                raise typer.Exit(2) from None
            from llmsight.errors import ConfigurationError

            try:
                return command(*args, **kwargs)
            except ConfigurationError as exc:
                typer.echo(f"llmsight {name}: {exc}", err=True)
                raise typer.Exit(2) from None

        return checked  # type: ignore[return-value]

    return decorate

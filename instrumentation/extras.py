"""Clear failures when a command needs the `collector` extra and it is not installed, or its configuration
(environment, flags, YAML files) is wrong."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import Any, TypeVar

_Command = TypeVar("_Command", bound=Callable[..., Any])

COLLECTOR_MODULES = ("clickhouse_connect", "chdb", "genai_prices", "opentelemetry.proto", "grpc", "yaml")


class MissingExtraError(RuntimeError):
    pass


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
            from llmsight.collector.config_file import ConfigError

            try:
                return command(*args, **kwargs)
            except ConfigError as exc:
                typer.echo(f"llmsight {name}: {exc}", err=True)
                raise typer.Exit(2) from None

        return checked  # type: ignore[return-value]

    return decorate

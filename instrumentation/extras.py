"""Clear failures when a command needs the `collector` extra and it is not installed."""

from __future__ import annotations

import importlib.util

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

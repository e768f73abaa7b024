"""Logging for the collector's two processes (`llmsight collector --log-level`, LLMSIGHT_LOG_LEVEL).

Both processes log to their stderr (the terminal, or the container's log) in one format that names the
process. The level applies to llmsight's own loggers; libraries (urllib3, grpc, clickhouse-connect) stay at
WARNING, so `debug` shows what llmsight does rather than every HTTP connection.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from pydantic import BeforeValidator

LogLevel = Annotated[
    Literal["debug", "info", "warning", "error"], BeforeValidator(lambda value: value.lower() if isinstance(value, str) else value)
]
LIBRARY_LEVEL = logging.WARNING


def configure_logging(level: str, process: str) -> None:
    logging.basicConfig(
        level=LIBRARY_LEVEL,
        format=f"%(asctime)s llmsight {process}[%(process)d] %(levelname)s %(name)s: %(message)s",
        force=True,  # this process's configuration, whatever an import set up before
    )
    logging.getLogger("llmsight").setLevel(level.upper())

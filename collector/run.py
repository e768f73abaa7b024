"""Run the collector in the foreground until SIGINT/SIGTERM, then flush and exit."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from rich.console import Console
from rich.markup import escape

from llmsight.collector.app import Collector
from llmsight.collector.config import ExposureError, load_settings
from llmsight.collector.gc_tuning import tune_for_throughput
from llmsight.collector.lockfile import LockedError
from llmsight.collector.logs import configure_logging
from llmsight.collector.store import StoreError
from llmsight.errors import ConfigurationError

logger = logging.getLogger("llmsight.collector")


def run_collector(**overrides: Any) -> int:
    console = Console(stderr=True)
    try:
        settings = load_settings(**overrides)
    except ConfigurationError as exc:  # names the variable, flag or file line; never a DSN's password
        console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        return 2
    configure_logging(settings.log_level, "store")
    # Before start-up: its state file tells others it runs, and a SIGTERM from then on must stop it cleanly.
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    collector = Collector(settings)
    try:
        collector.start()
    except ExposureError as exc:
        console.print(f"[red]llmsight collector will not start:[/red] {escape(str(exc))}", highlight=False)
        return 2
    except ConfigurationError as exc:  # the prices or alerts file: file:line
        console.print("[red]llmsight collector: invalid configuration[/red]")
        console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        return 2
    except (StoreError, LockedError, OSError) as exc:
        console.print(f"[red]llmsight collector could not start:[/red] {escape(str(exc))}", soft_wrap=True)
        return 1
    tune_for_throughput()  # after start-up: what it built is frozen
    console.print(
        f"[bold green]llmsight collector[/bold green] listening on {settings.bind_host}: "
        f"OTLP/HTTP :{collector.http_port}  OTLP/gRPC :{collector.grpc_port}  "
        f"read API 127.0.0.1:{collector.read_api_port}\n"
        f"store: {settings.redacted_dsn}   spool: {settings.spool_dir}",
        highlight=False,
    )
    logger.info("store process %d ready (spool %s)", os.getpid(), settings.spool_dir)
    stop.wait()
    console.print("stopping: flushing accepted spans to the store…")
    collector.stop()
    console.print("stopped.")
    return 0

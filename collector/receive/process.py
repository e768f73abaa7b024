"""The receiver process: OTLP/HTTP and OTLP/gRPC in, normalised records durable in the spool.

Decoding and normalising spans is pure Python, and so is much of pricing and inserting. In one process they
take turns on one GIL and the collector used about one core however many the machine had; as a process of
its own the receiver runs next to the store process (spool → ClickHouse) instead of in turns with it.

The store process starts it (`python -m llmsight.collector.receive.process`) and owns its lifetime: the
config goes in as a JSON line on its stdin and "ready" (with the bound ports) comes back on its stdout;
"stop" on stdin ends it. When the store process dies, even by `kill -9`, stdin reaches end-of-file and
the receiver exits at once, releasing its ports and the spool for the next collector.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from llmsight.collector.accept import AcceptLimits
from llmsight.collector.logs import LogLevel, configure_logging

logger = logging.getLogger("llmsight.collector")
START_TIMEOUT_S = 60.0


class ReceiverConfig(BaseModel):
    """Everything the receiver process needs, sent to it as JSON on its stdin."""

    spool_dir: Path
    shared_file: Path
    host: str
    http_port: int
    grpc_port: int
    auth_token: str | None
    default_service: str
    provider_hosts: dict[str, str] = {}
    limits: AcceptLimits
    log_level: LogLevel = "warning"


class ReceiverError(OSError):
    """The receiver process could not start (port in use, spool locked, ...)."""


class ReceiverProcess:
    """Handle, in the store process, on the receiver process; restarts it if it dies unexpectedly."""

    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.http_port = self.grpc_port = 0

    def start(self) -> None:
        self._spawn(self.config)
        # Restarts bind the same ports, so exporters configured with them keep working.
        self.config = self.config.model_copy(update={"http_port": self.http_port, "grpc_port": self.grpc_port})
        self._watcher = threading.Thread(target=self._watch, name="llmsight-receiver-watch", daemon=True)
        self._watcher.start()

    def _spawn(self, config: ReceiverConfig) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "llmsight.collector.receive.process"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(config.model_dump_json().encode() + b"\n")
            process.stdin.flush()
            message = _read_message(process.stdout, START_TIMEOUT_S)
        except BaseException:
            process.kill()
            process.wait()
            raise
        if message is None or message.get("status") != "ready":
            process.kill()
            process.wait()
            reason = (message or {}).get("error") or f"it exited with code {process.returncode} (see its stderr above)"
            raise ReceiverError(f"the OTLP receiver process could not start: {reason}")
        self.http_port, self.grpc_port = message["http_port"], message["grpc_port"]
        self._process = process

    def _watch(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            try:
                process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                continue
            if self._stopping.is_set():
                return
            logger.error("the OTLP receiver process exited unexpectedly (code %s); restarting it", process.returncode)
            time.sleep(delay)
            try:
                self._spawn(self.config)
                delay = 0.5
                if self._stopping.is_set():  # stop() ran while this one was starting: end it too
                    self._end(self._process)
                    return
            except ReceiverError as exc:
                logger.error("%s", exc)
                delay = min(delay * 2, 30.0)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop receiving; returns once the receiver has closed its spool (or was killed)."""
        self._stopping.set()
        if self._process is not None:
            self._end(self._process, timeout)
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(5)

    @staticmethod
    def _end(process: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
        if process is None:
            return
        try:
            assert process.stdin is not None
            process.stdin.write(b"stop\n")
            process.stdin.close()
            process.wait(timeout)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _read_message(stream: IO[bytes], timeout: float) -> dict[str, Any] | None:
    """One JSON line from the receiver process, or None if it exits (or stays silent) first."""
    # poll, not select: select() fails on descriptors past 1024, which a long-lived host process can reach.
    poller = select.poll()
    poller.register(stream, select.POLLIN | select.POLLHUP)
    if not poller.poll(timeout * 1000):
        return None
    line = stream.readline()
    return json.loads(line) if line else None


def serve(config: ReceiverConfig, messages: IO[str], commands: IO[str]) -> None:
    """The receiver process: open the spool, bind, report ready, serve until told to stop."""
    # Imported here: the store process never needs the receivers' modules (gRPC, protobuf decoding).
    from llmsight.collector.accept import Acceptor
    from llmsight.collector.gc_tuning import tune_for_throughput
    from llmsight.collector.receive.grpc import OtlpGrpcReceiver
    from llmsight.collector.receive.http import OtlpHttpReceiver
    from llmsight.collector.receive.ingest import Ingest
    from llmsight.collector.shared import SharedState
    from llmsight.collector.spool import Spool

    def send(**message: Any) -> None:
        messages.write(json.dumps(message) + "\n")
        messages.flush()

    try:
        shared = SharedState.attach(config.shared_file)
        spool = Spool(config.spool_dir, on_durable=lambda segment, size: shared.set_position("durable", segment, size))
        ingest = Ingest(
            Acceptor(spool, shared, config.limits), default_service=config.default_service,
            provider_hosts=tuple(config.provider_hosts.items()),
        )
        http = OtlpHttpReceiver(ingest, config.host, config.http_port, auth_token=config.auth_token, metrics=shared.metrics)
        grpc = OtlpGrpcReceiver(ingest, config.host, config.grpc_port, auth_token=config.auth_token)
        http.start()
        grpc.start()
    except Exception as exc:  # noqa: BLE001 - whatever stops start-up is reported to the store process
        send(status="error", error=str(exc))
        return  # the process exits: its sockets and the spool lock go with it
    tune_for_throughput()
    send(status="ready", http_port=http.port, grpc_port=grpc.port)
    logger.info("receiving OTLP/HTTP on %s:%d and OTLP/gRPC on %s:%d", config.host, http.port, config.host, grpc.port)
    commands.readline()  # "stop", or end-of-file: the store process is gone (even by kill -9)
    for server in (http, grpc):
        try:
            server.stop()
        except Exception:
            logger.debug("error stopping a receiver", exc_info=True)
    spool.close()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the store process decides
    # Messages to the store process go on the original stdout; anything else printed goes to stderr.
    messages = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    commands = sys.stdin
    config = ReceiverConfig.model_validate_json(commands.readline())
    configure_logging(config.log_level, "receiver")
    serve(config, messages, commands)


if __name__ == "__main__":
    main()

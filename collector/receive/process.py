"""The receiver process: OTLP/HTTP and OTLP/gRPC in, normalised records durable in the spool.

Decoding and normalising spans is pure Python, and so is much of pricing and inserting. In one process they
take turns on one GIL and the collector used about one core however many the machine had; as a process of
its own the receiver runs next to the store process (spool → ClickHouse) instead of in turns with it.

The store process starts it (`python -m llmsight.collector.receive.process`) and owns its lifetime: the
config goes in as a JSON line on its stdin and "ready" (with the bound ports) comes back on its stdout;
"stop" on stdin ends it. When the store process dies, even by `kill -9`, the receiver dies with it, whatever it
is doing, releasing its ports and the spool for the next collector: on Linux the kernel kills it
(PR_SET_PDEATHSIG, asked for by the receiver itself at start; the store process spawns it from one thread that
lives as long as the receiver, since the kernel ties the signal to the spawning thread); elsewhere a thread that
watches the parent, and the end of stdin, exit at once. Everything it acknowledged is in the spool already.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
from llmsight.errors import LLMSightError

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
    read_timeout_s: float | None = None  # None: limits.REQUEST_READ_TIMEOUT_S
    log_level: LogLevel = "warning"


class ReceiverError(LLMSightError, OSError):
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
        """Start the receiver; returns once it is ready (or raises ReceiverError). It is spawned, and respawned,
        by one watcher thread that outlives it: the kernel's parent-death signal follows the spawning thread."""
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                self._spawn(self.config)
            except BaseException as exc:  # noqa: BLE001 - handed to start()'s caller
                failure.append(exc)
                return
            finally:
                started.set()
            self._watch()
            if self._process is not None:  # stop() is ending it: this thread's end would kill it (see above)
                self._process.wait()

        self._watcher = threading.Thread(target=run, name="llmsight-receiver-watch", daemon=True)
        self._watcher.start()
        started.wait()
        if failure:
            raise failure[0]
        # Restarts bind the same ports, so exporters configured with them keep working.
        self.config = self.config.model_copy(update={"http_port": self.http_port, "grpc_port": self.grpc_port})

    def _spawn(self, config: ReceiverConfig) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "llmsight.collector.receive.process", str(os.getpid())],
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
    from llmsight.collector.receive.limits import REQUEST_READ_TIMEOUT_S
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
        read_timeout_s = config.read_timeout_s or REQUEST_READ_TIMEOUT_S
        http = OtlpHttpReceiver(ingest, config.host, config.http_port, auth_token=config.auth_token,
                                metrics=shared.metrics, read_timeout_s=read_timeout_s)
        grpc = OtlpGrpcReceiver(ingest, config.host, config.grpc_port, auth_token=config.auth_token,
                                read_timeout_s=read_timeout_s)
        http.start()
        grpc.start()
    except Exception as exc:  # noqa: BLE001 - whatever stops start-up is reported to the store process
        send(status="error", error=str(exc))
        return  # the process exits: its sockets and the spool lock go with it
    tune_for_throughput()
    send(status="ready", http_port=http.port, grpc_port=grpc.port)
    logger.info("receiving OTLP/HTTP on %s:%d and OTLP/gRPC on %s:%d", config.host, http.port, config.host, grpc.port)
    if commands.readline().strip() != "stop":  # end-of-file: the store process is gone (even by kill -9)
        os._exit(0)  # at once: what was acknowledged is in the spool, and the next collector needs it
    for server in (http, grpc):
        try:
            server.stop()
        except Exception:
            logger.debug("error stopping a receiver", exc_info=True)
    spool.close()


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_PARENT_POLL_S = 0.1


def die_with_parent(parent_pid: int) -> None:
    """Exit as soon as `parent_pid` (the store process) is gone: the kernel's parent-death signal on Linux, and a
    thread watching the parent everywhere (it also covers a parent that died before the signal was asked for)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            logger.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d); watching the parent instead", ctypes.get_errno())

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_POLL_S)
        os._exit(0)  # everything acknowledged is in the spool; nothing else is worth waiting for

    if os.getppid() != parent_pid:
        os._exit(0)
    threading.Thread(target=watch, name="llmsight-parent-watch", daemon=True).start()


def main() -> None:
    if len(sys.argv) > 1:
        die_with_parent(int(sys.argv[1]))
    # Ctrl-C, `kill -- -PGID` and a service manager's stop reach the whole group: the store process decides, and
    # stops this one through its stdin (a receiver that died of the signal would look like a crash to restart).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Messages to the store process go on the original stdout; anything else printed goes to stderr.
    messages = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    commands = sys.stdin
    config = ReceiverConfig.model_validate_json(commands.readline())
    configure_logging(config.log_level, "receiver")
    serve(config, messages, commands)


if __name__ == "__main__":
    main()

"""`llmsight.configure()` never holds the app's exit hostage and never floods its stderr: with the
collector down (connection refused) or hanging (accepts, never answers), the exit hooks take < 1 s and
the app's stderr gets one concise llmsight warning, no retry log and no traceback. With a collector that
answers, the spans buffered at exit are delivered."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# The app prints when its main code ends; an atexit handler registered before llmsight's (so it runs
# after them: atexit is last-in first-out) prints when llmsight's hooks are done.
APP = textwrap.dedent(
    """
    import atexit, sys, time
    atexit.register(lambda: print("hooks-done", time.monotonic(), flush=True))
    import llmsight
    from opentelemetry import trace
    llmsight.configure(service_name="exit-test", endpoint=sys.argv[1])
    for i in range(3):
        with trace.get_tracer("app").start_as_current_span(f"work {i}"):
            pass
    print("main-done", time.monotonic(), flush=True)
    """
)


def _run_app(endpoint: str) -> tuple[float, str]:
    """(seconds the exit hooks took, the app's stderr)."""
    done = subprocess.run([sys.executable, "-c", APP, endpoint], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    marks = dict(line.split() for line in done.stdout.splitlines())
    return float(marks["hooks-done"]) - float(marks["main-done"]), done.stderr


@pytest.fixture
def refused_endpoint() -> Iterator[str]:
    """A port bound for the whole test and never listened on: connecting is refused. (A port merely found free
    could be taken meanwhile by a parallel test, or be the client's own ephemeral port: a connection to itself.)"""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
def hanging_endpoint() -> Iterator[str]:
    """Accepts connections and reads nothing, answers nothing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for conn in accepted:
        conn.close()


@pytest.mark.parametrize("collector", ["refused_endpoint", "hanging_endpoint"])
def test_exit_is_prompt_and_quiet_when_the_collector_does_not_answer(collector, request) -> None:
    took, stderr = _run_app(request.getfixturevalue(collector))
    assert took < 1.0, f"exit hooks took {took:.2f}s"
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("llmsight: ") and "Traceback" not in stderr and "retrying" not in stderr


def test_spans_buffered_at_exit_reach_a_collector_that_answers() -> None:
    received: list[int] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(len(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        took, stderr = _run_app(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert received and all(size > 0 for size in received)  # the 3 spans left in the batch queue at exit
    assert took < 1.0 and stderr == ""

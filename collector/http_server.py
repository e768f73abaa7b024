"""A threaded HTTP server that serves from a background thread: the collector's OTLP/HTTP receiver and
its read-only query API are both one of these."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer


class BackgroundHTTPServer:
    def __init__(self, server: ThreadingHTTPServer, thread_name: str) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=thread_name, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


"""Recordings of what a peer instrumentation really sends: the raw OTLP/HTTP export requests of one app run,
with the local provider's ledger of that run (the truth to check the stored rows against).

`record(...)` runs an app (any Python, e.g. a venv of its own whose OTel pins conflict with ours) against a
local provider and a small OTLP recorder; `replay(...)` posts the requests to a collector again, shifted to
now (raw rows older than the TTL are dropped, and prices are looked up at the call's time).
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmsight.testing.server import ProviderServer
from llmsight.testing.simulation import Billed

HERE = Path(__file__).parent
APP = HERE / "app.py"


class _Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecorderHandler)
        self.bodies: list[tuple[str, str, bytes]] = []  # (path, content-type, body) — decompressed
        self.lock = threading.Lock()


class _RecorderHandler(BaseHTTPRequestHandler):
    server: _Recorder

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.headers.get("content-encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        with self.server.lock:
            self.server.bodies.append((self.path, self.headers.get("content-type", ""), body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()


PROVIDERS = ("openai", "anthropic", "gemini", "bedrock", "mistral")


def provider_urls(server: ProviderServer, providers: tuple[str, ...] = PROVIDERS) -> list[str]:
    """The app's provider URL arguments: the local provider's URL for each provider in `providers`, "-" otherwise."""
    urls = (server.openai_base_url, server.anthropic_base_url, server.gemini_base_url, server.bedrock_endpoint_url,
            server.mistral_server_url)
    return [url if name in providers else "-" for name, url in zip(PROVIDERS, urls, strict=True)]


@contextmanager
def recording(seed: int) -> Iterator[tuple[str, ProviderServer, dict[str, Any]]]:
    """A local provider and an OTLP/HTTP recorder for one app run: yields (the exporter's endpoint, the provider,
    the run), whose `ledger` (the provider's) and `requests` (the trace exports, base64) are filled in at the end."""
    recorder = _Recorder()
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    run: dict[str, Any] = {}
    try:
        with ProviderServer(seed=seed) as provider:
            yield f"http://127.0.0.1:{recorder.server_address[1]}/v1/traces", provider, run
            run["ledger"] = [asdict(entry) for entry in provider.ledger.entries()]
    finally:
        recorder.shutdown()
    run["requests"] = [
        {"content_type": content_type, "body": base64.b64encode(body).decode()}
        for path, content_type, body in recorder.bodies if path.endswith("/v1/traces")  # not logs or metrics
    ]


def record(source: str, python: str, out: Path, *, app: Path = APP, notice: str = "", versions: dict[str, str] | None = None,
           providers: tuple[str, ...] = PROVIDERS, extra_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run `python app SOURCE ENDPOINT OPENAI_URL ANTHROPIC_URL GEMINI_URL BEDROCK_URL MISTRAL_URL [EXTRA_ARGS]`
    (`llmsight`: beside llmsight) and save its export requests and the ledger."""
    with recording(seed=7) as (endpoint, provider, run):
        done = subprocess.run([python, str(app), source, endpoint, *provider_urls(provider, providers), *extra_args],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"{source} app failed:\n{done.stderr[-4000:]}")
    document = {"source": source, "notice": notice, "versions": versions or {}, **run}
    out.write_text(json.dumps(document, indent=1) + "\n")
    return document


def decoded(items: list[dict[str, str]], where: object) -> list[ExportTraceServiceRequest]:
    """A run's recorded `requests` as the export requests they were."""
    requests = []
    for item in items:
        if "protobuf" not in item["content_type"]:
            raise ValueError(f"{where}: only protobuf exports are recorded, got {item['content_type']!r}")
        requests.append(ExportTraceServiceRequest.FromString(base64.b64decode(item["body"])))
    return requests


def load(path: Path) -> tuple[list[ExportTraceServiceRequest], list[Billed]]:
    document = json.loads(path.read_text())
    return decoded(document["requests"], path), [Billed(**entry) for entry in document["ledger"]]


def shifted_to(requests: list[ExportTraceServiceRequest], now_ns: int) -> list[ExportTraceServiceRequest]:
    """The requests with every span moved by one offset so that the last one ends at `now_ns`."""
    spans = [span for r in requests for rs in r.resource_spans for ss in rs.scope_spans for span in ss.spans]
    offset = now_ns - max(span.end_time_unix_nano for span in spans)
    out = []
    for request in requests:
        copy = ExportTraceServiceRequest()
        copy.CopyFrom(request)
        for rs in copy.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    span.start_time_unix_nano += offset
                    span.end_time_unix_nano += offset
        out.append(copy)
    return out

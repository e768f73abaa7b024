"""`llmsight grafana sync` against a local HTTP server that records the Grafana API calls and keeps just
enough state to answer like Grafana (404 before creation, the object after)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from llmsight.alerts.rules import load_rules
from llmsight.cli import app
from llmsight.dashboards.build import render_all


class FakeGrafana:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.objects: dict[str, Any] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> Any:
                length = int(self.headers.get("content-length") or 0)
                return json.loads(self.rfile.read(length)) if length else None

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                body = self._body() if method in ("POST", "PUT") else None
                path = self.path.split("?")[0]
                fake.calls.append((method, self.path, body))
                assert self.headers.get("authorization") == "Bearer test-token"
                if method == "GET" and path in fake.objects:
                    return self._send(200, fake.objects[path])
                if method == "GET" and path == "/api/v1/provisioning/contact-points":
                    return self._send(200, fake.objects.get("contact-points", []))
                if method == "GET":
                    return self._send(404, {"message": "not found"})
                if path == "/api/datasources":
                    fake.objects[f"/api/datasources/uid/{body['uid']}"] = body
                elif path == "/api/folders":
                    fake.objects[f"/api/folders/{body['uid']}"] = body
                elif path == "/api/v1/provisioning/contact-points":
                    fake.objects["contact-points"] = [body]
                return self._send(200, {"status": "success", "uid": (body or {}).get("uid", "x")})

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_PUT(self) -> None:  # noqa: N802
                self._handle("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana()
    yield fake
    fake.server.shutdown()


def sync(grafana: FakeGrafana) -> list[str]:
    before = len(grafana.calls)
    result = CliRunner().invoke(app, ["grafana", "sync", "--url", grafana.url, "--token", "test-token",
                                      "--clickhouse-password", "pw", "--webhook-url", "http://hooks.internal/llmsight"])
    assert result.exit_code == 0, result.output
    return [f"{m} {p.split('?')[0]}" for m, p, _ in grafana.calls[before:]]


def test_first_sync_creates_second_sync_updates(grafana: FakeGrafana) -> None:
    first = sync(grafana)
    writes = [c for c in first if not c.startswith("GET")]
    assert writes == [
        "POST /api/datasources",
        "POST /api/folders",
        *["POST /api/dashboards/db"] * len(render_all()),
        "PUT /api/v1/provisioning/folder/llmsight/rule-groups/llmsight",
        "POST /api/v1/provisioning/contact-points",
        "PUT /api/v1/provisioning/policies",
    ]
    bodies = {f"{m} {p.split('?')[0]}": b for m, p, b in grafana.calls}
    datasource = bodies["POST /api/datasources"]
    assert datasource["type"] == "grafana-clickhouse-datasource" and datasource["secureJsonData"] == {"password": "pw"}
    dashboards = [b for m, p, b in grafana.calls if p == "/api/dashboards/db"]
    assert {d["dashboard"]["uid"] for d in dashboards} == {
        "llmsight-spend", "llmsight-prompt-cache", "llmsight-latency", "llmsight-reliability", "llmsight-model-tiers",
        "llmsight-calls", "llmsight-bill"}
    assert all(d["overwrite"] and d["folderUid"] == "llmsight" for d in dashboards)
    group = bodies["PUT /api/v1/provisioning/folder/llmsight/rule-groups/llmsight"]
    assert len(group["rules"]) == len(load_rules().rules) and group["interval"] == 60
    assert bodies["POST /api/v1/provisioning/contact-points"]["settings"]["url"] == "http://hooks.internal/llmsight"
    second = sync(grafana)
    writes = [c for c in second if not c.startswith("GET")]
    assert writes == [
        "PUT /api/datasources/uid/llmsight-clickhouse",
        *["POST /api/dashboards/db"] * len(render_all()),
        "PUT /api/v1/provisioning/folder/llmsight/rule-groups/llmsight",
        "PUT /api/v1/provisioning/contact-points/llmsight-webhook",
        "PUT /api/v1/provisioning/policies",
    ]


def test_sync_without_a_webhook_url_writes_no_contact_point_that_could_never_deliver(
        grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch) -> None:
    """Grafana's HTTP API stores `${LLMSIGHT_ALERT_WEBHOOK_URL}` literally (only provisioning files are
    substituted): without a URL, sync leaves the contact point and the policy routing to it alone and says so."""
    monkeypatch.delenv("LLMSIGHT_ALERT_WEBHOOK_URL", raising=False)
    result = CliRunner().invoke(app, ["grafana", "sync", "--url", grafana.url, "--token", "test-token"])
    assert result.exit_code == 0, result.output
    writes = [f"{m} {p.split('?')[0]}" for m, p, _ in grafana.calls if m != "GET"]
    assert not any("contact-points" in w or "policies" in w for w in writes), writes
    assert writes[-1] == "PUT /api/v1/provisioning/folder/llmsight/rule-groups/llmsight"
    assert "not synced (no webhook URL" in result.output and "--webhook-url" in result.output
    # The variable the provisioning files use is honoured here too, as a real URL.
    monkeypatch.setenv("LLMSIGHT_ALERT_WEBHOOK_URL", "http://hooks.internal/from-env")
    result = CliRunner().invoke(app, ["grafana", "sync", "--url", grafana.url, "--token", "test-token"])
    assert result.exit_code == 0, result.output
    posted = [b for m, p, b in grafana.calls if m == "POST" and p.startswith("/api/v1/provisioning/contact-points")]
    assert posted[-1]["settings"]["url"] == "http://hooks.internal/from-env"

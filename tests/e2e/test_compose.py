"""docker-compose.yml without a container engine: valid against the Compose specification's JSON schema
(vendored from the docker-compose package: no network), every file it mounts or builds from exists, secrets come from
the env file, Grafana reads ClickHouse as a read-only user, and the collector's server code path (an
http:// DSN) is the same client code the embedded tests exercise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SCHEMA = Path(__file__).with_name("compose_spec") / "compose_spec.json"


@pytest.fixture(scope="session")
def compose_schema() -> dict:
    """compose_spec.json from the docker-compose 1.29.2 wheel, vendored (license and origin beside it)."""
    return json.loads(SCHEMA.read_text())


def test_compose_file_is_valid_against_the_compose_spec(compose_schema: dict) -> None:
    document = {k: v for k, v in COMPOSE.items() if k != "name"}  # `name` postdates the 2021 schema
    jsonschema.Draft7Validator(compose_schema).validate(document)
    assert set(COMPOSE["services"]) == {"clickhouse", "collector", "grafana", "demo-load"}
    assert COMPOSE["services"]["demo-load"]["profiles"] == ["demo"]


def test_every_mount_and_build_exists_in_the_repo() -> None:
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source}"
        build = service.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name
        assert "healthcheck" in service or name == "demo-load", f"{name} has no health check"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    for copied in re.findall(r"^COPY (\S+)", dockerfile, flags=re.MULTILINE):
        assert (ROOT / copied).exists(), copied


def test_commands_exist_in_the_cli() -> None:
    from typer.main import get_command

    from llmsight.cli import app

    commands = get_command(app).commands  # type: ignore[attr-defined]
    for name in ("collector", "demo"):
        service = next(s for s in COMPOSE["services"].values() if s.get("command") and
                       (s["command"][0] if isinstance(s["command"], list) else s["command"]).startswith(name))
        assert name in commands, service
    options = {p.opts[0] for p in commands["collector"].params if p.opts}
    for argument in COMPOSE["services"]["collector"]["command"][1:]:
        assert argument.split("=")[0] in options, argument
    assert "--collector-endpoint" in {p.opts[0] for p in commands["demo"].params if p.opts}


def test_no_secret_is_written_in_the_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in ("CLICKHOUSE_PASSWORD", "CLICKHOUSE_READONLY_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert f"${{{variable}:?" in text, variable
        assert re.search(rf"{variable}=[^$\s]", text) is None
    example = (ROOT / "deploy" / ".env.example").read_text()
    for line in example.splitlines():
        if "PASSWORD=" in line:
            assert line.endswith("="), "the example env file must not carry a password"


def test_grafana_reads_clickhouse_as_a_read_only_user() -> None:
    grafana = COMPOSE["services"]["grafana"]["environment"]
    assert grafana["CLICKHOUSE_READONLY_USER"] == "llmsight_readonly"
    users = (ROOT / "deploy" / "clickhouse" / "users.d" / "llmsight.xml").read_text()
    assert re.search(r"<llmsight_readonly>\s*<readonly>2</readonly>", users)
    assert "GRANT SELECT ON llmsight.*" in users
    datasource = yaml.safe_load((ROOT / "dashboards" / "provisioning" / "datasources" / "clickhouse.yaml").read_text())
    assert datasource["datasources"][0]["jsonData"]["username"] == "${CLICKHOUSE_READONLY_USER}"


def test_server_dsn_uses_the_same_store_code(tmp_path: Path) -> None:
    """The compose collector runs with an http:// DSN: the same Store over clickhouse-connect's HTTP client. Against
    a server that is down (here a port held closed) it still starts, acknowledges spans into its spool, stores
    none, and reports the outage clearly: the server's address, no password."""
    import socket
    import time

    from llmsight.collector.app import Collector
    from llmsight.collector.config import CollectorSettings
    from tests.collector.spans import genai_request, post_protobuf

    with socket.socket() as down:  # bound, never listening: connections to it are refused
        down.bind(("127.0.0.1", 0))
        port = down.getsockname()[1]
        settings = CollectorSettings(data_dir=tmp_path, clickhouse_dsn=f"http://llmsight:hunter2@127.0.0.1:{port}",
                                     otlp_http_port=0, otlp_grpc_port=0, query_port=0)
        collector = Collector(settings).start()
        try:
            assert collector.store is not None and not collector.store.embedded
            assert post_protobuf(f"http://127.0.0.1:{collector.http_port}/v1/traces", genai_request(0, spans=3)) == 200
            deadline = time.monotonic() + 30
            while not collector.metrics()["pipeline"]["insert_errors"] and time.monotonic() < deadline:
                time.sleep(0.05)
            pipeline, health = collector.metrics()["pipeline"], collector.metrics()["health"]
            assert pipeline["insert_errors"] > 0 and pipeline["stored"] == 0 and pipeline["submitted"] == 3
            error = pipeline["last_error"]
            assert f"cannot connect to ClickHouse at http://llmsight:***@127.0.0.1:{port}" in error, error
            assert "Connection refused" in error and "hunter2" not in error, error
            assert health["status"] == "degraded", health
        finally:
            collector.stop()

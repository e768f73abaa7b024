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
                                     otlp_http_port=0, otlp_grpc_port=0, read_api_port=0)
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


COLLECTOR = COMPOSE["services"]["collector"]
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()


def _flag(name: str) -> str:
    (value,) = [a.split("=", 1)[1] for a in COLLECTOR["command"] if a.startswith(f"--{name}=")]
    return value


def test_the_clickhouse_password_goes_apart_from_the_dsn_and_any_character_works() -> None:
    """Interpolated into the DSN, a password with `/`, `@` or `:` broke it: it goes in its own variable and the
    collector URL-encodes it."""
    from urllib.parse import unquote, urlsplit

    from llmsight.collector.config import load_settings

    assert "PASSWORD" not in _flag("dsn") and "@clickhouse:8123" in _flag("dsn")
    assert COLLECTOR["environment"]["LLMSIGHT_CLICKHOUSE_PASSWORD"].startswith("${CLICKHOUSE_PASSWORD:?")
    password = "p/ss@w:rd?#%"
    settings = load_settings(clickhouse_dsn=_flag("dsn"), clickhouse_password=password)
    parts = urlsplit(settings.effective_dsn)
    assert (parts.hostname, parts.port, parts.username, unquote(parts.password or "")) == (
        "clickhouse", 8123, "llmsight", password)
    assert password not in settings.redacted_dsn


def test_the_report_reaches_the_stack_from_the_host_read_only() -> None:
    assert "127.0.0.1:8123:8123" in COMPOSE["services"]["clickhouse"]["ports"]
    assert all(port.startswith("127.0.0.1:") for service in COMPOSE["services"].values()
               for port in service.get("ports", []))


def test_the_image_creates_the_data_directory_for_its_user_and_the_volume_mounts_it() -> None:
    data_dir = _flag("data-dir")
    assert f"collector-spool:{data_dir}" in COLLECTOR["volumes"]
    assert re.search(r"^USER llmsight$", DOCKERFILE, flags=re.MULTILINE)
    run = _run_steps()
    assert f"mkdir -p {data_dir}" in run and f"chown llmsight:llmsight {data_dir}" in run


def _run_steps() -> str:
    """The Dockerfile's RUN instructions, continuation lines joined."""
    joined = DOCKERFILE.replace("\\\n", " ")
    return "\n".join(line[len("RUN "):] for line in joined.splitlines() if line.startswith("RUN "))


def test_the_dockerfile_steps_run_outside_docker_and_the_entrypoint_starts_healthy(tmp_path: Path) -> None:
    """No container engine here: the image's steps after `pip install` (which the wheel test covers) run in a
    scratch root, as this user instead of `llmsight`; then the image's ENTRYPOINT + the compose command start a
    collector on the directory they made (with ClickHouse down: it spools), and its health check passes."""
    import os
    import shlex
    import subprocess
    import sys
    import time
    import urllib.request

    scratch = tmp_path / "root"
    user = f"{os.getuid()}:{os.getgid()}"
    for step in _run_steps().split("&&"):
        words = shlex.split(step)
        if words[:2] in (["pip", "install"], ["useradd", "--create-home"]):
            continue  # the package is installed in this venv; the user is this one
        words = [w.replace("llmsight:llmsight", user) for w in words]
        words = [str(scratch) + w if w.startswith("/var/") else w for w in words]
        subprocess.run(words, check=True)
    data_dir = scratch / _flag("data-dir").lstrip("/")
    assert data_dir.stat().st_uid == os.getuid() and data_dir.stat().st_mode & 0o777 == 0o700
    (entrypoint,) = json_list("ENTRYPOINT")
    command = [a for a in COLLECTOR["command"] if not a.startswith(("--data-dir=", "--dsn=", "--alerts-file=", "--prices-file="))]
    arguments = [*command, f"--data-dir={data_dir}", "--dsn=http://llmsight@127.0.0.1:9", "--http-port=0",
                 "--grpc-port=0", "--read-api-port=0", "--alerts-file", str(ROOT / "deploy/alerts/alerts.yaml"),
                 "--prices-file", str(ROOT / "deploy/prices/prices.yaml")]
    executable = Path(sys.executable).with_name(entrypoint)
    process = subprocess.Popen([str(executable), *arguments], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env={**os.environ, "LLMSIGHT_CLICKHOUSE_PASSWORD": "p/w"})
    try:
        deadline = time.monotonic() + 30
        state = data_dir / "collector.json"
        while not state.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        port = __import__("json").loads(state.read_text())["otlp_http_port"]
        health = COLLECTOR["healthcheck"]["test"][-1].replace("127.0.0.1:4318", f"127.0.0.1:{port}")
        subprocess.run([sys.executable, "-c", health], check=True, timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert "p/w" not in output and "p%2Fw" not in output


def json_list(instruction: str) -> list[str]:
    import json

    (value,) = re.findall(rf"^{instruction} (\[.*\])$", DOCKERFILE, flags=re.MULTILINE)
    return list(json.loads(value))


def test_the_compose_demo_load_is_priced_with_the_stacks_prices_file(tmp_path: Path) -> None:
    """The demo profile's load (`llmsight demo --collector-endpoint`, its provider on 127.0.0.1) into a collector
    with the stack's prices file: every call priced (without it, 224 of 240 were unpriced)."""
    import json
    import subprocess
    import sys

    from tests.collector.conftest import CollectorProcess

    collector = CollectorProcess(tmp_path / "data", ["--prices-file", str(ROOT / "deploy/prices/prices.yaml")]).start()
    cli = [sys.executable, "-m", "llmsight.cli"]
    try:
        load = [a.replace("http://collector:4318", f"http://127.0.0.1:{collector.http_port}")
                for a in COMPOSE["services"]["demo-load"]["command"]]
        subprocess.run([*cli, *load, "--calls", "40"], check=True, capture_output=True, timeout=120)
        collector.wait_stored(40, timeout=60)
        totals = collector.client().report(*_day())["totals"]
    finally:
        assert collector.stop() == 0
    assert totals["calls"] >= 40 and totals["unpriced_calls"] == 0, json.dumps(totals)


def _day() -> tuple:
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    return now - timedelta(days=2), now + timedelta(hours=1)

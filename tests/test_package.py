"""The package's public surface: light import, CLI assembly, clear errors for a missing extra."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from llmsight import __version__
from llmsight.cli import app


def test_import_llmsight_loads_no_provider_sdk_or_clickhouse() -> None:
    code = (
        "import sys, llmsight; "
        "heavy = [m for m in ('openai', 'anthropic', 'chdb', 'clickhouse_connect', 'grpc') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_help_lists_version_and_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    assert "llmsight" in result.output.lower()
    for command in ("version", "collector", "report", "reprice"):
        assert command in result.output


def test_the_version_is_the_installed_distributions() -> None:
    """llmsight.__version__ and `llmsight version` say the version pip installed (pyproject.toml's)."""
    assert __version__ == importlib.metadata.version("llmsight")
    printed = CliRunner().invoke(app, ["version"])
    assert printed.exit_code == 0 and printed.stdout.strip() == __version__


# Runs the CLI with the collector extra's modules made unimportable: what `pip install llmsight` gives.
_LIGHT_INSTALL = """
import sys
for name in ("yaml", "chdb", "clickhouse_connect", "genai_prices", "grpc", "opentelemetry.proto", "msgspec"):
    sys.modules[name] = None  # import raises ModuleNotFoundError, find_spec answers None: as if not installed
sys.argv = ["llmsight", *sys.argv[1:]]
from llmsight.cli import main
main()
"""


def _light_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _LIGHT_INSTALL, *args], capture_output=True, text=True, timeout=60)


def test_light_install_cli_lists_every_command() -> None:
    result = _light_cli("--help")
    assert result.returncode == 0, result.stderr
    for command in ("run", "collector", "report", "demo", "reprice", "prices", "alerts", "grafana", "dead-letter"):
        assert command in result.stdout


def test_collector_commands_on_a_light_install_exit_2_with_the_install_hint() -> None:
    for command in (["report"], ["collector"], ["demo"], ["reprice", "--since", "1d"], ["prices", "show", "gpt-4o"],
                    ["alerts", "check"], ["grafana", "sync", "--url", "http://127.0.0.1:9"], ["dead-letter", "list"],
                    ["dead-letter", "replay"]):
        result = _light_cli(*command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        extra = "demo" if command == ["demo"] else "collector"  # the demo also needs the provider SDKs
        assert f"pip install 'llmsight[{extra}]'" in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr


# What `pip install llmsight` (app side, no `cli` extra) gives: no typer, no rich, no collector modules.
_APP_ONLY_INSTALL = """
import sys
for name in ("typer", "rich", "yaml", "chdb", "clickhouse_connect", "genai_prices", "grpc", "msgspec"):
    sys.modules[name] = None
sys.argv = ["llmsight", *sys.argv[1:]]
from llmsight.extras import main
main()
"""


def test_app_only_install_runs_llmsight_run_and_explains_the_rest(tmp_path: Path) -> None:
    child = "import sys; print('traced child', 'llmsight.sdk' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHONPATH"))}
    env["OTEL_SDK_DISABLED"] = "true"  # nothing to export to here: only the bootstrap is under test
    ran = subprocess.run([sys.executable, "-c", _APP_ONLY_INSTALL, "run", "--service-name", "s", sys.executable, "-c", child],
                         capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "traced child True", (ran.stdout, ran.stderr)  # sitecustomize ran first
    assert "Traceback" not in ran.stderr
    for command in (["report"], ["--help"], []):
        result = subprocess.run([sys.executable, "-c", _APP_ONLY_INSTALL, *command], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, (command, result.stderr)
        assert "pip install 'llmsight[cli]'" in result.stderr and "Traceback" not in result.stderr
    usage = subprocess.run([sys.executable, "-c", _APP_ONLY_INSTALL, "run"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "usage: llmsight run" in usage.stderr


def test_run_options_reach_the_child_through_the_full_cli(tmp_path: Path) -> None:
    child = ("import os; print(os.environ['OTEL_SERVICE_NAME'], os.environ['LLMSIGHT_CAPTURE_CONTENT'], "
             "os.environ['LLMSIGHT_PROVIDER_HOSTS'])")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMSIGHT_"))} | {"OTEL_SDK_DISABLED": "true"}
    result = subprocess.run([sys.executable, "-m", "llmsight.cli", "run", "--service-name", "svc", "--capture-content",
                             "--provider-host", "gw.corp=openai", "--provider-host", "10.0.0.*:8000=vllm",
                             sys.executable, "-c", child], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'svc true {"gw.corp": "openai", "10.0.0.*:8000": "vllm"}'
    malformed = subprocess.run([sys.executable, "-m", "llmsight.cli", "run", "--provider-host", "gw.corp",
                                sys.executable, "-c", "pass"], capture_output=True, text=True, timeout=60, env=env)
    assert malformed.returncode == 2 and "expected HOST=PROVIDER" in malformed.stderr
    help_text = subprocess.run([sys.executable, "-m", "llmsight.cli", "run", "--help"], capture_output=True, text=True,
                               timeout=60)
    assert help_text.returncode == 0 and "--service-name" in help_text.stdout


def test_server_collector_without_chdb_explains_the_embedded_store(tmp_path: Path) -> None:
    no_chdb = _LIGHT_INSTALL.replace('("yaml", "chdb", "clickhouse_connect", "genai_prices", "grpc", "opentelemetry.proto", "msgspec")',
                                     '("chdb",)')
    assert no_chdb != _LIGHT_INSTALL
    result = subprocess.run([sys.executable, "-c", no_chdb, "collector", "--data-dir", str(tmp_path), "--http-port", "0",
                             "--grpc-port", "0", "--read-api-port", "0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "needs chDB" in result.stderr and "pip install 'llmsight[collector]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_extras_match_who_installs_them() -> None:
    requirements = importlib.metadata.requires("llmsight") or []

    def names(extra: str | None) -> set[str]:
        marker = f'extra == "{extra}"'
        chosen = [r for r in requirements if (marker in r if extra else "extra ==" not in r)]
        return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in chosen}

    app_side = names(None)
    assert {"opentelemetry-sdk", "wrapt", "pydantic"} <= app_side
    assert not app_side & {"typer", "rich", "chdb", "clickhouse-connect", "pyyaml", "msgspec"}
    assert names("cli") == {"typer", "rich"}
    assert "chdb" not in names("collector-server") and "clickhouse-connect" in names("collector-server")
    assert names("collector") == {"llmsight", "chdb"}  # = collector-server + the embedded store
    dockerfile = (Path(__file__).resolve().parents[1] / "deploy" / "Dockerfile").read_text()
    assert "ARG EXTRAS=collector-server" in dockerfile

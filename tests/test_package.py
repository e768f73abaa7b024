"""The package's public surface: light import, CLI assembly, clear errors for a missing extra."""

from __future__ import annotations

import subprocess
import sys

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
    assert __version__.count(".") == 2


# Runs the CLI with the collector extra's modules made unimportable: what `pip install llmsight` gives.
_LIGHT_INSTALL = """
import sys
for name in ("yaml", "chdb", "clickhouse_connect", "genai_prices", "grpc", "opentelemetry.proto"):
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
    for command in ("run", "collector", "report", "demo", "reprice", "prices", "alerts", "grafana"):
        assert command in result.stdout


def test_collector_commands_on_a_light_install_exit_2_with_the_install_hint() -> None:
    for command in (["report"], ["collector"], ["demo"], ["reprice", "--since", "1d"], ["prices", "show", "gpt-4o"],
                    ["alerts", "check"], ["grafana", "sync", "--url", "http://127.0.0.1:9"]):
        result = _light_cli(*command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "pip install 'llmsight[collector]'" in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr

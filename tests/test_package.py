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

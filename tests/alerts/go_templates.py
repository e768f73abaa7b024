"""Alert annotation templates expanded by Go's own text/template (gotemplate_go/main.go: Grafana's data shape,
missingkey=invalid, the Prometheus function names): the `go_expander` fixture builds it (conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

GO_SOURCE = Path(__file__).parent / "gotemplate_go" / "main.go"


def build_go_expander(directory: Path) -> Path:
    go = shutil.which("go")
    if go is None:
        if os.environ.get("CI"):
            pytest.fail("CI must check alert templates with real Go: install golang-go (.ci/run does)")
        pytest.skip("Go is not installed (apt-get install golang-go)")
    binary = directory / "expand"
    subprocess.run([go, "build", "-o", str(binary), str(GO_SOURCE)], check=True, timeout=120,
                   env={**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "off"})
    return binary


def expand_in_go(binary: Path, cases: list[dict[str, Any]]) -> list[dict[str, str]]:
    done = subprocess.run([str(binary)], input=json.dumps(cases), capture_output=True, text=True, timeout=60, check=True)
    results: list[dict[str, str]] = json.loads(done.stdout)
    return results


def go_case(template: str, labels: Mapping[str, str],
            values: Mapping[str, tuple[Mapping[str, str], float | None]]) -> dict[str, Any]:
    """One expansion: `values` are each query's (labels, value), None for no value; none at all for NoData."""
    return {"template": template, "labels": dict(labels), "value": "",
            "values": {ref: {"labels": dict(found), "value": value} for ref, (found, value) in values.items()}}

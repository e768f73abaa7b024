"""The static checks: mypy (strict) on the whole package and ruff on the repository. .ci/run runs this file as its
own step before the tests (and `pytest` runs it again, from mypy's cache); run it before every merge.

The repository's folders are mapped onto one import package (`instrumentation/` is `llmsight`,
`collector/` is `llmsight.collector`, ...), which mypy cannot see from the checkout, and the editable install
is an import hook it cannot follow. So the test assembles the package as a tree of symbolic links (what the
wheel's layout is) and checks that; the errors are reported with the repository's paths.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = {"collector": "collector", "alerts": "alerts", "dashboards": "dashboards"}


def _package_tree(base: Path) -> Path:
    package = base / "llmsight"
    package.mkdir()
    for entry in (ROOT / "instrumentation").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in SUBPACKAGES.items():
        (package / name).symlink_to(ROOT / folder)
    return package


@pytest.mark.timeout(900)
def test_mypy_is_clean_on_the_package(tmp_path: Path) -> None:
    package = _package_tree(tmp_path)
    # A cache next to the checkout (ignored by git) keeps reruns fast; a fresh clone builds it once.
    cache = ROOT / ".mypy_cache"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(cache),
         "--no-error-summary", "-p", "llmsight"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "MYPYPATH": str(tmp_path)}, timeout=900,
    )
    report = result.stdout.replace(f"{package.relative_to(tmp_path)}/", "").strip()
    for name, folder in SUBPACKAGES.items():
        report = report.replace(f"\n{name}/", f"\n{folder}/")
    assert result.returncode == 0 and not result.stderr.strip(), f"mypy (paths under instrumentation/ unless named):\n{report}\n{result.stderr}"


def test_ruff_is_clean() -> None:
    """The linter, with the rules of pyproject.toml ([tool.ruff.lint]); `ruff check --fix .` mends most of it."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert "No module named ruff" not in result.stderr, "ruff is not installed: pip install -e '.[collector,test]'"
    assert result.returncode == 0, f"ruff:\n{result.stdout}{result.stderr}"

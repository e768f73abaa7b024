"""The wheel a user installs, not the editable checkout: built once per session, installed into a fresh
virtual environment, and used the way the README says — `llmsight collector` in one process,
`llmsight run python app.py` in another — until a priced row is stored.

Dependencies: the fresh environment gets the wheel alone (`--no-deps`), and a .pth file makes this test
environment's site-packages importable after its own. That keeps the test offline and fast (no resolver, no
download) while everything llmsight ships — modules, data files, the console script, entry points, the
`_bootstrap/sitecustomize.py` that `llmsight run` relies on — comes only from the wheel: a .pth file adds a
folder to sys.path without running the .pth files inside it, so this environment's editable install of
llmsight is not visible there (asserted below).
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmsight.collector.read_api import running_collector
from llmsight.collector.store import Store
from llmsight.testing.server import PRICES_YAML, ProviderServer

ROOT = Path(__file__).resolve().parents[1]
APP = """
import openai
client = openai.OpenAI(base_url={base_url!r}, api_key="test", max_retries=0)
reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}])
print("app done:", reply.usage.total_tokens)
"""


class FreshVenv:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / "python"

    def env(self, **extra: str) -> dict[str, str]:
        """What an activated fresh venv looks like: its bin first on PATH, no LLMSIGHT_/OTEL_ settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMSIGHT_", "OTEL_", "PYTHON", "VIRTUAL_ENV"))}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.root)
        return env | extra


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # From a copy: setuptools would leave build/ in the checkout, and reuse whatever stale files it holds.
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                                                ".venv", ".pytest_cache", ".mypy_cache", ".llmsight"))
    # No build isolation: the build backend (setuptools, from the test extra) is already here; no network.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(source)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("llmsight-*.whl")
    return built


@pytest.fixture(scope="session")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> FreshVenv:
    venv = FreshVenv(tmp_path_factory.mktemp("venv") / "env")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv.root)], check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv.python), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    purelib = subprocess.run([str(venv.python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    dependencies = [sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()]
    Path(purelib, "zz_test_dependencies.pth").write_text("\n".join(dict.fromkeys(dependencies)) + "\n")
    return venv


def test_wheel_ships_the_bootstrap_and_data_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("llmsight/_bootstrap/sitecustomize.py", "llmsight/py.typed", "llmsight/alerts/rules.yaml",
                     "llmsight/dashboards/json/spend.json", "llmsight/testing/recordings/README.md",
                     "llmsight/dashboards/provisioning/datasources/clickhouse.yaml"):
        assert required in names, required
    assert not any(name.startswith(("tests/", "bench/")) or "__pycache__" in name for name in names)


def test_the_fresh_venv_sees_the_wheel_not_the_checkout(fresh_venv: FreshVenv) -> None:
    where = subprocess.run([str(fresh_venv.python), "-c", "import llmsight; print(llmsight.__file__)"],
                           capture_output=True, text=True, check=True, env=fresh_venv.env()).stdout.strip()
    assert Path(where).is_relative_to(fresh_venv.root), where
    assert (fresh_venv.bin / "llmsight").exists()


@pytest.fixture
def wheel_collector(fresh_venv: FreshVenv, tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen[bytes]]]:
    """`llmsight collector` from the wheel, on free ports; yields its OTLP/HTTP port, data dir and process."""
    data_dir = tmp_path / "data"
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICES_YAML)  # the local provider is a declared server: priced at the vendor's list price
    process = subprocess.Popen(
        [str(fresh_venv.bin / "llmsight"), "collector", "--data-dir", str(data_dir), "--http-port", "0",
         "--grpc-port", "0", "--read-api-port", "0", "--prices-file", str(prices)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=fresh_venv.env(),
    )
    try:
        state, deadline = data_dir / "collector.json", time.monotonic() + 60
        while not (state.exists() and state.read_text().strip()):
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "collector did not start"
            time.sleep(0.05)
        yield json.loads(state.read_text())["otlp_http_port"], data_dir, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(60)


def test_llmsight_run_from_the_wheel_stores_a_row(
    fresh_venv: FreshVenv, wheel_collector: tuple[int, Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    http_port, data_dir, collector = wheel_collector
    with ProviderServer(seed=3) as provider:
        app = tmp_path / "app.py"
        app.write_text(APP.format(base_url=provider.openai_base_url))
        result = subprocess.run(
            [str(fresh_venv.bin / "llmsight"), "run", "--service-name", "wheel-smoke", "--endpoint",
             f"http://127.0.0.1:{http_port}", "--provider-host", "127.0.0.1=openai", "python", str(app)],
            capture_output=True, text=True, timeout=120, env=fresh_venv.env(), cwd=tmp_path,
        )
    assert result.returncode == 0, result.stderr
    assert "app done:" in result.stdout and "tracing disabled" not in result.stderr, result.stderr
    # Until the running collector's read API reports the call; then stop it (SIGTERM stores everything) and
    # read the row from the store it owned.
    client, deadline = running_collector(data_dir), time.monotonic() + 30
    assert client is not None
    now = datetime.now(timezone.utc)
    while client.report(now - timedelta(hours=1), now + timedelta(hours=1))["totals"]["calls"] < 1:
        assert time.monotonic() < deadline, "the call was not stored"
        time.sleep(0.2)
    collector.terminate()
    assert collector.wait(60) == 0
    store = Store.open(f"chdb://{data_dir / 'store'}")
    try:
        rows = store.query("SELECT service, provider, request_model, input_tokens, total_cost FROM llmsight.llm_calls").dicts()
    finally:
        store.close()
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row["service"], row["provider"], row["request_model"]) == ("wheel-smoke", "openai", "gpt-4o-mini")
    assert row["input_tokens"] > 0 and row["total_cost"] > 0

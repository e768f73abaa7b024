"""`llmsight reconcile pull | show` as a user runs them (subprocesses), and the collector's scheduled pull."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from llmsight.collector.app import Collector
from llmsight.collector.config import load_settings
from llmsight.testing.faults import Fault
from llmsight.testing.server import ProviderServer

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, OPENAI_OTHER_KEY


def _calls(server: ProviderServer) -> None:
    for key in (OPENAI_KEY, OPENAI_OTHER_KEY):
        httpx.post(f"{server.openai_base_url}/chat/completions", headers={"authorization": f"Bearer {key}"},
                   json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).raise_for_status()
    httpx.post(f"{server.anthropic_base_url}/v1/messages",
               headers={"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"},
               json={"model": "claude-sonnet-4-5", "max_tokens": 32,
                     "messages": [{"role": "user", "content": "hi"}]}).raise_for_status()


def _env(server: ProviderServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMSIGHT_", "OPENAI_", "ANTHROPIC_"))}
    return {**env, "LLMSIGHT_OPENAI_ADMIN_KEY": server.admin.config.admin_keys["openai"],
            "LLMSIGHT_ANTHROPIC_ADMIN_KEY": server.admin.config.admin_keys["anthropic"],
            "OPENAI_BASE_URL": server.openai_base_url, "ANTHROPIC_BASE_URL": server.anthropic_base_url, **extra}


def _llmsight(args: list[str], env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmsight.cli", "reconcile", *args, "--data-dir", str(data_dir)],
                          env=env, capture_output=True, text=True, timeout=120)


def _shown(env: dict[str, str], data_dir: Path) -> dict[str, Any]:
    shown = _llmsight(["show", "--since", "2d", "--json"], env, data_dir)
    assert shown.returncode == 0, shown.stderr
    data: dict[str, Any] = json.loads(shown.stdout)
    return data


def test_pull_show_and_a_kill_mid_pull(tmp_path: Path, provider_server: ProviderServer) -> None:
    _calls(provider_server)
    provider_server.admin.config.page_size = 1
    env, data_dir = _env(provider_server), tmp_path / "data"
    first = _llmsight(["pull", "--since", "2d"], env, data_dir)
    assert first.returncode == 0, first.stderr
    assert "openai.usage.completions: complete" in first.stderr
    for key in env.values():
        if "admin" in key:
            assert key not in first.stderr + first.stdout
    before = _shown(env, data_dir)
    assert sum(int(t["provider_tokens"]) for t in before["tokens"]) > 0
    assert {k["key_hint"] for k in before["keys"]} >= {"sk-proj-...Wxyz", "sk-proj-...Kqrs", "sk-ant-api03-R2D...igAA"}

    # kill -9 in the middle of a pull (every admin answer slowed down), then pull again.
    provider_server.faults.add(Fault.slow_first_token(0.2, times=1000, provider="openai-admin"))
    provider_server.faults.add(Fault.slow_first_token(0.2, times=1000, provider="anthropic-admin"))
    served = provider_server.admin_requests
    killed = subprocess.Popen([sys.executable, "-m", "llmsight.cli", "reconcile", "pull", "--since", "2d",
                               "--data-dir", str(data_dir)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while provider_server.admin_requests < served + 6 and time.monotonic() < deadline:  # well into the reports
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    assert _shown(env, data_dir)["tokens"] == before["tokens"]
    provider_server.faults.clear()
    again = _llmsight(["pull", "--since", "2d"], env, data_dir)
    assert again.returncode == 0, again.stderr
    after = _shown(env, data_dir)
    assert after["tokens"] == before["tokens"] and after["keys"] == before["keys"] and after["days"] == before["days"]

    # The other two renderings of the same data (`show --csv`, `show`).
    from rich.console import Console

    from llmsight.collector.reconcile.render import print_reconciliation, to_csv

    assert to_csv(after).startswith("section,line,metric,value")
    console = Console(record=True, width=200)
    print_reconciliation(after, console)
    assert "sk-proj-...Kqrs" in console.export_text()


def test_admin_key_errors_exit_2_and_name_the_variable(tmp_path: Path, provider_server: ProviderServer) -> None:
    wrong = _llmsight(["pull", "--since", "1d"], _env(provider_server, LLMSIGHT_OPENAI_ADMIN_KEY="sk-admin-wrong-secret-1"),
                      tmp_path / "data")
    assert wrong.returncode == 2
    assert "OpenAI" in wrong.stderr and "LLMSIGHT_OPENAI_ADMIN_KEY" in wrong.stderr
    assert "wrong-secret" not in wrong.stderr and "Traceback" not in wrong.stderr
    none = _env(provider_server)
    del none["LLMSIGHT_OPENAI_ADMIN_KEY"], none["LLMSIGHT_ANTHROPIC_ADMIN_KEY"]
    missing = _llmsight(["pull"], none, tmp_path / "data")
    assert missing.returncode == 2 and "LLMSIGHT_OPENAI_ADMIN_KEY" in missing.stderr
    keys_file = tmp_path / "keys.env"
    keys_file.write_text(f"LLMSIGHT_OPENAI_ADMIN_KEY={provider_server.admin.config.admin_keys['openai']}\n")
    keys_file.chmod(0o644)
    loose = _llmsight(["pull", "--since", "1d"], {**none, "LLMSIGHT_ADMIN_KEYS_FILE": str(keys_file)}, tmp_path / "data")
    assert loose.returncode == 2 and "chmod 600" in loose.stderr
    keys_file.chmod(0o600)
    from_file = _llmsight(["pull", "--since", "1d"], {**none, "LLMSIGHT_ADMIN_KEYS_FILE": str(keys_file)}, tmp_path / "data")
    assert from_file.returncode == 0, from_file.stderr


def test_the_collector_pulls_on_its_schedule(tmp_path: Path, provider_server: ProviderServer, monkeypatch) -> None:
    _calls(provider_server)
    for name, value in _env(provider_server, LLMSIGHT_RECONCILE_INTERVAL_S="3600").items():
        if name.startswith(("LLMSIGHT_", "OPENAI_", "ANTHROPIC_")):
            monkeypatch.setenv(name, value)
    collector = Collector(load_settings(data_dir=tmp_path / "data", otlp_http_port=0, otlp_grpc_port=0,
                                        read_api_port=0)).start()
    try:
        deadline = time.monotonic() + 60
        while collector.reconcile.pulls < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert collector.store is not None
        rows = collector.store.read("SELECT provider, sum(output_tokens) FROM llmsight.provider_usage GROUP BY provider "
                                    "ORDER BY provider").rows
        billed = {p: sum(e.output_tokens for e in provider_server.ledger.entries() if e.provider == p)
                  for p in ("anthropic", "openai")}
        assert dict(rows) == billed
        state = (tmp_path / "data" / "collector.json").read_text()
        assert provider_server.admin.config.admin_keys["openai"] not in state
        now = datetime.now(timezone.utc)
        from llmsight.collector.read_api import running_collector

        client = running_collector(tmp_path / "data")
        assert client is not None
        report = client.report(now - timedelta(days=1), now)
        assert report["vs_the_bill"].startswith("vs the bill: providers billed $")
    finally:
        collector.stop()

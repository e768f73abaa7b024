"""`llmsight demo --seed 1` as a subprocess in a fresh data dir: what llmsight stored equals what the
provider billed, the alerts the workload provokes fire, and it finishes in under a minute."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import genai_prices
import pytest

CLI = [sys.executable, "-m", "llmsight.cli"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, float]:
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    started = time.monotonic()
    out = subprocess.run([*CLI, "demo", "--seed", "1", "--data-dir", str(data_dir), "--json"],
                         capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((data_dir / "demo-summary.json").read_text())
    return data_dir, summary, elapsed


def test_demo_finishes_within_a_minute(demo) -> None:
    _, summary, elapsed = demo
    assert elapsed < 60
    assert summary["calls_made"] >= 200


def test_report_totals_equal_what_the_provider_billed(demo) -> None:
    data_dir, summary, _ = demo
    out = subprocess.run([*CLI, "report", "--since", "25h", "--data-dir", str(data_dir), "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    totals = json.loads(out.stdout)["totals"]
    ledger = summary["ledger"]
    assert totals["input_tokens"] == ledger["input_tokens"]
    assert totals["cache_read_tokens"] == ledger["cache_read_tokens"]
    assert totals["cache_write_tokens"] == ledger["cache_write_5m_tokens"] + ledger["cache_write_1h_tokens"]
    assert totals["output_tokens"] == ledger["output_tokens"]
    assert totals["reasoning_tokens"] == ledger["reasoning_tokens"]
    assert totals["calls"] - totals["errors"] == ledger["calls"]  # failed calls are stored, not billed
    assert totals["errors"] == summary["calls_failed"]
    # Cost: every billed call priced independently with genai-prices' own calculator.
    expected = 0.0
    for entry in summary["ledger_entries"]:
        usage = genai_prices.Usage(
            input_tokens=entry["input_tokens"], cache_read_tokens=entry["cache_read_tokens"],
            cache_write_tokens=entry["cache_write_5m_tokens"] + entry["cache_write_1h_tokens"],
            output_tokens=entry["output_tokens"],
        )
        batch = {"processing": "batch"} if entry["service_tier"] == "batch" else None  # the demo's batches
        expected += float(genai_prices.calc_price(usage, entry["model"], provider_id=entry["provider"],
                                                  price_context=batch).total_price)
    assert totals["total_cost"] == pytest.approx(expected, rel=1e-6)
    assert totals["unpriced_calls"] == 0
    # One batch per provider, every request a call at the batch price, shown in the report.
    batch_rows = {row["provider"]: row for row in json.loads(out.stdout)["batch"]}
    assert set(batch_rows) == set(summary["batches"]) == {"openai", "anthropic"}
    assert all(row["batch_calls"] == 10 and 0 < row["share_of_spend"] < 1 for row in batch_rows.values())
    billed_batch = [e for e in summary["ledger_entries"] if e["service_tier"] == "batch"]
    assert len(billed_batch) == 20
    # The dashboards' provider filter has four providers to show.
    providers = {row["provider"] for row in json.loads(out.stdout)["errors"]}
    assert {"openai", "anthropic", "gcp.gemini", "aws.bedrock"} <= providers


def test_the_calls_nobody_instrumented_are_the_unexplained_part_of_the_bill(demo) -> None:
    _, summary, _ = demo
    escaped = summary["escaped_entries"]
    assert len(escaped) == 3 and len({e["api_key"] for e in escaped if e["provider"] == "openai"}) == 2  # a second key
    unexplained: dict[tuple[str, str], int] = {}
    for line in summary["unexplained_by_key"]:
        key = (line["provider"], line["key_hint"])
        unexplained[key] = unexplained.get(key, 0) + line["unexplained_tokens"]
    billed: dict[tuple[str, str], int] = {}
    for e in escaped:
        hint = e["api_key"][:16] + "..." + e["api_key"][-4:] if e["provider"] == "anthropic" else "sk-proj-..." + e["api_key"][-4:]
        billed[(e["provider"], hint)] = billed.get((e["provider"], hint), 0) + e["input_tokens"] + e["output_tokens"]
    assert unexplained == billed
    assert summary["vs_the_bill"].startswith("vs the bill: providers billed $")


def test_the_provoked_alerts_fired(demo) -> None:
    _, summary, _ = demo
    fired = {a["rule_id"]: a for a in summary["alerts"]}
    assert {"daily_spend_over_budget", "spend_rate_spike", "cache_hit_ratio_regression"} <= set(fired)
    assert fired["spend_rate_spike"]["labels"]["task"] == "summarise"
    cache = fired["cache_hit_ratio_regression"]
    assert cache["labels"]["prompt_name"] == "support_answer" and set(cache["labels"]) == {"prompt_name", "request_model"}
    # The demo's template change puts per-call text into the "static" prefix: the alert says so.
    assert re.search(r"new prefix hash [0-9a-f]{16} \(\d+ calls\)|changes on nearly every call \(\d+ prefix hashes",
                     cache["summary"]), cache["summary"]


def test_the_demo_budgets_one_under_and_tenants_forecast_over(demo) -> None:
    _, summary, _ = demo
    budgets = {(b["budget"], b["scope"]): b for b in summary["budgets"]}
    org = budgets[("demo_org", "all")]
    assert org["projected"] < org["amount"] and org["crossing"] == ""
    over = {scope for (name, scope), b in budgets.items() if name == "tenants" and b["projected"] > b["amount"]}
    assert over, summary["budgets"]
    fired = {a["labels"]["scope"] for a in summary["alerts"] if a["rule_id"] == "budget_tenants_forecast"}
    assert fired == over
    assert all("projected to exceed $1.00 on 20" in a["summary"] for a in summary["alerts"]
               if a["rule_id"] == "budget_tenants_forecast")


def test_report_formats_and_errors(demo) -> None:
    data_dir, _, _ = demo
    csv_out = subprocess.run([*CLI, "report", "--since", "25h", "--data-dir", str(data_dir), "--csv"],
                             capture_output=True, text=True, timeout=60)
    assert csv_out.returncode == 0 and csv_out.stdout.startswith("section,key,metric,value\ntotals,,calls,")
    table = subprocess.run([*CLI, "report", "--since", "25h", "--data-dir", str(data_dir)],
                           capture_output=True, text=True, timeout=60, env={"COLUMNS": "160", **_env()})
    assert table.returncode == 0 and "Cost by model" in table.stdout and "claude-opus-4-1" in table.stdout
    bad = subprocess.run([*CLI, "report", "--since", "yesterday-ish", "--data-dir", str(data_dir)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "neither a duration" in bad.stderr
    empty = subprocess.run([*CLI, "report", "--since", "30d", "--until", "20d", "--data-dir", str(data_dir)],
                           capture_output=True, text=True, timeout=60)
    assert empty.returncode == 1 and "no LLM calls stored" in empty.stderr
    down = subprocess.run([*CLI, "report", "--dsn", "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "cannot connect to ClickHouse" in down.stderr


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_the_demo_keeps_to_its_own_data_directory_and_a_rerun_does_not_add_up(tmp_path: Path) -> None:
    """Without --data-dir the demo neither writes into the collector's data directory (nor LLMSIGHT_DATA_DIR's,
    nor a server named by LLMSIGHT_CLICKHOUSE_DSN) nor adds a second run's calls to the first one's."""
    env = {**_env(), "XDG_DATA_HOME": str(tmp_path), "LLMSIGHT_DATA_DIR": str(tmp_path / "real"),
           "LLMSIGHT_CLICKHOUSE_DSN": "http://127.0.0.1:9"}
    totals = []
    for _ in range(2):
        out = subprocess.run([*CLI, "demo", "--seed", "3", "--calls", "40", "--json"], capture_output=True, text=True,
                             timeout=120, env=env)
        assert out.returncode == 0, out.stderr[-3000:]
        summary = json.loads(out.stdout)
        assert summary["data_dir"] == str(tmp_path / "llmsight-demo")
        assert summary["store"] == f"chdb://{tmp_path / 'llmsight-demo' / 'store'}"
        assert f"demo data: {tmp_path / 'llmsight-demo'}" in out.stderr
        totals.append(summary["report_totals"]["calls"])
    assert totals[0] == totals[1] > 0
    assert not (tmp_path / "real").exists() and not (tmp_path / "llmsight").exists()


def test_the_demo_without_the_provider_sdks_gives_the_install_hint() -> None:
    hide = "import sys; sys.modules.update(dict.fromkeys(('openai', 'anthropic'), None)); "
    run = "sys.argv = ['llmsight', 'demo']; from llmsight.extras import main; main()"
    out = subprocess.run([sys.executable, "-c", hide + run], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "needs the demo extra (missing: openai, anthropic)" in out.stderr and "pip install" in out.stderr

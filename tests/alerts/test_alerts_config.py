"""A wrong alerts file is reported as `file:line: what is wrong` with an exit code, by the collector at
start and by `llmsight alerts check` / `alerts compile` alike; the evaluator survives a failing tick and
the collector's /metrics counts it; what the evaluator remembers is bounded."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmsight.alerts.evaluator import SENT_MEMORY, AlertEvaluator
from llmsight.alerts.rules import AlertsConfig, load_config
from llmsight.cli import app
from llmsight.collector.config_file import ConfigFileError
from llmsight.collector.run import run_collector
from tests.dashboards.seed import write_prices

BAD_FILES = {
    "interval: banana\n": (1, "interval: 'banana' is not a duration"),
    "webhooks: []\ninterval: 0s\n": (2, "interval: must be between 10s"),
    "params:\n  daily_budget_usd: 20\n  daily_budjet_usd: 5\n": (3, "unknown parameter 'daily_budjet_usd'"),
    "disabled:\n  - spend_rate_spike\n  - spend_rate_spik\n": (3, "disabled.1: unknown rule 'spend_rate_spik'"),
    "params:\n  cache_ratio_drop: .nan\n": (2, "params.cache_ratio_drop: must be a finite number"),
    "params:\n  cache_ratio_drop: '0.3'\n": (2, "params.cache_ratio_drop: must be a number"),
    "interval: 1m\nwebhoks:\n  - url: http://x\n": (2, "webhoks: unknown key"),
    "webhooks:\n  - url: http://x\n    fromat: slack\n": (3, "webhooks.0.fromat: unknown key"),
    "interval: 1m\ninterval: 2m\n": (2, "duplicate key 'interval'"),
    "interval: [1m\n": (2, ""),
    "? [a]\n: 1\n": (1, "a key must be a plain value"),
    "a: &a [*a]\n": (1, "nested too deeply"),
}


@pytest.mark.parametrize("text", list(BAD_FILES))
def test_bad_alerts_files_say_file_line_and_what(tmp_path: Path, text: str) -> None:
    line, message = BAD_FILES[text]
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:{line}: "), str(caught.value)
    assert message in str(caught.value)
    for command in (["alerts", "check", "--alerts-file", str(path), "--data-dir", str(tmp_path / "d")],
                    ["alerts", "compile", str(tmp_path / "out")]):
        result = CliRunner(env={"LLMSIGHT_ALERTS_FILE": str(path)}).invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        assert f"{path}:{line}: " in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_non_utf8_alerts_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_bytes(b"interval: 1m\n# caf\xe9\n")
    with pytest.raises(ConfigFileError, match=rf"^{path}:2: not UTF-8"):  # the line of the bad byte
        load_config(path)


@pytest.mark.parametrize(("text", "expected"), [
    ("interval: 5m\nparams:\n  daily_budget_usd: 20\n  daily_budjet_usd: 5\n",
     ":4: params.daily_budjet_usd: unknown parameter 'daily_budjet_usd'"),
    ("webhooks: []\ninterval: banana\n", ":2: interval: 'banana' is not a duration"),
])
def test_the_collector_refuses_a_bad_alerts_file_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    code = run_collector(data_dir=tmp_path / "data", alerts_file=path, otlp_http_port=0, otlp_grpc_port=0, read_api_port=0,
                         prices_file=write_prices(tmp_path))
    assert code == 2
    err = capsys.readouterr().err
    assert f"{path}{expected}" in err and "Traceback" not in err
    assert not (tmp_path / "data" / "collector.json").exists()


def test_compile_honours_the_alerts_file_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("params:\n  daily_budget_usd: 123.5\ndisabled: [truncated_output_rate]\n")
    result = CliRunner(env={"LLMSIGHT_ALERTS_FILE": str(path)}).invoke(app, ["alerts", "compile", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "out" / "rules.yaml").read_text()
    assert "123.5" in text and "truncated_output_rate" not in text


def test_a_good_file_validates(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("interval: 30s\nrepeat_interval: 4h\nparams: {daily_budget_usd: 20}\nbuiltin_evaluator: false\n"
                    "webhooks:\n  - {url: 'https://hooks.example/x', format: slack}\n")
    config = load_config(path)
    assert config.interval_seconds == 30 and config.params == {"daily_budget_usd": 20.0} and not config.builtin_evaluator


def _metrics(collector) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{collector.http_port}/metrics", timeout=10) as response:
        return json.loads(response.read())


def test_the_evaluator_survives_a_failing_tick_and_metrics_report_it(empty_store) -> None:
    collector = empty_store.collector
    engine = collector.alerts
    assert engine is not None and engine.alive
    engine.stop()  # drive ticks here, at a known pace
    engine.state_file.mkdir()  # saving state now fails: the whole tick raises
    assert engine.tick() == []
    assert "IsADirectoryError" in engine.last_error or "Error" in engine.last_error
    engine.state_file.rmdir()
    engine.tick()
    alerts = _metrics(collector)["alerts"]
    assert alerts["evaluations"] == 2 and alerts["evaluation_failures"] == 1
    # The background loop, too, keeps running after a failing tick.
    restarted = AlertEvaluator(empty_store.query, AlertsConfig(), engine.state_file, counters=collector.shared.add)
    restarted.interval_s = 0.05
    restarted.state_file.unlink()
    restarted.state_file.mkdir()
    restarted.start()
    try:
        deadline = 200
        while _metrics(collector)["alerts"]["evaluation_failures"] < 3 and deadline:
            deadline -= 1
            import time

            time.sleep(0.05)
        restarted.state_file.rmdir()
        before = _metrics(collector)["alerts"]["evaluations"]
        while _metrics(collector)["alerts"]["evaluations"] < before + 2 and deadline:
            deadline -= 1
            time.sleep(0.05)
        assert restarted.alive and deadline, "the alert loop stopped after failing ticks"
    finally:
        restarted.stop()


def test_what_the_evaluator_remembers_is_bounded(empty_store) -> None:
    from tests.alerts.test_alerts import baseline, recent

    calls = baseline(empty_store)
    empty_store.add(calls)
    # Five breaching series at once (spend over a tiny budget per service/tenant, plus the spike).
    empty_store.add(recent(empty_store, calls[0], 30, service="api", task="summarise", model="acme-large",
                           input_tokens=100_000, cache_read=0, cache_write=0))
    engine = AlertEvaluator(empty_store.query, AlertsConfig(params={"daily_budget_usd": 0.01, "tenant_daily_budget_usd": 0.01}))
    engine.max_series = 3
    fired = engine.evaluate_once(empty_store.now)
    assert len(fired) == 3 and len(engine.states) == 3  # the rest are evaluated, not remembered
    assert engine.sent.maxlen == SENT_MEMORY and list(engine.sent) == fired


def test_the_compose_stack_delivers_through_grafana_only() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    collector = compose["services"]["collector"]
    flag = next(arg for arg in collector["command"] if arg.startswith("--alerts-file="))
    mounted = {v.split(":")[1]: v.split(":")[0] for v in collector["volumes"] if v.startswith("./")}
    config = load_config(root / mounted[flag.split("=", 1)[1]])
    assert config.builtin_evaluator is False  # the collector's evaluator stays off …
    grafana = compose["services"]["grafana"]
    assert any(v.startswith("./alerts/provisioning:") for v in grafana["volumes"])  # … Grafana's rules deliver
    assert AlertEvaluator.from_settings(type("S", (), {"alerts_file": None, "data_dir": root})(), query=None,
                                        config=config) is None

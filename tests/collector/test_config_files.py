"""Configuration that says what is wrong: every YAML file (prices, collector settings) is validated strictly
at start, and each problem is reported as `FILE:LINE: what` with exit code 2 — never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from llmsight.collector.config import load_settings
from llmsight.collector.config_file import ConfigFileError, load_yaml_model
from llmsight.collector.pricing import OverridesError, load_overrides
from llmsight.errors import ConfigurationError, LLMSightError


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    retries: int = 0


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    webhooks: list[Webhook] = []


def _write(tmp_path: Path, text: str | bytes, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _problem(path: Path, model: type[BaseModel] = Example) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as raised:
        load_yaml_model(path, model)
    assert isinstance(raised.value, ConfigurationError) and isinstance(raised.value, LLMSightError)
    return raised.value


def test_a_valid_file_loads_and_an_empty_one_is_an_empty_mapping(tmp_path: Path) -> None:
    loaded = load_yaml_model(_write(tmp_path, "name: x\nwebhooks:\n  - url: http://a\n    retries: 2\n"), Example)
    assert loaded == Example(name="x", webhooks=[Webhook(url="http://a", retries=2)])

    class Optional(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str = "default"

    assert load_yaml_model(_write(tmp_path, "# nothing set\n"), Optional).name == "default"


def test_unknown_key_is_reported_at_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nwebhooks:\n  - url: http://a\n    retires: 2\n")
    error = _problem(path)
    assert str(error) == f"{path}:4: webhooks.0.retires: unknown key"
    assert (error.path, error.line) == (path, 4)


def test_wrong_value_and_missing_key_name_their_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "webhooks:\n  - url: http://a\n  - url: http://b\n    retries: many\n")
    lines = str(_problem(path)).splitlines()
    assert lines[0] == f"{path}:1: name: Field required"
    assert lines[1].startswith(f"{path}:4: webhooks.1.retries: Input should be a valid integer")


def test_duplicate_keys_are_errors_not_silent_overwrites(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nwebhooks:\n  - url: http://a\n    url: http://b\n")
    assert str(_problem(path)) == f"{path}:4: duplicate key 'url' (first set on line 3)"
    path = _write(tmp_path, "name: x\nname: y\n")
    assert str(_problem(path)) == f"{path}:2: duplicate key 'name' (first set on line 1)"


def test_merge_keys_still_override_without_being_duplicates(tmp_path: Path) -> None:
    path = _write(tmp_path, "base: &b {url: http://a, retries: 1}\nname: x\nwebhooks:\n  - <<: *b\n    retries: 3\n")

    class WithBase(Example):
        base: Webhook

    assert load_yaml_model(path, WithBase).webhooks[0].retries == 3


def test_non_plain_keys_and_recursive_aliases_are_lines_not_tracebacks(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\n? [a]\n: 1\n")
    assert str(_problem(path)).startswith(f"{path}:2: a key must be a plain value")
    path = _write(tmp_path, "name: x\nwebhooks: &w [*w]\n")
    assert str(_problem(path)).startswith(f"{path}:2: nested too deeply")


def test_non_utf8_bytes_name_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, b"name: x\nwebhooks:\n  - url: http://caf\xe9\n")
    assert str(_problem(path)) == f"{path}:3: not UTF-8: byte 0xe9 at column 20 (save the file as UTF-8)"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nwebhooks: [\n  - url: a\n")
    assert str(_problem(path)).startswith(f"{path}:3: not valid YAML")
    path = _write(tmp_path, "name: x\n\tbad: tab\n")
    assert str(_problem(path)).startswith(f"{path}:2: not valid YAML")


def test_unreadable_file(tmp_path: Path) -> None:
    assert str(_problem(tmp_path / "missing.yaml")) == f"{tmp_path / 'missing.yaml'}: cannot read: No such file or directory"


# --- the prices file -------------------------------------------------------------------------------------------


def test_prices_file_invalid_date_is_a_line_not_a_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, "models:\n  - provider: p\n    model: m\n    input_mtok: 1\n    from: 2026-13-45\n", "prices.yaml")
    with pytest.raises(OverridesError) as raised:
        load_overrides(path)
    assert str(raised.value).startswith(f"{path}:5: models.0.from: Input should be a valid date")


def test_prices_file_repeated_entry_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "models:\n  - {provider: p, model: m, input_mtok: 1}\n  - {provider: q, model: m, input_mtok: 1}\n"
                            "  - {provider: p, model: m, input_mtok: 2}\n", "prices.yaml")
    with pytest.raises(OverridesError) as raised:
        load_overrides(path)
    assert str(raised.value) == f"{path}:4: models.2: repeats models.0 (line 2): same provider, model and dates"
    # Same model with other dates is a price change, not a repeat.
    path.write_text("models:\n  - {provider: p, model: m, input_mtok: 1, until: 2026-01-01}\n"
                    "  - {provider: p, model: m, input_mtok: 2, from: 2026-01-01}\n")
    assert len(load_overrides(path).models) == 2


# --- the collector's settings (LLMSIGHT_CONFIG_FILE, environment, flags) ----------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("LLMSIGHT_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_collector_yaml_applies_below_env_and_flags(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    config = _write(tmp_path, f"data_dir: {tmp_path / 'data'}\notlp_http_port: 5000\notlp_grpc_port: 5001\nraw_ttl_days: 60\n")
    clean_env.setenv("LLMSIGHT_CONFIG_FILE", str(config))
    clean_env.setenv("LLMSIGHT_OTLP_GRPC_PORT", "6001")
    settings = load_settings(raw_ttl_days=45)
    assert (settings.data_dir, settings.otlp_http_port, settings.otlp_grpc_port, settings.raw_ttl_days) == (
        tmp_path / "data", 5000, 6001, 45)


def test_the_read_api_port_answers_to_its_deprecated_names_too(tmp_path: Path, clean_env: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """LLMSIGHT_QUERY_PORT and the config file's query_port (the 0.1.0 names) still work, with a warning; the new
    names win."""
    clean_env.setenv("LLMSIGHT_QUERY_PORT", "5319")
    assert load_settings().read_api_port == 5319
    assert "LLMSIGHT_QUERY_PORT is deprecated: use LLMSIGHT_READ_API_PORT" in caplog.text
    clean_env.setenv("LLMSIGHT_READ_API_PORT", "6319")
    assert load_settings().read_api_port == 6319
    clean_env.delenv("LLMSIGHT_QUERY_PORT")
    clean_env.delenv("LLMSIGHT_READ_API_PORT")
    clean_env.setenv("LLMSIGHT_CONFIG_FILE", str(_write(tmp_path, "query_port: 7319\n")))
    assert load_settings().read_api_port == 7319
    assert "query_port is deprecated: use read_api_port" in caplog.text


def test_collector_yaml_unknown_key_and_bad_value(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    config = _write(tmp_path, "otlp_http_port: 5000\nraw_ttl_dayz: 30\nread_api_port: -1\n")
    clean_env.setenv("LLMSIGHT_CONFIG_FILE", str(config))
    with pytest.raises(ConfigFileError) as raised:
        load_settings()
    lines = str(raised.value).splitlines()
    assert lines[0] == f"{config}:2: raw_ttl_dayz: unknown key"
    assert lines[1].startswith(f"{config}:3: read_api_port: Input should be greater than or equal to 0")


def test_bad_environment_value_names_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LLMSIGHT_OTLP_HTTP_PORT", "http")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert "LLMSIGHT_OTLP_HTTP_PORT='http': Input should be a valid integer" in str(raised.value)
    with pytest.raises(ConfigurationError, match="clickhouse_dsn \\(command line\\): Value error, must start with") as dsn:
        load_settings(clickhouse_dsn="mysql://user:secret@x")
    assert "secret" not in str(dsn.value)  # a DSN's value is never echoed: it carries a password
    clean_env.setenv("LLMSIGHT_PROVIDER_HOSTS", "gateway.corp=openai")  # a dict setting: JSON in the environment
    with pytest.raises(ConfigurationError, match="LLMSIGHT_PROVIDER_HOSTS is not valid JSON \\(Expecting value"):
        load_settings()


# --- what the user sees: exit code 2 and FILE:LINE on stderr ----------------------------------------------------


def _collector(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LLMSIGHT_")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "llmsight.cli", "collector", "--data-dir", str(tmp_path / "data"), "--http-port", "0",
         "--grpc-port", "0", "--read-api-port", "0", *args],
        capture_output=True, text=True, timeout=120, env=environment,
    )


def test_collector_refuses_to_start_on_each_bad_config(tmp_path: Path) -> None:
    prices = _write(tmp_path, "models:\n  - provider: p\n    model: m\n    input_mtok: 1\n    from: 2026-02-30\n", "prices.yaml")
    settings = _write(tmp_path, "otlp_http_port: 0\nbind: 0.0.0.0\n", "collector.yaml")
    duplicate = _write(tmp_path, "models: []\nmodels: []\n", "duplicate.yaml")
    latin1 = _write(tmp_path, b"models:\n  - provider: caf\xe9\n", "latin1.yaml")
    cases = [
        (["--prices-file", str(prices)], {}, f"{prices}:5: models.0.from"),
        (["--prices-file", str(duplicate)], {}, f"{duplicate}:2: duplicate key 'models'"),
        (["--prices-file", str(latin1)], {}, f"{latin1}:2: not UTF-8"),
        ([], {"LLMSIGHT_CONFIG_FILE": str(settings)}, f"{settings}:2: bind: unknown key"),
        ([], {"LLMSIGHT_RAW_TTL_DAYS": "ninety"}, "LLMSIGHT_RAW_TTL_DAYS='ninety'"),
    ]
    for args, env, expected in cases:
        result = _collector(tmp_path, *args, env=env)
        assert result.returncode == 2, (args, env, result.stdout, result.stderr)
        assert expected in result.stderr, (expected, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "collector.json").exists()


def test_prices_check_reports_the_line(tmp_path: Path) -> None:
    prices = _write(tmp_path, "models:\n  - provider: p\n    model: m\n    input_mtok: 1\n    output: 2\n", "prices.yaml")
    result = subprocess.run([sys.executable, "-m", "llmsight.cli", "prices", "check", str(prices)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2  # a wrong file is wrong configuration (docs/cli.md)
    assert f"{prices}:5: models.0.output: unknown key" in result.stderr


# --- --log-level: both processes ---------------------------------------------------------------------------------


def test_log_level_configures_both_processes(tmp_path: Path) -> None:
    from tests.collector.conftest import CollectorProcess

    outputs = {}
    for level in ("info", None):
        collector = CollectorProcess(tmp_path / f"data-{level}", ["--log-level", level] if level else []).start(timeout=120)
        assert collector.process is not None and collector.process.stdout is not None
        lines = []
        while not lines or "listening on" not in lines[-1]:  # printed once start-up (and its logging) is done
            lines.append(collector.process.stdout.readline().decode())
            assert lines[-1], lines
        collector.stop()
        outputs[level] = "".join(lines) + collector.process.stdout.read().decode()
    assert "llmsight store[" in outputs["info"] and "INFO llmsight.collector: store process" in outputs["info"]
    assert "llmsight receiver[" in outputs["info"] and "INFO llmsight.collector: receiving OTLP/HTTP" in outputs["info"]
    assert " INFO " not in outputs[None]  # the default is warning
    result = _collector(tmp_path, "--log-level", "chatty")
    assert result.returncode == 2 and "log_level (command line)='chatty'" in result.stderr


def _merge_key_bombs() -> dict[str, str]:
    """Merge keys over aliases: PyYAML 6.0.3 and older expand these few hundred bytes exponentially."""
    doubling = ["L0: &L0 {a: 0, b: 1, c: 2, d: 3}"] + [f"L{k}: &L{k} {{<<: [*L{k - 1}, *L{k - 1}]}}" for k in range(1, 24)]
    fanning = ["n0: &n0 {k0: 0, k1: 1, k2: 2, k3: 3}"]
    for k in range(1, 12):
        fanning += [f"a{k}x{j}: &a{k}x{j} {{<<: *n{k - 1}}}" for j in range(4)]
        fanning.append(f"n{k}: &n{k} {{<<: [*a{k}x0, *a{k}x1, *a{k}x2, *a{k}x3]}}")
    return {"doubling": "\n".join(doubling) + "\n", "fanning": "\n".join(fanning) + "\n"}


@pytest.mark.parametrize("bomb", ["doubling", "fanning"])
def test_a_merge_key_bomb_costs_no_more_than_its_size(tmp_path: Path, bomb: str) -> None:
    """Loaded in a child process capped at 1 GiB of address space and 60 s: with a PyYAML that expands merges
    exponentially it runs out of either, with the floor pyproject.toml sets it is a small mapping."""
    path = _write(tmp_path, _merge_key_bombs()[bomb])
    assert path.stat().st_size < 2000
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from pydantic import BaseModel, ConfigDict\n"
        "from llmsight.collector.config_file import load_yaml_model\n"
        "class Anything(BaseModel):\n"
        "    model_config = ConfigDict(extra='allow')\n"
        "print(len(load_yaml_model(__import__('pathlib').Path(sys.argv[1]), Anything).model_extra))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    assert int(done.stdout) == len(_merge_key_bombs()[bomb].splitlines())

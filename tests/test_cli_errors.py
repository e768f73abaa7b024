"""Every command's error paths: a sentence on stderr and the documented exit code (docs/cli.md: 2 for bad input or
configuration, 1 for an unreachable dependency or a failed operation), never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from llmsight.cli import app

ROOT = Path(__file__).resolve().parents[1]
DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens there in the tests


def _commands(command: object = None, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    subcommands = getattr(command or get_command(app), "commands", None)
    if not subcommands:
        yield prefix
        return
    for name, sub in subcommands.items():
        yield from _commands(sub, (*prefix, name))


COMMANDS = sorted(_commands())


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "bad-prices.yaml").write_text("models:\n  - bogus: 1\n")
    (tmp_path / "bad-alerts.yaml").write_text("interval: 1x\n")
    return tmp_path


# (arguments, exit code, what stderr says); {d} is a fresh directory with the files above.
CASES = [
    (["collector", "--http-port", "70000"], 2, "otlp_http_port"),
    (["collector", "--data-dir", "{d}/c", "--prices-file", "{d}/bad-prices.yaml"], 2, "bad-prices.yaml:2"),
    (["collector", "--data-dir", "{d}/c", "--alerts-file", "{d}/missing.yaml"], 2, "missing.yaml"),
    (["collector", "--data-dir", "{d}/c", "--dsn", "ftp://x"], 2, "must start with chdb://"),
    (["collector", "--data-dir", "{d}/c", "--bind", "0.0.0.0"], 2, "without an auth token"),
    (["reprice"], 2, "give either --since"),
    (["reprice", "--since", "bogus"], 2, "neither a duration"),
    (["reprice", "--since", "1d", "--dsn", DEAD], 1, "cannot connect to ClickHouse"),
    (["reprice", "--since", "1d", "--dsn", "chdb://{d}/none"], 1, "no embedded store"),
    (["report", "--since", "bogus"], 2, "neither a duration"),
    (["report", "--dsn", DEAD], 1, "cannot connect to ClickHouse"),
    (["report", "--dsn", "chdb://{d}/none"], 1, "no embedded store"),
    (["report", "--dsn", "chdb://{d}"], 1, "holds no llmsight data"),
    (["demo", "--calls", "1"], 2, "--calls"),
    (["dead-letter", "replay", "{d}/none.jsonl"], 2, "none.jsonl"),
    (["dead-letter", "replay", "{d}/bad-prices.yaml", "--dsn", DEAD], 1, "cannot connect to ClickHouse"),
    (["prices", "show", "gpt-4o", "--at", "yesterday"], 2, "--at 'yesterday' is not an ISO date"),
    (["prices", "show", "gpt-4o", "--prices-file", "{d}/bad-prices.yaml"], 2, "bad-prices.yaml:2"),
    (["prices", "show", "no-such-model"], 1, "no price for openai/no-such-model"),
    (["prices", "check", "{d}/bad-prices.yaml"], 2, "bad-prices.yaml:2"),
    (["prices", "check", "{d}/missing.yaml"], 2, "missing.yaml"),
    (["reconcile", "pull", "--since", "bogus"], 2, "neither a duration"),
    (["reconcile", "pull"], 2, "no admin key"),
    (["reconcile", "show", "--since", "bogus"], 2, "neither a duration"),
    (["reconcile", "show", "--dsn", DEAD], 1, "cannot connect to ClickHouse"),
    (["reconcile", "show", "--dsn", "chdb://{d}/none"], 1, "no embedded store"),
    (["alerts", "compile", "{d}/out", "--alerts-file", "{d}/bad-alerts.yaml"], 2, "bad-alerts.yaml:1"),
    (["alerts", "check", "--alerts-file", "{d}/bad-alerts.yaml"], 2, "bad-alerts.yaml:1"),
    (["alerts", "check", "--dsn", DEAD], 1, "cannot connect to ClickHouse"),
    (["alerts", "check", "--dsn", "chdb://{d}/none"], 1, "no embedded store"),
    (["grafana", "sync", "--url", DEAD], 2, "give --token"),
    (["grafana", "sync", "--url", "not a url", "--token", "t"], 2, "is not a Grafana URL"),
    (["grafana", "sync", "--url", DEAD, "--token", "t"], 1, "cannot reach Grafana"),
]


def _invoke(arguments: list[str], env: dict[str, str | None] | None = None) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, arguments, env=env)
    # A command that configured logging (the collector) left handlers on the runner's closed stream.
    logging.getLogger().handlers.clear()
    unexpected = None if result.exception is None or isinstance(result.exception, SystemExit) else result.exception
    return result.exit_code, result.output, unexpected


@pytest.mark.parametrize(("arguments", "code", "says"), CASES, ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_a_bad_argument_or_an_unreachable_dependency_exits_with_the_documented_code(
    files: Path, arguments: list[str], code: int, says: str
) -> None:
    env = {"COLUMNS": "400", "LLMSIGHT_OPENAI_ADMIN_KEY": None, "LLMSIGHT_ANTHROPIC_ADMIN_KEY": None,
           "LLMSIGHT_ADMIN_KEYS_FILE": None}
    exit_code, output, unexpected = _invoke([a.format(d=files) for a in arguments], env=env)
    assert unexpected is None, f"{type(unexpected).__name__}: {unexpected}"
    assert "Traceback" not in output
    assert (exit_code, says in " ".join(output.split())) == (code, True), output


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_refuses_an_unknown_option_with_exit_code_2(command: tuple[str, ...]) -> None:
    exit_code, output, unexpected = _invoke([*command, "--no-such-option"])
    assert unexpected is None and "Traceback" not in output
    assert exit_code == 2, output


def test_every_command_has_its_error_cases_here_and_in_the_docs() -> None:
    tested = {tuple(arguments[: 2 if arguments[0] in ("prices", "alerts", "grafana", "dead-letter", "reconcile") else 1])
              for arguments, _, _ in CASES}
    cli_page = (ROOT / "docs" / "cli.md").read_text()
    for command in COMMANDS:
        assert f"`llmsight {' '.join(command)}`" in cli_page, command
        if command not in {("version",), ("run",), ("dead-letter", "list")}:  # no input that can be wrong but options
            assert command in tested, command


def test_a_prices_file_named_by_the_environment_is_the_one_prices_show_uses(files: Path) -> None:
    """The collector honours LLMSIGHT_PRICES_FILE; `prices show` must show the prices it would apply."""
    exit_code, output, _ = _invoke(["prices", "show", "gpt-4o"], env={"LLMSIGHT_PRICES_FILE": str(files / "bad-prices.yaml")})
    assert exit_code == 2 and "bad-prices.yaml:2" in output

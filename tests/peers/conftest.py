from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmsight.testing.server import PRICES_YAML
from tests.collector.conftest import CollectorProcess


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    """A real collector process (a longer start-up allowance: these tests also run app processes)."""
    prices = tmp_path / "prices.yaml"  # the local provider server is declared: billed as the provider each span names
    prices.write_text(PRICES_YAML)
    process = CollectorProcess(tmp_path / "data", ["--prices-file", str(prices)]).start(timeout=120)
    yield process
    if process.process and process.process.poll() is None:
        process.stop()

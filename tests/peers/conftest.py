from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector.conftest import CollectorProcess


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    """A real collector process (a longer start-up allowance: these tests also run app processes)."""
    process = CollectorProcess(tmp_path / "data", []).start(timeout=120)
    yield process
    if process.process and process.process.poll() is None:
        process.stop()

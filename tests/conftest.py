"""Fixtures shared by every test area.

Area-specific fixtures live in each folder's own conftest.py.
"""

from __future__ import annotations

import json
import os

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmsight.testing.server import PROVIDER_HOSTS

pytest_plugins = ["llmsight.testing.fixtures"]

# The local provider poses as OpenAI for OpenAI-compatible clients: declared the way a user declares a gateway,
# for every instrumentation in this process and in its subprocesses (`llmsight run`, the wheel's app). Tests of
# the undeclared rule pass `provider_hosts` themselves.
os.environ.setdefault("LLMSIGHT_PROVIDER_HOSTS", json.dumps(PROVIDER_HOSTS))
# logfire (a peer, tests/peers) registers a pydantic plugin that every process building a pydantic model imports:
# about 0.3 CPU-seconds per collector process and per command the tests run, and no test uses it.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "logfire-plugin")


# The longest test files start first, so the parallel run does not end waiting on one of them (pytest-xdist hands
# whole files to workers in this order: --dist loadfile and --no-loadscope-reorder in pyproject.toml). Longest
# first, by the seconds each took in a whole run (docs/testing.md, "How long it takes").
_LONG_FILES = (
    "tests/peers/test_peers.py",
    "tests/collector/test_faults.py",
    "tests/collector/test_security.py",
    "tests/collector/test_data_safety.py",
    "tests/e2e/test_demo.py",
    "tests/collector/test_ingest.py",
    "tests/collector/test_reprice.py",
    "tests/collector/test_hostile_input.py",
    "tests/test_typing.py",  # mypy: about a minute without its cache, seconds with it
    "tests/dashboards/test_dashboards.py",
    "tests/collector/test_spool_frames.py",
    "tests/collector/test_http_framing.py",
    "tests/peers/test_recorded.py",
    "tests/collector/test_one_row_per_call.py",
    "tests/reconcile/test_commands.py",
    "tests/collector/test_batches.py",
    "tests/e2e/test_compose.py",
    "tests/collector/test_provider_pricing.py",
    "tests/alerts/test_alerts.py",
    "tests/reconcile/test_reconcile.py",
    "tests/collector/test_config_files.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return _LONG_FILES.index(path) if path in _LONG_FILES else len(_LONG_FILES)

    items.sort(key=rank)  # stable: each file's tests keep their order, and stay together


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> TracerProvider:
    """A private provider: tests pass it to instrumentors instead of touching the global one."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()

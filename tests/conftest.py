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

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmsight
from llmsight.collector.app import Collector
from llmsight.collector.config import load_settings
from llmsight.testing.server import PRICES_YAML

LLM_SCOPES = ("llmsight.openai", "llmsight.anthropic")

# Keys shaped like the providers' (long enough for a hint); fake, for the local provider only.
OPENAI_KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 3 + "Wxyz"
OPENAI_OTHER_KEY = "sk-proj-" + "Z9y8X7w6V5u4T3s2R1q0" * 3 + "Kqrs"
ANTHROPIC_KEY = "sk-ant-api03-R2D" + "q7LmNoPqRsTuVwXy" * 4 + "igAA"
ANTHROPIC_OTHER_KEY = "sk-ant-api03-Zz9" + "h2JkLmNpQrStUvWx" * 4 + "b7Cd"


@pytest.fixture
def llm_spans(span_exporter: InMemorySpanExporter) -> Callable[[], list[ReadableSpan]]:
    def finished() -> list[ReadableSpan]:
        return [s for s in span_exporter.get_finished_spans() if s.instrumentation_scope.name in LLM_SCOPES]

    return finished


@pytest.fixture
def uninstrument() -> Iterator[None]:
    import llmsight

    yield
    llmsight.uninstrument()


def instrument(tracer_provider: TracerProvider, **settings: object) -> None:
    import llmsight

    llmsight.instrument(tracer_provider=tracer_provider, **settings)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICES_YAML)
    settings = load_settings(data_dir=tmp_path / "data", otlp_http_port=0, otlp_grpc_port=0, read_api_port=0,
                             prices_file=prices)
    running = Collector(settings).start()
    yield running
    running.stop()


@pytest.fixture
def traced(collector: Collector) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{collector.http_port}/v1/traces")))
    llmsight.instrument(tracer_provider=provider)
    yield provider
    llmsight.uninstrument()
    provider.shutdown()

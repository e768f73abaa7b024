from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmsight

LLM_SCOPES = ("llmsight.openai", "llmsight.anthropic", "llmsight.google_genai", "llmsight.bedrock", "llmsight.mistral")


@pytest.fixture
def instrumented(tracer_provider: TracerProvider) -> Iterator[TracerProvider]:
    llmsight.instrument(tracer_provider=tracer_provider)
    yield tracer_provider
    llmsight.uninstrument()


@pytest.fixture
def llm_spans(span_exporter: InMemorySpanExporter) -> Callable[[], list[ReadableSpan]]:
    """The finished LLM call spans (HTTP attempt spans left out)."""

    def finished() -> list[ReadableSpan]:
        return [s for s in span_exporter.get_finished_spans() if s.instrumentation_scope.name in LLM_SCOPES]

    return finished


def usage_attributes(span: ReadableSpan) -> dict[str, Any]:
    return {k: v for k, v in (span.attributes or {}).items() if k.startswith(("gen_ai.usage.", "llmsight.usage."))}


T = TypeVar("T")


def bare_then_instrumented(tracer_provider: TracerProvider, server: Any, workload: Callable[[Any], T]) -> tuple[T, T]:
    """What the app sees from `workload` without llmsight, then with it (the server reset in between)."""
    bare = workload(server)
    server.reset()
    llmsight.instrument(tracer_provider=tracer_provider)
    try:
        return bare, workload(server)
    finally:
        llmsight.uninstrument()

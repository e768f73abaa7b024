"""Telemetry never changes what the app sees: same return values, same exceptions, with and without
instrumentation — including when the span exporter's collector is down."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

import llmsight
from llmsight.testing.faults import Fault
from llmsight.testing.server import ProviderServer

VOLATILE = {"created", "created_at"}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _dump(value: Any) -> Any:
    return _clean(value.model_dump()) if hasattr(value, "model_dump") else value


def workload(server: ProviderServer) -> list[Any]:
    """A bit of every API shape; returns what the app observed, in order."""
    server.reset()
    seen: list[Any] = []
    oa = openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=1)
    an = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="test", max_retries=1)
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]
    seen.append(_dump(oa.chat.completions.create(model="gpt-4o", messages=msgs)))
    stream = oa.chat.completions.create(model="gpt-4o", messages=msgs, stream=True, stream_options={"include_usage": True})
    seen.append([_dump(chunk) for chunk in stream])
    # `isinstance` and `__class__` see the SDK's class (only `type()` reveals the proxy, as with any wrapt proxy).
    seen.append((stream.__class__, isinstance(stream, openai.Stream)))
    with oa.responses.stream(model="gpt-5", input="plan") as events:
        seen.append([e.type for e in events])
        seen.append(_dump(events.get_final_response()))
    seen.append(_dump(oa.embeddings.create(model="text-embedding-3-small", input=["a", "b"])))
    raw = oa.chat.completions.with_raw_response.create(model="gpt-4o", messages=msgs)
    seen.append((raw.status_code, _dump(raw.parse())))
    seen.append(_dump(an.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=msgs[1:])))
    with an.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=msgs[1:]) as stream:
        seen.append("".join(stream.text_stream))
        seen.append(_dump(stream.get_final_message()))
    server.faults.add(Fault.http_status(429, times=5))
    try:
        oa.chat.completions.create(model="gpt-4o", messages=msgs)
    except openai.RateLimitError as exc:
        seen.append((type(exc).__name__, exc.status_code, str(exc), exc.body))
    server.faults.clear()
    server.faults.add(Fault.http_status(529, times=5))
    try:
        an.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=msgs[1:])
    except anthropic.APIStatusError as exc:
        seen.append((type(exc).__name__, exc.status_code, str(exc), exc.body))
    return seen


@pytest.fixture
def server() -> ProviderServer:
    with ProviderServer(seed=3) as provider:
        yield provider


def test_instrumented_results_equal_bare_results(server, tracer_provider, span_exporter) -> None:
    bare = workload(server)
    llmsight.instrument(tracer_provider=tracer_provider)
    try:
        instrumented = workload(server)
    finally:
        llmsight.uninstrument()
    assert instrumented == bare
    assert len([s for s in span_exporter.get_finished_spans() if s.instrumentation_scope.name.startswith("llmsight")]) == 9


def test_collector_down_changes_nothing(server) -> None:
    bare = workload(server)
    provider = TracerProvider()
    # Nothing listens on port 9: every export fails, in the background.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces", timeout=1)))
    llmsight.instrument(tracer_provider=provider)
    try:
        instrumented = workload(server)
    finally:
        llmsight.uninstrument()
        provider.shutdown()
    assert instrumented == bare


class _UnhashableProvider(TracerProvider):
    __hash__ = None  # type: ignore[assignment]  # like Logfire's ProxyTracerProvider, a dataclass


def test_an_unhashable_tracer_provider_is_instrumented(server, span_exporter) -> None:
    """instrument() with Logfire's provider raised TypeError (it remembered providers in a WeakSet)."""
    provider = _UnhashableProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    llmsight.instrument(tracer_provider=provider)
    try:
        oa = openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0)
        oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    finally:
        llmsight.uninstrument()
        provider.shutdown()
    assert [s.instrumentation_scope.name for s in span_exporter.get_finished_spans()] == ["llmsight.openai"]

"""Attribute variants → one `CallRecord`: in-process checks of the normaliser (the ingest tests cover the
same code through a real collector process and real exporters)."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from llmsight.collector.normalise import sources
from llmsight.collector.normalise import spans as normalise
from tests.collector.spans import _kv

START_NS = 1_760_000_000_000_000_000


def _span(attributes: dict[str, object], index: int = 0) -> Span:
    return Span(
        trace_id=(index + 1).to_bytes(16, "big"),
        span_id=(index + 1).to_bytes(8, "big"),
        name="chat",
        start_time_unix_nano=START_NS,
        end_time_unix_nano=START_NS + 1_500_000_000,
        attributes=[_kv(key, value) for key, value in attributes.items()],
    )


def _request(*spans: Span, scope: str = "llmsight.openai", service: str = "svc") -> ExportTraceServiceRequest:
    resource = Resource(attributes=[_kv("service.name", service), _kv("deployment.environment.name", "prod")])
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(scope=InstrumentationScope(name=scope), spans=list(spans))])]
    )


def test_openllmetry_legacy_names_map_to_the_same_row_as_semconv() -> None:
    semconv = {
        "gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 900, "gen_ai.usage.output_tokens": 40,
        "gen_ai.usage.cache_read.input_tokens": 512, "gen_ai.usage.reasoning.output_tokens": 10,
    }
    legacy = {
        "gen_ai.system": "OpenAI", "llm.request.type": "chat", "llm.request.model": "gpt-4o",
        "gen_ai.usage.prompt_tokens": 900, "gen_ai.usage.completion_tokens": 40,
        "gen_ai.usage.cached_tokens": 512, "llm.usage.reasoning_tokens": 10,
    }
    (new,), (old,) = (normalise.normalise_request(_request(_span(a))).records for a in (semconv, legacy))
    for column in ("provider", "operation", "request_model", "input_tokens", "output_tokens",
                   "cache_read_tokens", "reasoning_tokens", "duration_ms", "service", "environment"):
        assert getattr(old, column) == getattr(new, column), column
    assert (new.provider, new.input_tokens, new.cache_read_tokens, new.duration_ms) == ("openai", 900, 512, 1500.0)


SCOPES = {  # a real scope name of each source (tests/peers run the libraries themselves)
    "llmsight": "llmsight.anthropic", "anthropic SDK built-in": "com.anthropic.sdk.python",
    "OpenLLMetry openai/anthropic": "opentelemetry.instrumentation.anthropic",
    "OTel openai-v2": "opentelemetry.util.genai.handler", "OpenLIT": "openlit.otel.tracing",
    "Logfire": "logfire.anthropic", "unknown": "some.other.library",
}


@pytest.mark.parametrize("source", sources.SOURCES, ids=lambda s: s.name)
def test_input_tokens_follow_the_source_table_and_the_safety_net(source: sources.Source) -> None:
    assert sources.source_of(SCOPES[source.name]) is source
    attrs = {
        "gen_ai.system": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 400, "gen_ai.usage.cache_read_input_tokens": 300,
        "gen_ai.usage.cache_creation_input_tokens": 50, "gen_ai.usage.output_tokens": 7,
    }
    (record,) = normalise.normalise_request(_request(_span(attrs), scope=SCOPES[source.name])).records
    assert record.input_tokens == (400 if source.input_includes_cache("anthropic") else 750)
    # Smaller than its cache reads + writes: only an exclusive count can be, whatever the table says.
    (record,) = normalise.normalise_request(
        _request(_span({**attrs, "gen_ai.usage.input_tokens": 13}), scope=SCOPES[source.name])
    ).records
    assert (record.input_tokens, record.cache_read_tokens, record.cache_write_tokens) == (363, 300, 50)


def test_the_readme_table_is_the_code_table() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert sources.markdown_table() in readme


def test_an_empty_variant_does_not_hide_the_next_one() -> None:
    span = _span({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10})
    span.attributes.append(KeyValue(key="gen_ai.provider.name", value=AnyValue()))  # present, no value
    span.attributes.append(_kv("gen_ai.system", "openai"))
    (record,) = normalise.normalise_request(_request(span)).records
    assert record.provider == "openai"
    assert "gen_ai.provider.name" not in record.attributes


def test_non_genai_spans_are_counted_not_stored() -> None:
    http = _span({"http.request.method": "POST", "url.full": "https://api.openai.com/v1/chat"}, index=1)
    empty_marker = _span({}, index=2)
    empty_marker.attributes.append(KeyValue(key="gen_ai.request.model", value=AnyValue()))  # a marker with no value
    chat = _span({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 3}, index=3)
    result = normalise.normalise_request(_request(http, empty_marker, chat))
    assert (len(result.records), result.ignored, result.rejected) == (1, 2, 0)


@pytest.mark.parametrize(("attrs", "reason"), [
    ({"gen_ai.usage.input_tokens": -1}, "out of range"),
    ({"gen_ai.usage.input_tokens": 10**12}, "out of range"),
    ({"gen_ai.usage.input_tokens": "ten"}, "must be an integer"),
    ({"gen_ai.usage.input_tokens": True}, "got a boolean"),
    ({"gen_ai.usage.input_tokens": 1.5}, "must be an integer"),
    ({"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 2,
      "gen_ai.usage.reasoning.output_tokens": 3}, "reasoning tokens (3) exceed output tokens (2)"),
    ({"gen_ai.usage.input_tokens": 10, "gen_ai.request.stream": True, "gen_ai.response.time_to_first_chunk": -0.5},
     "non-negative number"),
])
def test_invalid_values_reject_the_span_with_a_reason_and_keep_the_rest(attrs: dict[str, object], reason: str) -> None:
    bad = _span({"gen_ai.request.model": "gpt-4o", **attrs}, index=1)
    good = _span({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5}, index=2)
    result = normalise.normalise_request(_request(bad, good))
    assert (len(result.records), result.rejected) == (1, 1)
    assert result.records[0].span_id == good.span_id.hex()
    assert reason in result.errors[0] and bad.span_id.hex() in result.errors[0]


def test_numeric_strings_are_accepted_as_token_counts() -> None:
    (record,) = normalise.normalise_request(_request(_span({"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": "42"}))).records
    assert record.input_tokens == 42


def test_unknown_attributes_are_kept_truncated_and_bounded() -> None:
    extras = {f"app.key{i}": "x" * 5000 for i in range(100)}
    (record,) = normalise.normalise_request(_request(_span({"gen_ai.request.model": "m", **extras}))).records
    assert len(record.attributes) == normalise.MAX_EXTRA_ATTRIBUTES
    assert all(len(value) == normalise.MAX_ATTRIBUTE_VALUE for value in record.attributes.values())


def test_key_plan_cache_stays_bounded_under_varied_keys() -> None:
    plans = normalise._KeyPlans()
    for i in range(normalise._MAX_PLANS * 3):
        plans.get(("gen_ai.request.model", f"app.unique.{i}"))
        assert len(plans._plans) <= normalise._MAX_PLANS
    # A plan is per key set, so the same keys in another order still pick the same variants.
    first = plans.get(("gen_ai.system", "gen_ai.provider.name"))
    second = plans.get(("gen_ai.provider.name", "gen_ai.system"))
    sample = {"gen_ai.system": "old", "gen_ai.provider.name": "new", normalise._ABSENT: None}
    assert first.values(sample)[0] == second.values(sample)[0] == "new"

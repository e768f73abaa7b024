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
from llmsight.collector.record import CallRecord
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
    "OpenLLMetry": "opentelemetry.instrumentation.anthropic",
    "OTel openai-v2": "opentelemetry.util.genai.handler", "OpenLIT": "openlit.otel.tracing",
    "OTel botocore (contrib)": "opentelemetry.instrumentation.botocore.bedrock-runtime",
    "OTel google-genai (contrib; Logfire's instrument_google_genai)": "opentelemetry.instrumentation.google_genai",
    "OpenInference": "openinference.instrumentation.anthropic",
    "Logfire": "logfire.anthropic", "mistralai SDK built-in": "mistralai_sdk_tracer", "LiteLLM (proxy or SDK)": "litellm",
    "unknown": "some.other.library",
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


def test_the_documented_table_is_the_code_table() -> None:
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "token-semantics.md").read_text()
    assert sources.markdown_table() in page


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
])
def test_invalid_values_reject_the_span_with_a_reason_and_keep_the_rest(attrs: dict[str, object], reason: str) -> None:
    bad = _span({"gen_ai.request.model": "gpt-4o", **attrs}, index=1)
    good = _span({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5}, index=2)
    result = normalise.normalise_request(_request(bad, good))
    assert (len(result.records), result.rejected) == (1, 1)
    assert result.records[0].span_id == good.span_id.hex()
    assert reason in result.errors[0] and bad.span_id.hex() in result.errors[0]


@pytest.mark.parametrize("ttft", [-0.5, 1e306, float("inf"), float("nan"), 3.0, "soon"])
def test_an_impossible_time_to_first_chunk_is_left_out_with_a_note_and_the_call_kept(ttft: object) -> None:
    """The span lasts 1.5 s: a first chunk well after its end, or not a finite time at all, is no measurement (1e306 s
    became +inf in ttft_ms, and every percentile and the report's --json with it)."""
    attrs = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10, "gen_ai.request.stream": True,
             "gen_ai.response.time_to_first_chunk": ttft}
    result = normalise.normalise_request(_request(_span(attrs)))
    (record,) = result.records
    assert result.rejected == 0 and record.ttft_ms is None
    assert "time_to_first_chunk" in record.attributes["llmsight.note"]
    (kept,) = normalise.normalise_request(_request(_span({**attrs, "gen_ai.response.time_to_first_chunk": 1.2}))).records
    assert kept.ttft_ms == 1200.0 and "llmsight.note" not in kept.attributes


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


def _call(scope: str, index: int, attributes: dict[str, object], *, offset_s: float = 0.0, name: str = "chat") -> ExportTraceServiceRequest:
    span = _span(attributes, index=index)
    span.name = name
    span.start_time_unix_nano += int(offset_s * 1e9)
    span.end_time_unix_nano += int(offset_s * 1e9)
    return _request(span, scope=scope)


def _records(*requests: ExportTraceServiceRequest) -> list:
    return [r for request in requests for r in normalise.normalise_request(request).records]


CALL = {"gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.response.id": "msg_1",
        "gen_ai.usage.input_tokens": 1411, "gen_ai.usage.cache_read.input_tokens": 1398, "gen_ai.usage.output_tokens": 40}


def test_spans_of_one_call_merge_into_the_richest_and_fill_its_gaps() -> None:
    from llmsight.collector.normalise.merge import merge_calls

    wrapper = _call("opentelemetry.instrumentation.anthropic", 0, {**CALL, "gen_ai.is_streaming": True})
    sdk = _call("com.anthropic.sdk.python", 1, {**CALL, "gen_ai.request.stream": True,
                                                "gen_ai.response.time_to_first_chunk": 0.2,
                                                "anthropic.response.service_tier": "standard"})
    tagged = _call("llmsight.anthropic", 2, {**CALL, "llmsight.task": "support"})
    (record,), merged = merge_calls(_records(wrapper, sdk, tagged))
    assert merged == 2
    assert (record.instrumentation, record.task, record.ttft_ms, record.service_tier) == (
        "llmsight.anthropic", "support", 200.0, "standard")
    # The same response id a minute later is another call (a provider that reuses ids, a replayed test run).
    later = _call("com.anthropic.sdk.python", 3, CALL, offset_s=60)
    assert len(merge_calls(_records(wrapper, later))[0]) == 2


def test_logfire_stream_span_without_response_id_joins_the_sdk_span_of_that_stream() -> None:
    from llmsight.collector.normalise.merge import merge_calls

    usage = {k: v for k, v in CALL.items() if k != "gen_ai.response.id"}
    request_half = _call("logfire.anthropic", 0, {"gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5"})
    sdk = _call("com.anthropic.sdk.python", 1, {**CALL, "gen_ai.request.stream": True})
    stream_log = _call("logfire.anthropic", 2, usage, offset_s=0.5, name="streaming response from 'claude-sonnet-4-5' took 0.50s")
    other_usage = _call("logfire.anthropic", 3, {**usage, "gen_ai.usage.output_tokens": 41}, offset_s=0.6,
                        name="streaming response from 'claude-sonnet-4-5' took 0.50s")
    result = normalise.normalise_request(request_half)
    assert (result.records, result.ignored) == ([], 1)  # the usage-free request half is not a call
    records, merged = merge_calls(_records(sdk, stream_log, other_usage))
    assert merged == 1 and len(records) == 2
    assert records[0].instrumentation == "com.anthropic.sdk.python" and records[1].streaming


def test_mistralai_sdk_span_inside_the_wrappers_span_of_its_call_joins_it() -> None:
    """OpenLLMetry's mistralai span is not current: mistralai 1.x's own span of the call (no id, no cache count)
    lands in a trace of its own, inside the wrapper's span in time, with the same input and output."""
    from llmsight.collector.normalise.merge import merge_calls

    model = {"gen_ai.request.model": "mistral-small-latest"}
    wrapper = _call("opentelemetry.instrumentation.mistralai", 0, {
        **model, "gen_ai.system": "MistralAI", "gen_ai.response.id": "cmpl_1", "gen_ai.usage.input_tokens": 1402,
        "gen_ai.usage.cache_read.input_tokens": 1280, "gen_ai.usage.output_tokens": 37})
    sdk_usage = {**model, "gen_ai.provider.name": "mistral_ai", "gen_ai.usage.prompt_tokens": 1402,
                 "gen_ai.usage.output_tokens": 37}
    inside = _call("mistralai_sdk_tracer", 1, sdk_usage, offset_s=0.1)
    inside.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano -= 200_000_000
    overlapping = _call("mistralai_sdk_tracer", 2, sdk_usage, offset_s=0.1)  # ends after the wrapper: another call
    records, merged = merge_calls(_records(wrapper, inside, overlapping))
    assert merged == 1
    assert [(r.instrumentation, r.cache_read_tokens) for r in records] == [
        ("opentelemetry.instrumentation.mistralai", 1280), ("mistralai_sdk_tracer", 0)]


def test_openinference_span_joins_by_the_provider_id_in_its_output_json() -> None:
    """OpenInference records no response id; its `output.value` is the response, with the provider's id (Gemini's
    `response_id`, Anthropic's `id`): a stream span in no trace with the other span of its call joins by it."""
    from llmsight.collector.normalise.merge import merge_calls

    usage = {"llm.provider": "google", "llm.model_name": "gemini-2.5-flash", "openinference.span.kind": "LLM",
             "llm.token_count.prompt": 1407, "llm.token_count.completion": 45}
    gemini = _call("openinference.instrumentation.google_genai", 0, {
        **usage, "output.value": '{"candidates": [], "model_version": "gemini-2.5-flash", "response_id": "cedde4"}'})
    ours = _call("llmsight.google_genai", 1, {
        "gen_ai.provider.name": "gcp.gemini", "gen_ai.request.model": "gemini-2.5-flash", "gen_ai.response.id": "cedde4",
        "gen_ai.usage.input_tokens": 1407, "gen_ai.usage.output_tokens": 45, "gen_ai.request.stream": True})
    (record,), merged = merge_calls(_records(gemini, ours))
    assert (merged, record.instrumentation, record.attributes["output.value"][:1]) == (1, "llmsight.google_genai", "{")
    # Bedrock's identity is the request id: the message id in its output is not read (parentage joins those).
    bedrock = _call("openinference.instrumentation.bedrock", 2, {
        **usage, "llm.provider": "aws", "output.value": '{"id": "msg_bdrk_1", "type": "message"}'})
    not_json = _call("openinference.instrumentation.anthropic", 3, {**usage, "llm.provider": "anthropic",
                                                                      "output.value": "hello"})
    assert ["gen_ai.response.id" in r.attributes for r in _records(gemini, bedrock, not_json)] == [True, False, False]


def test_logfire_raw_usage_gives_cache_and_reasoning() -> None:
    raw = ('{"cache_creation":{"ephemeral_1h_input_tokens":1519,"ephemeral_5m_input_tokens":0},'
           '"cache_creation_input_tokens":1519,"cache_read_input_tokens":0,"input_tokens":13,"output_tokens":66,'
           '"output_tokens_details":{"thinking_tokens":44},"service_tier":"standard"}')
    (record,) = _records(_call("logfire.anthropic", 0, {
        "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.response.id": "m",
        "gen_ai.usage.input_tokens": 1532, "gen_ai.usage.output_tokens": 66, "gen_ai.usage.raw": raw,
        "gen_ai.response.finish_reasons": '["end_turn"]'}))
    assert (record.input_tokens, record.cache_write_tokens, record.cache_write_1h_tokens, record.reasoning_tokens,
            record.service_tier, record.finish_reason) == (1532, 1519, 1519, 44, "standard", "end_turn")


def _one(attrs: dict[str, object], scope: str) -> CallRecord:
    (record,) = normalise.normalise_request(_request(_span(attrs), scope=scope)).records
    return record


def test_reasoning_above_output_is_kept_and_corrected_not_rejected() -> None:
    """The counts OpenLIT sends for a Gemini thinking call (output = candidates only, thoughts beside it) were
    rejected ("reasoning tokens exceed output tokens") and the call lost. Any source: kept, reasoning added to
    the output, the correction noted on the row."""
    attrs = {"gen_ai.system": "openai", "gen_ai.request.model": "o4-mini", "gen_ai.usage.input_tokens": 10,
             "gen_ai.usage.output_tokens": 2, "gen_ai.usage.reasoning.output_tokens": 3}
    record = _one(attrs, "some.other.library")
    assert (record.output_tokens, record.reasoning_tokens) == (5, 3)
    assert "excluded reasoning" in record.attributes["llmsight.note"]


def test_openlit_gemini_output_gets_its_thinking_added_without_a_note() -> None:
    attrs = {"gen_ai.system": "gemini", "gen_ai.request.model": "gemini-2.5-flash", "gen_ai.usage.input_tokens": 1406,
             "gen_ai.usage.output_tokens": 49, "gen_ai.usage.reasoning_tokens": 98}
    record = _one(attrs, "openlit.otel.tracing")
    assert (record.provider, record.output_tokens, record.reasoning_tokens) == ("gcp.gemini", 147, 98)
    assert "llmsight.note" not in record.attributes  # the source's semantics, not a correction


def test_openllmetry_gemini_is_gemini_and_its_output_is_total_minus_input() -> None:
    """OpenLLMetry 0.62.4 (real span, tests/peers): `gcp.gen_ai`, output 49 without the 98 thoughts, total 1553."""
    attrs = {"gen_ai.provider.name": "gcp.gen_ai", "gen_ai.request.model": "gemini-2.5-flash",
             "gen_ai.usage.input_tokens": 1406, "gen_ai.usage.output_tokens": 49, "gen_ai.usage.total_tokens": 1553,
             "gen_ai.usage.cache_read.input_tokens": 1395}
    record = _one(attrs, "opentelemetry.instrumentation.google_generativeai")
    assert (record.provider, record.input_tokens, record.output_tokens, record.reasoning_tokens) == (
        "gcp.gemini", 1406, 147, 98)


@pytest.mark.parametrize("scope", ["opentelemetry.instrumentation.bedrock",
                                   "opentelemetry.instrumentation.botocore.bedrock-runtime"])
def test_bedrock_input_of_openllmetry_and_botocore_excludes_cache_even_when_longer(scope: str) -> None:
    """A cached call with a long uncached suffix: input 522 exclusive of 1386 cache reads (was stored as 522)."""
    attrs = {"gen_ai.system": "aws.bedrock", "gen_ai.request.model": "nova-lite-v1:0", "gen_ai.usage.input_tokens": 1522,
             "gen_ai.usage.cache_read.input_tokens": 1386, "gen_ai.usage.output_tokens": 30, "aws.request_id": "r-1"}
    record = _one(attrs, scope)
    assert (record.input_tokens, record.cache_read_tokens) == (2908, 1386)
    assert record.request_model == "amazon.nova-lite-v1:0"  # priced: genai-prices knows the vendor-prefixed id
    assert record.call_id == normalise.call_id(record.service, bytes.fromhex(record.trace_id), b"", "r-1")


def test_openinference_llm_spans_are_calls_and_chains_are_not() -> None:
    llm = {"openinference.span.kind": "LLM", "llm.provider": "google", "llm.model_name": "gemini-2.5-flash",
           "llm.token_count.prompt": 1406, "llm.token_count.completion": 147, "llm.token_count.total": 1553,
           "llm.token_count.prompt_details.cache_read": 1395, "llm.token_count.completion_details.reasoning": 98}
    record = _one(llm, "openinference.instrumentation.google_genai")
    assert (record.provider, record.request_model, record.input_tokens, record.cache_read_tokens,
            record.output_tokens, record.reasoning_tokens) == ("gcp.gemini", "gemini-2.5-flash", 1406, 1395, 147, 98)
    chain = {"openinference.span.kind": "CHAIN", "llm.model_name": "gpt-4o", "llm.token_count.prompt": 10}
    result = normalise.normalise_request(_request(_span(chain), scope="openinference.instrumentation.langchain"))
    assert (result.records, result.ignored) == ([], 1)


def test_openlit_placeholder_bedrock_host_is_not_a_server() -> None:
    attrs = {"gen_ai.system": "aws.bedrock", "gen_ai.request.model": "amazon.nova-lite-v1:0",
             "server.address": "aws.amazon.com", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 4}
    record = _one(attrs, "openlit.otel.tracing")
    assert "server.address" not in record.attributes and "placeholder" in record.attributes["llmsight.note"]


def test_report_json_is_valid_json_whatever_the_stored_values() -> None:
    """Rows stored before TTFTs were checked can hold +inf: the report's JSON says null, never `Infinity`."""
    import json

    from llmsight.collector.report.render import to_json

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    text = to_json({"latency": [{"model": "m", "ttft_p50": float("inf"), "ttft_p95": float("nan"), "calls": 3}]})
    assert json.loads(text, parse_constant=refuse)["latency"][0] == {"model": "m", "ttft_p50": None, "ttft_p95": None,
                                                                    "calls": 3}

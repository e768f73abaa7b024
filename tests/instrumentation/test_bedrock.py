"""The Bedrock instrumentor through the real boto3 / botocore `bedrock-runtime` client against the local
provider (AWS event-stream framing parsed by botocore itself; the ledger is what was billed)."""

from __future__ import annotations

import gc
import json
from typing import Any

import boto3
import botocore.client
import pytest
import urllib3
from botocore.config import Config
from botocore.eventstream import EventStream
from botocore.parsers import ResponseParserError
from botocore.response import StreamingBody

import llmsight
from llmsight.testing.faults import Fault
from llmsight.testing.server import ProviderServer

from .conftest import bare_then_instrumented, usage_attributes

NOVA = "us.amazon.nova-pro-v1:0"
CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Say hello."}]}]
POLICY = "Policy: answer from the knowledge base only and cite the article id. " * 80


def client(server: ProviderServer, **config: Any) -> Any:
    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=server.bedrock_endpoint_url,
        aws_access_key_id="test", aws_secret_access_key="test", config=Config(**config) if config else None,
    )


def expected_usage(billed: Any, *, split_1h: bool = True) -> dict[str, int]:
    values = {
        "gen_ai.usage.input_tokens": billed.input_tokens,  # ledger input includes cache reads/writes
        "gen_ai.usage.cache_read.input_tokens": billed.cache_read_tokens,
        "gen_ai.usage.cache_write.input_tokens": billed.cache_write_5m_tokens + billed.cache_write_1h_tokens,
        "gen_ai.usage.output_tokens": billed.output_tokens,
    }
    if split_1h:
        values["llmsight.usage.cache_write_1h.input_tokens"] = billed.cache_write_1h_tokens
    return values


@pytest.mark.parametrize("model", [NOVA, CLAUDE])
@pytest.mark.parametrize("stream", [False, True])
def test_converse_span_matches_what_the_provider_billed(instrumented, llm_spans, provider_server, stream, model) -> None:
    c = client(provider_server)
    kwargs = {"modelId": model, "messages": MESSAGES, "inferenceConfig": {"maxTokens": 200, "temperature": 0.3}}
    if stream:
        events = list(c.converse_stream(**kwargs)["stream"])
        assert "messageStart" in events[0] and "metadata" in events[-1]
    else:
        assert c.converse(**kwargs)["output"]["message"]["content"][0]["text"]
    (span,) = llm_spans()
    (billed,) = provider_server.ledger.entries()
    attrs = dict(span.attributes)
    assert span.name == f"chat {model}"
    assert usage_attributes(span) == expected_usage(billed)
    assert attrs["gen_ai.provider.name"] == "aws.bedrock"
    assert attrs["gen_ai.request.model"] == model
    assert attrs["gen_ai.request.max_tokens"] == 200
    assert attrs["gen_ai.request.temperature"] == 0.3
    assert attrs["gen_ai.request.stream"] is stream
    assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attrs["llmsight.model_tier"] == "standard"
    assert attrs["llmsight.service_tier"] == "default"
    assert attrs["llmsight.retries"] == 0
    assert attrs["http.response.status_code"] == 200
    assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == provider_server.port
    if stream:
        assert attrs["llmsight.stream.completed"] is True
        assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    else:
        assert "llmsight.stream.completed" not in attrs


@pytest.mark.parametrize("stream", [False, True])
def test_converse_cache_write_one_hour_then_read(instrumented, llm_spans, provider_server, stream) -> None:
    c = client(provider_server)
    system = [{"text": POLICY}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
    for _ in range(2):
        if stream:
            for _ in c.converse_stream(modelId=CLAUDE, system=system, messages=MESSAGES)["stream"]:
                pass
        else:
            c.converse(modelId=CLAUDE, system=system, messages=MESSAGES)
    write, read = llm_spans()
    first, second = provider_server.ledger.entries()
    assert first.cache_write_1h_tokens > 1024 and second.cache_read_tokens == first.cache_write_1h_tokens
    assert usage_attributes(write) == expected_usage(first)
    assert usage_attributes(read) == expected_usage(second)
    # inputTokens on the wire excludes the cache; the span's input includes it either way.
    assert write.attributes["gen_ai.usage.input_tokens"] == read.attributes["gen_ai.usage.input_tokens"]
    assert write.attributes["llmsight.prompt.prefix_hash"] == read.attributes["llmsight.prompt.prefix_hash"]


def invoke_body(model: str, cached: bool = False) -> dict[str, Any]:
    if "anthropic" in model:
        system = [{"type": "text", "text": POLICY, "cache_control": {"type": "ephemeral"}}] if cached else "Be brief."
        return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 300, "system": system,
                "messages": [{"role": "user", "content": "Say hello."}]}
    if "nova" in model:
        system = [{"text": POLICY}, {"cachePoint": {"type": "default"}}] if cached else [{"text": "Be brief."}]
        return {"system": system, "messages": MESSAGES, "inferenceConfig": {"maxTokens": 300}}
    if "llama" in model:
        return {"prompt": "Say hello.", "max_gen_len": 300}
    return {"prompt": "<s>[INST] Say hello. [/INST]", "max_tokens": 300}


INVOKE_MODELS = [CLAUDE, "amazon.nova-lite-v1:0", "us.meta.llama3-3-70b-instruct-v1:0", "mistral.mistral-large-2407-v1:0"]
FINISH = {CLAUDE: "end_turn", "amazon.nova-lite-v1:0": "end_turn"}


@pytest.mark.parametrize("model", INVOKE_MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_invoke_model_span_matches_what_the_provider_billed(instrumented, llm_spans, provider_server, stream, model) -> None:
    c = client(provider_server)
    cached = "anthropic" in model or "nova" in model
    for _ in range(2 if cached else 1):  # cached families: a cache write, then a read
        body = json.dumps(invoke_body(model, cached))
        if stream:
            response = c.invoke_model_with_response_stream(modelId=model, body=body)
            assert isinstance(response["body"], EventStream)
            chunks = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
            assert chunks
        else:
            response = c.invoke_model(modelId=model, body=body)
            assert isinstance(response["body"], StreamingBody)
            assert json.loads(response["body"].read())
    spans = llm_spans()
    billed = provider_server.ledger.entries()
    assert len(spans) == len(billed)
    if cached:
        assert billed[0].cache_write_5m_tokens > 1024 and billed[1].cache_read_tokens == billed[0].cache_write_5m_tokens
    for span, entry in zip(spans, billed, strict=True):
        attrs = dict(span.attributes)
        # Anthropic bodies split the writes by TTL; Bedrock's model-independent counts do not.
        assert usage_attributes(span) == expected_usage(entry, split_1h="anthropic" in model)
        assert attrs["gen_ai.request.max_tokens"] == 300
        assert attrs["gen_ai.request.stream"] is stream
        assert attrs["gen_ai.response.finish_reasons"] == (FINISH.get(model, "stop"),)
        assert attrs["http.response.status_code"] == 200
        if stream:
            assert attrs["llmsight.stream.completed"] is True
            assert attrs["gen_ai.response.time_to_first_chunk"] > 0


def test_throttling_retried_then_success(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.http_status(429, times=1))
    c = client(provider_server, retries={"max_attempts": 3, "mode": "standard"})
    c.converse(modelId=NOVA, messages=MESSAGES)
    (span,) = llm_spans()
    assert provider_server.failures == {429: 1}
    assert span.attributes["llmsight.retries"] == 1
    assert span.attributes["http.response.status_code"] == 200
    assert "error.type" not in span.attributes
    (event,) = [e for e in span.events if e.name == "llmsight.retry"]
    assert event.attributes["http.response.status_code"] == 429 and event.attributes["llmsight.retry.attempt"] == 1


@pytest.mark.parametrize("operation", ["converse", "converse_stream"])
def test_throttling_exhausted_is_an_error(instrumented, llm_spans, provider_server, operation) -> None:
    provider_server.faults.add(Fault.http_status(429, times=10))
    c = client(provider_server, retries={"max_attempts": 2, "mode": "standard"})
    with pytest.raises(c.exceptions.ThrottlingException) as raised:
        getattr(c, operation)(modelId=NOVA, messages=MESSAGES)
    (span,) = llm_spans()
    attempts = raised.value.response["ResponseMetadata"]["RetryAttempts"]
    assert provider_server.failures == {429: attempts + 1} and attempts >= 1
    assert span.attributes["error.type"] == "ThrottlingException"
    assert span.attributes["http.response.status_code"] == 429
    assert span.attributes["llmsight.retries"] == attempts
    assert "gen_ai.usage.input_tokens" not in span.attributes


def test_server_error_status(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.http_status(500, times=10))
    c = client(provider_server, retries={"total_max_attempts": 1})
    with pytest.raises(c.exceptions.InternalServerException):
        c.invoke_model(modelId=CLAUDE, body=json.dumps(invoke_body(CLAUDE)))
    (span,) = llm_spans()
    assert provider_server.failures == {500: 1}
    assert span.attributes["llmsight.retries"] == 0
    assert span.attributes["http.response.status_code"] == 500
    assert span.attributes["error.type"] == "InternalServerException"


@pytest.mark.parametrize("operation", ["converse_stream", "invoke_model_with_response_stream"])
def test_abandoned_stream_ends_once_not_completed(instrumented, llm_spans, provider_server, operation) -> None:
    c = client(provider_server)
    if operation == "converse_stream":
        response = c.converse_stream(modelId=NOVA, messages=MESSAGES)
        stream = response["stream"]
    else:
        response = c.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(invoke_body(CLAUDE)))
        stream = response["body"]
    for index, _ in enumerate(stream):
        if index == 2:
            break
    assert llm_spans() == []  # leaving a for loop early is not the end: the app may read on
    del response, stream
    gc.collect()
    (span,) = llm_spans()
    assert span.attributes["llmsight.stream.completed"] is False
    assert "gen_ai.response.finish_reasons" not in span.attributes
    assert "gen_ai.response.time_to_first_chunk" in span.attributes


def test_closed_stream_ends_the_call(instrumented, llm_spans, provider_server) -> None:
    c = client(provider_server)
    response = c.converse_stream(modelId=NOVA, messages=MESSAGES)
    next(iter(response["stream"]))
    response["stream"].close()
    (span,) = llm_spans()
    assert span.attributes["llmsight.stream.completed"] is False


def test_cut_stream_is_an_error(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.cut_stream(3))
    c = client(provider_server)
    received = []
    with pytest.raises(urllib3.exceptions.ProtocolError):  # what botocore raises for a cut stream, llmsight or not
        for event in c.converse_stream(modelId=NOVA, messages=MESSAGES)["stream"]:
            received.append(event)
    (span,) = llm_spans()
    assert len(received) == 3
    assert span.attributes["llmsight.stream.completed"] is False
    assert "error.type" in span.attributes


def test_time_to_first_chunk_is_the_first_content_not_message_start(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.slow_first_token(0.3))  # messageStart at once, first delta 0.3 s later
    c = client(provider_server)
    for _ in c.converse_stream(modelId=NOVA, messages=MESSAGES)["stream"]:
        pass
    (span,) = llm_spans()
    ttft = span.attributes["gen_ai.response.time_to_first_chunk"]
    assert 0.3 <= ttft <= (span.end_time - span.start_time) / 1e9


def _app_visible(server: ProviderServer) -> list[Any]:
    c = client(server)

    def plain(response: dict[str, Any]) -> dict[str, Any]:
        metadata = dict(response["ResponseMetadata"])
        metadata["HTTPHeaders"] = {k: v for k, v in metadata["HTTPHeaders"].items() if k != "date"}
        return {**response, "ResponseMetadata": metadata}

    seen: list[Any] = [plain(c.converse(modelId=NOVA, messages=MESSAGES))]
    response = c.converse_stream(modelId=NOVA, messages=MESSAGES)
    seen.append(list(response["stream"]))
    seen.append(plain({k: v for k, v in response.items() if k != "stream"}))
    response = c.invoke_model(modelId=CLAUDE, body=json.dumps(invoke_body(CLAUDE)))
    seen.append(response["body"].read())
    seen.append(plain({k: v for k, v in response.items() if k != "body"}))
    response = c.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(invoke_body(CLAUDE)))
    seen.append(list(response["body"]))
    return seen


def test_app_sees_identical_results_with_and_without_instrumentation(tracer_provider, provider_server) -> None:
    bare, instrumented = bare_then_instrumented(tracer_provider, provider_server, _app_visible)
    assert instrumented == bare


def test_other_aws_services_are_untouched(instrumented, llm_spans, provider_server) -> None:
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=provider_server.base_url,
                       aws_access_key_id="test", aws_secret_access_key="test")
    with pytest.raises(ResponseParserError):  # the local server does not speak STS: the app sees botocore's error
        sts.get_caller_identity()
    assert llm_spans() == []


def test_uninstrument_restores_the_original(tracer_provider) -> None:
    original = botocore.client.BaseClient.__dict__["_make_api_call"]
    llmsight.instrument(tracer_provider=tracer_provider)
    assert botocore.client.BaseClient.__dict__["_make_api_call"] is not original
    llmsight.uninstrument()
    assert botocore.client.BaseClient.__dict__["_make_api_call"] is original


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_bedrock_client_is_attributed_to_bedrock(instrumented, llm_spans, provider_server, stream) -> None:
    import anthropic

    c = anthropic.AnthropicBedrock(base_url=provider_server.bedrock_endpoint_url, aws_access_key="test",
                                   aws_secret_key="test", aws_region="us-east-1")
    kwargs = {"model": CLAUDE, "max_tokens": 100, "messages": [{"role": "user", "content": "Say hello."}]}
    if stream:
        with c.messages.stream(**kwargs) as events:
            events.get_final_message()
    else:
        c.messages.create(**kwargs)
    (span,) = llm_spans()  # one span: the anthropic SDK signs with botocore but never calls a botocore client
    (billed,) = provider_server.ledger.entries()
    assert span.instrumentation_scope.name == "llmsight.anthropic"
    assert span.attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert usage_attributes(span) == expected_usage(billed)
    assert span.attributes["llmsight.model_tier"] == "standard"


@pytest.mark.parametrize("operation", ["converse", "converse_stream", "invoke_model", "invoke_model_with_response_stream"])
def test_the_request_id_is_the_calls_identity(instrumented, llm_spans, provider_server, operation) -> None:
    """Bedrock returns no response id: the x-amzn-requestid header is recorded as `aws.request_id` (OTel botocore's
    name), which the collector joins spans of one call by."""
    c = client(provider_server)
    if operation.startswith("converse"):
        response = getattr(c, operation)(modelId=NOVA, messages=MESSAGES)
    else:
        response = getattr(c, operation)(modelId=CLAUDE, body=json.dumps(invoke_body(CLAUDE)))
    if operation.endswith("stream"):
        list(response["stream" if "stream" in response else "body"])
    (span,) = llm_spans()
    assert span.attributes["aws.request_id"] == response["ResponseMetadata"]["RequestId"] != ""


def test_a_peer_span_around_the_call_gets_its_request_id(instrumented, llm_spans, span_exporter, provider_server) -> None:
    """OpenLLMetry's and OpenInference's Bedrock spans are current while the SDK runs and never see the request
    id: the span directly around llmsight's, naming the same model, gets it (the collector then joins them)."""
    tracer = instrumented.get_tracer("peer")
    c = client(provider_server)
    with tracer.start_as_current_span("peer chat", attributes={"gen_ai.request.model": "nova-pro-v1:0"}) as peer:
        c.converse(modelId=NOVA, messages=MESSAGES)
    with tracer.start_as_current_span("app work", attributes={"app.step": "x"}), tracer.start_as_current_span(
            "other model", attributes={"gen_ai.request.model": "claude-x"}) as other:
        c.converse(modelId=NOVA, messages=MESSAGES)
    first, second = llm_spans()
    assert peer.attributes["aws.request_id"] == first.attributes["aws.request_id"]
    assert "aws.request_id" not in other.attributes  # another model's span: not this call's

"""The Anthropic instrumentor through the real `anthropic` SDK: the local provider (ledger = what was
billed) and the real recorded exchanges."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import anthropic
import httpx2
import pytest

from llmsight.testing.faults import Fault
from llmsight.testing.recordings import replay_transport
from llmsight.testing.server import ProviderServer

from .conftest import usage_attributes

MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "Say hello."}]
POLICY = "Policy: answer from the knowledge base only and cite the article id. " * 80


def expected_usage(billed: Any) -> dict[str, int]:
    return {
        "gen_ai.usage.input_tokens": billed.input_tokens,  # ledger input includes cache reads/writes
        "gen_ai.usage.cache_read.input_tokens": billed.cache_read_tokens,
        "gen_ai.usage.cache_write.input_tokens": billed.cache_write_5m_tokens + billed.cache_write_1h_tokens,
        "llmsight.usage.cache_write_1h.input_tokens": billed.cache_write_1h_tokens,
        "gen_ai.usage.output_tokens": billed.output_tokens,
    }


def sync_client(server: ProviderServer, **kwargs: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="test", **kwargs)


def async_client(server: ProviderServer, **kwargs: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=server.anthropic_base_url, api_key="test", **kwargs)


def run_sync(server: ProviderServer, api: str, beta: bool) -> None:
    client = sync_client(server)
    messages = client.beta.messages if beta else client.messages
    kwargs = {"model": MODEL, "max_tokens": 200, "messages": MESSAGES}
    if api == "create":
        messages.create(**kwargs)
    elif api == "create-stream":
        for _ in messages.create(stream=True, **kwargs):
            pass
    else:
        with messages.stream(**kwargs) as stream:
            assert "".join(stream.text_stream)
            stream.get_final_message()


def run_async(server: ProviderServer, api: str, beta: bool) -> None:
    async def go() -> None:
        client = async_client(server)
        messages = client.beta.messages if beta else client.messages
        kwargs = {"model": MODEL, "max_tokens": 200, "messages": MESSAGES}
        if api == "create":
            await messages.create(**kwargs)
        elif api == "create-stream":
            async for _ in await messages.create(stream=True, **kwargs):
                pass
        else:
            async with messages.stream(**kwargs) as stream:
                await stream.until_done()

    asyncio.run(go())


@pytest.mark.parametrize("beta", [False, True])
@pytest.mark.parametrize("api", ["create", "create-stream", "stream-helper"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_messages_span_matches_what_the_provider_billed(instrumented, llm_spans, provider_server, mode, api, beta) -> None:
    (run_sync if mode == "sync" else run_async)(provider_server, api, beta)
    (span,) = llm_spans()
    (billed,) = provider_server.ledger.entries()
    attrs = dict(span.attributes)
    streaming = api != "create"
    assert span.name == f"chat {MODEL}"
    assert usage_attributes(span) == expected_usage(billed)
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.response.model"] == MODEL
    assert attrs["gen_ai.request.max_tokens"] == 200
    assert attrs["gen_ai.request.stream"] is streaming
    assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attrs["llmsight.service_tier"] == "standard"
    assert attrs["llmsight.model_tier"] == "small"
    assert attrs["http.response.status_code"] == 200
    if streaming:
        assert attrs["llmsight.stream.completed"] is True
        assert attrs["gen_ai.response.time_to_first_chunk"] > 0


def test_cache_write_then_read_with_one_hour_ttl(instrumented, llm_spans, provider_server) -> None:
    client = sync_client(provider_server)
    system = [{"type": "text", "text": POLICY, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    for _ in range(2):
        client.messages.create(model="claude-sonnet-4-6", max_tokens=100, system=system, messages=MESSAGES)
    write, read = llm_spans()
    first, second = provider_server.ledger.entries()
    assert first.cache_write_1h_tokens > 1024 and second.cache_read_tokens == first.cache_write_1h_tokens
    assert usage_attributes(write) == expected_usage(first)
    assert usage_attributes(read) == expected_usage(second)
    # Input includes the cached prefix either way.
    assert write.attributes["gen_ai.usage.input_tokens"] == read.attributes["gen_ai.usage.input_tokens"]
    assert write.attributes["llmsight.prompt.prefix_hash"] == read.attributes["llmsight.prompt.prefix_hash"] != ""


def test_recorded_cache_write_then_read_stream(instrumented, llm_spans) -> None:
    client = anthropic.Anthropic(
        api_key="test",
        http_client=httpx2.Client(transport=replay_transport("anthropic-messages-stream-cache-write-then-read.yaml")),
    )
    for _ in range(2):
        for _ in client.messages.create(model="claude-3-5-sonnet-20240620", max_tokens=1024, messages=MESSAGES, stream=True):
            pass
    write, read = llm_spans()
    # message_start: input 4, cache_creation 1165 (then cache_read 1165); message_delta: output 201 / 221.
    assert usage_attributes(write) == {
        "gen_ai.usage.input_tokens": 1169,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.cache_write.input_tokens": 1165,
        "llmsight.usage.cache_write_1h.input_tokens": 0,
        "gen_ai.usage.output_tokens": 201,
    }
    assert read.attributes["gen_ai.usage.cache_read.input_tokens"] == 1165
    assert read.attributes["gen_ai.usage.cache_write.input_tokens"] == 0
    assert read.attributes["gen_ai.usage.input_tokens"] == 1169
    assert read.attributes["gen_ai.usage.output_tokens"] == 221


def test_recorded_non_stream_cache_and_tool_stream(instrumented, llm_spans) -> None:
    import json

    from llmsight.testing.recordings import load_cassette

    recorded = [json.loads(e.decoded_body()) for e in load_cassette("anthropic-messages-cache-write-then-read.yaml") if e.status == 200]
    client = anthropic.Anthropic(
        api_key="test", http_client=httpx2.Client(transport=replay_transport("anthropic-messages-cache-write-then-read.yaml"))
    )
    for _ in recorded:
        client.messages.create(model="claude-3-5-sonnet-20240620", max_tokens=1024, messages=MESSAGES)
    tools = anthropic.Anthropic(
        api_key="test", http_client=httpx2.Client(transport=replay_transport("anthropic-messages-stream-tools.yaml"))
    )
    with tools.messages.stream(model="claude-3-5-sonnet-20240620", max_tokens=1024, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    spans = llm_spans()
    for span, body in zip(spans[: len(recorded)], recorded, strict=True):  # then the stream's span
        usage = body["usage"]
        total = usage["input_tokens"] + usage.get("cache_read_input_tokens", 0) + usage.get("cache_creation_input_tokens", 0)
        assert span.attributes["gen_ai.usage.input_tokens"] == total
        assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == usage.get("cache_read_input_tokens", 0)
        assert span.attributes["gen_ai.usage.output_tokens"] == usage["output_tokens"]
    assert any(block.type == "tool_use" for block in final.content)
    assert spans[-1].attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert spans[-1].attributes["gen_ai.usage.output_tokens"] == final.usage.output_tokens


def test_overloaded_529_retries_then_error(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.http_status(529, times=10))
    with pytest.raises(anthropic.APIStatusError) as raised:
        sync_client(provider_server, max_retries=2).messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    (span,) = llm_spans()
    assert raised.value.status_code == 529
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    assert span.attributes["http.response.status_code"] == 529
    assert span.attributes["llmsight.retries"] == 2


def test_rate_limit_then_success(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.http_status(429, times=1))
    sync_client(provider_server, max_retries=2).messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    (span,) = llm_spans()
    assert span.attributes["llmsight.retries"] == 1
    assert span.attributes["http.response.status_code"] == 200


def test_abandoned_stream_helper_keeps_partial_usage(instrumented, llm_spans, provider_server) -> None:
    client = sync_client(provider_server)
    with client.messages.stream(model=MODEL, max_tokens=200, messages=MESSAGES) as stream:
        for _ in stream.text_stream:
            break
    del stream
    gc.collect()
    (span,) = llm_spans()
    # The provider bills an abandoned stream only once it has sent it all; the same request read to the
    # end gives the input count independently.
    client.messages.create(model=MODEL, max_tokens=200, messages=MESSAGES)
    billed = provider_server.ledger.entries()[-1]
    assert span.attributes["llmsight.stream.completed"] is False
    # message_start was read: input known; output only as far as message_start reported it (1).
    assert span.attributes["gen_ai.usage.input_tokens"] == billed.input_tokens
    assert span.attributes["gen_ai.usage.output_tokens"] == 1
    assert "gen_ai.response.finish_reasons" not in span.attributes


def test_sdk_builtin_spans_are_not_duplicated(instrumented, span_exporter, provider_server) -> None:
    sync_client(provider_server).messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    scopes = [s.instrumentation_scope.name for s in span_exporter.get_finished_spans()]
    assert scopes.count("llmsight.anthropic") == 1
    assert "com.anthropic.sdk.python" not in scopes


def test_reply_tokens_header_asks_the_local_server_for_a_reply_of_that_length(provider_server) -> None:
    events = list(sync_client(provider_server).messages.create(
        model=MODEL, max_tokens=4096, messages=MESSAGES, stream=True, extra_headers={"x-llmsight-reply-tokens": "57"},
    ))
    text_deltas = [e for e in events if e.type == "content_block_delta"]
    assert len(text_deltas) == 57
    assert [e.usage.output_tokens for e in events if e.type == "message_delta"] == [57]

"""The OpenAI instrumentor, driven through the real `openai` SDK against the local provider server
(whose billing ledger is the independent record of what was sent) and against real recordings."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import httpx2
import openai
import pytest

import llmsight
from llmsight.testing.faults import Fault
from llmsight.testing.recordings import replay_transport
from llmsight.testing.server import ProviderServer

from .conftest import usage_attributes

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}]


def expected_usage(billed: Any) -> dict[str, int]:
    return {
        "gen_ai.usage.input_tokens": billed.input_tokens,
        "gen_ai.usage.cache_read.input_tokens": billed.cache_read_tokens,
        # OpenAI reports no cache writes: the attribute is left unset rather than claimed as 0.
        "gen_ai.usage.output_tokens": billed.output_tokens,
        "gen_ai.usage.reasoning.output_tokens": billed.reasoning_tokens,
    }


def sync_client(server: ProviderServer, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.openai_base_url, api_key="test", **kwargs)


def async_client(server: ProviderServer, **kwargs: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="test", **kwargs)


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass


def _run_chat(server: ProviderServer, mode: str, stream: bool) -> None:
    kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES}
    if stream:
        kwargs.update(stream=True, stream_options={"include_usage": True})
    if mode == "sync":
        result = sync_client(server).chat.completions.create(**kwargs)
        if stream:
            for _ in result:
                pass
    else:

        async def go() -> None:
            result = await async_client(server).chat.completions.create(**kwargs)
            if stream:
                await _drain(result)

        asyncio.run(go())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("stream", [False, True])
def test_chat_span_matches_what_the_provider_billed(instrumented, llm_spans, provider_server, mode, stream) -> None:
    with llmsight.tags(task="greet", tenant="acme", prompt_name="hello", prompt_version="2"):
        _run_chat(provider_server, mode, stream)
    (span,) = llm_spans()
    (billed,) = provider_server.ledger.entries()
    attrs = dict(span.attributes)
    assert span.name == "chat gpt-4o-mini"
    assert span.kind.name == "CLIENT"
    assert usage_attributes(span) == expected_usage(billed)
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.request.stream"] is stream
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["llmsight.model_tier"] == "small"
    assert attrs["llmsight.service_tier"] == "default"
    assert attrs["llmsight.retries"] == 0
    assert attrs["http.response.status_code"] == 200
    assert (attrs["llmsight.task"], attrs["llmsight.tenant"]) == ("greet", "acme")
    assert (attrs["llmsight.prompt.name"], attrs["llmsight.prompt.version"]) == ("hello", "2")
    assert len(attrs["llmsight.prompt.prefix_hash"]) == 16
    assert attrs["server.address"] == "127.0.0.1"
    if stream:
        assert attrs["llmsight.stream.completed"] is True
        assert 0 < attrs["gen_ai.response.time_to_first_chunk"] < span_duration(span)
    else:
        assert "gen_ai.response.time_to_first_chunk" not in attrs
        assert "llmsight.stream.completed" not in attrs


def span_duration(span: Any) -> float:
    return (span.end_time - span.start_time) / 1e9


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("stream", [False, True])
def test_responses_api_reasoning_model(instrumented, llm_spans, provider_server, mode, stream) -> None:
    kwargs: dict[str, Any] = {"model": "gpt-5", "input": "Plan a trip.", "instructions": "Be brief."}
    if mode == "sync":
        client = sync_client(provider_server)
        if stream:
            with client.responses.stream(**kwargs) as events:
                final = events.get_final_response()
            assert final.usage is not None
        else:
            client.responses.create(**kwargs)
    else:

        async def go() -> None:
            client = async_client(provider_server)
            if stream:
                async with client.responses.stream(**kwargs) as events:
                    await events.get_final_response()
            else:
                await client.responses.create(**kwargs)

        asyncio.run(go())
    (span,) = llm_spans()
    (billed,) = provider_server.ledger.entries()
    assert billed.reasoning_tokens > 0
    assert usage_attributes(span) == expected_usage(billed)
    attrs = dict(span.attributes)
    assert attrs["gen_ai.response.finish_reasons"] == ("completed",)
    assert attrs["llmsight.model_tier"] == "frontier"
    assert attrs.get("llmsight.stream.completed", True) is True


def test_embeddings_sync_and_async(instrumented, llm_spans, provider_server) -> None:
    sync_client(provider_server).embeddings.create(model="text-embedding-3-small", input=["alpha", "beta gamma"])
    asyncio.run(async_client(provider_server).embeddings.create(model="text-embedding-3-small", input="delta"))
    spans = llm_spans()
    billed = provider_server.ledger.entries()
    assert [s.name for s in spans] == ["embeddings text-embedding-3-small"] * 2
    assert [s.attributes["gen_ai.usage.input_tokens"] for s in spans] == [b.input_tokens for b in billed]
    # Embeddings report input tokens only; nothing else is claimed.
    assert all(set(usage_attributes(s)) == {"gen_ai.usage.input_tokens"} for s in spans)


def test_chat_parse_and_raw_response(instrumented, llm_spans, provider_server) -> None:
    client = sync_client(provider_server)
    parsed = client.chat.completions.parse(model="gpt-4.1", messages=MESSAGES)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4.1", messages=MESSAGES)
    assert raw.parse().usage.prompt_tokens == parsed.usage.prompt_tokens
    with client.chat.completions.with_streaming_response.create(model="gpt-4.1", messages=MESSAGES) as response:
        response.parse()
    spans = llm_spans()
    billed = provider_server.ledger.entries()
    assert len(spans) == 3
    for span, entry in zip(spans, billed, strict=True):
        assert usage_attributes(span) == expected_usage(entry)
        assert span.attributes["http.response.status_code"] == 200


def test_chat_stream_helper_is_one_span(instrumented, llm_spans, provider_server) -> None:
    client = sync_client(provider_server)
    with client.chat.completions.stream(
        model="gpt-4o", messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()
    (span,) = llm_spans()
    assert span.attributes["gen_ai.usage.output_tokens"] == final.usage.completion_tokens
    assert span.attributes["llmsight.stream.completed"] is True


def test_openai_prompt_cache_reads_are_inside_input_tokens(instrumented, llm_spans, provider_server) -> None:
    system = {"role": "system", "content": "Policy: " + "be precise and cite sources. " * 200}
    client = sync_client(provider_server)
    for question in ("first?", "second?"):
        client.chat.completions.create(model="gpt-4o", messages=[system, {"role": "user", "content": question}])
    first, second = llm_spans()
    assert first.attributes["gen_ai.usage.cache_read.input_tokens"] == 0
    cached = second.attributes["gen_ai.usage.cache_read.input_tokens"]
    assert cached >= 1024 and cached % 128 == 0
    assert second.attributes["gen_ai.usage.input_tokens"] == provider_server.ledger.entries()[1].input_tokens
    assert cached < second.attributes["gen_ai.usage.input_tokens"]
    # Same static prefix → same hash; it is what the cache keys on.
    assert first.attributes["llmsight.prompt.prefix_hash"] == second.attributes["llmsight.prompt.prefix_hash"]


def test_prefix_hash_changes_with_the_system_prompt_only(instrumented, llm_spans, provider_server) -> None:
    client = sync_client(provider_server)
    for system, user in (("v1", "a"), ("v1", "b"), ("v2", "a")):
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "system", "content": system}, {"role": "user", "content": user}]
        )
    hashes = [s.attributes["llmsight.prompt.prefix_hash"] for s in llm_spans()]
    assert hashes[0] == hashes[1] != hashes[2]


def test_truncated_output_finish_reason(instrumented, llm_spans, provider_server) -> None:
    sync_client(provider_server).chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=3)
    (span,) = llm_spans()
    assert span.attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert span.attributes["gen_ai.request.max_tokens"] == 3
    assert span.attributes["gen_ai.usage.output_tokens"] == 3


def test_retries_on_429_are_counted_and_kept_as_events_without_http_spans(
    instrumented, llm_spans, span_exporter, provider_server
) -> None:
    provider_server.faults.add(Fault.http_status(429, times=2))
    sync_client(provider_server, max_retries=3).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    (span,) = llm_spans()
    assert span.attributes["llmsight.retries"] == 2
    assert span.attributes["http.response.status_code"] == 200
    assert "error.type" not in span.attributes
    retries = [(e.name, dict(e.attributes)) for e in span.events]
    assert [name for name, _ in retries] == ["llmsight.retry", "llmsight.retry"]
    assert [a["llmsight.retry.attempt"] for _, a in retries] == [1, 2]
    assert [a["http.response.status_code"] for _, a in retries] == [429, 429]
    # The default adds no HTTP child span: one span per call.
    assert len(span_exporter.get_finished_spans()) == 1


def test_a_call_that_is_not_retried_has_no_events(instrumented, llm_spans, provider_server) -> None:
    sync_client(provider_server).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    (span,) = llm_spans()
    assert span.events == ()


def test_http_attempts_as_child_spans_when_asked(tracer_provider, llm_spans, span_exporter, provider_server) -> None:
    llmsight.instrument(tracer_provider=tracer_provider, instrument_http=True)
    try:
        provider_server.faults.add(Fault.http_status(429, times=2))
        sync_client(provider_server, max_retries=3).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    finally:
        llmsight.uninstrument()
    (span,) = llm_spans()
    attempts = [s for s in span_exporter.get_finished_spans() if s.parent and s.parent.span_id == span.context.span_id]
    # opentelemetry-instrumentation-httpx writes the old or the new HTTP semconv name, per OTEL_SEMCONV_STABILITY_OPT_IN.
    statuses = sorted(a.attributes.get("http.response.status_code", a.attributes.get("http.status_code")) for a in attempts)
    assert statuses == [200, 429, 429]


def test_misspelt_or_invalid_settings_are_errors(tracer_provider) -> None:
    with pytest.raises(llmsight.ConfigurationError, match="'capture_contnt' \\(did you mean 'capture_content'\\?\\)"):
        llmsight.instrument(tracer_provider=tracer_provider, capture_contnt=True)
    with pytest.raises(llmsight.ConfigurationError, match="content_max_chars"):
        llmsight.instrument(tracer_provider=tracer_provider, content_max_chars=-1)
    with pytest.raises(ValueError):  # ConfigurationError is a ValueError too
        llmsight.configure(instrument=True, endpoint="http://127.0.0.1:9", redcat=None)


def test_an_environment_value_that_is_not_json_is_a_configuration_error_naming_it(tracer_provider, monkeypatch) -> None:
    """A dict setting's variable holds JSON; pydantic-settings' own error names only the field (and is not ours)."""
    monkeypatch.setenv("LLMSIGHT_PROVIDER_HOSTS", "gateway.corp=openai")
    with pytest.raises(llmsight.ConfigurationError, match=r"LLMSIGHT_PROVIDER_HOSTS is not valid JSON \(Expecting value"):
        llmsight.instrument(tracer_provider=tracer_provider)


def test_exhausted_retries_record_the_error(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.http_status(429, times=5))
    with pytest.raises(openai.RateLimitError):
        sync_client(provider_server, max_retries=1).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    (span,) = llm_spans()
    assert span.attributes["error.type"] == "RateLimitError"
    assert span.attributes["http.response.status_code"] == 429
    assert span.attributes["llmsight.retries"] == 1
    assert span.status.status_code.name == "ERROR"


def test_connection_refused_is_an_error_span(instrumented, llm_spans) -> None:
    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="test", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    (span,) = llm_spans()
    assert span.attributes["error.type"] == "APIConnectionError"


@pytest.mark.parametrize("how", ["break", "close", "context"])
def test_abandoned_stream_ends_once_with_partial_state(instrumented, llm_spans, provider_server, how) -> None:
    client = sync_client(provider_server)
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.Stream)
    if how == "break":
        for _ in stream:
            break
        del stream
        gc.collect()
    elif how == "close":
        next(iter(stream))
        stream.close()
        stream.close()
    else:
        with stream as entered:
            next(iter(entered))
    (span,) = llm_spans()
    assert span.attributes["llmsight.stream.completed"] is False
    assert span.attributes["gen_ai.response.model"] == "gpt-4o"
    assert "error.type" not in span.attributes


def test_breaking_out_of_a_loop_and_reading_on_is_one_complete_span(instrumented, llm_spans, provider_server) -> None:
    client = sync_client(provider_server)
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    first = []
    for chunk in stream:
        first.append(chunk)
        break
    assert llm_spans() == []  # leaving a loop is not abandoning the stream
    rest = list(stream)
    (span,) = llm_spans()
    assert span.attributes["llmsight.stream.completed"] is True
    assert span.attributes["gen_ai.usage.output_tokens"] == rest[-1].usage.completion_tokens
    assert len(first) == 1 and rest


def test_unread_stream_ends_when_garbage_collected(instrumented, llm_spans, provider_server) -> None:
    sync_client(provider_server).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    gc.collect()
    (span,) = llm_spans()
    assert span.attributes["llmsight.stream.completed"] is False


def test_stream_cut_midway_records_the_error(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.cut_stream(3))
    stream = sync_client(provider_server, max_retries=0).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    )
    with pytest.raises(Exception) as raised:
        for _ in stream:
            pass
    (span,) = llm_spans()
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    assert span.attributes["llmsight.stream.completed"] is False


def test_slow_first_token_shows_in_ttft(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.slow_first_token(0.2))
    for _ in sync_client(provider_server).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
        pass
    (span,) = llm_spans()
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0.2


def test_include_usage_injection_is_opt_in(tracer_provider, llm_spans, provider_server) -> None:
    llmsight.instrument(tracer_provider=tracer_provider, inject_stream_usage=True)
    try:
        client = sync_client(provider_server)
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
        # The caller's explicit choice is never overridden.
        list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": False}))
    finally:
        llmsight.uninstrument()
    injected, explicit = llm_spans()
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert injected.attributes["gen_ai.usage.output_tokens"] == provider_server.ledger.entries()[0].output_tokens
    assert "gen_ai.usage.output_tokens" not in explicit.attributes


def test_tags_follow_asyncio_tasks_and_nest(instrumented, llm_spans, provider_server) -> None:
    client = async_client(provider_server)

    async def ask(tenant: str) -> None:
        with llmsight.tags(tenant=tenant):
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    @llmsight.tags(task="batch")
    async def main() -> None:
        await asyncio.gather(ask("t1"), ask("t2"), asyncio.create_task(ask("t3")))

    asyncio.run(main())
    seen = sorted((s.attributes["llmsight.task"], s.attributes["llmsight.tenant"]) for s in llm_spans())
    assert seen == [("batch", "t1"), ("batch", "t2"), ("batch", "t3")]


def test_instrument_twice_is_noop_and_uninstrument_restores(tracer_provider, llm_spans, provider_server) -> None:
    original = openai.resources.chat.completions.Completions.__dict__["create"]
    llmsight.instrument(tracer_provider=tracer_provider)
    llmsight.instrument(tracer_provider=tracer_provider)
    sync_client(provider_server).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    llmsight.uninstrument()
    assert openai.resources.chat.completions.Completions.__dict__["create"] is original
    sync_client(provider_server).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(llm_spans()) == 1


def test_azure_client_provider_name(instrumented, llm_spans) -> None:
    transport = replay_transport("openai-chat-reasoning-azure.yaml", only_status=200)
    client = openai.AzureOpenAI(
        api_key="test",
        api_version="2024-02-01",
        azure_endpoint="https://example.openai.azure.com",
        http_client=httpx2.Client(transport=transport),
    )
    response = client.chat.completions.create(model="o1-mini", messages=[{"role": "user", "content": "Think."}])
    (span,) = llm_spans()
    assert span.attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 192
    assert response.usage.completion_tokens_details.reasoning_tokens == 192
    assert span.attributes["gen_ai.usage.output_tokens"] == response.usage.completion_tokens
    assert span.attributes["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens


def test_recorded_chat_stream_and_400(instrumented, llm_spans) -> None:
    stream_client = openai.OpenAI(
        api_key="test", base_url="http://localhost:5002/v1",
        http_client=httpx2.Client(transport=replay_transport("openai-chat-stream.yaml")),
    )
    text = "".join(
        c.choices[0].delta.content or ""
        for c in stream_client.chat.completions.create(
            model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Tell me a joke about opentelemetry"}], stream=True
        )
        if c.choices
    )
    error_client = openai.OpenAI(
        api_key="test", max_retries=0,
        http_client=httpx2.Client(transport=replay_transport("openai-chat-error-400.yaml", skip=2)),
    )
    with pytest.raises(openai.BadRequestError):
        error_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    ok, failed = llm_spans()
    assert text.startswith("In the")
    assert ok.attributes["gen_ai.response.id"] == "chatcmpl-7UR4UcvmeD79Xva3UxkKkL2es6b5W"
    assert ok.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert ok.attributes["llmsight.stream.completed"] is True
    assert failed.attributes["http.response.status_code"] == 400
    assert failed.attributes["error.type"] == "BadRequestError"


def test_recorded_responses_stream_and_embeddings(instrumented, llm_spans) -> None:
    client = openai.OpenAI(
        api_key="test", http_client=httpx2.Client(transport=replay_transport("openai-responses-stream.yaml"))
    )
    with client.responses.stream(model="gpt-4.1-nano", input="Count to 5") as events:
        for _ in events:
            pass
    embed = openai.OpenAI(api_key="test", http_client=httpx2.Client(transport=replay_transport("openai-embeddings.yaml")))
    embed.embeddings.create(model="text-embedding-ada-002", input="Tell me a joke about opentelemetry")
    responses, embeddings = llm_spans()
    assert responses.attributes["gen_ai.response.model"] == "gpt-4.1-nano-2025-04-14"
    assert usage_attributes(responses) == {
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.output_tokens": 15,
        "gen_ai.usage.reasoning.output_tokens": 0,
    }
    assert embeddings.attributes["gen_ai.usage.input_tokens"] == 8


def test_reply_tokens_header_asks_the_local_server_for_a_reply_of_that_length(provider_server) -> None:
    chunks = list(sync_client(provider_server).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True},
        extra_headers={"x-llmsight-reply-tokens": "57"},
    ))
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) == 57
    assert chunks[-1].usage.completion_tokens == 57

"""The google-genai instrumentor through the real `google-genai` SDK (Gemini API and Vertex AI) against
the local provider (its ledger is what was billed)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import httpx
import httpx2
import pytest
from google import genai
from google.genai import errors, types

import llmsight
from llmsight.testing.faults import Fault
from llmsight.testing.server import ProviderServer

from .conftest import bare_then_instrumented, usage_attributes

MODEL = "gemini-2.5-flash"
POLICY = "Policy: answer from the knowledge base only and cite the article id. " * 80
FAST_RETRIES = types.HttpRetryOptions(attempts=3, initial_delay=0.01, max_delay=0.02, jitter=0)


def client(server: ProviderServer, *, vertex: bool = False, retries: types.HttpRetryOptions | None = None) -> genai.Client:
    options = types.HttpOptions(base_url=server.gemini_base_url, retry_options=retries)
    return genai.Client(vertexai=vertex or None, api_key="test", http_options=options)


def expected_usage(billed: Any) -> dict[str, int]:
    return {
        "gen_ai.usage.input_tokens": billed.input_tokens,  # promptTokenCount, cached content included
        "gen_ai.usage.cache_read.input_tokens": billed.cache_read_tokens,
        "gen_ai.usage.cache_write.input_tokens": 0,
        "gen_ai.usage.output_tokens": billed.output_tokens,  # candidates + thoughts
        "gen_ai.usage.reasoning.output_tokens": billed.reasoning_tokens,
    }


def generate(server: ProviderServer, mode: str, stream: bool, vertex: bool, **config: Any) -> str:
    c = client(server, vertex=vertex)
    if mode == "sync":
        if stream:
            return "".join(chunk.text or "" for chunk in c.models.generate_content_stream(model=MODEL, contents="Say hello.", config=config))
        return c.models.generate_content(model=MODEL, contents="Say hello.", config=config).text

    async def go() -> str:
        if stream:
            parts = [chunk.text or "" async for chunk in await c.aio.models.generate_content_stream(model=MODEL, contents="Say hello.", config=config)]
            return "".join(parts)
        return (await c.aio.models.generate_content(model=MODEL, contents="Say hello.", config=config)).text

    return asyncio.run(go())


@pytest.mark.parametrize("vertex", [False, True])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_generate_content_span_matches_what_the_provider_billed(instrumented, llm_spans, provider_server, mode, stream, vertex) -> None:
    text = generate(provider_server, mode, stream, vertex, max_output_tokens=200, temperature=0.5,
                    thinking_config={"thinking_budget": 64})
    (span,) = llm_spans()
    (billed,) = provider_server.ledger.entries()
    attrs = dict(span.attributes)
    assert text and span.name == f"chat {MODEL}"
    assert billed.reasoning_tokens > 0  # thinking on: output = candidates + thoughts
    assert usage_attributes(span) == expected_usage(billed)
    assert attrs["gen_ai.provider.name"] == ("gcp.vertex_ai" if vertex else "gcp.gemini")
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["gen_ai.response.model"] == MODEL
    assert attrs["gen_ai.response.id"]
    assert attrs["gen_ai.request.max_tokens"] == 200
    assert attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.request.stream"] is stream
    assert attrs["gen_ai.response.finish_reasons"] == ("STOP",)
    assert attrs["llmsight.model_tier"] == "small"
    assert attrs["llmsight.retries"] == 0
    assert attrs["http.response.status_code"] == 200
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == provider_server.port
    if stream:
        assert attrs["llmsight.stream.completed"] is True
        assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    else:
        assert "llmsight.stream.completed" not in attrs


def test_stream_usage_is_the_last_cumulative_chunk_not_a_sum(instrumented, llm_spans, provider_server) -> None:
    c = client(provider_server)  # kept referenced: a collected Client closes its HTTP client
    chunks = list(c.models.generate_content_stream(model=MODEL, contents="Say hello."))
    (span,) = llm_spans()
    assert len(chunks) > 3
    assert span.attributes["gen_ai.usage.output_tokens"] == chunks[-1].usage_metadata.candidates_token_count
    assert span.attributes["gen_ai.usage.input_tokens"] == chunks[-1].usage_metadata.prompt_token_count


def test_implicit_cache_read_is_included_in_input(instrumented, llm_spans, provider_server) -> None:
    c = client(provider_server)
    for question in ("First question?", "Second question?"):
        c.models.generate_content(model="models/gemini-2.5-pro", contents=question, config={"system_instruction": POLICY})
    first, second = llm_spans()
    billed_first, billed_second = provider_server.ledger.entries()
    assert billed_first.cache_read_tokens == 0 and billed_second.cache_read_tokens > 1024
    assert usage_attributes(second) == expected_usage(billed_second)
    assert second.attributes["gen_ai.usage.input_tokens"] == second.attributes["gen_ai.usage.input_tokens"]
    assert first.attributes["llmsight.prompt.prefix_hash"] == second.attributes["llmsight.prompt.prefix_hash"] != ""
    assert second.attributes["gen_ai.request.model"] == "gemini-2.5-pro"  # "models/" dropped
    assert second.attributes["llmsight.model_tier"] == "frontier"


@pytest.mark.parametrize("vertex", [False, True])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_embeddings(instrumented, llm_spans, provider_server, mode, vertex) -> None:
    c = client(provider_server, vertex=vertex)
    model = "text-embedding-005" if vertex else "gemini-embedding-001"
    contents = ["first text to embed", "and the second one"]
    if mode == "sync":
        result = c.models.embed_content(model=model, contents=contents)
    else:
        result = asyncio.run(c.aio.models.embed_content(model=model, contents=contents))
    (span,) = llm_spans()
    billed = provider_server.ledger.entries()
    assert len(result.embeddings) == (2 if not vertex else len(result.embeddings))
    assert span.name == f"embeddings {model}"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.usage.input_tokens"] == sum(b.input_tokens for b in billed)
    assert span.attributes["gen_ai.provider.name"] == ("gcp.vertex_ai" if vertex else "gcp.gemini")


def test_chat_session_calls_are_spans(instrumented, llm_spans, provider_server) -> None:
    c = client(provider_server)
    chat = c.chats.create(model=MODEL)
    chat.send_message("Hi")
    for _ in chat.send_message_stream("And again"):
        pass
    spans = llm_spans()
    billed = provider_server.ledger.entries()
    assert [s.attributes["gen_ai.request.stream"] for s in spans] == [False, True]
    assert [usage_attributes(s) for s in spans] == [expected_usage(b) for b in billed]


def test_rate_limit_retried_then_success_counts_the_retry(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.http_status(429, times=1))
    c = client(provider_server, retries=FAST_RETRIES)
    c.models.generate_content(model=MODEL, contents="Say hello.")
    (span,) = llm_spans()
    assert provider_server.failures == {429: 1}
    assert span.attributes["llmsight.retries"] == 1
    assert span.attributes["http.response.status_code"] == 200
    assert "error.type" not in span.attributes
    (event,) = [e for e in span.events if e.name == "llmsight.retry"]
    assert event.attributes["http.response.status_code"] == 429 and event.attributes["llmsight.retry.attempt"] == 1


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_rate_limit_exhausted_is_an_error(instrumented, llm_spans, provider_server, mode, stream) -> None:
    provider_server.faults.add(Fault.http_status(429, times=10))
    c = client(provider_server, retries=FAST_RETRIES)
    with pytest.raises(errors.ClientError) as raised:
        if mode == "sync":
            if stream:
                list(c.models.generate_content_stream(model=MODEL, contents="Say hello."))
            else:
                c.models.generate_content(model=MODEL, contents="Say hello.")
        else:
            async def go() -> None:
                if stream:
                    async for _ in await c.aio.models.generate_content_stream(model=MODEL, contents="Say hello."):
                        pass
                else:
                    await c.aio.models.generate_content(model=MODEL, contents="Say hello.")

            asyncio.run(go())
    (span,) = llm_spans()
    assert raised.value.code == 429 and provider_server.failures == {429: 3}
    assert span.attributes["error.type"] == "ClientError"
    assert span.attributes["http.response.status_code"] == 429
    assert span.attributes["llmsight.retries"] == 2
    assert "gen_ai.usage.input_tokens" not in span.attributes


def test_server_error_without_retry_options_is_not_retried(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.http_status(503, times=1))
    c = client(provider_server)
    with pytest.raises(errors.ServerError):
        c.models.generate_content(model=MODEL, contents="Say hello.")
    (span,) = llm_spans()
    assert span.attributes["error.type"] == "ServerError"
    assert span.attributes["http.response.status_code"] == 503
    assert span.attributes["llmsight.retries"] == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_abandoned_stream_ends_once_not_completed(instrumented, llm_spans, provider_server, mode) -> None:
    c = client(provider_server)
    if mode == "sync":
        stream = c.models.generate_content_stream(model=MODEL, contents="Say hello.")
        first = next(stream)
        del stream
    else:
        async def go() -> Any:
            stream = await c.aio.models.generate_content_stream(model=MODEL, contents="Say hello.")
            async for chunk in stream:
                return chunk

        first = asyncio.run(go())
    gc.collect()
    (span,) = llm_spans()
    assert first.text
    assert span.attributes["llmsight.stream.completed"] is False
    # The first chunk's cumulative usage was seen: input known, output so far (one word).
    assert span.attributes["gen_ai.usage.input_tokens"] == first.usage_metadata.prompt_token_count
    assert span.attributes["gen_ai.usage.output_tokens"] == 1
    assert "gen_ai.response.finish_reasons" not in span.attributes


def test_cut_stream_is_an_error(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.cut_stream(2))
    received = []
    c = client(provider_server)
    # What the SDK's HTTP client (httpx2, or httpx where it falls back) raises for a cut stream, llmsight or not.
    with pytest.raises((httpx.RemoteProtocolError, httpx2.RemoteProtocolError)):
        for chunk in c.models.generate_content_stream(model=MODEL, contents="Say hello."):
            received.append(chunk)
    (span,) = llm_spans()
    assert len(received) == 2
    assert span.attributes["llmsight.stream.completed"] is False
    assert "error.type" in span.attributes


def test_time_to_first_chunk_includes_a_slow_first_token(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.slow_first_token(0.3))
    c = client(provider_server)
    for _ in c.models.generate_content_stream(model=MODEL, contents="Say hello."):
        pass
    (span,) = llm_spans()
    ttft = span.attributes["gen_ai.response.time_to_first_chunk"]
    duration = (span.end_time - span.start_time) / 1e9
    assert 0.3 <= ttft <= duration


def _app_visible(server: ProviderServer) -> list[Any]:
    c = client(server)
    results: list[Any] = [c.models.generate_content(model=MODEL, contents="Say hello.")]
    results.extend(c.models.generate_content_stream(model=MODEL, contents="Say hello."))
    results.append(c.models.embed_content(model="gemini-embedding-001", contents=["a", "b"]))

    async def go() -> None:
        results.append(await c.aio.models.generate_content(model=MODEL, contents="Say hello."))
        results.extend([chunk async for chunk in await c.aio.models.generate_content_stream(model=MODEL, contents="Say hello.")])

    asyncio.run(go())
    return [r.model_dump(exclude={"sdk_http_response"}) for r in results]


def test_app_sees_identical_results_with_and_without_instrumentation(tracer_provider, provider_server) -> None:
    bare, instrumented = bare_then_instrumented(tracer_provider, provider_server, _app_visible)
    assert instrumented == bare


def test_uninstrument_restores_the_originals(tracer_provider) -> None:
    from google.genai import _api_client, models

    targets = [(models.Models, "_generate_content"), (models.AsyncModels, "_generate_content_stream"),
               (models.Models, "_embed_content"), (_api_client.BaseApiClient, "_request_once")]
    before = [cls.__dict__[name] for cls, name in targets]
    llmsight.instrument(tracer_provider=tracer_provider)
    assert all(cls.__dict__[name] is not original for (cls, name), original in zip(targets, before, strict=True))
    llmsight.uninstrument()
    assert [cls.__dict__[name] for cls, name in targets] == before

"""The Mistral instrumentor through the real `mistralai` SDK against the local provider (its ledger is
what was billed)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from mistralai.client import Mistral, errors
from mistralai.client.utils import BackoffStrategy, RetryConfig
from mistralai.client.utils.eventstreaming import EventStream

from llmsight.testing.faults import Fault
from llmsight.testing.server import ProviderServer

from .conftest import bare_then_instrumented, usage_attributes

MODEL = "mistral-small-latest"
MESSAGES = [{"role": "user", "content": "Say hello."}]
POLICY = "Policy: answer from the knowledge base only and cite the article id. " * 80
FAST_RETRIES = RetryConfig("backoff", BackoffStrategy(1, 5, 1.1, 10_000), retry_connection_errors=False)


def client(server: ProviderServer, **kwargs: Any) -> Mistral:
    return Mistral(api_key="test", server_url=server.mistral_server_url, **kwargs)


def expected_usage(billed: Any) -> dict[str, int]:
    return {
        "gen_ai.usage.input_tokens": billed.input_tokens,  # prompt_tokens, cached included
        "gen_ai.usage.cache_read.input_tokens": billed.cache_read_tokens,
        "gen_ai.usage.cache_write.input_tokens": 0,
        "gen_ai.usage.output_tokens": billed.output_tokens,
    }


def chat(server: ProviderServer, mode: str, stream: bool, **kwargs: Any) -> str:
    c = client(server)
    kwargs = {"model": MODEL, "messages": MESSAGES, **kwargs}
    if mode == "sync":
        if stream:
            return "".join(e.data.choices[0].delta.content or "" for e in c.chat.stream(**kwargs))
        return c.chat.complete(**kwargs).choices[0].message.content

    async def go() -> str:
        if stream:
            return "".join([e.data.choices[0].delta.content or "" async for e in await c.chat.stream_async(**kwargs)])
        return (await c.chat.complete_async(**kwargs)).choices[0].message.content

    return asyncio.run(go())


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_chat_span_matches_what_the_provider_billed(instrumented, llm_spans, provider_server, mode, stream) -> None:
    text = chat(provider_server, mode, stream, max_tokens=200, temperature=0.2)
    (span,) = llm_spans()
    (billed,) = provider_server.ledger.entries()
    attrs = dict(span.attributes)
    assert text and span.name == f"chat {MODEL}"
    assert usage_attributes(span) == expected_usage(billed)
    assert attrs["gen_ai.provider.name"] == "mistral_ai"
    assert attrs["gen_ai.response.model"] == MODEL
    assert attrs["gen_ai.response.id"]
    assert attrs["gen_ai.request.max_tokens"] == 200
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.request.stream"] is stream
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["llmsight.model_tier"] == "small"
    assert attrs["llmsight.retries"] == 0
    assert attrs["http.response.status_code"] == 200
    assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == provider_server.port
    if stream:
        assert attrs["llmsight.stream.completed"] is True
        assert attrs["gen_ai.response.time_to_first_chunk"] > 0


def test_cached_prompt_is_included_in_input(instrumented, llm_spans, provider_server) -> None:
    c = client(provider_server)
    for question in ("First question?", "Second question?"):
        c.chat.complete(model="mistral-large-latest", messages=[{"role": "system", "content": POLICY},
                                                                 {"role": "user", "content": question}])
    first, second = llm_spans()
    billed_first, billed_second = provider_server.ledger.entries()
    assert billed_first.cache_read_tokens == 0 and billed_second.cache_read_tokens >= 1024
    assert usage_attributes(second) == expected_usage(billed_second)
    assert first.attributes["llmsight.prompt.prefix_hash"] == second.attributes["llmsight.prompt.prefix_hash"]
    assert second.attributes["llmsight.model_tier"] == "frontier"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_embeddings(instrumented, llm_spans, provider_server, mode) -> None:
    c = client(provider_server)
    inputs = ["first text to embed", "and the second one"]
    if mode == "sync":
        result = c.embeddings.create(model="mistral-embed", inputs=inputs)
    else:
        result = asyncio.run(c.embeddings.create_async(model="mistral-embed", inputs=inputs))
    (span,) = llm_spans()
    (billed,) = provider_server.ledger.entries()
    assert len(result.data) == 2
    assert span.name == "embeddings mistral-embed"
    assert span.attributes["gen_ai.usage.input_tokens"] == billed.input_tokens == result.usage.prompt_tokens


def test_rate_limit_retried_then_success(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.http_status(429, times=1))
    c = client(provider_server, retry_config=FAST_RETRIES)
    c.chat.complete(model=MODEL, messages=MESSAGES)
    (span,) = llm_spans()
    assert provider_server.failures == {429: 1}
    assert span.attributes["llmsight.retries"] == 1
    assert span.attributes["http.response.status_code"] == 200
    (event,) = [e for e in span.events if e.name == "llmsight.retry"]
    assert event.attributes["http.response.status_code"] == 429 and event.attributes["llmsight.retry.attempt"] == 1


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_rate_limit_without_retries_is_an_error(instrumented, llm_spans, provider_server, mode, stream) -> None:
    provider_server.faults.add(Fault.http_status(429, times=1))
    with pytest.raises(errors.SDKError) as raised:
        chat(provider_server, mode, stream)
    (span,) = llm_spans()
    assert raised.value.status_code == 429
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    assert span.attributes["http.response.status_code"] == 429
    assert span.attributes["llmsight.retries"] == 0


def test_abandoned_stream_ends_once_not_completed(instrumented, llm_spans, provider_server) -> None:
    c = client(provider_server)
    stream = c.chat.stream(model=MODEL, messages=MESSAGES)
    assert isinstance(stream, EventStream)
    for index, _ in enumerate(stream):
        if index == 2:
            break
    assert llm_spans() == []
    del stream
    gc.collect()
    (span,) = llm_spans()
    assert span.attributes["llmsight.stream.completed"] is False
    assert "gen_ai.usage.input_tokens" not in span.attributes  # usage comes only on the final chunk


def test_stream_context_manager_closes_the_call(instrumented, llm_spans, provider_server) -> None:
    c = client(provider_server)
    with c.chat.stream(model=MODEL, messages=MESSAGES) as stream:
        next(stream)
    (span,) = llm_spans()
    assert span.attributes["llmsight.stream.completed"] is False


def test_time_to_first_chunk_includes_a_slow_first_token(instrumented, llm_spans, provider_server) -> None:
    provider_server.faults.add(Fault.slow_first_token(0.3))
    c = client(provider_server)
    for _ in c.chat.stream(model=MODEL, messages=MESSAGES):
        pass
    (span,) = llm_spans()
    assert 0.3 <= span.attributes["gen_ai.response.time_to_first_chunk"] <= (span.end_time - span.start_time) / 1e9


def _app_visible(server: ProviderServer) -> list[Any]:
    c = client(server)
    seen: list[Any] = [c.chat.complete(model=MODEL, messages=MESSAGES).model_dump()]
    seen.extend(e.model_dump() for e in c.chat.stream(model=MODEL, messages=MESSAGES))
    seen.append(c.embeddings.create(model="mistral-embed", inputs=["a", "b"]).model_dump())

    async def go() -> None:
        seen.append((await c.chat.complete_async(model=MODEL, messages=MESSAGES)).model_dump())
        seen.extend([e.model_dump() async for e in await c.chat.stream_async(model=MODEL, messages=MESSAGES)])

    asyncio.run(go())
    for item in seen:  # wall-clock creation times differ between the two runs
        item.pop("created", None)
        if isinstance(item.get("data"), dict):
            item["data"].pop("created", None)
    return seen


def test_app_sees_identical_results_with_and_without_instrumentation(tracer_provider, provider_server) -> None:
    bare, instrumented = bare_then_instrumented(tracer_provider, provider_server, _app_visible)
    assert instrumented == bare


def test_uninstrument_restores_the_originals(tracer_provider) -> None:
    from mistralai.client import basesdk, chat, embeddings

    import llmsight

    targets = [(chat.Chat, "complete"), (chat.Chat, "stream_async"), (embeddings.Embeddings, "create"),
               (basesdk.BaseSDK, "do_request")]
    before = [cls.__dict__[name] for cls, name in targets]
    llmsight.instrument(tracer_provider=tracer_provider)
    assert all(cls.__dict__[name] is not original for (cls, name), original in zip(targets, before, strict=True))
    llmsight.uninstrument()
    assert [cls.__dict__[name] for cls, name in targets] == before

"""Batch APIs through the real openai and anthropic SDKs against the local provider: one call span per request in a
batch, with the request's exact usage, service tier batch, the batch's completion time and the submission's tags;
the app sees the same bytes and objects as without llmsight; unparsable lines are skipped and counted."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from openai._legacy_response import HttpxBinaryResponseContent
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

import llmsight
from llmsight import attributes as attr
from llmsight._batch import JsonLines
from llmsight.testing import batch_workload as work

from .conftest import bare_then_instrumented


def _calls(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if (s.attributes or {}).get(attr.LLMSIGHT_BATCH_CUSTOM_ID)]


def _openai(server: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0)


def _anthropic(server: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="test", max_retries=0)


def _ledger_usage(server: Any) -> list[tuple[int, int, int, int]]:
    return sorted((e.input_tokens, e.cache_read_tokens + e.cache_write_5m_tokens, e.output_tokens, e.reasoning_tokens)
                  for e in server.ledger.entries())


def _span_usage(span: ReadableSpan) -> tuple[int, int, int, int]:
    a = span.attributes or {}
    return (a[attr.GEN_AI_USAGE_INPUT_TOKENS],
            a.get(attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0) + a.get(attr.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, 0),
            a[attr.GEN_AI_USAGE_OUTPUT_TOKENS], a.get(attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 0))


READS = {
    "content": lambda f, tmp: f.content,
    "text": lambda f, tmp: f.text.encode(),
    "read": lambda f, tmp: f.read(),
    "iter_bytes": lambda f, tmp: b"".join(f.iter_bytes(chunk_size=97)),
    "iter_lines": lambda f, tmp: "".join(line + "\n" for line in f.iter_lines()).encode(),
    "write_to_file": lambda f, tmp: (f.write_to_file(tmp / "out.jsonl"), (tmp / "out.jsonl").read_bytes())[1],
}


@pytest.mark.parametrize("how", list(READS))
def test_openai_batch_results_become_call_spans(instrumented, provider_server, span_exporter, tmp_path: Path,
                                                how: str) -> None:
    client = _openai(provider_server)
    with llmsight.tags(task="triage", tenant="acme"):
        batch = work.submit_openai_batch(client, requests=20, errored=2)
    batch = work.wait_openai_batch(client, batch.id)
    assert (batch.status, batch.request_counts.completed, batch.request_counts.failed) == ("completed", 18, 2)
    with llmsight.tags(task="download"):  # the reader's own tags: the submission's win
        received = READS[how](client.files.content(batch.output_file_id), tmp_path)
        errors = client.files.content(batch.error_file_id).content
    raw = httpx.get(f"{provider_server.openai_base_url}/files/{batch.output_file_id}/content").content
    assert received == raw  # byte for byte what the provider sent
    assert errors == httpx.get(f"{provider_server.openai_base_url}/files/{batch.error_file_id}/content").content

    calls = _calls(span_exporter.get_finished_spans())
    assert len(calls) == 20
    ok = [s for s in calls if s.attributes[attr.LLMSIGHT_BATCH_RESULT] == "succeeded"]
    assert len(ok) == 18
    assert sorted(_span_usage(s) for s in ok) == _ledger_usage(provider_server)  # exact, request by request
    assert any(s.attributes[attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] > 0 for s in ok)
    assert all(s.attributes[attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] > 0 for s in ok)
    completed_ns = batch.completed_at * 1_000_000_000
    for span in calls:
        a = span.attributes
        assert a[attr.LLMSIGHT_SERVICE_TIER] == "batch" and a[attr.LLMSIGHT_BATCH_ID] == batch.id
        assert (a[attr.LLMSIGHT_TASK], a[attr.LLMSIGHT_TENANT]) == ("triage", "acme")
        assert span.start_time == span.end_time == completed_ns
        assert a[attr.GEN_AI_PROVIDER_NAME] == "openai" and a[attr.GEN_AI_OPERATION_NAME] == "chat"
    failed = [s for s in calls if s.attributes[attr.LLMSIGHT_BATCH_RESULT] == "errored"]
    assert {s.attributes[attr.HTTP_RESPONSE_STATUS_CODE] for s in failed} == {400}
    assert all(s.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == s.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 0
               for s in failed)
    assert sorted(s.attributes[attr.LLMSIGHT_BATCH_CUSTOM_ID] for s in calls) == sorted(f"ticket-{i}" for i in range(20))


def test_openai_batch_management_spans(instrumented, provider_server, span_exporter) -> None:
    client = _openai(provider_server)
    with llmsight.tags(task="triage", prompt_name="labels", prompt_version="3"):
        batch = work.submit_openai_batch(client, requests=3, errored=0)
    work.wait_openai_batch(client, batch.id)
    listed = client.batches.list(limit=5)
    assert [b.id for b in listed.data] == [batch.id]
    spans = {s.name: s for s in span_exporter.get_finished_spans()}
    create = spans["batch.create"].attributes
    assert create[attr.GEN_AI_OPERATION_NAME] == "batch.create" and create[attr.LLMSIGHT_BATCH_ID] == batch.id
    assert create[attr.LLMSIGHT_BATCH_ENDPOINT] == "/v1/chat/completions"
    assert create[attr.LLMSIGHT_BATCH_COMPLETION_WINDOW] == "24h"
    assert create[attr.LLMSIGHT_BATCH_INPUT_FILE_ID] == batch.input_file_id
    assert (create[attr.LLMSIGHT_TASK], create[attr.LLMSIGHT_PROMPT_NAME], create[attr.LLMSIGHT_PROMPT_VERSION]) == (
        "triage", "labels", "3")
    statuses = [s.attributes[attr.LLMSIGHT_BATCH_STATUS] for s in span_exporter.get_finished_spans()
                if s.name == "batch.retrieve"]
    assert statuses == ["in_progress", "finalizing", "completed"]
    done = [s for s in span_exporter.get_finished_spans() if s.name == "batch.retrieve"][-1].attributes
    assert done["llmsight.batch.requests.completed"] == 3
    assert done["llmsight.batch.usage.reasoning_tokens"] > 0
    assert not any(k.startswith("gen_ai.usage.") for k in done)  # never counted as a call
    assert spans["batch.list"].attributes["llmsight.batch.listed"] == 1
    cancelled = client.batches.cancel(work.submit_openai_batch(client, requests=2, errored=0).id)
    assert cancelled.status == "cancelling"
    assert spans.keys() >= {"batch.create", "batch.retrieve", "batch.list"}
    assert [s for s in span_exporter.get_finished_spans() if s.name == "batch.cancel"][0].attributes[
        attr.LLMSIGHT_BATCH_STATUS] == "cancelling"


def test_openai_async_batch(instrumented, provider_server, span_exporter) -> None:
    async def run() -> tuple[bytes, Any]:
        client = openai.AsyncOpenAI(base_url=provider_server.openai_base_url, api_key="test", max_retries=0)
        upload = await client.files.create(file=("t.jsonl", io.BytesIO(work.openai_lines(4, 1))), purpose="batch")
        with llmsight.tags(task="async-triage"):
            batch = await client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                                completion_window="24h")
        while batch.status != "completed":
            batch = await client.batches.retrieve(batch.id)
        content = await client.files.content(batch.output_file_id)
        return await content.aread(), batch

    data, batch = asyncio.run(run())
    calls = _calls(span_exporter.get_finished_spans())
    assert len(calls) == 3 and len(data.splitlines()) == 3
    assert {s.attributes[attr.LLMSIGHT_TASK] for s in calls} == {"async-triage"}
    assert sorted(_span_usage(s) for s in calls) == _ledger_usage(provider_server)


async def _async_read(content: Any, how: str) -> bytes:
    if how == "aiter_lines":
        return "".join([line + "\n" async for line in await content.aiter_lines()]).encode()
    if how == "aiter_text":
        return "".join([text async for text in await content.aiter_text(chunk_size=97)]).encode()
    return b"".join([data async for data in await content.aiter_bytes(chunk_size=97)])


@pytest.mark.parametrize("how", ["aiter_bytes", "aiter_text", "aiter_lines"])
def test_openai_async_streamed_reads_become_call_spans(instrumented, provider_server, span_exporter,
                                                       how: str) -> None:
    client = _openai(provider_server)
    batch = work.wait_openai_batch(client, work.submit_openai_batch(client, requests=5, errored=1).id)

    async def read() -> bytes:
        client = openai.AsyncOpenAI(base_url=provider_server.openai_base_url, api_key="test", max_retries=0)
        return await _async_read(await client.files.content(batch.output_file_id), how)

    received = asyncio.run(read())
    assert received == httpx.get(f"{provider_server.openai_base_url}/files/{batch.output_file_id}/content").content
    calls = _calls(span_exporter.get_finished_spans())
    assert len(calls) == 4 and sorted(_span_usage(s) for s in calls) == _ledger_usage(provider_server)
    reads = [s.attributes for s in span_exporter.get_finished_spans() if s.name == "batch.results"]
    assert [(a[attr.LLMSIGHT_BATCH_LINES], a[attr.LLMSIGHT_STREAM_COMPLETED]) for a in reads] == [(4, True)]


def test_a_failed_batch_api_call_ends_its_span_with_the_error(instrumented, provider_server, span_exporter) -> None:
    with pytest.raises(openai.NotFoundError):
        _openai(provider_server).batches.retrieve("batch_missing")

    async def cancel() -> None:
        client = anthropic.AsyncAnthropic(base_url=provider_server.anthropic_base_url, api_key="test", max_retries=0)
        await client.messages.batches.cancel("msgbatch_missing")

    with pytest.raises(anthropic.NotFoundError):
        asyncio.run(cancel())
    spans = {s.name: s for s in span_exporter.get_finished_spans()}
    for name, batch_id in (("batch.retrieve", "batch_missing"), ("batch.cancel", "msgbatch_missing")):
        a = spans[name].attributes
        assert (a[attr.LLMSIGHT_BATCH_ID], a[attr.ERROR_TYPE], a[attr.HTTP_RESPONSE_STATUS_CODE]) == (
            batch_id, "NotFoundError", 404)
        assert not spans[name].status.is_ok
    assert not trace.get_current_span().is_recording()  # each call's span was current only while it ran


def test_an_unknown_file_of_results_is_sniffed_and_bad_lines_are_counted(instrumented, provider_server,
                                                                         span_exporter) -> None:
    """A result file of a batch this process never saw (downloaded by id): the line shape tells; unparsable and
    oversized lines are skipped and counted, never raised."""
    good = {"id": "batch_req_1", "custom_id": "a", "error": None, "response": {"status_code": 200, "request_id": "r",
            "body": {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini", "choices": [],
                     "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}}}
    content = b"\n".join([json.dumps(good).encode(), b"{not json", json.dumps({**good, "custom_id": "b"}).encode()])
    client = _openai(provider_server)
    upload = client.files.create(file=("results.jsonl", io.BytesIO(content)), purpose="batch")
    assert client.files.content(upload.id).content == content
    calls = _calls(span_exporter.get_finished_spans())
    assert [s.attributes[attr.LLMSIGHT_BATCH_CUSTOM_ID] for s in calls] == ["a", "b"]
    assert calls[0].attributes[attr.LLMSIGHT_BATCH_FILE_ID] == upload.id
    assert attr.LLMSIGHT_BATCH_ID not in calls[0].attributes
    (read,) = [s for s in span_exporter.get_finished_spans() if s.name == "batch.results"]
    assert (read.attributes[attr.LLMSIGHT_BATCH_LINES], read.attributes[attr.LLMSIGHT_BATCH_SKIPPED_LINES]) == (2, 1)
    # A file that is not batch results: passed through, no span at all.
    other = client.files.create(file=("notes.jsonl", io.BytesIO(b'{"a": 1}\n{"custom_id": "x"}\n')), purpose="batch")
    span_exporter.clear()
    assert client.files.content(other.id).text == '{"a": 1}\n{"custom_id": "x"}\n'
    assert span_exporter.get_finished_spans() == ()


def test_json_lines_is_bounded_and_streaming() -> None:
    seen: list[Any] = []
    lines = JsonLines(lambda value: seen.append(value) is None, max_line=64)
    for chunk in (b'{"a":', b' 1}\n{"b": 2}\n{"c": "' + b"x" * 100, b'"}\n[1', b"]\n", b"{bad}\n", b'{"d": 4}'):
        lines.feed(chunk)
    lines.finish()
    assert seen == [{"a": 1}, {"b": 2}, [1], {"d": 4}]
    assert (lines.lines, lines.skipped) == (4, 2)  # the 100-byte line and the bad one
    assert len(lines.buffer) == 0


def test_anthropic_batch_results_become_call_spans(instrumented, provider_server, span_exporter) -> None:
    client = _anthropic(provider_server)
    with llmsight.tags(task="triage", user="u-1"):
        batch = work.submit_anthropic_batch(client, requests=20, errored=2)
    ended = work.wait_anthropic_batch(client, batch.id)
    results = list(client.messages.batches.results(batch.id))
    assert len(results) == 20
    calls = _calls(span_exporter.get_finished_spans())
    assert len(calls) == 20
    ok = [s for s in calls if s.attributes[attr.LLMSIGHT_BATCH_RESULT] == "succeeded"]
    assert sorted(_span_usage(s) for s in ok) == _ledger_usage(provider_server)
    assert sum(s.attributes[attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] for s in ok) > 0
    assert sum(s.attributes[attr.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] for s in ok) > 0
    ended_ns = int(ended.ended_at.timestamp() * 1e9)
    for span in calls:
        a = span.attributes
        assert (a[attr.LLMSIGHT_SERVICE_TIER], a[attr.LLMSIGHT_BATCH_ID], a[attr.LLMSIGHT_TASK], a[attr.USER_ID]) == (
            "batch", batch.id, "triage", "u-1")
        assert abs(span.start_time - ended_ns) < 1000
    errored = [s for s in calls if s.attributes[attr.LLMSIGHT_BATCH_RESULT] == "errored"]
    assert len(errored) == 2 and {s.attributes[attr.ERROR_TYPE] for s in errored} == {"invalid_request_error"}
    (read,) = [s for s in span_exporter.get_finished_spans() if s.name == "batch.results"]
    assert read.attributes[attr.LLMSIGHT_BATCH_LINES] == 20 and read.attributes[attr.LLMSIGHT_STREAM_COMPLETED]


def test_anthropic_canceled_batch_and_async(instrumented, provider_server, span_exporter) -> None:
    async def run() -> list[Any]:
        client = anthropic.AsyncAnthropic(base_url=provider_server.anthropic_base_url, api_key="test", max_retries=0)
        batch = await client.messages.batches.create(requests=work.anthropic_requests(3, 0))
        await client.messages.batches.cancel(batch.id)
        while (await client.messages.batches.retrieve(batch.id)).processing_status != "ended":
            pass
        return [item async for item in await client.messages.batches.results(batch.id)]

    results = asyncio.run(run())
    assert [r.result.type for r in results] == ["canceled"] * 3
    calls = _calls(span_exporter.get_finished_spans())
    assert [s.attributes[attr.ERROR_TYPE] for s in calls] == ["batch_canceled"] * 3
    assert all(s.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 0 for s in calls)


def _openai_app(server: Any) -> tuple[Any, ...]:
    client = _openai(server)
    batch = work.wait_openai_batch(client, work.submit_openai_batch(client, requests=5, errored=1).id)
    content = client.files.content(batch.output_file_id)
    listed = client.batches.list()
    return (content.__class__, isinstance(content, HttpxBinaryResponseContent), content.content, content.text, list(content.iter_bytes()),
            client.files.content(batch.error_file_id).read(), _stable(batch), [_stable(b) for b in listed.data])


def _anthropic_app(server: Any) -> tuple[Any, ...]:
    client = _anthropic(server)
    batch = work.wait_anthropic_batch(client, work.submit_anthropic_batch(client, requests=5, errored=1).id)
    results = client.messages.batches.results(batch.id)
    return (results.__class__, [r.model_dump() for r in results], _stable(batch))


_TIMES = {"created_at", "completed_at", "in_progress_at", "finalizing_at", "expires_at", "ended_at", "created"}


def _stable(model: Any) -> dict[str, Any]:
    """An SDK object without the wall-clock fields that differ between two runs."""
    return {k: v for k, v in model.model_dump().items() if k not in _TIMES}


def _without_created(data: bytes) -> list[Any]:
    return [{**line, "response": {**line["response"], "body": {k: v for k, v in line["response"]["body"].items()
                                                                   if k != "created"}}}
            for line in map(json.loads, data.splitlines())]


@pytest.mark.parametrize("app", [_openai_app, _anthropic_app])
def test_the_app_sees_the_same_objects(tracer_provider, provider_server, app) -> None:
    bare, traced = bare_then_instrumented(tracer_provider, provider_server, app)
    if app is _openai_app:
        assert bare[:2] == traced[:2] == (HttpxBinaryResponseContent, True)
        assert _without_created(bare[2]) == _without_created(traced[2])
        assert _without_created(bare[3].encode()) == _without_created(traced[3].encode())
        assert _without_created(b"".join(bare[4])) == _without_created(b"".join(traced[4]))
        assert bare[5:] == traced[5:]
    else:
        assert bare == traced


def test_uninstrument_restores_every_batch_method(tracer_provider) -> None:
    from anthropic.resources.messages import batches as anthropic_batches
    from openai.resources import batches as openai_batches
    from openai.resources import files

    targets = [(openai_batches.Batches, m) for m in ("create", "retrieve", "list", "cancel")]
    targets += [(openai_batches.AsyncBatches, m) for m in ("create", "retrieve", "cancel")]
    targets += [(files.Files, "content"), (files.AsyncFiles, "content")]
    targets += [(anthropic_batches.Batches, m) for m in ("create", "retrieve", "list", "cancel", "results")]
    targets += [(anthropic_batches.AsyncBatches, m) for m in ("create", "retrieve", "cancel", "results")]
    originals = [cls.__dict__[name] for cls, name in targets]
    llmsight.instrument(tracer_provider=tracer_provider)
    try:
        assert all(cls.__dict__[name] is not original for (cls, name), original in zip(targets, originals, strict=True))
    finally:
        llmsight.uninstrument()
    assert all(cls.__dict__[name] is original for (cls, name), original in zip(targets, originals, strict=True))

"""OpenAI Batch: `batches.create` / `retrieve` / `list` / `cancel` spans, and one call span per result line when the
app reads a batch's output or error file through `files.content(file_id)` (docs/batch.md).

How a file read is known to be a batch's results: the file id is the `output_file_id` / `error_file_id` of a batch
this process has seen (a create, retrieve, list or cancel result: the registry), or else its first line has the
batch result shape `{"id", "custom_id", "response": {"status_code", "body"}}` (then the batch id is unknown: the
calls carry the file id and the read's time). Any other file is passed through after its first line.

The app gets the SDK's own `HttpxBinaryResponseContent` behind a transparent proxy: `.content`, `.text`, `.read()`,
`.json()`, `.iter_bytes()`, `.iter_text()`, `.iter_lines()`, `.write_to_file()` (and the async `a*` twins) return
exactly what they return without llmsight; the lines are parsed as they pass (streaming, one line in memory), once
per file object.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import wrapt
from opentelemetry.trace import Span, Tracer

from llmsight import attributes as attr
from llmsight._batch import (
    REGISTRY,
    BatchApi,
    BatchInfo,
    BatchResult,
    JsonLines,
    emit_result,
    end_management_span,
    management_span,
    parent_context,
    prefixed,
    unix_ns,
    without_provider,
)
from llmsight._common import CallContext, given
from llmsight.openai._provider import client_attributes
from llmsight.openai._usage import chat_usage, embeddings_usage, responses_usage

logger = logging.getLogger("llmsight")

_COUNT_FIELDS = ("total", "completed", "failed")
_USAGE_FIELDS = ("input_tokens", "output_tokens", "total_tokens")


def _server(ctx: CallContext, instance: Any) -> dict[str, Any]:
    return dict(client_attributes(instance._client, ctx.provider_hosts))


class OpenAIBatches(BatchApi):
    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx

    def server(self, instance: Any) -> dict[str, Any]:
        return _server(self.ctx, instance)

    def submission(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, name in ((attr.LLMSIGHT_BATCH_ENDPOINT, "endpoint"),
                          (attr.LLMSIGHT_BATCH_COMPLETION_WINDOW, "completion_window"),
                          (attr.LLMSIGHT_BATCH_INPUT_FILE_ID, "input_file_id")):
            value = kwargs.get(name)
            if given(value) and isinstance(value, str):
                values[key] = value
        return values

    def batch_attributes(self, batch: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            attr.LLMSIGHT_BATCH_ID: batch.id,
            attr.LLMSIGHT_BATCH_STATUS: batch.status,
            attr.LLMSIGHT_BATCH_ENDPOINT: batch.endpoint,
            attr.LLMSIGHT_BATCH_INPUT_FILE_ID: batch.input_file_id,
            attr.LLMSIGHT_BATCH_OUTPUT_FILE_ID: batch.output_file_id,
            attr.LLMSIGHT_BATCH_ERROR_FILE_ID: batch.error_file_id,
            attr.LLMSIGHT_BATCH_CREATED_AT: batch.created_at,
            attr.LLMSIGHT_BATCH_COMPLETED_AT: batch.completed_at,
        }
        values.update(prefixed(attr.LLMSIGHT_BATCH_REQUESTS_PREFIX, batch.request_counts, _COUNT_FIELDS))
        usage = getattr(batch, "usage", None)
        if usage is not None:
            values.update(prefixed(attr.LLMSIGHT_BATCH_USAGE_PREFIX, usage, _USAGE_FIELDS))
            values.update(prefixed(attr.LLMSIGHT_BATCH_USAGE_PREFIX, usage.input_tokens_details, ("cached_tokens",)))
            values.update(prefixed(attr.LLMSIGHT_BATCH_USAGE_PREFIX, usage.output_tokens_details, ("reasoning_tokens",)))
        return {k: v for k, v in values.items() if v is not None}

    def learn(self, provider: str, batch: Any, tags: Mapping[str, str] | None = None) -> BatchInfo:
        files = tuple(f for f in (batch.output_file_id, batch.error_file_id) if f)
        return REGISTRY.learn(BatchInfo(
            provider=provider, batch_id=batch.id, completed_at_ns=unix_ns(batch.completed_at),
            created_at_ns=unix_ns(batch.created_at), model=getattr(batch, "model", None) or "",
            endpoint=batch.endpoint or "", file_ids=files, tags=tags,
        ))


# --- result files -------------------------------------------------------------------------------------------------

def _namespace(value: Any) -> Any:
    """A usage dict as attribute access, for the usage readers shared with the synchronous endpoints."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: _namespace(v) for k, v in value.items() if isinstance(k, str) and k.isidentifier()})
    return value


def _looks_like_result(line: Any) -> bool:
    return isinstance(line, dict) and isinstance(line.get("custom_id"), str) and ("response" in line or "error" in line)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def read_line(line: dict[str, Any]) -> BatchResult:
    """One output / error file line → the request's outcome, with usage in llmsight's semantics."""
    response = _dict(line.get("response"))
    status = response.get("status_code")
    body = _dict(response.get("body"))
    outcome = BatchResult(custom_id=line["custom_id"], operation=attr.OPERATION_CHAT,
                          http_status=status if isinstance(status, int) else 0)
    kind = body.get("object")
    if kind == "list":
        outcome.operation = attr.OPERATION_EMBEDDINGS
    if isinstance(status, int) and 200 <= status < 300 and body and "error" not in body:
        usage = _namespace(body.get("usage"))
        outcome.response_model = _str(body.get("model"))
        outcome.response_id = _str(body.get("id"))
        if kind == "response":
            outcome.usage = responses_usage(usage)
            reason = _dict(body.get("incomplete_details")).get("reason")
            outcome.finish_reasons = [reason or body.get("status") or "completed"]
        elif kind == "list":
            outcome.usage = embeddings_usage(usage)
        else:
            outcome.usage = chat_usage(usage)
            choices = body.get("choices")
            choices = choices if isinstance(choices, list) else []
            outcome.finish_reasons = [c["finish_reason"] for c in choices if isinstance(c, dict) and c.get("finish_reason")]
        return outcome
    error = _dict(body.get("error")) or _dict(line.get("error"))
    outcome.result = "expired" if error.get("code") == "batch_expired" else "errored"
    outcome.error_type = str(error.get("type") or error.get("code") or "batch_request_failed")
    outcome.error_message = str(error.get("message") or "")
    return outcome


class ResultReader:
    """Parses one file object's lines once, as the app consumes them, into call spans."""

    def __init__(self, tracer: Tracer, base: dict[str, Any], info: BatchInfo | None, file_id: str) -> None:
        self.tracer = tracer
        self.base = base
        self.info = info
        self.file_id = file_id
        self.parser: JsonLines | None = None
        self.span: Span | None = None
        self.done = False

    def begin(self) -> JsonLines | None:
        """The parser for a read that starts now; None when the file was read (or found not to be results) already."""
        if self.done or self.parser is not None:
            return None
        self.parser = JsonLines(self._on_line)
        return self.parser

    def _read_span(self) -> Span:
        """The span of this read, started at its first result line (a file that is not results gets none)."""
        if self.span is None:
            values = without_provider(self.base)
            values[attr.LLMSIGHT_BATCH_FILE_ID] = self.file_id
            if self.info is not None:
                values[attr.LLMSIGHT_BATCH_ID] = self.info.batch_id
            self.span = management_span(self.tracer, "batch.results", values)
        return self.span

    def _on_line(self, line: Any) -> bool:
        if not _looks_like_result(line):
            return self.info is not None  # a known batch's file: an odd line is skipped; otherwise not results
        emit_result(self.tracer, self.base, self.info, self.info.batch_id if self.info else "", self.file_id,
                    read_line(line), parent_context(self._read_span()))
        return True

    def end(self, completed: bool) -> None:
        parser = self.parser
        if parser is None:
            return
        if completed:
            parser.finish()
            self.done = True
        self.parser = None
        span, self.span = self.span, None
        if span is None:
            return
        try:
            span.set_attributes({attr.LLMSIGHT_BATCH_LINES: parser.lines, attr.LLMSIGHT_BATCH_SKIPPED_LINES: parser.skipped,
                                 attr.LLMSIGHT_STREAM_COMPLETED: completed})
        except Exception:
            logger.debug("llmsight: could not record a batch results read", exc_info=True)
        end_management_span(span)

    def consume(self, data: bytes) -> None:
        """A read of the whole body the app already has (`.content`, `.read()`, `.write_to_file()`...)."""
        try:
            parser = self.begin()
            if parser is None:
                return
            parser.feed(data)
            self.end(completed=True)
        except Exception:
            logger.debug("llmsight: could not read batch results", exc_info=True)

    def _feeder(self, newline: bool) -> Callable[[Any], Any] | None:
        """What each chunk of a read that starts now passes through on its way to the app (the parser reads it);
        None when the file was read (or found not to be results) already."""
        try:
            parser = self.begin()
        except Exception:
            parser = None
        if parser is None:
            return None

        def fed(chunk: Any) -> Any:
            parser.feed(chunk)
            if newline:  # iter_lines() strips the line ends the parser splits on
                parser.feed(b"\n")
            return chunk

        return fed

    def feeding(self, chunks: Iterator[Any], newline: bool = False) -> Iterator[Any]:
        fed = self._feeder(newline)
        if fed is None:
            yield from chunks
            return
        completed = False
        try:
            for chunk in chunks:
                yield fed(chunk)
            completed = True
        finally:
            self.end(completed)

    async def afeeding(self, chunks: AsyncIterator[Any], newline: bool = False) -> AsyncIterator[Any]:
        fed = self._feeder(newline)
        if fed is None:
            async for chunk in chunks:
                yield chunk
            return
        completed = False
        try:
            async for chunk in chunks:
                yield fed(chunk)
            completed = True
        finally:
            self.end(completed)


class BatchFileProxy(wrapt.ObjectProxy):  # type: ignore[type-arg, misc, unused-ignore]  # generic in wrapt 2 only
    """`HttpxBinaryResponseContent` as the SDK returns it; the methods that hand the body to the app also feed the
    result reader. Everything else is the SDK object's own."""

    def __init__(self, wrapped: Any, reader: ResultReader) -> None:
        super().__init__(wrapped)
        self._self_reader = reader

    def _consume_body(self) -> None:
        try:
            self._self_reader.consume(self.__wrapped__.response.content)
        except Exception:  # a body that was never read (cannot be here): nothing to parse
            logger.debug("llmsight: batch file body unavailable", exc_info=True)

    @property
    def content(self) -> bytes:
        data: bytes = self.__wrapped__.content
        self._self_reader.consume(data)
        return data

    @property
    def text(self) -> str:
        text: str = self.__wrapped__.text
        self._consume_body()
        return text

    def read(self) -> bytes:
        data: bytes = self.__wrapped__.read()
        self._self_reader.consume(data)
        return data

    def json(self, **kwargs: Any) -> Any:
        value = self.__wrapped__.json(**kwargs)
        self._consume_body()
        return value

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        return self._self_reader.feeding(self.__wrapped__.iter_bytes(chunk_size))

    def iter_text(self, chunk_size: int | None = None) -> Iterator[str]:
        return self._self_reader.feeding(self.__wrapped__.iter_text(chunk_size))

    def iter_lines(self) -> Iterator[str]:
        return self._self_reader.feeding(self.__wrapped__.iter_lines(), newline=True)

    def write_to_file(self, *args: Any, **kwargs: Any) -> None:
        self.__wrapped__.write_to_file(*args, **kwargs)
        self._consume_body()

    def stream_to_file(self, *args: Any, **kwargs: Any) -> None:
        self.__wrapped__.stream_to_file(*args, **kwargs)
        self._consume_body()

    async def aread(self) -> bytes:
        data: bytes = await self.__wrapped__.aread()
        self._self_reader.consume(data)
        return data

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        return self._self_reader.afeeding(await self.__wrapped__.aiter_bytes(chunk_size))

    async def aiter_text(self, chunk_size: int | None = None) -> AsyncIterator[str]:
        return self._self_reader.afeeding(await self.__wrapped__.aiter_text(chunk_size))

    async def aiter_lines(self) -> AsyncIterator[str]:
        return self._self_reader.afeeding(await self.__wrapped__.aiter_lines(), newline=True)

    async def astream_to_file(self, *args: Any, **kwargs: Any) -> None:
        await self.__wrapped__.astream_to_file(*args, **kwargs)
        self._consume_body()


def wrap_file(ctx: CallContext, tracer: Tracer, binary_type: type, instance: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any], result: Any) -> Any:
    """The app's file object, behind a result reader when it can be a batch's results; never raises."""
    try:
        if type(result) is not binary_type:  # raw / streaming-response variants are left alone
            return result
        file_id = args[0] if args else kwargs.get("file_id")
        if not isinstance(file_id, str):
            return result
        base = _server(ctx, instance)
        base.update(ctx.key_hint_attributes(base[attr.GEN_AI_PROVIDER_NAME], instance._client))  # the bill's key
        info = REGISTRY.for_file(file_id)
        return BatchFileProxy(result, ResultReader(tracer, base, info, file_id))
    except Exception:
        logger.debug("llmsight: could not wrap a file read", exc_info=True)
        return result

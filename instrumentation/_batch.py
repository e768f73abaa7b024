"""What the OpenAI and Anthropic batch instrumentations share (docs/batch.md).

- `REGISTRY`: the batches this process has seen (create / retrieve / list / cancel results): their completion
  time, their output and error file ids, the attribution tags of a submission made here. Bounded (LRU).
- `JsonLines`: a streaming, bounded JSON Lines splitter that never raises: a line it cannot parse, or one longer
  than `MAX_LINE_BYTES`, is skipped and counted.
- `emit_result`: one CLIENT span for one request inside a batch, timed at the batch's completion.
- `management_span`: the span of a batch API call (submission, retrieve, list, cancel, results read); it carries
  no `gen_ai.*` usage, so the collector never counts it as a call.
- `CreateBatch`, `BatchState`, `ListBatches`: the submission / retrieve and cancel / list spans of both providers,
  over the `BatchApi` each provider module implements; `sync_management_wrapper` / `async_management_wrapper`
  install them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from llmsight import attributes as attr
from llmsight._call import Usage, response_attributes
from llmsight._tags import current_tag_attributes

logger = logging.getLogger("llmsight")

MAX_LINE_BYTES = 16 * 1024 * 1024  # a longer result line is skipped (and counted), never buffered
MAX_BATCHES = 4096  # batches remembered per process
BATCH_TIER = "batch"


@dataclass(slots=True)
class BatchInfo:
    provider: str
    batch_id: str
    completed_at_ns: int | None = None  # when the provider finished the batch (the calls' time)
    created_at_ns: int | None = None
    model: str = ""  # the batch's model where the provider reports one (OpenAI `Batch.model`)
    endpoint: str = ""
    file_ids: tuple[str, ...] = ()
    tags: Mapping[str, str] | None = None  # attribution at submission, when submitted by this process
    extra: dict[str, Any] = field(default_factory=dict)


class BatchRegistry:
    """Batches seen in this process, by id, and which batch each output / error file belongs to."""

    def __init__(self, capacity: int = MAX_BATCHES) -> None:
        self._lock = threading.Lock()
        self._capacity = capacity
        self._batches: OrderedDict[tuple[str, str], BatchInfo] = OrderedDict()
        self._files: dict[str, tuple[str, str]] = {}

    def learn(self, info: BatchInfo) -> BatchInfo:
        """Record what a batch object says; keeps what was known before (tags, a completion time)."""
        key = (info.provider, info.batch_id)
        with self._lock:
            known = self._batches.pop(key, None)
            if known is not None:
                info.tags = info.tags if info.tags is not None else known.tags
                info.completed_at_ns = info.completed_at_ns or known.completed_at_ns
                info.created_at_ns = info.created_at_ns or known.created_at_ns
                info.model = info.model or known.model
                info.endpoint = info.endpoint or known.endpoint
            self._batches[key] = info
            for file_id in info.file_ids:
                self._files[file_id] = key
            while len(self._batches) > self._capacity:
                _, dropped = self._batches.popitem(last=False)
                for file_id in dropped.file_ids:
                    self._files.pop(file_id, None)
        return info

    def get(self, provider: str, batch_id: str) -> BatchInfo | None:
        with self._lock:
            return self._batches.get((provider, batch_id))

    def for_file(self, file_id: str) -> BatchInfo | None:
        with self._lock:
            key = self._files.get(file_id)
            return self._batches.get(key) if key is not None else None

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()
            self._files.clear()


REGISTRY = BatchRegistry()


class JsonLines:
    """Feed bytes as they arrive; `on_line(obj)` gets each parsed JSON line. Memory: one line (at most
    `max_line` bytes) plus the chunk being fed."""

    __slots__ = ("on_line", "max_line", "buffer", "overflow", "lines", "skipped", "stopped")

    def __init__(self, on_line: Callable[[Any], bool], max_line: int = MAX_LINE_BYTES) -> None:
        self.on_line = on_line  # returns False to stop parsing (the content is not a batch result file)
        self.max_line = max_line
        self.buffer = bytearray()
        self.overflow = False
        self.lines = 0
        self.skipped = 0
        self.stopped = False

    def feed(self, chunk: bytes | bytearray | memoryview | str) -> None:
        if self.stopped:
            return
        try:
            self._feed(chunk.encode() if isinstance(chunk, str) else bytes(chunk))
        except Exception:  # never into the app
            logger.debug("llmsight: batch result parsing failed", exc_info=True)
            self.stopped = True

    def _feed(self, data: bytes) -> None:
        start = 0
        while not self.stopped:
            end = data.find(b"\n", start)
            if end < 0:
                rest = len(data) - start
                if self.overflow or len(self.buffer) + rest > self.max_line:
                    if not self.overflow:
                        self.overflow = True
                        self.buffer.clear()
                else:
                    self.buffer += data[start:]
                return
            if self.overflow:
                self.overflow = False
                self.skipped += 1
            elif self.buffer:
                self.buffer += data[start:end]
                self._line(bytes(self.buffer))
                self.buffer.clear()
            else:
                self._line(data[start:end])
            start = end + 1

    def finish(self) -> None:
        if self.stopped:
            return
        if self.overflow:
            self.skipped += 1
        elif self.buffer:
            self._line(bytes(self.buffer))
        self.buffer.clear()
        self.overflow = False

    def _line(self, raw: bytes) -> None:
        if not raw.strip():
            return
        try:
            value = json.loads(raw)
        except ValueError:
            self.skipped += 1
            return
        self.lines += 1
        if not self.on_line(value):
            self.stopped = True


def unix_ns(seconds: float | None) -> int | None:
    return int(seconds * 1_000_000_000) if seconds else None


def management_span(tracer: Tracer, name: str, attributes: Mapping[str, Any]) -> Span:
    return tracer.start_span(name, kind=SpanKind.CLIENT, attributes={k: v for k, v in attributes.items() if v is not None})


def end_management_span(span: Span, error: BaseException | None = None) -> None:
    try:
        if error is not None:
            span.set_attribute(attr.ERROR_TYPE, type(error).__qualname__)
            status = getattr(error, "status_code", None)
            if isinstance(status, int):
                span.set_attribute(attr.HTTP_RESPONSE_STATUS_CODE, status)
            span.set_status(Status(StatusCode.ERROR, str(error)[:512]))
        span.end()
    except Exception:
        logger.debug("llmsight: could not end a batch span", exc_info=True)


def tags_for(info: BatchInfo | None) -> Mapping[str, str]:
    """The submission's tags when this process submitted the batch, else the reader's own (the collector
    replaces them with the submission's, wherever that was made)."""
    if info is not None and info.tags is not None:
        return info.tags
    return current_tag_attributes()


@dataclass(slots=True)
class BatchResult:
    """One request's outcome, read from a result line."""

    custom_id: str
    operation: str
    response_model: str = ""
    response_id: str = ""
    usage: Usage | None = None
    finish_reasons: list[str] | None = None
    http_status: int = 0
    result: str = "succeeded"  # succeeded, errored, canceled, expired
    error_type: str = ""
    error_message: str = ""


def emit_result(
    tracer: Tracer, base: Mapping[str, Any], info: BatchInfo | None, batch_id: str, file_id: str, outcome: BatchResult,
    parent: Context | None,
) -> None:
    """One call span: the request's own usage, at service tier `batch`, timed at the batch's completion (the read's
    time when the batch is unknown here)."""
    at = (info.completed_at_ns if info is not None else None) or time.time_ns()
    model = outcome.response_model or (info.model if info is not None else "")
    request_model = (info.model if info is not None else "") or model
    values: dict[str, Any] = dict(base)
    values.update({
        attr.GEN_AI_OPERATION_NAME: outcome.operation,
        attr.GEN_AI_REQUEST_MODEL: request_model,
        attr.GEN_AI_REQUEST_STREAM: False,
        attr.LLMSIGHT_SERVICE_TIER: BATCH_TIER,
        attr.LLMSIGHT_BATCH_CUSTOM_ID: outcome.custom_id,
        attr.LLMSIGHT_BATCH_RESULT: outcome.result,
        attr.LLMSIGHT_RETRIES: 0,
    })
    if batch_id:
        values[attr.LLMSIGHT_BATCH_ID] = batch_id
    if file_id:
        values[attr.LLMSIGHT_BATCH_FILE_ID] = file_id
    values.update(tags_for(info))
    usage = outcome.usage
    if usage is None and outcome.result != "succeeded":  # nothing was processed: nothing is billed
        usage = Usage(input_tokens=0, output_tokens=0)
    values.update(response_attributes(usage, model, outcome.response_id, outcome.finish_reasons))
    if outcome.http_status:
        values[attr.HTTP_RESPONSE_STATUS_CODE] = outcome.http_status
    if outcome.error_type:
        values[attr.ERROR_TYPE] = outcome.error_type
    span = tracer.start_span(f"{outcome.operation} {request_model}".rstrip(), context=parent, kind=SpanKind.CLIENT,
                             attributes=values, start_time=at)
    if outcome.error_type:
        span.set_status(Status(StatusCode.ERROR, outcome.error_message[:512] or outcome.error_type))
    span.end(end_time=at)


def parent_context(span: Span) -> Context:
    return trace.set_span_in_context(span)


class ManagementCall:
    """One batch API method: the span's name and request attributes, and what its result adds (and teaches the
    registry)."""

    name = "batch"

    def start(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def on_result(self, span: Span, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any,
                  tags: Mapping[str, str]) -> None:
        raise NotImplementedError


class BatchApi:
    """What the management calls need to know of one provider's batch API. Provider modules subclass it."""

    batch_id_keyword = "batch_id"  # the SDK methods' keyword for the batch id

    def server(self, instance: Any) -> dict[str, Any]:
        """The provider and server attributes of the SDK resource's client, as a dict of the caller's own."""
        raise NotImplementedError

    def submission(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """What a `create` request's arguments say about the batch."""
        raise NotImplementedError

    def batch_attributes(self, batch: Any) -> dict[str, Any]:
        """The span attributes of a batch object the API returned."""
        raise NotImplementedError

    def learn(self, provider: str, batch: Any, tags: Mapping[str, str] | None = None) -> BatchInfo:
        """Teach the registry what a batch object says."""
        raise NotImplementedError


def without_provider(server: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes of a batch API span other than the submission's: the server, never `gen_ai.provider.name`."""
    return {k: v for k, v in server.items() if k != attr.GEN_AI_PROVIDER_NAME}


class CreateBatch(ManagementCall):
    """The submission: the collector keeps its tags for the batch's results (`gen_ai.operation.name=batch.create`)."""

    name = "batch.create"

    def __init__(self, api: BatchApi) -> None:
        self.api = api

    def start(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        values = self.api.server(instance)
        values[attr.GEN_AI_OPERATION_NAME] = attr.OPERATION_BATCH_CREATE
        values.update(self.api.submission(kwargs))
        return values

    def on_result(self, span: Span, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any,
                  tags: Mapping[str, str]) -> None:
        span.set_attributes({**self.api.batch_attributes(result), **tags})
        self.api.learn(self.api.server(instance)[attr.GEN_AI_PROVIDER_NAME], result, dict(tags))


class BatchState(ManagementCall):
    """retrieve / cancel: status, request counts, usage."""

    def __init__(self, api: BatchApi, name: str) -> None:
        self.api = api
        self.name = name

    def start(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        values = without_provider(self.api.server(instance))
        batch_id = args[0] if args else kwargs.get(self.api.batch_id_keyword)
        if isinstance(batch_id, str):
            values[attr.LLMSIGHT_BATCH_ID] = batch_id
        return values

    def on_result(self, span: Span, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any,
                  tags: Mapping[str, str]) -> None:
        span.set_attributes(self.api.batch_attributes(result))
        self.api.learn(self.api.server(instance)[attr.GEN_AI_PROVIDER_NAME], result)


class ListBatches(BatchState):
    def on_result(self, span: Span, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any,
                  tags: Mapping[str, str]) -> None:
        """The first page teaches the registry (later pages are fetched by the SDK's paginator itself; an async
        paginator has fetched nothing yet)."""
        data = getattr(result, "data", None)
        if not isinstance(data, list):
            return
        provider = self.api.server(instance)[attr.GEN_AI_PROVIDER_NAME]
        for batch in data:
            self.api.learn(provider, batch)
        span.set_attribute("llmsight.batch.listed", len(data))


class _Managed:
    """`with _Managed(...) as managed: result = <the SDK call>`, then `managed.done(result)`: the span of one batch API
    call, current while the SDK sends it, ended with the error it raises or with what its result says. When the span
    cannot start, the SDK call runs bare."""

    __slots__ = ("op", "args", "kwargs", "instance", "tags", "span", "token")

    def __init__(self, op: ManagementCall, tracer: Tracer, instance: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
        self.op, self.instance, self.args, self.kwargs = op, instance, args, kwargs
        self.tags = current_tag_attributes()
        self.span: Span | None = None
        try:
            self.span = management_span(tracer, op.name, op.start(instance, args, kwargs))
        except Exception:
            logger.debug("llmsight: could not start a batch span", exc_info=True)

    def __enter__(self) -> _Managed:
        if self.span is not None:
            self.token = otel_context.attach(trace.set_span_in_context(self.span))
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self.span is None:
            return
        try:
            if exc is not None:
                end_management_span(self.span, exc)
        finally:
            otel_context.detach(self.token)

    def done(self, result: Any) -> None:
        if self.span is None:
            return
        try:
            self.op.on_result(self.span, self.instance, self.args, self.kwargs, result, self.tags)
        except Exception:
            logger.debug("llmsight: could not read a batch API result", exc_info=True)
        end_management_span(self.span)


def sync_management_wrapper(op: ManagementCall, get_tracer: Callable[[], Tracer]) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with _Managed(op, get_tracer(), instance, args, kwargs) as managed:
            result = wrapped(*args, **kwargs)
        managed.done(result)
        return result

    return wrapper


def async_management_wrapper(op: ManagementCall, get_tracer: Callable[[], Tracer]) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        async def run() -> Any:
            with _Managed(op, get_tracer(), instance, args, kwargs) as managed:
                result = await wrapped(*args, **kwargs)
            managed.done(result)
            return result

        return run()

    return wrapper


def prefixed(prefix: str, values: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """`prefix + field` for each integer field an SDK object (request counts, usage) reports."""
    out: dict[str, Any] = {}
    if values is None:
        return out
    for name in fields:
        value = getattr(values, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            out[prefix + name] = value
    return out

"""OpenTelemetry instrumentation of Amazon Bedrock runtime through boto3 / botocore
(`boto3.client("bedrock-runtime")`).

    from llmsight.bedrock import BedrockInstrumentor
    BedrockInstrumentor().instrument(tracer_provider=provider)

Patched: `botocore.client.BaseClient._make_api_call`, the one method every botocore client operation
goes through; only the `bedrock-runtime` operations Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream get a span (any other call passes straight through after one string
comparison). Provider `aws.bedrock`.

- Retries and status: botocore's `Endpoint._needs_retry` runs after every attempt and decides (and
  sleeps) before each retry: each attempt's status becomes `http.response.status_code` (the last one
  stays), each retry a `llmsight.retry` event and one more in `llmsight.retries` — the count botocore
  itself reports as `ResponseMetadata.RetryAttempts`. The error class (`ThrottlingException`, …)
  becomes `error.type`.
- Streams: the `EventStream` in `converse_stream(...)["stream"]` / `invoke_model_with_response_stream(...)
  ["body"]` is replaced by a transparent proxy (see `_streams.py`). TTFT is the first content delta
  (Converse's `contentBlockDelta`, Anthropic's `content_block_delta`, …), never `messageStart`.
- InvokeModel's one-shot `body` is read and replaced by an identical `StreamingBody`, so the usage in
  it (Anthropic's cache split) is known; the token-count headers cover every other model family.
- Usage semantics per API and family: see `_usage.py` (Converse's `inputTokens` EXCLUDES cache reads
  and writes; llmsight's input includes them).
- Model ids are recorded as sent (`us.anthropic.claude-…-v1:0`); tiers drop the cross-region prefix,
  and genai-prices maps prefixed ids to their base model itself.

The anthropic SDK's `AnthropicBedrock` client goes through the anthropic instrumentor (its `messages`
resource) with provider `anthropic`'s wire format. aiobotocore is not instrumented.

Supported: botocore >= 1.34 (Converse), < 2 (tested with 1.44).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Tracer, get_tracer
from wrapt import wrap_function_wrapper

from llmsight._call import current_call
from llmsight._common import CallContext
from llmsight._version import __version__
from llmsight.config import InstrumentationSettings

logger = logging.getLogger("llmsight")
SERVICE = "bedrock-runtime"


def _on_needs_retry(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """botocore's `Endpoint._needs_retry` runs after every attempt (and sleeps before a retry): the
    attempt's status, and a retry event when botocore decides to retry."""
    call = current_call.get()
    if call is None:
        return wrapped(*args, **kwargs)
    response = kwargs.get("response", args[3] if len(args) > 3 else None)
    http_response = response[0] if isinstance(response, tuple) and response else None
    status = getattr(http_response, "status_code", None)
    if type(status) is int:
        call.http_status = status
    retrying = wrapped(*args, **kwargs)
    if retrying:
        headers = getattr(http_response, "headers", None) or {}
        call.record_retry(status if type(status) is int else None, headers.get("retry-after"))
    return retrying


def _make_api_call_wrapper(ops: Any, tracer: Tracer) -> Any:
    from llmsight.bedrock._operations import OPERATIONS

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        operation = args[0] if args else kwargs.get("operation_name")
        if operation not in OPERATIONS or current_call.get() is not None:
            return wrapped(*args, **kwargs)
        try:
            if instance.meta.service_model.service_name != SERVICE:
                return wrapped(*args, **kwargs)
            params = args[1] if len(args) > 1 else kwargs.get("api_params") or {}
            call = ops.start(tracer, instance, operation, params)
        except Exception:
            logger.debug("llmsight: could not start a call span", exc_info=True)
            return wrapped(*args, **kwargs)
        with call.in_flight():  # status and retries are recorded by the _needs_retry hook meanwhile
            result = wrapped(*args, **kwargs)
        try:
            if ops.on_result(call, operation, params, result):
                return result  # a stream proxy ends the call
        except Exception:
            logger.debug("llmsight: could not read the response", exc_info=True)
        call.end()
        return result

    return wrapper


class BedrockInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    def instrumentation_dependencies(self) -> Collection[str]:
        return ("botocore >= 1.34",)

    def _instrument(self, **kwargs: Any) -> None:
        from llmsight.bedrock._operations import BedrockOperations

        settings = kwargs.get("settings") or InstrumentationSettings()
        tracer: Tracer = get_tracer(__name__, __version__, kwargs.get("tracer_provider"))
        wrap_function_wrapper(
            "botocore.client", "BaseClient._make_api_call",
            _make_api_call_wrapper(BedrockOperations(CallContext(settings)), tracer),
        )
        wrap_function_wrapper("botocore.endpoint", "Endpoint._needs_retry", _on_needs_retry)

    def _uninstrument(self, **kwargs: Any) -> None:
        import botocore.client
        import botocore.endpoint

        unwrap(botocore.client.BaseClient, "_make_api_call")
        unwrap(botocore.endpoint.Endpoint, "_needs_retry")

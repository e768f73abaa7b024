"""The Bedrock runtime operations llmsight instruments: Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream (botocore operation names)."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from opentelemetry.trace import Tracer

from llmsight import attributes as attr
from llmsight import providers
from llmsight._call import LLMCall
from llmsight._common import CallContext, per_client, url_attributes
from llmsight.anthropic._usage import message_usage
from llmsight.bedrock._streams import ConverseStreamAccumulator, EventStreamProxy, InvokeStreamAccumulator
from llmsight.bedrock._usage import as_object, converse_usage, header_usage, nova_usage
from llmsight.model_tier import without_region_prefix
from llmsight.prefix_hash import prefix_hash

logger = logging.getLogger("llmsight")

PROVIDER = providers.AWS_BEDROCK.name
CONVERSE = "Converse"
CONVERSE_STREAM = "ConverseStream"
INVOKE = "InvokeModel"
INVOKE_STREAM = "InvokeModelWithResponseStream"
OPERATIONS = frozenset((CONVERSE, CONVERSE_STREAM, INVOKE, INVOKE_STREAM))


def model_id(value: Any) -> str:
    """The model id as the app sent it; an ARN (inference profile, provisioned model) → its last part."""
    if not isinstance(value, str):
        return ""
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


def vendor(model: str) -> str:
    """`us.anthropic.claude-…` → `anthropic`; `amazon.nova-pro-v1:0` → `amazon`."""
    head, dot, _ = without_region_prefix(model).partition(".")
    return head if dot else ""


def _server_attributes(client: Any) -> dict[str, Any]:
    return per_client(client, lambda: {
        attr.GEN_AI_PROVIDER_NAME: PROVIDER, **url_attributes(lambda: client.meta.endpoint_url)})


def _invoke_request(body: Any) -> dict[str, Any]:
    """InvokeModel's body (bytes, str or file): a dict when it is JSON the app already holds in memory."""
    if isinstance(body, (bytes, bytearray, str)):
        try:
            parsed = json.loads(body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}  # a file-like body is read by botocore only: never consumed here


def _first_int(*values: Any) -> int | None:
    return next((v for v in values if type(v) is int), None)


class BedrockOperations:
    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx

    def start(self, tracer: Tracer, client: Any, operation: str, params: dict[str, Any]) -> LLMCall:
        model = model_id(params.get("modelId"))
        streaming = operation in (CONVERSE_STREAM, INVOKE_STREAM)
        values = self.ctx.base_attributes(attr.OPERATION_CHAT, model, streaming)
        values.update(_server_attributes(client))
        if operation in (CONVERSE, CONVERSE_STREAM):
            config = params.get("inferenceConfig") or {}
            max_tokens, temperature = config.get("maxTokens"), config.get("temperature")
            system, tools, messages = params.get("system"), (params.get("toolConfig") or {}).get("tools"), params.get("messages")
            tier = (params.get("serviceTier") or {}).get("type")
        else:
            body = _invoke_request(params.get("body"))
            config = body.get("inferenceConfig") or body.get("textGenerationConfig") or {}
            max_tokens = _first_int(body.get("max_tokens"), body.get("max_gen_len"), config.get("maxTokens"),
                                    config.get("max_new_tokens"), config.get("maxTokenCount"))
            temperature = body.get("temperature", config.get("temperature"))
            system, tools, messages = body.get("system"), body.get("tools"), body.get("messages") or body.get("prompt")
            tier = params.get("serviceTier")
        if type(max_tokens) is int:
            values[attr.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        if isinstance(temperature, (int, float)):
            values[attr.GEN_AI_REQUEST_TEMPERATURE] = temperature
        if isinstance(tier, str) and tier:
            values[attr.LLMSIGHT_SERVICE_TIER] = tier
        values[attr.LLMSIGHT_PROMPT_PREFIX_HASH] = prefix_hash(system, tools)
        captured = self.ctx.capture(messages)
        if captured is not None:
            values[attr.GEN_AI_INPUT_MESSAGES] = captured
        return LLMCall(tracer, f"{attr.OPERATION_CHAT} {model}".rstrip(), values, streaming=streaming)

    def on_result(self, call: LLMCall, operation: str, params: dict[str, Any], result: dict[str, Any]) -> bool:
        """Read (or wrap) the operation's result; True when a stream now owns the call's end."""
        metadata = result.get("ResponseMetadata") or {}
        call.http_status = metadata.get("HTTPStatusCode") or call.http_status
        # Bedrock returns no response id: the request id (x-amzn-requestid) is the call's identity, under the
        # name OTel botocore records it with.
        call.set_attribute(attr.AWS_REQUEST_ID, metadata.get("RequestId") or None)
        if operation == CONVERSE:
            call.usage = converse_usage(result.get("usage"))
            call.service_tier = (result.get("serviceTier") or {}).get("type")
            if result.get("stopReason"):
                call.finish_reasons = [result["stopReason"]]
            if self.ctx.settings.capture_content:
                call.set_attribute(attr.GEN_AI_OUTPUT_MESSAGES, self.ctx.capture(result.get("output")))
            return False
        if operation == CONVERSE_STREAM:
            result["stream"] = EventStreamProxy(result["stream"], call, ConverseStreamAccumulator(call))
            return True
        if operation == INVOKE_STREAM:
            call.service_tier = result.get("serviceTier")
            result["body"] = EventStreamProxy(result["body"], call, InvokeStreamAccumulator(call))
            return True
        self._on_invoke(call, vendor(model_id(params.get("modelId"))), result, metadata.get("HTTPHeaders") or {})
        return False

    def _on_invoke(self, call: LLMCall, family: str, result: dict[str, Any], headers: dict[str, str]) -> None:
        """InvokeModel's body is a one-shot stream: read it, hand the app an identical fresh one."""
        from botocore.response import StreamingBody

        data = result["body"].read()
        result["body"] = StreamingBody(io.BytesIO(data), len(data))
        call.service_tier = result.get("serviceTier")
        call.usage = header_usage(headers)
        try:
            body = json.loads(data)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        if body.get("type") == "message" or family == "anthropic":
            usage, _ = message_usage(as_object(body.get("usage")))
            call.usage = usage or call.usage
            call.response_id, call.response_model = body.get("id"), body.get("model")
            reason = body.get("stop_reason")
        elif isinstance(body.get("usage"), dict) and "inputTokens" in body["usage"]:  # Nova
            call.usage = nova_usage(body["usage"]) or call.usage
            reason = body.get("stopReason")
        elif body.get("outputs"):  # Mistral
            reason = body["outputs"][0].get("stop_reason")
        else:  # Llama and others
            reason = body.get("stop_reason")
        if isinstance(reason, str) and reason:
            call.finish_reasons = [reason]

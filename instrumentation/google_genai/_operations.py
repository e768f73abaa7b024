"""The google-genai operations llmsight instruments: one generateContent / streamGenerateContent /
embeddings request each (the SDK's private per-request methods, so automatic function calling and
automatic continuation, which send several billed requests for one public call, get one span each)."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Tracer

from llmsight import attributes as attr
from llmsight import providers
from llmsight._call import LLMCall
from llmsight._common import CallContext, per_client, url_attributes
from llmsight._operation_base import BaseOperation
from llmsight._streams import ResponseAccumulator
from llmsight.google_genai._usage import embed_usage, generate_usage
from llmsight.prefix_hash import prefix_hash

PROVIDER_GEMINI = providers.GCP_GEMINI.name
PROVIDER_VERTEX = providers.GCP_VERTEX_AI.name


def base_model(model: Any) -> str:
    """`models/gemini-2.5-flash`, `publishers/google/models/…`, `projects/…/models/…` → the model id
    (what tiers and prices are keyed on); tuned-model and endpoint names are kept whole."""
    if not isinstance(model, str):
        return ""
    if model.startswith("models/") or "/models/" in model:
        return model.rsplit("/models/", 1)[-1].removeprefix("models/")
    return model


def config_value(config: Any, name: str, camel: str) -> Any:
    """A field of a config given as a pydantic model or as a dict (snake_case or camelCase keys)."""
    if config is None:
        return None
    if isinstance(config, dict):
        return config.get(name, config.get(camel))
    return getattr(config, name, None)


def client_attributes(api_client: Any) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        provider = PROVIDER_VERTEX if api_client.vertexai else PROVIDER_GEMINI
        return {attr.GEN_AI_PROVIDER_NAME: provider, **url_attributes(lambda: api_client._http_options.base_url)}

    return per_client(api_client, compute)


def _start(ctx: CallContext, tracer: Tracer, instance: Any, operation: str, kwargs: dict[str, Any],
           streaming: bool, extra: dict[str, Any]) -> LLMCall:
    model = base_model(kwargs.get("model"))
    values = ctx.base_attributes(operation, model, streaming)
    values.update(client_attributes(instance._api_client))
    values.update(extra)
    return LLMCall(tracer, f"{operation} {model}".rstrip(), values, streaming=streaming)


def _is_content_chunk(response: Any) -> bool:
    for candidate in response.candidates or ():
        content = candidate.content
        if content is not None and content.parts:
            return True
    return False


class GenerateContentOperation(BaseOperation):
    """`Models._generate_content` / `_generate_content_stream` (and the `AsyncModels` twins)."""

    def __init__(self, ctx: CallContext, *, streaming: bool) -> None:
        super().__init__(ctx)
        self.streaming = streaming

    def start(self, tracer: Tracer, instance: Any, kwargs: dict[str, Any]) -> LLMCall:
        config = kwargs.get("config")
        extra: dict[str, Any] = {}
        max_tokens = config_value(config, "max_output_tokens", "maxOutputTokens")
        if isinstance(max_tokens, int):
            extra[attr.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        temperature = config_value(config, "temperature", "temperature")
        if isinstance(temperature, (int, float)):
            extra[attr.GEN_AI_REQUEST_TEMPERATURE] = temperature
        system = config_value(config, "system_instruction", "systemInstruction")
        tools = config_value(config, "tools", "tools")
        if isinstance(tools, list):  # Python functions (automatic function calling): hash their names, not ids
            tools = [getattr(t, "__qualname__", t) if callable(t) else t for t in tools]
        cached = config_value(config, "cached_content", "cachedContent")
        extra[attr.LLMSIGHT_PROMPT_PREFIX_HASH] = prefix_hash(system, tools, cached)
        contents = kwargs.get("contents")
        captured = self.ctx.capture(contents)
        if captured is not None:
            extra[attr.GEN_AI_INPUT_MESSAGES] = captured
            if system is not None:
                extra[attr.GEN_AI_SYSTEM_INSTRUCTIONS] = self.ctx.capture(system)
        return _start(self.ctx, tracer, instance, attr.OPERATION_CHAT, kwargs, self.streaming, extra)

    def on_response(self, call: LLMCall, response: Any) -> None:
        call.usage = generate_usage(response.usage_metadata)
        call.response_model = response.model_version
        call.response_id = response.response_id
        reasons = [_reason(c.finish_reason) for c in response.candidates or () if c.finish_reason]
        if reasons:
            call.finish_reasons = reasons
        if self.ctx.settings.capture_content:
            call.set_attribute(
                attr.GEN_AI_OUTPUT_MESSAGES, self.ctx.capture([c.content for c in response.candidates or ()])
            )

    def accumulator(self, call: LLMCall) -> GenerateStreamAccumulator:
        return GenerateStreamAccumulator(call)


def _reason(value: Any) -> str:
    return str(getattr(value, "value", value))


class GenerateStreamAccumulator(ResponseAccumulator):
    """Stream chunks are whole `GenerateContentResponse`s whose usage is cumulative: the last one wins."""

    __slots__ = ()

    def on_item(self, chunk: Any) -> None:
        if not self.call.first_chunk_ns and _is_content_chunk(chunk):
            self.call.mark_first_chunk()
        if chunk.usage_metadata is not None:
            self.usage = chunk.usage_metadata
        if chunk.model_version:
            self.model = chunk.model_version
        if chunk.response_id:
            self.id = chunk.response_id
        reasons = [_reason(c.finish_reason) for c in chunk.candidates or () if c.finish_reason]
        if reasons:
            self.reasons = reasons

    def write_usage(self, call: LLMCall) -> None:
        call.usage = generate_usage(self.usage)


class EmbedContentOperation(BaseOperation):
    """`Models._embed_content` (Gemini API batchEmbedContents, Vertex AI predict / embedContent)."""

    def start(self, tracer: Tracer, instance: Any, kwargs: dict[str, Any]) -> LLMCall:
        return _start(self.ctx, tracer, instance, attr.OPERATION_EMBEDDINGS, kwargs, False, {})

    def on_response(self, call: LLMCall, response: Any) -> None:
        call.usage = embed_usage(response)

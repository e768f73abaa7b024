"""Attribute variants across GenAI instrumentations, first match wins.

Sources: llmsight (ARCHITECTURE.md), the GenAI semantic conventions, OpenLLMetry / traceloop
(`opentelemetry-instrumentation-openai|anthropic|google-generativeai|bedrock|mistralai`), the official OTel
openai-v2 and botocore, OpenInference (`llm.*`, `llm.token_count.*`), OpenLIT, Logfire, and the anthropic
SDK's built-in tracing (`com.anthropic.sdk.python`).
"""

from __future__ import annotations

from llmsight import attributes as a
from llmsight import providers

# OpenInference: `llm.provider` is who serves the call (aws for Bedrock), `llm.system` the model family (anthropic
# on Bedrock): the family only when no provider is named (its openai spans name none).
PROVIDER = (a.GEN_AI_PROVIDER_NAME, "gen_ai.system", "llm.provider", "llm.system")
OPERATION = (a.GEN_AI_OPERATION_NAME, "llm.request.type")
REQUEST_MODEL = (a.GEN_AI_REQUEST_MODEL, "llm.request.model", "llm.model_name")
RESPONSE_MODEL = (a.GEN_AI_RESPONSE_MODEL, "llm.response.model")
RESPONSE_ID = (a.GEN_AI_RESPONSE_ID,)
# Bedrock's identity: the x-amzn-requestid response header (OTel botocore's and llmsight's name for it).
REQUEST_ID = (a.AWS_REQUEST_ID,)
INPUT_TOKENS = (a.GEN_AI_USAGE_INPUT_TOKENS, "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens",
                "llm.token_count.prompt")
OUTPUT_TOKENS = (a.GEN_AI_USAGE_OUTPUT_TOKENS, "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens",
                 "llm.token_count.completion")
TOTAL_TOKENS = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total")
CACHE_READ = (
    a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.cached_tokens",
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE = (
    a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    "gen_ai.usage.cache_creation.input_tokens",  # the semconv name before cache_write (OpenLLMetry, OTel botocore)
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
)
CACHE_WRITE_1H = (
    a.LLMSIGHT_CACHE_WRITE_1H_INPUT_TOKENS,
    "llmsight.usage.cache_creation_1h.input_tokens",  # llmsight's name before the semconv's cache_write
    "anthropic.usage.cache_creation.ephemeral_1h_input_tokens",
)
REASONING = (
    a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    "gen_ai.usage.reasoning_tokens",
    "llm.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
)
FINISH_REASONS = (a.GEN_AI_RESPONSE_FINISH_REASONS, "anthropic.message.stop_reason", "llm.response.finish_reason",
                  "llm.finish_reason")
SPAN_KIND = ("openinference.span.kind",)  # OpenInference: only LLM and EMBEDDING spans are calls
INSIDE_CALL = (a.LLMSIGHT_CALL_INSIDE,)  # another instrumentation's span inside an llmsight call span
SERVICE_TIER = (
    a.LLMSIGHT_SERVICE_TIER,
    "gen_ai.openai.response.service_tier",
    "openai.response.service_tier",
    "anthropic.response.service_tier",
    "gen_ai.openai.request.service_tier",
    "openai.request.service_tier",
    "anthropic.request.service_tier",
    "gen_ai.response.service_tier",  # OpenLIT
    "gen_ai.request.service_tier",  # OpenLIT
)
TTFT_SECONDS = (a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, "gen_ai.server.time_to_first_token")
# OpenLLMetry: gen_ai.is_streaming (llm.is_streaming before 0.4x); OpenLIT: gen_ai.request.is_stream.
STREAMING = (a.GEN_AI_REQUEST_STREAM, "gen_ai.is_streaming", "llm.is_streaming", "gen_ai.request.is_stream")
RETRIES = (a.LLMSIGHT_RETRIES, "http.request.resend_count")
HTTP_STATUS = (a.HTTP_RESPONSE_STATUS_CODE, "http.status_code")
ERROR_TYPE = (a.ERROR_TYPE,)
MODEL_TIER = (a.LLMSIGHT_MODEL_TIER,)
STREAM_COMPLETED = (a.LLMSIGHT_STREAM_COMPLETED,)
TASK = (a.LLMSIGHT_TASK,)
PROMPT_NAME = (a.LLMSIGHT_PROMPT_NAME,)
PROMPT_VERSION = (a.LLMSIGHT_PROMPT_VERSION,)
PROMPT_PREFIX_HASH = (a.LLMSIGHT_PROMPT_PREFIX_HASH,)
TENANT = (a.LLMSIGHT_TENANT,)
RAW_USAGE = ("gen_ai.usage.raw",)  # Logfire: the provider's usage object as JSON
OUTPUT_VALUE = ("output.value",)  # OpenInference: the response as JSON (with the provider's id), by default
# Where the call went, when a source sets no server.address: OpenLLMetry keeps the OpenAI client's base URL.
BASE_URL = ("gen_ai.openai.api_base",)

# Normalised values.
# Every name a provider goes by (llmsight/providers.py) → its gen_ai.provider.name.
PROVIDER_NAMES = {name: p.name for p in providers.PROVIDERS for name in (p.name, *p.aliases)}
# Bedrock model ids some sources send without their vendor (OpenLLMetry's Nova `nova-lite-v1:0`).
BEDROCK_BARE_MODEL_VENDORS = {"nova-": "amazon.", "titan-": "amazon."}
OPERATION_NAMES = {
    "chat": "chat",
    "completion": "text_completion",
    "text_completion": "text_completion",
    "embedding": "embeddings",
    "embeddings": "embeddings",
    "generate_content": "chat",
    "rerank": "rerank",
    "image": "image_generation",
}

# Content attributes (prompts, completions) go to the `content` column, which has its own short TTL
# (content_ttl_days): the store is for analytics, not transcripts.
CONTENT_PREFIXES = ("gen_ai.prompt", "gen_ai.completion", "gen_ai.input.messages", "gen_ai.output.messages",
                    "gen_ai.system_instructions", "llm.prompts", "llm.completions")

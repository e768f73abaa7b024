"""Attribute variants across GenAI instrumentations, first match wins.

Sources: llmsight (ARCHITECTURE.md), the GenAI semantic conventions, OpenLLMetry / traceloop
(`opentelemetry-instrumentation-openai|anthropic`), the official OTel openai-v2, OpenLIT, Logfire, and the
anthropic SDK's built-in tracing (`com.anthropic.sdk.python`).
"""

from __future__ import annotations

PROVIDER = ("gen_ai.provider.name", "gen_ai.system")
OPERATION = ("gen_ai.operation.name", "llm.request.type")
REQUEST_MODEL = ("gen_ai.request.model", "llm.request.model")
RESPONSE_MODEL = ("gen_ai.response.model", "llm.response.model")
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens")
OUTPUT_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens")
CACHE_READ = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.cached_tokens",
)
CACHE_WRITE = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
)
CACHE_WRITE_1H = (
    "llmsight.usage.cache_creation_1h.input_tokens",
    "anthropic.usage.cache_creation.ephemeral_1h_input_tokens",
)
REASONING = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.usage.reasoning_tokens",
)
FINISH_REASONS = ("gen_ai.response.finish_reasons", "anthropic.message.stop_reason", "llm.response.finish_reason")
SERVICE_TIER = (
    "llmsight.service_tier",
    "gen_ai.openai.response.service_tier",
    "openai.response.service_tier",
    "anthropic.response.service_tier",
    "gen_ai.openai.request.service_tier",
    "openai.request.service_tier",
    "anthropic.request.service_tier",
)
TTFT_SECONDS = ("gen_ai.response.time_to_first_chunk", "gen_ai.server.time_to_first_token")
STREAMING = ("gen_ai.request.stream", "llm.is_streaming")
RETRIES = ("llmsight.retries", "http.request.resend_count")
HTTP_STATUS = ("http.response.status_code", "http.status_code")
ERROR_TYPE = ("error.type",)

# Normalised values.
PROVIDER_NAMES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "az.ai.openai": "azure.ai.openai",
    "azure.ai.openai": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "aws.bedrock": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "gcp.gemini": "gcp.gemini",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "gcp.vertex_ai": "gcp.vertex_ai",
    "vertex_ai": "gcp.vertex_ai",
    "mistral_ai": "mistral_ai",
    "mistralai": "mistral_ai",
    "groq": "groq",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "x_ai": "x_ai",
    "xai": "x_ai",
    "openrouter": "openrouter",
    "together": "together",
    "together_ai": "together",
    "fireworks": "fireworks",
    "perplexity": "perplexity",
    "cerebras": "cerebras",
}
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

# Which sources report `input_tokens` EXCLUDING cache reads/writes for Anthropic (provider semantics kept
# as-is). Everything else follows the semconv rule (inclusive). Checked against each library's source.
ANTHROPIC_EXCLUSIVE_SCOPES = ("openlit", "com.anthropic.sdk.python")
# Sources that follow the inclusive rule for Anthropic as well.
ANTHROPIC_INCLUSIVE_SCOPES = ("llmsight.", "opentelemetry.instrumentation.anthropic", "logfire")

# Content attributes (prompts, completions) go to the `content` column, which has its own short TTL
# (content_ttl_days): the store is for analytics, not transcripts.
CONTENT_PREFIXES = ("gen_ai.prompt", "gen_ai.completion", "gen_ai.input.messages", "gen_ai.output.messages",
                    "gen_ai.system_instructions", "llm.prompts", "llm.completions")

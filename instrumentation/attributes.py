"""Span attribute names: llmsight's public naming contract (see ARCHITECTURE.md).

Instrumentation writes these names and the collector reads them; dashboards and alerts depend on
the columns they become. GenAI semantic-convention names are used wherever one exists.
"""

from typing import Final

# --- GenAI semantic conventions ---
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
# ALL input tokens: cache reads and cache writes included (semconv rule).
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
# Output tokens include reasoning tokens.
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
SERVER_ADDRESS: Final = "server.address"
# Bedrock's call identity: the x-amzn-requestid response header (the name OTel botocore records it under).
AWS_REQUEST_ID: Final = "aws.request_id"
SERVER_PORT: Final = "server.port"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
ERROR_TYPE: Final = "error.type"
# OTel general semantic conventions: the end user and the conversation/session a call belongs to.
USER_ID: Final = "user.id"
SESSION_ID: Final = "session.id"
# A call through a LiteLLM proxy: its x-litellm-call-id and x-litellm-model-name response headers (LiteLLM's
# call id, and the deployment it routed to, "<litellm provider>/<model>"), under the names LiteLLM's own spans use.
LITELLM_CALL_ID: Final = "litellm.call_id"
LITELLM_PROVIDER_MODEL: Final = "litellm.provider.model"
# Resource attribute (OTel service semconv); the collector keeps it so dashboards can mark deploys.
SERVICE_VERSION: Final = "service.version"

# --- llmsight's own ---
LLMSIGHT_CACHE_WRITE_1H_INPUT_TOKENS: Final = "llmsight.usage.cache_write_1h.input_tokens"
LLMSIGHT_MODEL_TIER: Final = "llmsight.model_tier"
LLMSIGHT_SERVICE_TIER: Final = "llmsight.service_tier"
LLMSIGHT_TASK: Final = "llmsight.task"
LLMSIGHT_PROMPT_NAME: Final = "llmsight.prompt.name"
LLMSIGHT_PROMPT_VERSION: Final = "llmsight.prompt.version"
LLMSIGHT_TENANT: Final = "llmsight.tenant"
LLMSIGHT_PROMPT_PREFIX_HASH: Final = "llmsight.prompt.prefix_hash"
LLMSIGHT_RETRIES: Final = "llmsight.retries"
LLMSIGHT_STREAM_COMPLETED: Final = "llmsight.stream.completed"
# On ANOTHER instrumentation's span that runs inside an llmsight call span: that span's id (the same call).
LLMSIGHT_CALL_INSIDE: Final = "llmsight.call.inside"
# A non-secret hint of the API key (llmsight/key_hint.py): never more than the provider's key list displays.
LLMSIGHT_API_KEY_HINT: Final = "llmsight.api_key.hint"
# One span event per retried HTTP attempt (only calls that were retried pay for it), with the attempt's
# number, its HTTP status (absent when it got no response: timeout, connection error) and Retry-After.
LLMSIGHT_RETRY_EVENT: Final = "llmsight.retry"
LLMSIGHT_RETRY_ATTEMPT: Final = "llmsight.retry.attempt"
LLMSIGHT_RETRY_AFTER: Final = "llmsight.retry.after_s"

# Batch APIs (docs/batch.md). A request inside a batch is a call span like any other, with service tier `batch`,
# timed at the batch's completion, and these two attributes: its identity is provider + batch id + custom id.
LLMSIGHT_BATCH_ID: Final = "llmsight.batch.id"
LLMSIGHT_BATCH_CUSTOM_ID: Final = "llmsight.batch.custom_id"
# The output / error file a result line was read from (OpenAI; identifies the batch when its id is unknown).
LLMSIGHT_BATCH_FILE_ID: Final = "llmsight.batch.file_id"
# What the provider said of one request: succeeded, errored, canceled, expired.
LLMSIGHT_BATCH_RESULT: Final = "llmsight.batch.result"
# Batch management spans (submission, retrieve, list, cancel, results read).
LLMSIGHT_BATCH_ENDPOINT: Final = "llmsight.batch.endpoint"
LLMSIGHT_BATCH_COMPLETION_WINDOW: Final = "llmsight.batch.completion_window"
LLMSIGHT_BATCH_INPUT_FILE_ID: Final = "llmsight.batch.input_file_id"
LLMSIGHT_BATCH_OUTPUT_FILE_ID: Final = "llmsight.batch.output_file_id"
LLMSIGHT_BATCH_ERROR_FILE_ID: Final = "llmsight.batch.error_file_id"
LLMSIGHT_BATCH_STATUS: Final = "llmsight.batch.status"
LLMSIGHT_BATCH_REQUEST_COUNT: Final = "llmsight.batch.request_count"  # requests submitted
LLMSIGHT_BATCH_REQUESTS_PREFIX: Final = "llmsight.batch.requests."  # + the provider's request-count field names
LLMSIGHT_BATCH_USAGE_PREFIX: Final = "llmsight.batch.usage."  # + the batch's usage fields (OpenAI), never gen_ai.usage.*
LLMSIGHT_BATCH_CREATED_AT: Final = "llmsight.batch.created_at"  # unix seconds
LLMSIGHT_BATCH_COMPLETED_AT: Final = "llmsight.batch.completed_at"  # unix seconds
LLMSIGHT_BATCH_LINES: Final = "llmsight.batch.results.lines"  # result lines read
LLMSIGHT_BATCH_SKIPPED_LINES: Final = "llmsight.batch.results.skipped_lines"  # lines that could not be parsed

# Operation names (gen_ai.operation.name values).
OPERATION_CHAT: Final = "chat"
OPERATION_EMBEDDINGS: Final = "embeddings"
OPERATION_TEXT_COMPLETION: Final = "text_completion"
# The submission of a batch: the collector keeps it (tags, times) in its own table, never as a call row.
OPERATION_BATCH_CREATE: Final = "batch.create"

# Model tiers (llmsight.model_tier values).
TIER_FRONTIER: Final = "frontier"
TIER_STANDARD: Final = "standard"
TIER_SMALL: Final = "small"

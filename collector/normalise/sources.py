"""Token semantics by source: which instrumentation sent a span, and how to read its usage.

One table, checked against each library's real spans (tests/peers run the libraries, or replay a recording
of them, against the local provider and compare every stored row with the provider's ledger). The README's
"token semantics by source" table is this one; a test keeps them equal.

- `input_excludes_cache_for`: the providers for which the source's `gen_ai.usage.input_tokens` leaves out
  cache reads and writes (it keeps the provider's own count: Anthropic's API counts them apart). For every
  other provider, and for every provider of the other sources, input already includes them (the GenAI
  semconv rule, and llmsight's column rule).
  Whatever the table says, an input smaller than cache reads + writes can only be an exclusive count
  (the safety net in spans.py).
- `rank`: when two spans describe one call, the row keeps the span of the lowest rank and fills its gaps
  from the other (merge.py). llmsight first; the anthropic SDK's own span is exact and complete for
  Anthropic (1-hour writes, TTFT, thinking tokens), so it outranks the wrappers around it.
- `usage_in_raw_json`: cache and reasoning counts only in a JSON attribute (Logfire's `gen_ai.usage.raw`).
- `usage_free_spans_are_halves`: a span without usage (and without an error) is not a call of its own: the
  request half of a stream whose usage arrives in another span (Logfire), or a stream span that never gets its
  usage (mistralai's built-in tracing).
- `output_excludes_reasoning_for`: the providers for which the source's output count leaves out the
  reasoning (thinking) tokens it reports beside it (Gemini's `candidatesTokenCount`): they are added back.
- `output_from_total_for`: the providers for which the source's output count leaves out reasoning tokens
  it does not report at all, while its `gen_ai.usage.total_tokens` includes them: output is total − input,
  and the difference is the reasoning.
- `gateway`: the source is a gateway between the app and the provider (LiteLLM): its span names the provider and
  model it routed to, and the app's span of the same call is joined with it (normalise/gateway.py, merge.py).
- `placeholder_hosts`: `server.address` values the source writes whatever the endpoint (OpenLIT's
  `aws.amazon.com` for Bedrock): not a server, so not kept as one (the provider decides the price).
- `response_id_in_output`: the source records no response id, but its `output.value` is the response as JSON,
  with the provider's id (OpenInference): read from there, so its span joins the other spans of the call.
Whatever the table says, a count that cannot be right as reported (reasoning above output, input below its
cache tokens) is corrected the only way it can be, and the row says so in `llmsight.note`: a span is never
dropped for its numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from llmsight import providers


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    scopes: tuple[str, ...]  # instrumentation scope names (prefixes) that identify the source
    input_excludes_cache_for: frozenset[str]
    rank: int
    reads: str  # what is read beyond the common GenAI attributes (for the README)
    checked_against: str  # library version and file the semantics were checked against
    usage_in_raw_json: bool = False
    usage_free_spans_are_halves: bool = False
    output_excludes_reasoning_for: frozenset[str] = frozenset()
    output_from_total_for: frozenset[str] = frozenset()
    placeholder_hosts: frozenset[str] = frozenset()
    response_id_in_output: bool = False
    gateway: bool = False

    def input_includes_cache(self, provider: str) -> bool:
        return provider not in self.input_excludes_cache_for


LLMSIGHT = Source(
    "llmsight", ("llmsight.",), frozenset(), 0,
    "`gen_ai.usage.*` (semconv), `llmsight.usage.cache_write_1h.input_tokens`, `llmsight.service_tier`, "
    "`gen_ai.request.stream`, `gen_ai.response.time_to_first_chunk`, `llmsight.*` attribution",
    "this repository (instrumentation/attributes.py)",
)
ANTHROPIC_SDK = Source(
    "anthropic SDK built-in", ("com.anthropic.sdk.python",), frozenset(), 1,
    "`gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.cache_write.input_tokens`, "
    "`anthropic.usage.cache_creation.ephemeral_1h_input_tokens`, `gen_ai.usage.reasoning.output_tokens`, "
    "`anthropic.response.service_tier`, `gen_ai.request.stream`, `gen_ai.response.time_to_first_chunk`",
    "anthropic 2.12.0, anthropic/lib/_tracing/_response.py (set_usage_sums adds cache to input) and "
    "anthropic/_tracing.py (SPAN_ATTRIBUTES)",
)
GEMINI = frozenset({providers.GCP_GEMINI.name, providers.GCP_VERTEX_AI.name})
BEDROCK = frozenset({providers.AWS_BEDROCK.name})
OPENLLMETRY = Source(
    "OpenLLMetry",
    ("opentelemetry.instrumentation.openai.", "opentelemetry.instrumentation.anthropic",
     "opentelemetry.instrumentation.google_generativeai", "opentelemetry.instrumentation.bedrock",
     "opentelemetry.instrumentation.mistralai"),
    BEDROCK, 2,
    "`gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.cache_creation.input_tokens`, "
    "`gen_ai.usage.reasoning_tokens`, `gen_ai.is_streaming` / `llm.is_streaming`, `openai.response.service_tier`; "
    "Gemini: `gen_ai.usage.total_tokens` (its output leaves thoughts out, its total keeps them), "
    "`gen_ai.provider.name = gcp.gen_ai`; Bedrock: input without cache reads and writes, Nova ids without `amazon.`",
    "opentelemetry-instrumentation-openai / -anthropic / -google-generativeai / -bedrock 0.62.4 "
    "(shared/chat_wrappers.py, span_utils.py; google_generativeai/span_utils.py; bedrock/span_utils.py); "
    "-mistralai 0.62.4 with mistralai 1.12.4 (recorded: tests/peers/recordings/openllmetry-mistralai.json; its "
    "span is not current: the SDK's own span of the call is joined by usage and time)",
    output_from_total_for=GEMINI,
)
OTEL_BOTOCORE = Source(
    "OTel botocore (contrib)", ("opentelemetry.instrumentation.botocore",), BEDROCK, 2,
    "`gen_ai.system = aws.bedrock`, `gen_ai.usage.*` (input without cache reads and writes, which it reports "
    "for Converse only), `aws.request_id` (the call's identity)",
    "opentelemetry-instrumentation-botocore 0.66b2 (extensions/bedrock.py)",
)
OTEL_GOOGLE_GENAI = Source(
    "OTel google-genai (contrib; Logfire's instrument_google_genai)", ("opentelemetry.instrumentation.google_genai",),
    frozenset(), 2,
    "`gen_ai.provider.name = gemini`, `gen_ai.usage.input_tokens` (cache included), "
    "`gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.output_tokens` (thoughts included), "
    "`gen_ai.usage.reasoning.output_tokens`, `gen_ai.request.stream`, `gen_ai.response.time_to_first_chunk`",
    "opentelemetry-instrumentation-google-genai 1.3b0 with google-genai 2.34.0, alone and under logfire 5.2.0 "
    "(recorded: tests/peers/recordings/otel-google-genai.json, logfire-google-genai.json)",
)
OPENINFERENCE = Source(
    "OpenInference", ("openinference.instrumentation",), frozenset(), 2,
    "`llm.token_count.prompt` / `completion` (prompt includes cache, completion includes reasoning), "
    "`llm.token_count.prompt_details.cache_read` / `cache_write`, `llm.token_count.completion_details.reasoning`, "
    "`llm.provider`, `llm.model_name`, `llm.finish_reason`; only `openinference.span.kind` LLM or EMBEDDING "
    "spans are calls (CHAIN, AGENT, TOOL… are not); no response id attribute: the provider's id is read from the "
    "`output.value` JSON (`id`, Gemini's `response_id`; recorded unless outputs are hidden), except on Bedrock "
    "(its identity is the request id: joined by parentage)",
    "openinference-instrumentation-google-genai 1.4.14, -bedrock 0.1.61, -mistralai 2.2.2, -openai 0.1.66, "
    "-anthropic 3.1.0",
    response_id_in_output=True,
)
OPENAI_V2 = Source(
    "OTel openai-v2", ("opentelemetry.instrumentation.openai_v2", "opentelemetry.util.genai"), frozenset(), 2,
    "`gen_ai.usage.input_tokens` / `output_tokens` only (no cache or reasoning counts), "
    "`openai.response.service_tier`",
    "opentelemetry-instrumentation-openai-v2 2.4b0 with opentelemetry-util-genai 1.1b0 (util/genai/handler.py)",
)
OPENLIT = Source(
    "OpenLIT", ("openlit",), frozenset({providers.ANTHROPIC.name}) | BEDROCK, 2,
    "`gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.cache_creation.input_tokens`, `gen_ai.request.stream` "
    "(`gen_ai.request.is_stream` in older releases), `openai.response.service_tier` / `gen_ai.request.service_tier`, "
    "`gen_ai.server.time_to_first_token` (kept for streams only: OpenLIT sets it on non-streams too)",
    "openlit 1.45.0 (recorded: tests/peers/recordings/openlit.json), openlit/instrumentation/openai and "
    "openlit/instrumentation/anthropic; Anthropic input is Anthropic's exclusive count; Gemini output is the "
    "candidates only (`gen_ai.usage.reasoning_tokens` beside it); Bedrock: input without cache reads and writes, "
    "`server.address = aws.amazon.com` whatever the endpoint, only Converse traced",
    output_excludes_reasoning_for=GEMINI, placeholder_hosts=frozenset({"aws.amazon.com"}),
)
LOGFIRE = Source(
    "Logfire", ("logfire",), frozenset(), 2,
    "`gen_ai.usage.input_tokens` / `output_tokens`, cache and reasoning counts from the `gen_ai.usage.raw` JSON; "
    "the stream's usage from its \"streaming response\" span (its usage-free request span is not a call)",
    "logfire 5.2.0, logfire/_internal/integrations/llm_providers/ (llm_provider.py, openai.py, anthropic.py)",
    usage_in_raw_json=True, usage_free_spans_are_halves=True,
)
MISTRAL_SDK = Source(
    "mistralai SDK built-in", ("mistralai_sdk_tracer",), frozenset(), 3,
    "`gen_ai.usage.prompt_tokens` (cache included, no cache counts), `gen_ai.usage.output_tokens`, no response id: "
    "joined to the instrumentation's span around it by parentage, or, when that span is not current (OpenLLMetry), "
    "to the identified span of the same model and usage it ran inside (normalise/merge.py); its stream spans carry no "
    "usage and are not calls. On whenever a global TracerProvider is set (OpenLIT, OpenLLMetry)",
    "mistralai 1.12.4 (recorded beside OpenLIT and OpenLLMetry: tests/peers/recordings/openlit.json, "
    "openllmetry-mistralai.json), "
    "mistralai/extra/observability/otel.py; mistralai 3.7 emits no call spans",
    usage_free_spans_are_halves=True,
)
LITELLM = Source(
    "LiteLLM (proxy or SDK)", ("litellm",), frozenset(), 2,
    "provider and model from `litellm.provider.model` (`openai/gpt-4o`), else `gen_ai.provider.name` / "
    "`gen_ai.system` (LiteLLM's provider names); `gen_ai.usage.input_tokens` (its `prompt_tokens`: cache included); "
    "cache and reasoning counts from `gen_ai.usage.cache_read` / `cache_creation.input_tokens` (typed integration) "
    "or the `metadata.usage_object` repr (default one); `litellm.call_id`, `litellm.cost.total` / "
    "`gen_ai.cost.total_cost` (kept as `litellm.cost.total`, a cross-check), team, key and end user "
    "(`litellm.team.*`, `litellm.api_key.*`, `litellm.end_user.id` or their `metadata.user_api_key_*` names: the team "
    "is the row's tenant and the end user its user id unless the app tagged them); usage-free `route` spans are "
    "not calls. Joined with the app's span of the call (normalise/gateway.py)",
    "litellm 1.110.2 (recorded: tests/peers/recordings/litellm.json), the default `otel` callback "
    "(integrations/opentelemetry.py) and LITELLM_OTEL_V2's (integrations/otel/); the typed one reports no "
    "reasoning tokens, the default one no time to first chunk",
    usage_free_spans_are_halves=True, gateway=True,
)
# Providers whose SDK traces its calls itself without the provider's id (mistralai's built-in tracing, under a
# wrapper that has the id): a span of theirs may be stored before the wrapper's (merge.py looks for it).
IDLESS_SDK_SPANS = frozenset({providers.MISTRAL_AI.name})
UNKNOWN = Source(
    "unknown", (), frozenset(), 4,
    "the GenAI semconv names and their legacy variants (normalise/variants.py)",
    "GenAI semantic conventions: input includes cache reads and writes",
)
SOURCES: tuple[Source, ...] = (LLMSIGHT, ANTHROPIC_SDK, OPENLLMETRY, OPENAI_V2, OTEL_BOTOCORE, OTEL_GOOGLE_GENAI,
                               OPENINFERENCE, OPENLIT, LOGFIRE, MISTRAL_SDK, LITELLM, UNKNOWN)


@lru_cache(maxsize=1024)
def source_of(scope: str) -> Source:
    """The source that emits spans under instrumentation scope `scope` (UNKNOWN when none matches)."""
    for source in SOURCES:
        if scope.startswith(source.scopes):
            return source
    return UNKNOWN


def markdown_table() -> str:
    """The README table, generated from SOURCES."""
    lines = [
        "| source | scope | input includes cache | output includes reasoning | attributes read | checked against |",
        "|---|---|---|---|---|---|",
    ]
    for source in SOURCES:
        scopes = ", ".join(f"`{scope}`" for scope in source.scopes) or "any other"
        excluded = ", ".join(sorted(source.input_excludes_cache_for))
        includes = f"yes, except {excluded} (cache added back)" if excluded else "yes"
        outputs = [f"{p}: reported apart, added back" for p in sorted(source.output_excludes_reasoning_for)]
        outputs += [f"{p}: total − input" for p in sorted(source.output_from_total_for)]
        output = "yes, except " + "; ".join(outputs) if outputs else "yes"
        lines.append(f"| {source.name} | {scopes} | {includes} | {output} | {source.reads} | {source.checked_against} |")
    return "\n".join(lines)

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
- `usage_free_spans_are_halves`: a span without usage (and without an error) is the request half of a
  stream whose usage arrives in another span (Logfire): not a call of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


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

    def input_includes_cache(self, provider: str) -> bool:
        return provider not in self.input_excludes_cache_for


LLMSIGHT = Source(
    "llmsight", ("llmsight.",), frozenset(), 0,
    "`gen_ai.usage.*` (semconv), `llmsight.usage.cache_creation_1h.input_tokens`, `llmsight.service_tier`, "
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
OPENLLMETRY = Source(
    "OpenLLMetry openai/anthropic",
    ("opentelemetry.instrumentation.openai.", "opentelemetry.instrumentation.anthropic"), frozenset(), 2,
    "`gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.cache_creation.input_tokens`, "
    "`gen_ai.usage.reasoning_tokens`, `gen_ai.is_streaming` / `llm.is_streaming`, `openai.response.service_tier`",
    "opentelemetry-instrumentation-openai / -anthropic 0.62.4 (shared/chat_wrappers.py, span_utils.py)",
)
OPENAI_V2 = Source(
    "OTel openai-v2", ("opentelemetry.instrumentation.openai_v2", "opentelemetry.util.genai"), frozenset(), 2,
    "`gen_ai.usage.input_tokens` / `output_tokens` only (no cache or reasoning counts), "
    "`openai.response.service_tier`",
    "opentelemetry-instrumentation-openai-v2 2.4b0 with opentelemetry-util-genai 1.1b0 (util/genai/handler.py)",
)
OPENLIT = Source(
    "OpenLIT", ("openlit",), frozenset({"anthropic"}), 2,
    "`gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.cache_creation.input_tokens`, `gen_ai.request.stream` "
    "(`gen_ai.request.is_stream` in older releases), `openai.response.service_tier` / `gen_ai.request.service_tier`, "
    "`gen_ai.server.time_to_first_token` (kept for streams only: OpenLIT sets it on non-streams too)",
    "openlit 1.45.0 (recorded: tests/peers/recordings/openlit.json), openlit/instrumentation/openai and "
    "openlit/instrumentation/anthropic; Anthropic input is Anthropic's exclusive count",
)
LOGFIRE = Source(
    "Logfire", ("logfire",), frozenset(), 2,
    "`gen_ai.usage.input_tokens` / `output_tokens`, cache and reasoning counts from the `gen_ai.usage.raw` JSON; "
    "the stream's usage from its \"streaming response\" span (its usage-free request span is not a call)",
    "logfire 5.2.0, logfire/_internal/integrations/llm_providers/ (llm_provider.py, openai.py, anthropic.py)",
    usage_in_raw_json=True, usage_free_spans_are_halves=True,
)
UNKNOWN = Source(
    "unknown", (), frozenset(), 3,
    "the GenAI semconv names and their legacy variants (normalise/variants.py)",
    "GenAI semantic conventions: input includes cache reads and writes",
)
SOURCES: tuple[Source, ...] = (LLMSIGHT, ANTHROPIC_SDK, OPENLLMETRY, OPENAI_V2, OPENLIT, LOGFIRE, UNKNOWN)


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
        "| source | scope | input includes cache | attributes read | checked against |",
        "|---|---|---|---|---|",
    ]
    for source in SOURCES:
        scopes = ", ".join(f"`{scope}`" for scope in source.scopes) or "any other"
        excluded = ", ".join(sorted(source.input_excludes_cache_for))
        includes = f"yes, except {excluded} (cache added back)" if excluded else "yes"
        lines.append(f"| {source.name} | {scopes} | {includes} | {source.reads} | {source.checked_against} |")
    return "\n".join(lines)

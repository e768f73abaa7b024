"""LiteLLM, the gateway: its spans read as calls to the provider it routed to, and the app's span of the same call
joined with its span into one row.

The proxy topology: app → LiteLLM proxy (a self-hosted host: the app's span names no provider, or `self_hosted`)
→ provider. LiteLLM's span of the call (`litellm_request` from its default `otel` callback, `chat MODEL` from the
typed one behind LITELLM_OTEL_V2) names the provider and model it routed to (`litellm.provider.model`, e.g.
`anthropic/claude-sonnet-4-5`), the usage the provider returned, LiteLLM's own cost, and the team, key and end
user of the request. The row takes the provider and model from it (llmsight prices them), the attribution of both
spans, and LiteLLM's cost beside llmsight's as `litellm.cost.total` (a cross-check, never the price).

llmsight's span of a call to the proxy records the proxy's `x-litellm-call-id` and `x-litellm-model-name` response
headers under LiteLLM's names, so it too bills as the routed provider and model when it is stored alone (its
`server.address`, the proxy, is kept as `litellm.proxy.address`).

The two spans are one call when (merge.py): they carry the same `litellm.call_id`; or they are in the same trace
(the app's HTTP client sends a `traceparent`: LiteLLM's span is then a child or descendant of the app's) and carry
the same response id (the proxy hands the provider's id, or its own `chatcmpl-<uuid>`, to the app), or the app's
span has no id and asked for the model group LiteLLM routed; without trace parentage, by the response id alone.
The same holds against stored rows, so a second collector finds the other half.
"""

from __future__ import annotations

import ast
from typing import Any

from llmsight import providers
from llmsight.attributes import LITELLM_CALL_ID, LITELLM_PROVIDER_MODEL, SERVER_ADDRESS, SERVER_PORT

CALL_ID = LITELLM_CALL_ID  # LiteLLM's id of the call (also the proxy's x-litellm-call-id response header)
PROVIDER_MODEL = LITELLM_PROVIDER_MODEL  # what LiteLLM sent upstream: "<litellm provider>/<model>"
PROXY_ADDRESS = "litellm.proxy.address"  # the app's span: the proxy's server.address (not who bills the call)
MODEL_GROUP = "litellm.model_group"  # the name the app asked the proxy for
COST = "litellm.cost.total"  # LiteLLM's own price of the call, USD: kept beside llmsight's as a cross-check
TEAM_ID, TEAM_ALIAS = "litellm.team.id", "litellm.team.alias"
KEY_HASH, KEY_ALIAS = "litellm.api_key.hash", "litellm.api_key.alias"
END_USER = "litellm.end_user.id"
# The attributes a row keeps from LiteLLM's span, each read from the typed integration's name or the default one's.
KEPT: dict[str, tuple[str, ...]] = {
    CALL_ID: (CALL_ID,),
    PROVIDER_MODEL: (PROVIDER_MODEL,),
    MODEL_GROUP: (MODEL_GROUP, "gen_ai.request.model"),  # the typed integration: the name the app asked for
    COST: (COST, "gen_ai.cost.total_cost"),
    TEAM_ID: (TEAM_ID, "metadata.user_api_key_team_id"),
    TEAM_ALIAS: (TEAM_ALIAS, "metadata.user_api_key_team_alias"),
    KEY_HASH: (KEY_HASH, "metadata.user_api_key_hash"),
    KEY_ALIAS: ("litellm.metadata.user_api_key_alias", "metadata.user_api_key_alias"),
    END_USER: (END_USER, "litellm.metadata.user_api_key_end_user_id", "metadata.user_api_key_end_user_id", "llm.user"),
}
# Request metadata, cost breakdowns, raw hidden params: dozens per span, no column and no attribution of their own.
_NOISE = ("metadata.", "litellm.metadata.", "litellm.cost.", "gen_ai.cost.", "hidden_params", "litellm.team.",
          "litellm.api_key.", "litellm.end_user.")
# Default integration: the provider's usage only as a Python repr in `metadata.usage_object`.
USAGE_OBJECT = "metadata.usage_object"
_MAX_USAGE_OBJECT = 16_384
# LiteLLM's provider prefixes (`custom_llm_provider`, litellm/integrations/otel/model/semconv.py) → llmsight's
# provider (llmsight/providers.py).
_P = providers
PROVIDERS = {
    "openai": _P.OPENAI, "text-completion-openai": _P.OPENAI, "azure": _P.AZURE_OPENAI, "azure_text": _P.AZURE_OPENAI,
    "azure_ai": _P.AZURE_INFERENCE, "anthropic": _P.ANTHROPIC, "bedrock": _P.AWS_BEDROCK, "bedrock_converse": _P.AWS_BEDROCK,
    "vertex_ai": _P.GCP_VERTEX_AI, "vertex_ai_beta": _P.GCP_VERTEX_AI, "gemini": _P.GCP_GEMINI, "mistral": _P.MISTRAL_AI,
    "groq": _P.GROQ, "deepseek": _P.DEEPSEEK, "xai": _P.X_AI, "cohere": _P.COHERE, "cohere_chat": _P.COHERE,
    "perplexity": _P.PERPLEXITY, "together_ai": _P.TOGETHER, "fireworks_ai": _P.FIREWORKS, "openrouter": _P.OPENROUTER,
    "cerebras": _P.CEREBRAS,
}
# LiteLLM call types (its default integration's gen_ai.operation.name) → operation.
OPERATIONS = {"completion": "chat", "acompletion": "chat", "text_completion": "text_completion",
              "atext_completion": "text_completion", "embedding": "embeddings", "aembedding": "embeddings",
              "responses": "chat", "aresponses": "chat", "anthropic_messages": "chat"}


def upstream(attrs: dict[Any, Any], provider: str, model: str) -> tuple[str, str]:
    """(provider, model) LiteLLM routed the call to: from `litellm.provider.model`, else its provider attribute."""
    routed = attrs.get(PROVIDER_MODEL)
    if isinstance(routed, str) and "/" in routed:
        prefix, _, name = routed.partition("/")
        name = name.removeprefix("converse/").removeprefix("invoke/")  # LiteLLM's Bedrock API routes
        if prefix in PROVIDERS and name:
            return PROVIDERS[prefix].name, name
    return PROVIDERS[provider].name if provider in PROVIDERS else provider, model


def usage_object(attrs: dict[Any, Any]) -> dict[str, Any]:
    """Cache and reasoning counts from the default integration's `metadata.usage_object` (a Python repr of the
    OpenAI-shaped usage LiteLLM returned): {} when absent or not a literal."""
    raw = attrs.get(USAGE_OBJECT)
    if not isinstance(raw, str) or len(raw) > _MAX_USAGE_OBJECT:
        return {}
    try:
        usage = ast.literal_eval(raw)  # literals only: never evaluates code
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return {}
    if not isinstance(usage, dict):
        return {}
    prompt = usage.get("prompt_tokens_details")
    completion = usage.get("completion_tokens_details")
    counts = {
        "cache_read": (prompt.get("cached_tokens") if isinstance(prompt, dict) else None)
        or usage.get("cache_read_input_tokens"),
        "cache_write": usage.get("cache_creation_input_tokens"),
        "reasoning": completion.get("reasoning_tokens") if isinstance(completion, dict) else None,
    }
    # A secondary source: a value that is not a count is left out, never a reason to refuse the span.
    return {key: value for key, value in counts.items() if type(value) is int and value >= 0}


def attribution(attrs: dict[Any, Any], extra: dict[str, str]) -> None:
    """The row's LiteLLM attributes under one name each (whichever integration sent them); the rest of LiteLLM's
    request metadata is left out (it would crowd the map's other attributes out)."""
    for key in [key for key in extra if key.startswith(_NOISE)]:
        del extra[key]
    for name, variants in KEPT.items():
        value = next((attrs[key] for key in variants if attrs.get(key) not in (None, "")), None)
        if value is not None:
            extra[name] = (value if isinstance(value, str) else repr(value))[:256]


# Keys only LiteLLM's baggage writes (never llmsight's span of a call to the proxy: a usage-free one is still a call).
_BAGGAGE = frozenset({TEAM_ID, TEAM_ALIAS, KEY_HASH, "litellm.team.metadata"})


def baggage_only(attrs: dict[Any, Any]) -> bool:
    """A usage-free span with LiteLLM's baggage (the typed integration copies the request model, team and key onto
    every span of the request: its `route` span, the web framework's): part of a call, not a call."""
    return any(key in _BAGGAGE or (isinstance(key, str) and key.startswith("litellm.metadata.")) for key in attrs)


def behind_proxy(extra: dict[str, str]) -> None:
    """An app's span of a call through the proxy, when it knows where the proxy routed it (llmsight records the
    proxy's response headers): the proxy's address is kept apart, so the upstream provider decides the price."""
    host = extra.pop(SERVER_ADDRESS, None)
    extra.pop(SERVER_PORT, None)
    if host:
        extra[PROXY_ADDRESS] = host


def server_of(attributes: dict[str, str]) -> dict[str, str]:
    """The upstream server LiteLLM called, as it named it (the typed integration only)."""
    return {key: attributes[key] for key in (SERVER_ADDRESS, SERVER_PORT) if key in attributes}

"""Which provider a client talks to, from its class and base URL (OpenAI-compatible gateways included)."""

from __future__ import annotations

import functools
from typing import Any

from llmsight import attributes as attr

_KNOWN_HOSTS = (
    ("api.openai.com", "openai"),
    (".openai.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.inference"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.x.ai", "x_ai"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("openrouter.ai", "openrouter"),
    ("api.together.xyz", "together"),
    ("api.fireworks.ai", "fireworks"),
    ("api.perplexity.ai", "perplexity"),
    ("api.cerebras.ai", "cerebras"),
    ("bedrock-runtime", "aws.bedrock"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
)


@functools.lru_cache(maxsize=256)
def provider_for(host: str, is_azure: bool) -> str:
    if is_azure:
        return "azure.ai.openai"
    for needle, name in _KNOWN_HOSTS:
        if needle in host:
            return name
    # A local or self-hosted OpenAI-compatible server: the SDK's wire format is OpenAI's.
    return "openai"


def client_attributes(client: Any) -> dict[str, Any]:
    """Provider and server attributes of an SDK client (cached on the client object)."""
    cached: dict[str, Any] | None = getattr(client, "_llmsight_attributes", None)
    if cached is not None:
        return cached
    url = client.base_url
    host = url.host or ""
    is_azure = type(client).__name__ in ("AzureOpenAI", "AsyncAzureOpenAI")
    values: dict[str, Any] = {attr.GEN_AI_PROVIDER_NAME: provider_for(host, is_azure), attr.SERVER_ADDRESS: host}
    if url.port:
        values[attr.SERVER_PORT] = url.port
    try:
        client._llmsight_attributes = values
    except Exception:  # a client that refuses new attributes: recompute next time
        pass
    return values

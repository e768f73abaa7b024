"""The providers llmsight names: one row per provider, the one place a provider's names and hosts are written.

Everything that names a provider derives from `PROVIDERS`: the instrumentations' `gen_ai.provider.name`, the
OpenAI-compatible host rule (provider_hosts.py), the Anthropic SDK's cloud clients, the collector's normalisation
of other instrumentations' names (collector/normalise/variants.py), the pricer's genai-prices provider ids and the
price table's cheaper models (collector/pricing). tests/test_providers.py checks the hosts and ids against
genai-prices' own provider data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Provider:
    name: str  # `gen_ai.provider.name`: the semconv's name where it has one
    # genai-prices' provider id of the list prices that bill its calls; None: no vendor's list price applies.
    prices_id: str | None
    # Parts of a host name that make it this provider's public API (`part in host`), for OpenAI-compatible clients
    # and for other instrumentations' calls named "openai" wherever they went.
    hosts: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # what other instrumentations call it (lowercase)
    # Anthropic SDK client classes that call Claude through this provider's endpoint: billed by the cloud.
    anthropic_clients: tuple[str, ...] = ()
    cheaper_model: str | None = None  # its own cheaper model, for the "a cheaper model would have cost" panels


OPENAI = Provider("openai", "openai", ("api.openai.com",), cheaper_model="gpt-4o-mini")
# Azure OpenAI resources answer at `.openai.azure.com` or `.cognitiveservices.azure.com`; `.azure-api.net` is an
# Azure API Management front for them (genai-prices bills all three as azure).
AZURE_OPENAI = Provider("azure.ai.openai", "azure", (".openai.azure.com", ".cognitiveservices.azure.com", ".azure-api.net"),
                        ("az.ai.openai", "azure_openai"),
                        cheaper_model="gpt-4o-mini")
AZURE_INFERENCE = Provider("azure.ai.inference", "azure", (".services.ai.azure.com",))
# Anthropic's OpenAI SDK compatibility endpoint (`https://api.anthropic.com/v1/`) is billed by Anthropic.
ANTHROPIC = Provider("anthropic", "anthropic", ("api.anthropic.com",), cheaper_model="claude-haiku-4-5")
GROQ = Provider("groq", "groq", ("api.groq.com",))
DEEPSEEK = Provider("deepseek", "deepseek", ("api.deepseek.com",))
MISTRAL_AI = Provider("mistral_ai", "mistral", ("api.mistral.ai",), ("mistralai",), cheaper_model="mistral-small-latest")
X_AI = Provider("x_ai", "x-ai", ("api.x.ai",), ("xai",))
# OpenLLMetry's `gcp.gen_ai` is the semconv's name for any Google GenAI endpoint: Vertex AI's host says vertex.
GCP_GEMINI = Provider("gcp.gemini", "google", ("generativelanguage.googleapis.com",), ("gcp.gen_ai", "gemini", "google"),
                      cheaper_model="gemini-2.5-flash-lite")
OPENROUTER = Provider("openrouter", "openrouter", ("openrouter.ai",))
TOGETHER = Provider("together", "together", ("api.together.xyz",), ("together_ai",))
FIREWORKS = Provider("fireworks", "fireworks", ("api.fireworks.ai",))
PERPLEXITY = Provider("perplexity", "perplexity", ("api.perplexity.ai",))
CEREBRAS = Provider("cerebras", "cerebras", ("api.cerebras.ai",))
# OpenInference names Bedrock's spans by who serves them: `aws`.
AWS_BEDROCK = Provider("aws.bedrock", "aws", ("bedrock-runtime",), ("bedrock", "aws"),
                       ("AnthropicBedrock", "AsyncAnthropicBedrock"), cheaper_model="amazon.nova-micro-v1:0")
GCP_VERTEX_AI = Provider("gcp.vertex_ai", "google", ("aiplatform.googleapis.com",), ("vertex_ai",),
                         ("AnthropicVertex", "AsyncAnthropicVertex"), cheaper_model="gemini-2.5-flash-lite")
COHERE = Provider("cohere", "cohere", ("api.cohere.ai", "api.cohere.com"))
# An OpenAI-compatible server on a local or private host (provider_hosts.py): nobody's list price.
SELF_HOSTED = Provider("self_hosted", None, aliases=("self-hosted",))

# Host parts are tried in this order, first match wins (no host matches two: tests/test_providers.py).
PROVIDERS = (
    OPENAI, AZURE_OPENAI, AZURE_INFERENCE, ANTHROPIC, GROQ, DEEPSEEK, MISTRAL_AI, X_AI, GCP_GEMINI, OPENROUTER,
    TOGETHER, FIREWORKS, PERPLEXITY, CEREBRAS, AWS_BEDROCK, GCP_VERTEX_AI, COHERE, SELF_HOSTED,
)

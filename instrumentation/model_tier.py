"""Model tier: a coarse `frontier` / `standard` / `small` label per model, for cost routing analysis.

The default mapping matches model-name families; users override or extend it with
`instrument(model_tiers={"my-finetune": "small"})` or `LLMSIGHT_MODEL_TIERS='{"prefix": "tier"}'`.
Keys are matched as prefixes of the lower-cased model name, longest first.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from llmsight.attributes import TIER_FRONTIER, TIER_SMALL, TIER_STANDARD

# Order does not matter: the longest matching prefix wins ("gpt-4o-mini" beats "gpt-4o").
DEFAULT_TIERS: Mapping[str, str] = {
    # OpenAI
    "gpt-5": TIER_FRONTIER,
    "gpt-5-mini": TIER_SMALL,
    "gpt-5-nano": TIER_SMALL,
    "gpt-4.5": TIER_FRONTIER,
    "o1": TIER_FRONTIER,
    "o3": TIER_FRONTIER,
    "o3-mini": TIER_SMALL,
    "o4-mini": TIER_SMALL,
    "gpt-4.1": TIER_STANDARD,
    "gpt-4.1-mini": TIER_SMALL,
    "gpt-4.1-nano": TIER_SMALL,
    "gpt-4o": TIER_STANDARD,
    "gpt-4o-mini": TIER_SMALL,
    "gpt-4": TIER_STANDARD,
    "gpt-3.5": TIER_SMALL,
    "text-embedding": TIER_SMALL,
    # Anthropic
    "claude-opus": TIER_FRONTIER,
    "claude-3-opus": TIER_FRONTIER,
    "claude-sonnet": TIER_STANDARD,
    "claude-3-5-sonnet": TIER_STANDARD,
    "claude-3-7-sonnet": TIER_STANDARD,
    "claude-haiku": TIER_SMALL,
    "claude-3-haiku": TIER_SMALL,
    "claude-3-5-haiku": TIER_SMALL,
    # Google
    "gemini-2.5-pro": TIER_FRONTIER,
    "gemini-3-pro": TIER_FRONTIER,
    "gemini-2.5-flash": TIER_SMALL,
    "gemini-2.0-flash": TIER_SMALL,
    "gemini-1.5-pro": TIER_FRONTIER,
    "gemini-1.5-flash": TIER_SMALL,
    "gemini-3-flash": TIER_SMALL,
    "gemini-2.5-flash-lite": TIER_SMALL,
    "gemini-2.0-flash-lite": TIER_SMALL,
    "gemini-embedding": TIER_SMALL,
    # Amazon (Bedrock ids: "amazon.nova-pro-v1:0"; the region prefix is dropped before matching)
    "amazon.nova-premier": TIER_FRONTIER,
    "amazon.nova-pro": TIER_STANDARD,
    "amazon.nova-lite": TIER_SMALL,
    "amazon.nova-micro": TIER_SMALL,
    "amazon.titan-embed": TIER_SMALL,
    # Meta Llama, as Bedrock names them and as OpenAI-compatible hosts do ("meta-llama/Llama-3.3-70B-…")
    "meta.llama3-1-405b": TIER_FRONTIER,
    "meta.llama3-1-70b": TIER_STANDARD,
    "meta.llama3-3-70b": TIER_STANDARD,
    "meta.llama3-2-90b": TIER_STANDARD,
    "meta.llama3-1-8b": TIER_SMALL,
    "meta.llama3-2-11b": TIER_SMALL,
    "meta.llama3-2-3b": TIER_SMALL,
    "meta.llama3-2-1b": TIER_SMALL,
    "meta.llama4-maverick": TIER_STANDARD,
    "meta.llama4-scout": TIER_SMALL,
    "llama-3.1-405b": TIER_FRONTIER,
    "llama-3.1-70b": TIER_STANDARD,
    "llama-3.3-70b": TIER_STANDARD,
    "llama-3.1-8b": TIER_SMALL,
    "llama-4-maverick": TIER_STANDARD,
    "llama-4-scout": TIER_SMALL,
    # Mistral (Bedrock ids "mistral.mistral-large-2407-v1:0" match after the vendor prefix)
    "mistral-large": TIER_FRONTIER,
    "magistral-medium": TIER_FRONTIER,
    "mistral-medium": TIER_STANDARD,
    "codestral": TIER_STANDARD,
    "pixtral-large": TIER_STANDARD,
    "mistral-small": TIER_SMALL,
    "magistral-small": TIER_SMALL,
    "ministral": TIER_SMALL,
    "open-mistral-nemo": TIER_SMALL,
    "mistral-embed": TIER_SMALL,
}

# Bedrock cross-region inference profiles prefix the model id with a geography: "us.amazon.nova-pro-v1:0".
BEDROCK_REGION_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")


def without_region_prefix(model: str) -> str:
    """`us.anthropic.claude-…` → `anthropic.claude-…` (Bedrock cross-region inference profiles)."""
    for prefix in BEDROCK_REGION_PREFIXES:
        if model.startswith(prefix):
            return model[len(prefix):]
    return model


class ModelTiers:
    """Prefix lookup with per-model memoisation (the set of model names in an app is small)."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        table = {**DEFAULT_TIERS, **{k.lower(): v for k, v in (overrides or {}).items()}}
        self._prefixes = sorted(table.items(), key=lambda item: len(item[0]), reverse=True)
        self.tier_of = functools.lru_cache(maxsize=1024)(self._lookup)

    def _lookup(self, model: str) -> str:
        name = without_region_prefix(model.lower())
        # Azure deployments and gateways often prefix the family: "openai/gpt-4o", "us.anthropic.claude-…".
        for candidate in (name, name.rsplit("/", 1)[-1], name.split(".", 1)[-1]):
            for prefix, tier in self._prefixes:
                if candidate.startswith(prefix):
                    return tier
        return ""

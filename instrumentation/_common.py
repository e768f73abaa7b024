"""Request-side attributes every provider sets the same way: tags, model tier, content capture."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from llmsight import attributes as attr
from llmsight._tags import current_tag_attributes
from llmsight.config import InstrumentationSettings
from llmsight.key_hint import key_hint
from llmsight.model_tier import ModelTiers

logger = logging.getLogger("llmsight")


class CallContext:
    """Settings and lookups shared by one instrumentor's operations."""

    def __init__(self, settings: InstrumentationSettings) -> None:
        self.settings = settings
        self.tiers = ModelTiers(settings.model_tiers)
        # (glob, provider) pairs: one tuple per context, so per-client caches can compare it by identity.
        self.provider_hosts = tuple(settings.provider_hosts.items())

    def base_attributes(self, operation: str, model: str, streaming: bool) -> dict[str, Any]:
        values: dict[str, Any] = {
            attr.GEN_AI_OPERATION_NAME: operation,
            attr.GEN_AI_REQUEST_MODEL: model,
            attr.GEN_AI_REQUEST_STREAM: streaming,
        }
        tier = self.tiers.tier_of(model) if model else ""
        if tier:
            values[attr.LLMSIGHT_MODEL_TIER] = tier
        tags = current_tag_attributes()
        if tags:
            values.update(tags)
        return values

    def key_hint_attributes(self, provider: str, client: Any) -> dict[str, str]:
        """The key hint of the client's API key for `provider`, unless the `key_hint` setting is off."""
        if not self.settings.key_hint:
            return {}
        hint = key_hint(provider, getattr(client, "api_key", None))
        return {attr.LLMSIGHT_API_KEY_HINT: hint} if hint else {}

    def capture(self, value: Any) -> str | None:
        """Captured content as a capped JSON string, or None when capture is off or redaction drops it."""
        if not self.settings.capture_content:
            return None
        try:
            if self.settings.redact is not None:
                value = self.settings.redact(value)
                if value is None:
                    return None
            text = json.dumps(value, default=_jsonable, ensure_ascii=False)
        except Exception:
            logger.debug("llmsight: content capture failed", exc_info=True)
            return None
        cap = self.settings.content_max_chars
        return text if len(text) <= cap else text[:cap] + "…[truncated]"


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    return repr(value)


def per_client(client: Any, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A copy of `compute()` (an SDK client's provider and server attributes), computed once per client object and
    kept on it (not under openai/_provider.py's attribute, which holds another shape)."""
    cached = getattr(client, "_llmsight_client_attributes", None)
    if cached is None:
        cached = compute()
        try:
            client._llmsight_client_attributes = cached
        except Exception:  # a client that refuses new attributes: computed again next time
            pass
    return dict(cached)


def url_attributes(base_url: Callable[[], Any]) -> dict[str, Any]:
    """`server.address` and `server.port` of the base URL `base_url()` returns; what cannot be read is left out."""
    values: dict[str, Any] = {}
    try:
        url = urlsplit(base_url() or "")
        if url.hostname:
            values[attr.SERVER_ADDRESS] = url.hostname
        if url.port:
            values[attr.SERVER_PORT] = url.port
    except Exception:
        pass
    return values


def sampling_attributes(kwargs: dict[str, Any], *max_tokens_keys: str) -> dict[str, Any]:
    """`gen_ai.request.max_tokens` (the first of `max_tokens_keys` the app gave) and `gen_ai.request.temperature`,
    from an SDK method's keyword arguments."""
    values: dict[str, Any] = {}
    for key in max_tokens_keys:
        max_tokens = kwargs.get(key)
        if given(max_tokens):
            values[attr.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
            break
    temperature = kwargs.get("temperature")
    if given(temperature):
        values[attr.GEN_AI_REQUEST_TEMPERATURE] = temperature
    return values


def given(value: Any) -> bool:
    """False for None and for the SDKs' `NOT_GIVEN` / `omit` sentinels."""
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")

"""App-side settings: `LLMSIGHT_*` environment variables, overridable by `instrument(...)` arguments."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from llmsight._env import ENV_PREFIX
from llmsight.errors import ConfigurationError

# A redaction hook receives the captured content (messages as JSON-able lists/dicts) and returns what
# may leave the process, or None to drop it.
RedactHook = Callable[[Any], Any]


class InstrumentationSettings(BaseSettings):
    # Unknown keyword arguments are an error (a misspelt setting must not be silently ignored); unknown
    # LLMSIGHT_* environment variables are not, since the collector's settings share the prefix.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", arbitrary_types_allowed=True)

    capture_content: bool = Field(
        default=False, description="Record prompts and completions on spans (gen_ai.input/output.messages)."
    )
    content_max_chars: int = Field(default=16_384, ge=0, description="Cap per captured attribute.")
    redact: RedactHook | None = Field(default=None, exclude=True, description="Applied before capture.")
    inject_stream_usage: bool = Field(
        default=False,
        description="Add stream_options.include_usage to OpenAI chat streams that did not set stream_options, "
        "so streamed calls report token counts (adds one final chunk with empty choices).",
    )
    model_tiers: dict[str, str] = Field(default_factory=dict, description="Model-name prefix -> tier overrides.")
    provider_hosts: dict[str, str] = Field(
        default_factory=dict,
        description="Provider name for OpenAI-compatible clients by server host (`host` or `host:port`, globs "
        "allowed), checked before the built-in rules: e.g. {\"llm-gateway.corp\": \"openai\"}. Without a match, "
        "a vendor's API host names its vendor, a local or private host is `self_hosted`, any other host `openai`.",
    )
    key_hint: bool = Field(
        default=True,
        description="Record a non-secret hint of the API key on OpenAI and Anthropic spans (its type prefix and last "
        "four characters, as the provider's key list shows it), so `llmsight reconcile` can match calls to the "
        "provider's usage by key. False records nothing about the key.",
    )
    instrument_http: bool = Field(
        default=False,
        description="Also emit every HTTP attempt as a child span (httpx and httpx2). Off by default: it doubles "
        "span volume; retried attempts are recorded on the call's span as events either way.",
    )

    @classmethod
    def from_arguments(cls, **arguments: Any) -> InstrumentationSettings:
        """Settings from `instrument(...)` keyword arguments over `LLMSIGHT_*`; raises ConfigurationError
        naming the argument for a misspelt or invalid one."""
        unknown = sorted(set(arguments) - set(cls.model_fields))
        if unknown:
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, list(cls.model_fields), n=1)
                hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ConfigurationError(
                f"unknown llmsight setting {', '.join(hints)}; known settings: {', '.join(sorted(cls.model_fields))}"
            )
        try:
            return cls(**arguments)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigurationError(f"invalid llmsight setting: {problems}") from None
        except SettingsError as exc:
            raise ConfigurationError(f"invalid llmsight setting: {unparsable_variable(exc)}") from None


def unparsable_variable(exc: SettingsError) -> str:
    """What pydantic-settings could not parse, named as the user wrote it: `LLMSIGHT_X is not valid JSON (…)`
    (it names only the field, and a dict or list setting's variable must hold JSON)."""
    field = re.search(r'field "(\w+)"', str(exc))
    if field is None:
        return str(exc)
    reason = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
    return f"{ENV_PREFIX}{field.group(1).upper()} is not valid JSON{reason}"

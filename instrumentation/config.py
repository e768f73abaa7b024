"""App-side settings: `LLMSIGHT_*` environment variables, overridable by `instrument(...)` arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# A redaction hook receives the captured content (messages as JSON-able lists/dicts) and returns what
# may leave the process, or None to drop it.
RedactHook = Callable[[Any], Any]


class InstrumentationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMSIGHT_", extra="ignore", arbitrary_types_allowed=True)

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
    instrument_http: bool = Field(default=True, description="HTTP attempts as child spans (httpx2).")

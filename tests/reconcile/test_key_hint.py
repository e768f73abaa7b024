"""Key hints on spans: the shape each provider's key list shows, never more of the key, and off by a setting."""

from __future__ import annotations

import anthropic
import openai
import pytest

from llmsight.key_hint import hint_matches, key_hint
from llmsight.testing.server import ProviderServer

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, instrument

MESSAGES = [{"role": "user", "content": "Say hello."}]


def _calls(server: ProviderServer) -> None:
    openai.OpenAI(base_url=server.openai_base_url, api_key=OPENAI_KEY).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    anthropic.Anthropic(base_url=server.anthropic_base_url, api_key=ANTHROPIC_KEY).messages.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES
    )


def test_spans_carry_the_key_lists_shape(tracer_provider, llm_spans, provider_server, uninstrument) -> None:
    instrument(tracer_provider)
    _calls(provider_server)
    hints = {s.attributes["gen_ai.provider.name"]: s.attributes.get("llmsight.api_key.hint") for s in llm_spans()}
    assert hints == {"openai": "sk-proj-...Wxyz", "anthropic": "sk-ant-api03-R2D...igAA"}
    # What the providers' key lists show for these keys (OpenAI's redacted_value, Anthropic's partial_key_hint).
    assert hint_matches(hints["openai"], "sk-proj-...Wxyz") and hint_matches(hints["openai"], "sk-...Wxyz")
    assert hint_matches(hints["anthropic"], "sk-ant-api03-R2D...igAA")
    assert not hint_matches(hints["openai"], "sk-proj-...Wxya")
    for hint, key in ((hints["openai"], OPENAI_KEY), (hints["anthropic"], ANTHROPIC_KEY)):
        secret_part = key[len(hint.split("...")[0]):-4]
        assert secret_part not in hint and len(secret_part) > 40


def test_setting_turns_the_hint_off(tracer_provider, llm_spans, provider_server, uninstrument) -> None:
    instrument(tracer_provider, key_hint=False)
    _calls(provider_server)
    spans = llm_spans()
    assert len(spans) == 2 and all("llmsight.api_key.hint" not in s.attributes for s in spans)


@pytest.mark.parametrize(
    ("provider", "key", "hint"),
    [
        ("openai", "sk-" + "a" * 44 + "Q9zZ", "sk-...Q9zZ"),  # a legacy user key
        ("openai", "short-test-key", None),  # too short to hint at without giving most of it away
        ("anthropic", "not-an-anthropic-key-1234567890", None),
        ("aws.bedrock", OPENAI_KEY, None),  # no key list to match against
        ("openai", None, None),
    ],
)
def test_hint_rules(provider: str, key: str | None, hint: str | None) -> None:
    assert key_hint(provider, key) == hint

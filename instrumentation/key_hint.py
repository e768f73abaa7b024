"""A non-secret hint of the API key a client used, in the shape the provider's own key list shows it.

Stored calls are matched to the provider's `api_key_id` (usage reports group by it) through the key list:
OpenAI's project keys carry `redacted_value`, Anthropic's keys `partial_key_hint` (e.g.
"sk-ant-api03-R2D...igAA"). The hint never holds more of the key than that list displays: the key's public
type prefix and its last four characters (Anthropic also shows the first three characters after its prefix).
A key too short to be a real one gets no hint: its last four characters could be most of it.
"""

from __future__ import annotations

import re

ELLIPSIS = "..."
_MIN_KEY_LENGTH = 20
_TAIL = 4
# OpenAI key types: project, service-account, admin and legacy user keys ("sk-" then the secret).
_OPENAI_PREFIX = re.compile(r"sk-(?:proj-|svcacct-|admin-|None-)?")
_ANTHROPIC_PREFIX = "sk-ant-"
_ANTHROPIC_HEAD = 16  # "sk-ant-api03-" and three characters, as partial_key_hint shows


def key_hint(provider: str, api_key: object) -> str | None:
    """The hint for `api_key` used against `provider` ("openai" or "anthropic"), or None."""
    if not isinstance(api_key, str) or len(api_key) < _MIN_KEY_LENGTH:
        return None
    if provider == "anthropic":
        if not api_key.startswith(_ANTHROPIC_PREFIX):
            return None
        return api_key[:_ANTHROPIC_HEAD] + ELLIPSIS + api_key[-_TAIL:]
    if provider == "openai":
        prefix = _OPENAI_PREFIX.match(api_key)
        return (prefix.group(0) if prefix else "") + ELLIPSIS + api_key[-_TAIL:]
    return None


def hint_matches(hint: str, listed: str) -> bool:
    """Whether a span's hint and a key list's redacted value name the same key: the visible tails agree and one
    visible head starts the other (lists and SDK versions show more or fewer leading characters)."""
    if not hint or not listed:
        return False
    head, _, tail = hint.rpartition(ELLIPSIS)
    listed_head, _, listed_tail = listed.rpartition(ELLIPSIS)
    if not tail or not listed_tail:
        return False
    short, long = sorted((tail, listed_tail), key=len)
    if len(short) < 3 or not long.endswith(short):
        return False
    return head.startswith(listed_head) or listed_head.startswith(head)

"""The calls every peer app makes against the local provider: streams and non-streams, OpenAI cache reads
and reasoning, Anthropic 5-minute and 1-hour cache writes, cache reads and extended thinking.

Run inside the app's own process (imported by the app scripts in this folder), so it needs nothing but the
provider SDKs. The provider's ledger, in the test process, is the truth the stored rows are checked against.
"""

from __future__ import annotations

from typing import Any

POLICY = "Policy: answer from the knowledge base only, cite the article id, never guess. " * 70
LONG_POLICY = "Long-lived policy: keep answers short, link the runbook, escalate outages. " * 80


def openai_calls(client: Any) -> None:
    system = {"role": "system", "content": POLICY}

    def ask(model: str, question: str, **kwargs: Any) -> Any:
        return client.chat.completions.create(model=model, messages=[system, {"role": "user", "content": question}], **kwargs)

    ask("gpt-4o", "one?")  # writes OpenAI's (free, unreported) cache
    ask("gpt-4o", "two?")  # cache read
    for _ in ask("gpt-4o", "three?", stream=True, stream_options={"include_usage": True}):  # stream, cache read
        pass
    ask("o4-mini", "four?")  # reasoning
    for _ in ask("o4-mini", "five?", stream=True, stream_options={"include_usage": True}):  # streamed reasoning
        pass


def anthropic_calls(client: Any) -> None:
    five_minutes = [{"type": "text", "text": POLICY, "cache_control": {"type": "ephemeral"}}]
    one_hour = [{"type": "text", "text": LONG_POLICY, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    hello = [{"role": "user", "content": "hi"}]
    model = "claude-sonnet-4-5"
    client.messages.create(model=model, max_tokens=200, system=five_minutes, messages=hello)  # 5-minute write
    client.messages.create(model=model, max_tokens=200, system=five_minutes, messages=hello)  # read
    client.messages.create(model=model, max_tokens=200, system=one_hour, messages=hello)  # 1-hour write
    for _ in client.messages.create(model=model, max_tokens=200, system=one_hour, messages=hello, stream=True):
        pass  # streamed read
    with client.messages.stream(model=model, max_tokens=200, system=five_minutes, messages=hello) as stream:
        stream.get_final_message()  # the stream helper, read
    client.messages.create(  # extended thinking, no cache
        model=model, max_tokens=2000, messages=[{"role": "user", "content": "think"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
    )


def run(openai_url: str | None, anthropic_url: str | None) -> None:
    if openai_url:
        import openai

        openai_calls(openai.OpenAI(base_url=openai_url, api_key="test", max_retries=0))
    if anthropic_url:
        import anthropic

        anthropic_calls(anthropic.Anthropic(base_url=anthropic_url, api_key="test", max_retries=0))

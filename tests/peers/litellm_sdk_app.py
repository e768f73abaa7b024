"""LiteLLM used as an SDK with its `otel` callback: `python litellm_sdk_app.py OPENAI_URL ANTHROPIC_URL`, run in
LiteLLM's own venv by tests/peers/record_litellm.py (OTEL_EXPORTER / OTEL_ENDPOINT name the recorder). The calls:
gpt-4o (a cache miss, a cache read, a stream), o4-mini reasoning, claude-sonnet-4-5 (a 5-minute cache write, a
streamed read)."""

from __future__ import annotations

import sys
import time
from typing import Any

import litellm
from opentelemetry import trace

POLICY = "Policy: answer from the knowledge base only, cite the article id, never guess. " * 70


def main(openai_url: str, anthropic_url: str) -> None:
    litellm.callbacks = ["otel"]
    system = {"role": "system", "content": POLICY}
    cached = {"role": "system", "content": [{"type": "text", "text": POLICY, "cache_control": {"type": "ephemeral"}}]}

    def ask(model: str, url: str, question: str, first: dict[str, Any] = system, **kwargs: Any) -> None:
        response = litellm.completion(model=model, api_base=url, api_key="test", user="sdk-user",
                                      messages=[first, {"role": "user", "content": question}], **kwargs)
        if kwargs.get("stream"):
            for _ in response:
                pass

    ask("openai/gpt-4o", openai_url, "one?")
    ask("openai/gpt-4o", openai_url, "two?")
    ask("openai/gpt-4o", openai_url, "three?", stream=True, stream_options={"include_usage": True})
    ask("openai/o4-mini", openai_url, "four?")
    ask("anthropic/claude-sonnet-4-5", anthropic_url, "six?", cached, max_tokens=200)
    ask("anthropic/claude-sonnet-4-5", anthropic_url, "seven?", cached, max_tokens=200, stream=True)
    time.sleep(2)  # success callbacks run on a worker thread after the call returns
    provider = trace.get_tracer_provider()
    getattr(provider, "force_flush", lambda: None)()


if __name__ == "__main__":
    main(*sys.argv[1:3])

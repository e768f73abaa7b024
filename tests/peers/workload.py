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


GEMINI = "gemini-2.5-flash"
BEDROCK_CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
BEDROCK_NOVA = "amazon.nova-lite-v1:0"
MISTRAL = "mistral-small-latest"


def gemini_calls(client: Any) -> None:
    """google-genai: an implicit cache miss then hit, a stream, thinking and a streamed thinking call."""
    config = {"system_instruction": POLICY, "max_output_tokens": 200}
    thinking = {**config, "thinking_config": {"thinking_budget": 256}}
    client.models.generate_content(model=GEMINI, contents="one?", config=config)  # stores the implicit cache
    client.models.generate_content(model=GEMINI, contents="two?", config=config)  # cache read
    for _ in client.models.generate_content_stream(model=GEMINI, contents="three?", config=config):
        pass  # streamed, cache read
    client.models.generate_content(model=GEMINI, contents="think", config=thinking)  # thoughts, cache read
    for _ in client.models.generate_content_stream(model=GEMINI, contents="think more", config=thinking):
        pass  # streamed thoughts


def bedrock_calls(client: Any) -> None:
    """boto3 bedrock-runtime: Converse cache write / read with an uncached suffix longer than the cached prefix (the case the safety net misses), ConverseStream,
    InvokeModel and its stream with an Anthropic body (cache read), and Nova."""
    import json

    system = [{"text": POLICY}, {"cachePoint": {"type": "default"}}]
    question = [{"role": "user", "content": [{"text": "Question: " + "explain the runbook step by step. " * 200}]}]
    config = {"maxTokens": 200}
    client.converse(modelId=BEDROCK_CLAUDE, system=system, messages=question, inferenceConfig=config)  # write
    client.converse(modelId=BEDROCK_CLAUDE, system=system, messages=question, inferenceConfig=config)  # read
    for _ in client.converse_stream(modelId=BEDROCK_CLAUDE, system=system, messages=question,
                                    inferenceConfig=config)["stream"]:
        pass  # streamed read
    body = json.dumps({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
        "system": [{"type": "text", "text": POLICY, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Say hello, " + "briefly and politely, " * 80}],
    })
    client.invoke_model(modelId=BEDROCK_CLAUDE, body=body)["body"].read()  # read
    for _ in client.invoke_model_with_response_stream(modelId=BEDROCK_CLAUDE, body=body)["body"]:
        pass  # streamed read
    client.converse(modelId=BEDROCK_NOVA, messages=[{"role": "user", "content": [{"text": "hi"}]}],
                    inferenceConfig=config)


def mistral_calls(client: Any) -> None:
    """mistralai: a cache miss then a cached prefix, and a stream."""
    messages = [{"role": "system", "content": POLICY}, {"role": "user", "content": "one?"}]
    client.chat.complete(model=MISTRAL, messages=messages, max_tokens=200)
    client.chat.complete(model=MISTRAL, messages=messages, max_tokens=200)  # cache read
    for _ in client.chat.stream(model=MISTRAL, messages=messages, max_tokens=200):
        pass


def run_others(gemini_url: str | None, bedrock_url: str | None, mistral_url: str | None) -> None:
    """Gemini, Bedrock and Mistral through their own SDKs (each only when its URL is given)."""
    if gemini_url:
        from google import genai

        gemini_calls(genai.Client(api_key="test", http_options={"base_url": gemini_url}))
    if bedrock_url:
        import boto3

        bedrock_calls(boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=bedrock_url,
                                   aws_access_key_id="test", aws_secret_access_key="test"))
    if mistral_url:
        try:
            from mistralai.client import Mistral  # mistralai 2.x and later
        except ImportError:
            from mistralai import Mistral  # type: ignore[no-redef]  # 1.x (the peers that need it are recorded)

        mistral_calls(Mistral(api_key="test", server_url=mistral_url))


def run(openai_url: str | None, anthropic_url: str | None) -> None:
    if openai_url:
        import openai

        openai_calls(openai.OpenAI(base_url=openai_url, api_key="test", max_retries=0))
    if anthropic_url:
        import anthropic

        anthropic_calls(anthropic.Anthropic(base_url=anthropic_url, api_key="test", max_retries=0))

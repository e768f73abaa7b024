"""An app that calls a LiteLLM proxy with the real openai SDK: `python litellm_app.py MODE OTLP_ENDPOINT PROXY_URL`.

MODE `plain`: no GenAI instrumentation, only the app's own request span; `llmsight`: `llmsight.instrument()` too;
`openllmetry`: OpenLLMetry's openai instrumentation instead.
Either way every request carries a W3C `traceparent` (OTel's propagator, as an instrumented HTTP client sends it),
so the proxy's spans join the app's trace. The calls: OpenAI-routed gpt-4o (cache miss, cache read, a stream),
o4-mini reasoning (and streamed), Anthropic-routed claude (a 5-minute cache write, its read, a stream), Gemini and
Mistral (each a call and a stream), Bedrock Converse (Claude and Nova).
Run by tests/peers/record_litellm.py with llmsight's own interpreter (the proxy runs in a venv of its own).
"""

from __future__ import annotations

import sys
from typing import Any

import httpx
import openai
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

POLICY = "Policy: answer from the knowledge base only, cite the article id, never guess. " * 70


def _inject(request: httpx.Request) -> None:
    propagate.inject(request.headers)  # the current span's context: llmsight's call span when it is current


def calls(client: Any, tracer: Any) -> None:
    system = {"role": "system", "content": POLICY}
    cached = {"role": "system", "content": [{"type": "text", "text": POLICY, "cache_control": {"type": "ephemeral"}}]}
    usage = {"stream_options": {"include_usage": True}}

    def ask(model: str, question: str, first: dict[str, Any] = system, **kwargs: Any) -> None:
        with tracer.start_as_current_span(f"handle {question}"):
            response = client.chat.completions.create(
                model=model, messages=[first, {"role": "user", "content": question}], user="end-user-7", **kwargs)
            if kwargs.get("stream"):
                for _ in response:
                    pass

    ask("gpt-4o", "one?")  # OpenAI's cache is written (free, unreported)
    ask("gpt-4o", "two?")  # cache read
    ask("gpt-4o", "three?", stream=True, **usage)  # streamed cache read
    ask("o4-mini", "four?")  # reasoning
    ask("o4-mini", "five?", stream=True, **usage)  # streamed reasoning
    ask("claude-sonnet-4-5", "six?", cached, max_tokens=200)  # 5-minute cache write
    ask("claude-sonnet-4-5", "seven?", cached, max_tokens=200)  # cache read
    ask("claude-sonnet-4-5", "eight?", cached, max_tokens=200, stream=True, **usage)  # streamed cache read
    ask("gemini-2.5-flash", "nine?", max_tokens=200)  # Gemini's API, through the proxy
    ask("gemini-2.5-flash", "ten?", max_tokens=200, stream=True, **usage)
    ask("mistral-small-latest", "eleven?", max_tokens=200)  # Mistral's
    ask("mistral-small-latest", "twelve?", max_tokens=200, stream=True, **usage)
    ask("bedrock-claude", "thirteen?", max_tokens=200)  # Bedrock's Converse: Claude and Nova
    ask("bedrock-nova", "fourteen?", max_tokens=200)


def main(mode: str, endpoint: str, proxy_url: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": f"litellm-app-{mode}"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    client = openai.OpenAI(base_url=proxy_url, api_key="sk-team-key-1234", max_retries=0,
                           http_client=httpx.Client(event_hooks={"request": [_inject]}))
    tracer = provider.get_tracer("app")
    if mode == "openllmetry":  # another peer in the app: its span is not current, the app's request span is
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
    if mode == "llmsight":
        import llmsight

        llmsight.instrument(tracer_provider=provider)
        with llmsight.tags(task="support-answer", prompt_name="policy-qa"):  # the app's attribution, beside the proxy's
            calls(client, tracer)
    else:
        calls(client, tracer)
    provider.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])

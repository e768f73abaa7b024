"""Start-up costs what the app uses: `configure()` / `instrument()` import no provider SDK, no instrumentor and no
exporter stack; each SDK is instrumented when the app imports it (a post-import hook). Run in fresh interpreters,
where `sys.modules` shows what was imported. The time it saves is measured by bench/startup.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from llmsight.testing.server import ProviderServer

SDKS = ("openai", "anthropic", "google.genai", "botocore", "mistralai")
HEAVY = ("pydantic", "requests", "google.protobuf", "wrapt", "asyncio", "llmsight.openai", "llmsight.anthropic",
         "llmsight.config")


# A tracer provider whose spans the script can list (`exporter.get_finished_spans()`).
IN_MEMORY = """from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
"""


def _run(code: str, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LLMSIGHT_", "OTEL_"))}
    result = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_configure_imports_no_sdk_and_no_exporter_stack() -> None:
    seen = _run(f"""
import json, sys, llmsight
llmsight.configure(endpoint="http://127.0.0.1:9")
print(json.dumps({{"imported": [m for m in {SDKS + HEAVY!r} if m in sys.modules]}}))
""")
    assert seen["imported"] == []


def test_an_sdk_imported_after_instrument_is_instrumented_and_the_others_stay_unimported() -> None:
    with ProviderServer() as server:
        seen = _run(f"""
import json, sys, llmsight
{IN_MEMORY}llmsight.instrument(tracer_provider=provider)
import openai
client = openai.OpenAI(base_url="{server.openai_base_url}", api_key="test", max_retries=0)
client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}])
llmsight.uninstrument()
import anthropic  # after uninstrument(): not instrumented
anthropic.Anthropic(base_url="{server.anthropic_base_url}", api_key="test", max_retries=0).messages.create(
    model="claude-haiku-4-5", max_tokens=5, messages=[{{"role": "user", "content": "hi"}}])
print(json.dumps({{"spans": [s.instrumentation_scope.name for s in exporter.get_finished_spans()],
                  "imported": [m for m in {SDKS!r} if m in sys.modules]}}))
""")
    assert seen["spans"] == ["llmsight.openai"]
    assert seen["imported"] == ["openai", "anthropic"]


def test_instrument_after_the_sdk_was_imported_instruments_it_at_once() -> None:
    with ProviderServer() as server:
        seen = _run(f"""
import json, openai, llmsight
{IN_MEMORY}for _ in range(2):  # instrument, uninstrument, instrument again: the hook fired once, the second goes direct
    llmsight.instrument(tracer_provider=provider)
    openai.OpenAI(base_url="{server.openai_base_url}", api_key="test", max_retries=0).embeddings.create(
        model="text-embedding-3-small", input="hi")
    llmsight.uninstrument()
print(json.dumps({{"spans": [s.instrumentation_scope.name for s in exporter.get_finished_spans()]}}))
""")
    assert seen["spans"] == ["llmsight.openai", "llmsight.openai"]

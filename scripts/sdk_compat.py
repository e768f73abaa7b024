"""Older SDK majors, which the test venv cannot hold beside the current ones: openai 2.x and anthropic 0.x
(both on httpx, where openai 3.x / anthropic 2.x use httpx2). Creates its own venv (from PyPI), installs
them with this checkout, and runs one instrumented workload against the local provider server: usage, stream
TTFT, retries as span events, and opt-in HTTP attempt spans through the httpx instrumentor.

    python scripts/sdk_compat.py            # prints the versions tested and OK, or fails
"""

import subprocess
import sys
import tempfile
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PINS = ["openai>=2,<3", "anthropic>=0.60,<1", "opentelemetry-instrumentation-httpx"]

WORKLOAD = r'''
import openai, anthropic
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import llmsight
from llmsight.testing.server import ProviderServer
from llmsight.testing.faults import Fault

print("openai", openai.__version__, "anthropic", anthropic.__version__)
exporter = InMemorySpanExporter(); provider = TracerProvider(); provider.add_span_processor(SimpleSpanProcessor(exporter))
msgs = [{"role": "user", "content": "hi"}]
with ProviderServer(seed=1) as server:
    for http in (False, True):
        exporter.clear()
        llmsight.instrument(tracer_provider=provider, instrument_http=http)
        oa = openai.OpenAI(base_url=server.openai_base_url, api_key="x", max_retries=3)
        an = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="x", max_retries=3)
        server.faults.add(Fault.http_status(429, times=2))
        oa.chat.completions.create(model="gpt-4o", messages=msgs)
        list(oa.chat.completions.create(model="gpt-4o", messages=msgs, stream=True, stream_options={"include_usage": True}))
        an.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=msgs)
        with an.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=msgs) as s:
            s.get_final_message()
        llmsight.uninstrument()
        spans = exporter.get_finished_spans()
        calls = [s for s in spans if s.instrumentation_scope.name.startswith("llmsight")]
        others = [s for s in spans if not s.instrumentation_scope.name.startswith("llmsight")]
        print(f"instrument_http={http}: {len(calls)} call spans, {len(others)} other spans ({sorted({s.instrumentation_scope.name for s in others})})")
        for c in calls:
            a = c.attributes
            print("  ", c.name, a.get("gen_ai.usage.input_tokens"), a.get("gen_ai.usage.output_tokens"), "retries", a.get("llmsight.retries"), "events", [e.name for e in c.events], "stream", a.get("gen_ai.request.stream"), "ttft", a.get("gen_ai.response.time_to_first_chunk") is not None)
        assert len(calls) == 4
        assert calls[0].attributes["llmsight.retries"] == 2 and len(calls[0].events) == 2
        assert (len(others) > 0) == http
print("OK")
'''


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        python = str(env_dir / "bin" / "python")
        subprocess.run([python, "-m", "pip", "install", "-q", *PINS, "-e", str(REPO)], check=True)
        subprocess.run([python, "-c", WORKLOAD], check=True)


if __name__ == "__main__":
    sys.exit(main())

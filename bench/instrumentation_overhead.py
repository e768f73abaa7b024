"""CPU overhead of llmsight's instrumentation vs the bare SDK, in one run, as a ratio and µs per call.

    python bench/instrumentation_overhead.py [--calls 2000] [--chunks 200] [--rounds 5]

The provider is llmsight's local server in a SEPARATE process, so this process's CPU time (time.process_time)
is the client's alone: the SDK, httpx2, and — when instrumented — llmsight's wrappers, span creation, the
batch span processor and the HTTP-attempt child spans. Spans go to a BatchSpanProcessor whose exporter drops
them (export cost is off the app's threads in production too). Rounds alternate bare / instrumented and the
medians are reported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence

import openai
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import llmsight


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def start_server(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "llmsight.testing", "--port", str(port)], stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("provider server did not start")


def cpu_per_call(action: Callable[[], None], calls: int) -> float:
    start = time.process_time()
    for _ in range(calls):
        action()
    return (time.process_time() - start) / calls * 1e6  # µs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--chunks", type=int, default=500, help="tokens (= content chunks) per streamed reply")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()
    server = start_server(args.port)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{args.port}/v1", api_key="bench", max_retries=0)
    messages = [{"role": "user", "content": "hello"}]

    def plain() -> None:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    long_reply = {"x-llmsight-reply-tokens": str(args.chunks)}

    def streamed() -> None:
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True, extra_headers=long_reply,
                                                  stream_options={"include_usage": True}):
            pass

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=65536))
    results: dict[str, list[float]] = {"bare": [], "instrumented": [], "bare_stream": [], "instrumented_stream": []}
    for action in (plain, streamed):  # warm-up
        for _ in range(50):
            action()
    chunk_count = sum(1 for _ in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                                                   extra_headers=long_reply, stream_options={"include_usage": True}))
    for _ in range(args.rounds):
        results["bare"].append(cpu_per_call(plain, args.calls))
        results["bare_stream"].append(cpu_per_call(streamed, args.calls // 10))
        llmsight.instrument(tracer_provider=provider)
        results["instrumented"].append(cpu_per_call(plain, args.calls))
        results["instrumented_stream"].append(cpu_per_call(streamed, args.calls // 10))
        llmsight.uninstrument()
    server.terminate()
    provider.shutdown()
    median = {k: statistics.median(v) for k, v in results.items()}
    per_call = median["instrumented"] - median["bare"]
    per_stream = median["instrumented_stream"] - median["bare_stream"]
    per_chunk = (per_stream - per_call) / chunk_count
    print(f"non-streaming call : bare {median['bare']:8.1f} µs CPU, instrumented {median['instrumented']:8.1f} µs "
          f"→ +{per_call:.1f} µs/call (ratio {median['instrumented'] / median['bare']:.3f})")
    print(f"streamed call      : bare {median['bare_stream']:8.1f} µs CPU, instrumented {median['instrumented_stream']:8.1f} µs "
          f"({chunk_count} chunks) → +{per_chunk:.2f} µs/chunk beyond the per-call cost "
          f"(ratio {median['instrumented_stream'] / median['bare_stream']:.3f})")
    print("includes the HTTP-attempt child span (opentelemetry-instrumentation-httpx); rounds:", args.rounds)


if __name__ == "__main__":
    main()

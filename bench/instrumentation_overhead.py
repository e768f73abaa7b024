"""CPU overhead of llmsight's instrumentation vs the bare SDK, in one run, as a ratio and µs per call.

    python bench/instrumentation_overhead.py [--sdk openai anthropic gemini bedrock mistral] [--rounds 15] [--calls 200]
        [--streams 4] [--chunks 500]

Three measurements, because one real SDK call costs ~2-3 ms of CPU here and that varies ±20 % from one
block of calls to the next on a shared VM — far more than the few tens of µs being measured:

1. End to end, per SDK (`openai`, `anthropic` by default; also `gemini` = google-genai, `bedrock` = boto3
   bedrock-runtime Converse / ConverseStream, `mistral` = mistralai). The REAL SDK calls llmsight's local provider server, which
   runs in a SEPARATE process, so this process's CPU time (time.process_time) is the client's alone: the
   SDK, its HTTP client and, when instrumented, llmsight's wrappers, span creation and the batch span
   processor. `llmsight` is the default configuration; `llmsight+http` adds the opt-in HTTP-attempt child
   spans of opentelemetry-instrumentation-httpx; `openllmetry` is the peer. Variants are interleaved in
   many short rounds and the medians reported: the ratio is what an app sees.
2. llmsight's own work, isolated. The same wrapper llmsight installs on `Completions.create`, around a
   method that returns a ChatCompletion (or a stream of chunks) the real SDK parsed from the server
   beforehand. Bare method vs wrapped method: exactly what llmsight adds per call and per streamed chunk
   (request attributes, prefix hash, span start/end, context switch, usage reading), free of SDK noise.

3. Per streamed item, each SDK's stream layer isolated: the items its real SDK yielded for one reply, put
   through the same proxy or generator layer and accumulator the instrumentor uses, against a bare iteration
   (the call's fixed cost cancels out against the same layer over no items).

Spans go to a BatchSpanProcessor whose exporter drops them (export happens off the app's threads in
production too).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import openai
import wrapt
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

import llmsight
from llmsight._call import LLMCall
from llmsight._common import CallContext
from llmsight._wrapping import ResultKinds, sync_wrapper
from llmsight.config import InstrumentationSettings
from llmsight.openai._operations import ChatOperation


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class CountingProcessor(SpanProcessor):
    """Counts ended spans so the isolated part can check that the wrapper really traced."""

    def on_end(self, span: ReadableSpan) -> None:
        ended_spans.append(None)
        if not last_span_attributes:  # the first span's attributes serve as the floor's sample
            last_span_attributes.update(span.attributes or {})


ended_spans: list[None] = []
last_span_attributes: dict[str, Any] = {}


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


VARIANTS = ("bare", "llmsight", "llmsight+http", "openllmetry")


# The peer instrumentation measured next to llmsight, per SDK (OpenLLMetry's packages).
PEERS = {"openai": "opentelemetry.instrumentation.openai", "anthropic": "opentelemetry.instrumentation.anthropic"}
SDKS = ("openai", "anthropic", "gemini", "bedrock", "mistral")


def _instrument_variant(variant: str, sdk: str, provider: TracerProvider) -> None:
    if variant == "llmsight":
        llmsight.instrument(tracer_provider=provider)  # the default configuration
    elif variant == "llmsight+http":
        llmsight.instrument(tracer_provider=provider, instrument_http=True)
    elif variant == "openllmetry":
        peer = importlib.import_module(PEERS[sdk])
        instrumentor = peer.OpenAIInstrumentor() if sdk == "openai" else peer.AnthropicInstrumentor()
        instrumentor.instrument(tracer_provider=provider)


def _workload(sdk: str, port: int, chunks: int) -> tuple[Callable[[], None], Callable[[], Iterable[Any]]]:
    """(one non-streaming call, one call that opens a stream of `chunks` tokens) with the real SDK."""
    messages = [{"role": "user", "content": "hello"}]
    long_reply = {"x-llmsight-reply-tokens": str(chunks)}
    if sdk in ("gemini", "bedrock", "mistral"):
        return _more_workloads(sdk, f"http://127.0.0.1:{port}", long_reply)
    if sdk == "anthropic":
        import anthropic

        messages_api = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key="bench", max_retries=0).messages

        def plain_anthropic() -> None:
            messages_api.create(model="claude-haiku-4-5", max_tokens=1024, messages=messages)

        def stream_anthropic() -> Iterable[Any]:
            return messages_api.create(model="claude-haiku-4-5", max_tokens=4096, messages=messages, stream=True,
                                       extra_headers=long_reply)

        return plain_anthropic, stream_anthropic
    completions = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench", max_retries=0).chat.completions

    def plain() -> None:
        completions.create(model="gpt-4o-mini", messages=messages)

    def stream() -> Iterable[Any]:
        return completions.create(model="gpt-4o-mini", messages=messages, stream=True, extra_headers=long_reply,
                                  stream_options={"include_usage": True})

    return plain, stream


def _more_workloads(sdk: str, base_url: str, long_reply: dict[str, str]) -> tuple[Callable[[], None], Callable[[], Iterable[Any]]]:
    if sdk == "gemini":
        from google import genai

        gemini = genai.Client(api_key="bench", http_options={"base_url": base_url})
        stream_config = {"http_options": {"headers": long_reply}}

        def plain_gemini() -> None:
            gemini.models.generate_content(model="gemini-2.5-flash", contents="hello")

        def stream_gemini() -> Iterable[Any]:
            return gemini.models.generate_content_stream(model="gemini-2.5-flash", contents="hello", config=stream_config)

        return plain_gemini, stream_gemini
    if sdk == "bedrock":
        import boto3

        bedrock = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=base_url,
                               aws_access_key_id="bench", aws_secret_access_key="bench")
        wanted: dict[str, str] = {}

        def add_headers(request: Any, **_: Any) -> None:  # boto3 has no per-call extra headers
            for name, value in wanted.items():
                request.headers[name] = value

        bedrock.meta.events.register("before-sign.bedrock-runtime.*", add_headers)
        converse_messages = [{"role": "user", "content": [{"text": "hello"}]}]

        def plain_bedrock() -> None:
            bedrock.converse(modelId="us.amazon.nova-lite-v1:0", messages=converse_messages)

        def stream_bedrock() -> Iterable[Any]:
            wanted.update(long_reply)  # the request is sent here; the events are read as the stream is iterated
            try:
                return bedrock.converse_stream(modelId="us.amazon.nova-lite-v1:0", messages=converse_messages)["stream"]
            finally:
                wanted.clear()

        return plain_bedrock, stream_bedrock
    from mistralai.client import Mistral

    chat = Mistral(api_key="bench", server_url=f"{base_url}/mistral").chat
    messages = [{"role": "user", "content": "hello"}]

    def plain_mistral() -> None:
        chat.complete(model="mistral-small-latest", messages=messages)

    def stream_mistral() -> Iterable[Any]:
        return chat.stream(model="mistral-small-latest", messages=messages, http_headers=long_reply)

    return plain_mistral, stream_mistral


def child(variant: str, args: argparse.Namespace) -> None:
    """One block of one variant in a fresh process (peers cannot all be uninstrumented cleanly): prints
    CPU µs per non-streaming call and per streamed call."""
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=65536))
    _instrument_variant(variant, args.child_sdk, provider)
    plain, open_stream = _workload(args.child_sdk, args.port, args.chunks)

    def streamed() -> None:
        for _ in open_stream():
            pass

    for action in (plain, streamed):  # warm-up: imports, connection pool, interpreter specialisation
        for _ in range(10):
            action()
    print(cpu_per_call(plain, args.calls), cpu_per_call(streamed, args.streams))


def end_to_end(sdk: str, args: argparse.Namespace) -> None:
    variants = [v for v in VARIANTS if v != "openllmetry" or (sdk in PEERS and importlib.util.find_spec(PEERS[sdk]))]
    plain_cpu: dict[str, list[float]] = {name: [] for name in variants}
    stream_cpu: dict[str, list[float]] = {name: [] for name in variants}
    # Rounds interleave the variants, so slow drifts of this VM's CPU speed hit every variant alike.
    for round_index in range(args.rounds):
        for name in variants:
            command = [sys.executable, __file__, "--child", name, "--child-sdk", sdk, "--port", str(args.port),
                       "--calls", str(args.calls), "--streams", str(args.streams), "--chunks", str(args.chunks)]
            per_call, per_stream = map(float, subprocess.run(command, check=True, capture_output=True, text=True).stdout.split())
            plain_cpu[name].append(per_call)
            stream_cpu[name].append(per_stream)
        print(f"\r   round {round_index + 1}/{args.rounds}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    plain_median = {name: statistics.median(v) for name, v in plain_cpu.items()}
    stream_median = {name: statistics.median(v) for name, v in stream_cpu.items()}
    bare, bare_stream = plain_median["bare"], stream_median["bare"]
    spread = statistics.quantiles(plain_cpu["bare"], n=4) if args.rounds > 1 else [bare, bare, bare]
    print(f"1. end to end, real {sdk} SDK + local server, medians of {args.rounds} interleaved rounds of {args.calls} calls "
          f"and {args.streams} streams ({args.chunks} tokens) per variant")
    print(f"   bare SDK      : {bare:7.1f} µs CPU per call (interquartile {spread[0]:.0f}–{spread[2]:.0f}), "
          f"{bare_stream:.0f} µs per streamed call")
    for name in variants[1:]:
        print(f"   {name:14s}: {plain_median[name] / bare:.3f}× per call ({plain_median[name] - bare:+.0f} µs), "
              f"{stream_median[name] / bare_stream:.3f}× per streamed call ({stream_median[name] - bare_stream:+.0f} µs)")


class _CannedStream:
    """Iterates chunks the real SDK already parsed: stands in for `openai.Stream` minus the HTTP/SSE work."""

    def __init__(self, chunks: list[Any]) -> None:
        self._chunks = iter(chunks)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return next(self._chunks)

    def close(self) -> None:
        pass


def isolated(client: openai.OpenAI, provider: TracerProvider, args: argparse.Namespace) -> None:
    messages = [{"role": "system", "content": "You are a support assistant. " * 40}, {"role": "user", "content": "hello"}]
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                                 extra_headers={"x-llmsight-reply-tokens": str(args.chunks)},
                                                 stream_options={"include_usage": True}))

    class BareCompletions:
        _client = client

        def create(self, **kwargs: Any) -> Any:
            return _CannedStream(chunks) if kwargs.get("stream") else completion

    op = ChatOperation(CallContext(InstrumentationSettings()))
    kinds = ResultKinds(sync_streams=(_CannedStream,), async_streams=(), raw=())
    tracer = provider.get_tracer("bench")

    class InstrumentedCompletions(BareCompletions):  # patched the way the instrumentor patches the SDK's class
        create = wrapt.FunctionWrapper(BareCompletions.create, sync_wrapper(op, lambda: tracer, kinds))

    bare, instrumented = BareCompletions(), InstrumentedCompletions()
    stream_kwargs: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}
    spans_before = len(ended_spans)
    instrumented.create(model="gpt-4o-mini", messages=messages)
    if len(ended_spans) != spans_before + 1:
        raise RuntimeError("the isolated wrapper did not produce a span: the measurement would be meaningless")

    def call_bare() -> None:
        bare.create(model="gpt-4o-mini", messages=messages)

    def call_wrapped() -> None:
        instrumented.create(model="gpt-4o-mini", messages=messages)

    def stream_bare() -> None:
        for _ in bare.create(model="gpt-4o-mini", messages=messages, **stream_kwargs):
            pass

    def stream_wrapped() -> None:
        for _ in instrumented.create(model="gpt-4o-mini", messages=messages, **stream_kwargs):
            pass

    # The floor any OTel instrumentation pays: an SDK span carrying the same attributes, nothing else.
    sample_attributes = dict(last_span_attributes)
    start_attributes = dict(list(sample_attributes.items())[: len(sample_attributes) // 2])
    end_attributes = dict(list(sample_attributes.items())[len(sample_attributes) // 2:])

    def otel_span_only() -> None:
        span = tracer.start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=start_attributes)
        span.set_attributes(end_attributes)
        span.end()

    measured = {"call_bare": (call_bare, args.calls * 10), "call_wrapped": (call_wrapped, args.calls * 10),
                "otel_span": (otel_span_only, args.calls * 10),
                "stream_bare": (stream_bare, args.streams * 10), "stream_wrapped": (stream_wrapped, args.streams * 10)}
    runs: dict[str, list[float]] = {name: [] for name in measured}
    for _ in range(args.rounds):
        for name, (action, calls) in measured.items():
            runs[name].append(cpu_per_call(action, calls))
    median = {name: statistics.median(v) for name, v in runs.items()}
    per_call = median["call_wrapped"] - median["call_bare"]
    span_floor = median["otel_span"]
    per_chunk = (median["stream_wrapped"] - median["stream_bare"] - per_call) / len(chunks)
    print(f"2. llmsight's own work, isolated (same wrapper, pre-parsed SDK objects), medians of {args.rounds} rounds")
    print(f"   per non-streaming call: +{per_call:.1f} µs CPU, of which the OTel SDK span with the same "
          f"{len(sample_attributes)} attributes costs {span_floor:.1f} µs → llmsight's logic +{per_call - span_floor:.1f} µs")
    print(f"   per streamed chunk    : +{per_chunk:.2f} µs CPU ({len(chunks)} chunks per stream, beyond the per-call cost)")


def _stream_layer(sdk: str) -> Callable[[Any, LLMCall], Iterator[Any]]:
    """What the instrumentor puts around `sdk`'s streams: its proxy or generator layer and its accumulator."""
    from llmsight._streams import SyncStreamProxy

    if sdk == "gemini":
        from llmsight.google_genai._hooks import traced_stream
        from llmsight.google_genai._operations import GenerateStreamAccumulator

        return lambda canned, call: traced_stream(iter(canned), call, GenerateStreamAccumulator(call))
    if sdk == "bedrock":
        from llmsight.bedrock._streams import ConverseStreamAccumulator, EventStreamProxy

        return lambda canned, call: EventStreamProxy(canned, call, ConverseStreamAccumulator(call))
    if sdk == "mistral":
        from llmsight.mistral._operations import ChatStreamAccumulator as MistralAccumulator

        return lambda canned, call: SyncStreamProxy(canned, call, MistralAccumulator(call))
    if sdk == "anthropic":
        from llmsight.anthropic._operations import MessageStreamAccumulator

        return lambda canned, call: SyncStreamProxy(canned, call, MessageStreamAccumulator(call))
    from llmsight.openai._operations import ChatStreamAccumulator

    return lambda canned, call: SyncStreamProxy(canned, call, ChatStreamAccumulator(call, None))


def isolated_chunks(sdks: Sequence[str], provider: TracerProvider, args: argparse.Namespace) -> None:
    """Per streamed item, each SDK's stream machinery on the items its real SDK parsed: (a stream of N items
    through llmsight − the same machinery over no items) / N − a bare iteration's cost per item. The call's
    fixed cost (span start and end) cancels out, so what remains is what every extra chunk costs."""
    tracer = provider.get_tracer("bench")
    print(f"3. per streamed item, each SDK's stream layer and accumulator, isolated, medians of {args.rounds} rounds")
    for sdk in sdks:
        # What the real SDK yields, parsed once. The workload is kept until then: google-genai's client closes
        # its connection pool when collected, which a generator of its models does not prevent.
        _, open_stream = _workload(sdk, args.port, args.chunks)
        items = list(open_stream())
        traced = _stream_layer(sdk)

        def through_llmsight(canned: list[Any], traced: Any = traced) -> None:
            call = LLMCall(tracer, "chat bench", {}, streaming=True)
            for _ in traced(_CannedStream(canned), call):
                pass

        def bare(items: list[Any] = items) -> None:
            for _ in _CannedStream(items):
                pass

        runs: dict[str, list[float]] = {"full": [], "empty": [], "bare": []}
        repeats = max(20, args.streams * 10)
        for _ in range(args.rounds):
            runs["full"].append(cpu_per_call(lambda: through_llmsight(items), repeats))  # noqa: B023 - called here
            runs["empty"].append(cpu_per_call(lambda: through_llmsight([]), repeats))
            runs["bare"].append(cpu_per_call(bare, repeats))
        median = {name: statistics.median(v) for name, v in runs.items()}
        per_item = (median["full"] - median["empty"] - median["bare"]) / len(items)
        print(f"   {sdk:9s}: +{per_item:.2f} µs CPU per item ({len(items)} items per stream)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=200, help="non-streaming calls per variant per round")
    parser.add_argument("--streams", type=int, default=4, help="streamed calls per variant per round")
    parser.add_argument("--chunks", type=int, default=500, help="tokens (= content chunks) per streamed reply")
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--isolated-only", action="store_true", help="skip the (slow, noisy) end-to-end part")
    parser.add_argument("--sdk", nargs="+", choices=SDKS, default=sorted(PEERS, reverse=True),
                        help="which SDKs the end-to-end part measures")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--child-sdk", choices=SDKS, default="openai", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args)
        return
    server = start_server(args.port)
    try:
        if not args.isolated_only:
            for sdk in args.sdk:
                end_to_end(sdk, args)
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=65536))
        provider.add_span_processor(CountingProcessor())  # a list append per span; counted against llmsight
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{args.port}/v1", api_key="bench", max_retries=0)
        isolated(client, provider, args)
        isolated_chunks(args.sdk, provider, args)
        provider.shutdown()
    finally:
        server.terminate()


if __name__ == "__main__":
    main()

"""What reading a batch's results costs with llmsight: CPU per result line and the memory the parsing holds.

    python bench/batch_results.py [--lines 5000] [--rounds 7]

A real OpenAI Batch of `--lines` chat requests runs on the local provider (llmsight.testing); its output file is
then read with `client.files.content(id).content` (bare SDK vs instrumented: one call span per line), and the
Anthropic results of a batch of the same size are iterated (`messages.batches.results`). Spans go to a
BatchSpanProcessor whose exporter drops them. Medians of interleaved rounds; the extra memory is tracemalloc's
peak during an instrumented read of a body already in memory (the parser holds one line at a time).
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import anthropic
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import llmsight
from llmsight.testing import batch_workload as work
from llmsight.testing.server import PROVIDER_HOSTS, ProviderServer


class _Drop(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _cpu(action: Callable[[], Any]) -> float:
    started = time.process_time()
    action()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Drop(), max_queue_size=args.lines * 4))
    with ProviderServer(seed=3) as server:
        oa = openai.OpenAI(base_url=server.openai_base_url, api_key="bench")
        an = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="bench")
        batch = work.wait_openai_batch(oa, work.submit_openai_batch(oa, requests=args.lines, errored=0).id)
        message_batch = work.wait_anthropic_batch(an, work.submit_anthropic_batch(an, requests=args.lines, errored=0).id)
        size = len(oa.files.content(batch.output_file_id).content)
        reads = {
            "openai files.content(...).content": lambda: oa.files.content(batch.output_file_id).content,
            "anthropic messages.batches.results": lambda: list(an.messages.batches.results(message_batch.id)),
        }
        for name, read in reads.items():
            bare, traced = [], []
            for _ in range(args.rounds):
                bare.append(_cpu(read))
                llmsight.instrument(tracer_provider=provider, provider_hosts=PROVIDER_HOSTS)
                try:
                    traced.append(_cpu(read))
                finally:
                    llmsight.uninstrument()
                provider.force_flush()
            extra_us = (statistics.median(traced) - statistics.median(bare)) / args.lines * 1e6
            print(f"{name}: {args.lines} lines, bare {statistics.median(bare) * 1000:.0f} ms, "
                  f"instrumented {statistics.median(traced) * 1000:.0f} ms CPU: +{extra_us:.0f} µs per result line")
        content = oa.files.content(batch.output_file_id)
        body = content.content  # the SDK's own copy, before instrumenting: not counted below
        llmsight.instrument(tracer_provider=provider, provider_hosts=PROVIDER_HOSTS)
        try:
            file = oa.files.content(batch.output_file_id)
            file.response.read()
            tracemalloc.start()
            file.content  # noqa: B018 - the read being measured
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            llmsight.uninstrument()
        print(f"output file {size / 1e6:.1f} MB ({len(body) // args.lines} bytes a line): parsing peak "
              f"{peak / 1e6:.2f} MB (spans queued for export included)")
    provider.shutdown()


if __name__ == "__main__":
    main()

"""A second process that reads a batch's results (run by test_batches.py): instrumented like any app, exporting to
the collector, with tags of its own, knowing nothing of the submission but the batch id.

    python -m tests.collector.batch_reader ENDPOINT PROVIDER_BASE_URL OPENAI_BATCH_ID ANTHROPIC_BATCH_ID
"""

from __future__ import annotations

import sys

import anthropic
import openai
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import llmsight


def main(endpoint: str, base_url: str, openai_batch_id: str, anthropic_batch_id: str) -> None:
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "results-reader"}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    llmsight.instrument(tracer_provider=tracer_provider)
    with llmsight.tags(task="download-results"):
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="test")
        batch = client.batches.retrieve(openai_batch_id)
        lines = len(client.files.content(batch.output_file_id).content.splitlines())
        lines += len(client.files.content(batch.error_file_id).content.splitlines())
        lines += len(list(anthropic.Anthropic(base_url=base_url, api_key="test").messages.batches.results(
            anthropic_batch_id)))
    tracer_provider.shutdown()
    print(lines)


if __name__ == "__main__":
    main(*sys.argv[1:5])

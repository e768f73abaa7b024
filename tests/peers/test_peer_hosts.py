"""Peers name every OpenAI-SDK call's provider "openai", wherever the call went; the collector names it by the
host it went to with llmsight's own rule (a vendor's host, a local one, the collector's declarations), and takes that host from OpenLLMetry's base-URL attribute
when the span has no `server.address`. The real peers trace real `openai` calls whose base URL is a vendor's
host, answered by the local provider (the transport reroutes them). Each peer runs in a process of its own:
OpenLLMetry's uninstrument leaves its wrappers behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmsight.collector.normalise import normalise_request
from llmsight.testing.server import ProviderServer

VENDOR_URLS = ("https://api.groq.com/openai/v1", "https://api.deepseek.com/v1")

_APP = """
import sys

import httpx2
import openai
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

peer, local_url, out, *base_urls = sys.argv[1:]
if peer == "openllmetry":
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor
else:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor


class ToLocalProvider(httpx2.HTTPTransport):
    def handle_request(self, request):
        local = httpx2.URL(local_url)
        request.url = local.copy_with(path=local.path.rstrip("/") + request.url.path[request.url.path.index("/chat/"):])
        return super().handle_request(request)


exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
OpenAIInstrumentor().instrument(tracer_provider=provider)
for base_url in base_urls:
    client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0,
                           http_client=httpx2.Client(transport=ToLocalProvider()))
    model = "deepseek-chat" if "deepseek" in base_url else "llama-3.3-70b-versatile"
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
open(out, "wb").write(encode_spans(exporter.get_finished_spans()).SerializeToString())
"""


def _peer_spans(peer: str, server: ProviderServer, out: Path) -> ExportTraceServiceRequest:
    urls = (*VENDOR_URLS, server.openai_base_url)
    ran = subprocess.run([sys.executable, "-c", _APP, peer, server.openai_base_url, str(out), *urls],
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    return ExportTraceServiceRequest.FromString(out.read_bytes())


@pytest.mark.parametrize("peer", ["openllmetry", "openai-v2"])
def test_a_peers_openai_spans_are_named_by_the_vendor_host(peer: str, provider_server: ProviderServer,
                                                           tmp_path: Path) -> None:
    request = _peer_spans(peer, provider_server, tmp_path / "spans.pb")
    stated = []
    for span in request.resource_spans[0].scope_spans[0].spans:
        attributes = {kv.key: kv.value for kv in span.attributes}
        stated.append((attributes.get("gen_ai.provider.name") or attributes["gen_ai.system"]).string_value)
    assert stated == ["openai", "openai", "openai"]  # the peer's own view of all three calls
    records = normalise_request(request).records
    assert len(records) == 3
    hosts = [record.attributes.get("server.address") for record in records]
    providers = [record.provider for record in records]
    if peer == "openllmetry":  # no server.address; the host comes from its gen_ai.openai.api_base
        assert hosts == ["api.groq.com", "api.deepseek.com", "127.0.0.1"]
        # The local server is `self_hosted`, as llmsight's own span of the same call says, unless the collector
        # is told otherwise (provider_hosts, `host:port` scoped here: another port stays undeclared).
        assert providers == ["groq", "deepseek", "self_hosted"]
        port = provider_server.openai_base_url.split(":")[2].split("/")[0]
        declared = normalise_request(request, provider_hosts=((f"127.0.0.1:{port}", "vllm"),)).records
        assert [record.provider for record in declared] == ["groq", "deepseek", "vllm"]
        other_port = normalise_request(request, provider_hosts=(("127.0.0.1:1", "vllm"),)).records
        assert other_port[2].provider == "self_hosted"
        # So the vendors' calls are priced at their list prices (before: no host, provider "openai", a model
        # OpenAI does not sell: unpriced), and the local server is not priced at anyone's.
        from llmsight.collector.pricing import Pricer

        pricer = Pricer()
        for record in records:
            pricer.price(record)
        groq, deepseek, local = records
        assert groq.total_cost == pytest.approx((groq.input_tokens * 0.59 + groq.output_tokens * 0.79) / 1e6)
        assert deepseek.total_cost is not None and deepseek.total_cost > 0
        assert groq.price_source == deepseek.price_source == pricer.source
        assert local.total_cost is None
    else:
        # openai-v2 (2.4b0) reads the host only from an httpx.URL; the openai 3.x SDK's base_url is an
        # httpx2.URL, so its spans carry no host at all and nothing can name the vendor: left as "openai".
        assert hosts == [None, None, None]
        assert providers == ["openai", "openai", "openai"]

"""The collector as a real process, fed by the real OTLP exporters from apps instrumented by llmsight and
by OpenLLMetry; stored rows are checked field by field against the provider's ledger and against
hand-computed list-price arithmetic."""

from __future__ import annotations

import gzip
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import genai_prices
import openai
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import llmsight
from llmsight.testing.server import PRICES_YAML

from .conftest import CollectorProcess

# List prices per million tokens (genai-prices 0.2.3 data, checked by hand against the providers' pages).
GPT_4O = {"input": 2.5, "cached": 1.25, "output": 10.0}
SONNET_45 = {"input": 3.0, "read": 0.30, "write_5m": 3.75, "write_1h": 6.0, "output": 15.0}
POLICY = "Policy: answer from the knowledge base only, cite the article id, never guess. " * 70


def exporter_provider(exporter: Any, service: str = "shop") -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment.name": "prod"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
def app_provider(collector: CollectorProcess) -> Iterator[TracerProvider]:
    provider = exporter_provider(OTLPSpanExporter(endpoint=collector.http_endpoint))
    llmsight.instrument(tracer_provider=provider)
    yield provider
    llmsight.uninstrument()
    provider.shutdown()


def test_llmsight_spans_become_priced_rows(collector, app_provider, provider_server) -> None:
    oa = openai.OpenAI(base_url=provider_server.openai_base_url, api_key="test")
    an = anthropic.Anthropic(base_url=provider_server.anthropic_base_url, api_key="test")
    system = {"role": "system", "content": POLICY}
    with llmsight.tags(task="support", tenant="acme", prompt_name="kb", prompt_version="7"):
        for question in ("Where is my order?", "Can I return it?"):
            oa.chat.completions.create(model="gpt-4o", messages=[system, {"role": "user", "content": question}])
        blocks = [
            {"type": "text", "text": POLICY, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        ]
        for _ in range(2):
            an.messages.create(model="claude-sonnet-4-5", max_tokens=100, system=blocks, messages=[{"role": "user", "content": "hi"}])
        an.messages.create(
            model="claude-sonnet-4-5", max_tokens=100,
            system=[{"type": "text", "text": POLICY + " v2", "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "hi"}],
        )
    collector.wait_stored(5)
    rows = collector.rows()
    billed = provider_server.ledger.entries()
    assert len(rows) == len(billed) == 5
    by_order = sorted(rows, key=lambda r: r["ts"])
    for row, entry in zip(by_order, billed, strict=True):
        assert row["service"] == "shop" and row["environment"] == "prod"
        assert row["provider"] == entry.provider
        assert row["request_model"] == row["response_model"] == entry.model
        assert row["input_tokens"] == entry.input_tokens
        assert row["cache_read_tokens"] == entry.cache_read_tokens
        assert row["cache_write_tokens"] == entry.cache_write_5m_tokens + entry.cache_write_1h_tokens
        assert row["cache_write_1h_tokens"] == entry.cache_write_1h_tokens
        assert row["output_tokens"] == entry.output_tokens
        assert (row["task"], row["tenant"], row["prompt_name"], row["prompt_version"]) == ("support", "acme", "kb", "7")
        assert row["status"] == "ok" and row["http_status"] == 200 and row["retries"] == 0
        assert row["price_source"] == f"genai-prices@{genai_prices.__version__}+server:prices.yaml#servers[0]"  # the declared local server
        assert row["duration_ms"] > 0
        # Hand-computed list-price arithmetic.
        if entry.provider == "openai":
            uncached = entry.input_tokens - entry.cache_read_tokens
            expected = {
                "input_cost": uncached * GPT_4O["input"] / 1e6,
                "cache_read_cost": entry.cache_read_tokens * GPT_4O["cached"] / 1e6,
                "cache_write_cost": 0.0,
                "output_cost": entry.output_tokens * GPT_4O["output"] / 1e6,
            }
        else:
            uncached = entry.input_tokens - entry.cache_read_tokens - entry.cache_write_5m_tokens - entry.cache_write_1h_tokens
            expected = {
                "input_cost": uncached * SONNET_45["input"] / 1e6,
                "cache_read_cost": entry.cache_read_tokens * SONNET_45["read"] / 1e6,
                "cache_write_cost": (entry.cache_write_5m_tokens * SONNET_45["write_5m"]
                                     + entry.cache_write_1h_tokens * SONNET_45["write_1h"]) / 1e6,
                "output_cost": entry.output_tokens * SONNET_45["output"] / 1e6,
            }
        for column, value in expected.items():
            assert row[column] == pytest.approx(value, rel=1e-9, abs=1e-12), column
        assert row["total_cost"] == pytest.approx(sum(expected.values()), rel=1e-9)
    # The repeated OpenAI prompt was served from cache; the Anthropic prefix was written (1h) then read,
    # and the edited template (v2) wrote a new 5-minute entry under a new prefix hash.
    assert billed[1].cache_read_tokens > 0
    assert billed[2].cache_write_1h_tokens > 0 and billed[3].cache_read_tokens == billed[2].cache_write_1h_tokens
    assert billed[4].cache_write_5m_tokens > 0
    assert by_order[2]["prompt_prefix_hash"] == by_order[3]["prompt_prefix_hash"] != by_order[4]["prompt_prefix_hash"]
    # Hourly rollup agrees with the raw rows.
    rollup = collector.query(
        "SELECT sum(calls), sum(input_tokens), sum(total_cost) FROM llmsight.llm_calls_hourly"
    ).rows[0]
    assert rollup[0] == 5 and rollup[1] == sum(r["input_tokens"] for r in rows)
    assert rollup[2] == pytest.approx(sum(r["total_cost"] for r in rows), rel=1e-9)


def test_grpc_exporter_and_duplicate_resend(collector, provider_server) -> None:
    exporter = GrpcSpanExporter(endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True)
    provider = exporter_provider(exporter, service="batch-jobs")
    llmsight.instrument(tracer_provider=provider)
    try:
        openai.OpenAI(base_url=provider_server.openai_base_url, api_key="test").embeddings.create(
            model="text-embedding-3-small", input=["a", "b"]
        )
    finally:
        llmsight.uninstrument()
    provider.shutdown()
    collector.wait_stored(1)
    # An exporter that did not see the acknowledgement resends the same spans: stored once.
    http = OTLPSpanExporter(endpoint=collector.http_endpoint)
    spans = []

    class Keep(SimpleSpanProcessor):
        def on_end(self, span: Any) -> None:
            spans.append(span)

    keeper = TracerProvider()
    keeper.add_span_processor(Keep(http))
    llmsight.instrument(tracer_provider=keeper)
    try:
        openai.OpenAI(base_url=provider_server.openai_base_url, api_key="test").embeddings.create(
            model="text-embedding-3-small", input="c"
        )
    finally:
        llmsight.uninstrument()
    assert http.export(spans).name == "SUCCESS"
    assert http.export(spans).name == "SUCCESS"  # the resend
    collector.wait_stored(2)
    assert collector.metrics()["ingest"]["duplicate_spans"] == 1
    rows = collector.rows()
    assert len(rows) == 2
    assert rows[0]["service"] == "batch-jobs" and rows[0]["operation"] == "embeddings"
    assert [r["input_tokens"] for r in rows] == [e.input_tokens for e in provider_server.ledger.entries()]


OPENLLMETRY_APP = """
import sys, anthropic, openai
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
from opentelemetry.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

endpoint, openai_url, anthropic_url, policy = sys.argv[1:5]
provider = TracerProvider(resource=Resource.create({"service.name": "legacy"}))
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
OpenAIInstrumentor().instrument(tracer_provider=provider)
AnthropicInstrumentor().instrument(tracer_provider=provider)
system = {"role": "system", "content": policy}
oa = openai.OpenAI(base_url=openai_url, api_key="test")
for question in ("one?", "two?"):
    oa.chat.completions.create(model="gpt-4o", messages=[system, {"role": "user", "content": question}])
an = anthropic.Anthropic(base_url=anthropic_url, api_key="test")
blocks = [{"type": "text", "text": policy, "cache_control": {"type": "ephemeral"}}]
for _ in range(2):
    an.messages.create(model="claude-sonnet-4-5", max_tokens=50, system=blocks, messages=[{"role": "user", "content": "hi"}])
provider.shutdown()
"""


def _openllmetry_rows(collector: CollectorProcess, provider_server: Any) -> list[dict[str, Any]]:
    """The rows of OPENLLMETRY_APP's four calls, in call order. OpenLLMetry's uninstrument leaves wrappers behind,
    so its app runs in a process of its own."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", OPENLLMETRY_APP, collector.http_endpoint, provider_server.openai_base_url,
         provider_server.anthropic_base_url, POLICY],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    collector.wait_stored(4)
    return sorted(collector.rows(), key=lambda r: r["ts"])


def test_openllmetry_spans_are_normalised(collector, provider_server) -> None:
    rows = _openllmetry_rows(collector, provider_server)
    billed = provider_server.ledger.entries()
    assert [r["instrumentation"] for r in rows] == ["opentelemetry.instrumentation.openai.v1"] * 2 + [
        "opentelemetry.instrumentation.anthropic"
    ] * 2
    for row, entry in zip(rows, billed, strict=True):
        assert (row["provider"], row["request_model"]) == (entry.provider, entry.model)
        assert row["input_tokens"] == entry.input_tokens  # inclusive of cache, whatever the source did
        assert row["cache_read_tokens"] == entry.cache_read_tokens
        assert row["output_tokens"] == entry.output_tokens
        assert row["total_cost"] is not None
    assert rows[1]["cache_read_tokens"] > 0 and rows[3]["cache_read_tokens"] > 0


def test_a_peers_calls_to_an_undeclared_local_server_are_self_hosted(provider_server, tmp_path, monkeypatch) -> None:
    """OpenLLMetry names its call to a local OpenAI-compatible server "openai"; the collector, with no declaration
    for that host (LLMSIGHT_PROVIDER_HOSTS, which the app side reads too), stores it as `self_hosted` — what
    llmsight's own span of the call says — and prices it at nobody's list price. The Anthropic calls keep theirs."""
    monkeypatch.setenv("LLMSIGHT_PROVIDER_HOSTS", "{}")  # the suite declares 127.0.0.1 as OpenAI: not here
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICES_YAML)
    collector = CollectorProcess(tmp_path / "data", ["--prices-file", str(prices)]).start()
    try:
        rows = _openllmetry_rows(collector, provider_server)
    finally:
        collector.stop()
    assert [r["provider"] for r in rows] == ["self_hosted", "self_hosted", "anthropic", "anthropic"]
    assert [r["total_cost"] is None for r in rows] == [True, True, False, False]


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def _json_span(span_id: str, attributes: dict[str, Any], name: str = "chat gpt-4o") -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        return {"stringValue": str(v)}

    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(START_NS),
        "endTimeUnixNano": str(START_NS + 1_500_000_000),
        "attributes": [{"key": k, "value": value(v)} for k, v in attributes.items()],
    }


def _json_request(spans: list[dict[str, Any]]) -> bytes:
    return json.dumps({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-app"}}]},
            "scopeSpans": [{"scope": {"name": "some.other.instrumentation"}, "spans": spans}],
        }]
    }).encode()


START_NS = (int(time.time()) - 60) * 1_000_000_000  # recent: raw rows older than the TTL are dropped
GOOD = {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.prompt_tokens": 1200,
        "gen_ai.usage.completion_tokens": 80, "gen_ai.usage.cache_read_input_tokens": 1024}


def test_json_gzip_partial_success_and_ignored_spans(collector) -> None:
    spans = [
        _json_span("eee19b7ec3c1b174", GOOD),
        _json_span("eee19b7ec3c1b175", {**GOOD, "gen_ai.usage.prompt_tokens": 10**12}),  # absurd
        _json_span("eee19b7ec3c1b176", {**GOOD, "gen_ai.usage.completion_tokens": "lots"}),  # wrong type
        _json_span("eee19b7ec3c1b177", {"http.request.method": "GET"}, name="GET /health"),  # not GenAI
    ]
    status, body, _ = _post(collector.http_endpoint, gzip.compress(_json_request(spans)),
                            {"content-type": "application/json", "content-encoding": "gzip"})
    assert status == 200
    answer = json.loads(body)
    assert answer["partialSuccess"]["rejectedSpans"] == "2"
    assert "out of range" in answer["partialSuccess"]["errorMessage"]
    assert "must be an integer" in answer["partialSuccess"]["errorMessage"]
    collector.wait_stored(1)
    ingest = collector.metrics()["ingest"]
    assert (ingest["ignored_spans"], ingest["rejected_spans"]) == (1, 2)
    (row,) = collector.rows()
    assert (row["service"], row["provider"], row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (
        "json-app", "openai", 1200, 1024, 80
    )
    assert row["duration_ms"] == pytest.approx(1500.0)
    assert row["total_cost"] == pytest.approx((176 * 2.5 + 1024 * 1.25 + 80 * 10) / 1e6)
    assert row["model_tier"] == "standard"  # derived by the collector for foreign spans


def test_bad_bodies_get_a_clear_400(collector) -> None:
    status, body, _ = _post(collector.http_endpoint, b"\x0a\xff\xff\xff", {"content-type": "application/x-protobuf"})
    assert status == 400
    from google.rpc import status_pb2

    assert "not a valid OTLP ExportTraceServiceRequest protobuf" in status_pb2.Status.FromString(body).message
    status, body, _ = _post(collector.http_endpoint, b"{not json", {"content-type": "application/json"})
    assert status == 400 and "not valid JSON" in json.loads(body)["message"]
    status, body, _ = _post(collector.http_endpoint, b"\x1f\x8bgarbage", {"content-type": "application/json", "content-encoding": "gzip"})
    assert status == 400 and "gzip" in json.loads(body)["message"]
    # The OTLP/HTTP spec: an unsupported Content-Type gets 415 Unsupported Media Type.
    status, body, _ = _post(collector.http_endpoint, b"x", {"content-type": "text/plain"})
    assert status == 415 and "unsupported content-type" in json.loads(body)["message"]


def test_bearer_token_is_required_when_configured(tmp_path) -> None:
    collector = CollectorProcess(tmp_path / "data", ["--auth-token", "s3cret"]).start()
    try:
        body = _json_request([_json_span("eee19b7ec3c1b174", GOOD)])
        status, _, headers = _post(collector.http_endpoint, body, {"content-type": "application/json"})
        assert status == 401 and headers.get("www-authenticate") == "Bearer"
        status, _, _ = _post(collector.http_endpoint, body,
                             {"content-type": "application/json", "authorization": "Bearer s3cret"})
        assert status == 200
        collector.wait_stored(1)
    finally:
        assert collector.stop() == 0


def test_calls_to_an_unknown_server_are_explained_once_with_the_prices_file_entry(tmp_path) -> None:
    """A local stand-in for a vendor (a fake provider, a gateway on localhost) is unpriced by design; the collector
    says so at the first such call (once per server), and the report's unpriced section gives the entry to add."""
    import subprocess
    import sys

    collector = CollectorProcess(tmp_path / "data", []).start()
    spans = [_json_span(f"{index:016x}", {**GOOD, "gen_ai.system": "self_hosted", "server.address": "127.0.0.1",
                                          "gen_ai.response.id": f"r{index}"}) for index in range(1, 4)]
    try:
        for span in spans:  # three requests: three chances to say it again
            assert _post(collector.http_endpoint, _json_request([span]), {"content-type": "application/json"})[0] == 200
        collector.wait_stored(3)
    finally:
        assert collector.stop() == 0
    assert collector.process is not None and collector.process.stdout is not None
    log = collector.process.stdout.read().decode()
    entry = "servers:\n  - address: 127.0.0.1\n    provider: openai"
    assert log.count("calls to 127.0.0.1 (self_hosted/gpt-4o) are unpriced") == 1, log
    assert entry in log
    cli = [sys.executable, "-m", "llmsight.cli", "report", "--since", "1h", "--data-dir", str(tmp_path / "data")]
    report = json.loads(subprocess.run([*cli, "--json"], capture_output=True, text=True, timeout=60, check=True).stdout)
    assert report["unpriced_servers"] == [
        {"server": "127.0.0.1", "provider": "self_hosted", "calls": 3, "prices_file_entry": entry}
    ]
    table = subprocess.run(cli, capture_output=True, text=True, timeout=60, check=True, env={**os.environ, "COLUMNS": "200"})
    assert "3 calls to 127.0.0.1 (self_hosted) are unpriced" in table.stdout and entry in table.stdout

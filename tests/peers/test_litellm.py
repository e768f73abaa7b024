"""LiteLLM as a source, and the proxy topology as one row per call: the real proxy's OTLP requests and those of the
app calling it (recorded once by tests/peers/record_litellm.py: the proxy is not among the test dependencies)
replayed into a real collector. For every call of every run (LiteLLM's default and typed OTel integrations; the
app plain or with llmsight.instrument(); LiteLLM used as an SDK): one row, every token column as the provider's ledger billed it, the
cost genai-prices' price of that usage, the provider and model LiteLLM routed to, the attribution of both spans,
and LiteLLM's own cost kept beside llmsight's."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmsight.collector.normalise.gateway import COST, MODEL_GROUP, TEAM_ID
from llmsight.collector.normalise.merge import merge_calls
from llmsight.collector.normalise.spans import normalise_request
from llmsight.testing.simulation import Billed
from tests.collector.spans import post_protobuf
from tests.peers.recording import decoded, shifted_to
from tests.peers.test_peers import FIELDS, actual, expected, ledger_price, settled_rows

RECORDING = Path(__file__).parent / "recordings" / "litellm.json"
# What LiteLLM's span alone does not carry (the app's llmsight span, when there is one, does): the default
# integration no time to first chunk, the typed one no reasoning count.
UNREPORTED = {("v1", "plain"): {"ttft"}, ("v1", "sdk"): {"ttft"}, ("v1", "openllmetry"): {"ttft"},
              ("v2", "plain"): {"reasoning_tokens"}}
# The model names the app asks the proxy for, where they are not the provider's (config.yaml's model_name).
ASKED = {"us.anthropic.claude-sonnet-4-5-20250929-v1:0": "bedrock-claude", "amazon.nova-lite-v1:0": "bedrock-nova"}
# ledger provider (genai-prices' id) -> the row's provider
PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "google": "gcp.gemini", "mistral": "mistral_ai",
             "aws": "aws.bedrock"}


def _runs() -> list[dict[str, Any]]:
    return list(json.loads(RECORDING.read_text())["runs"])


def _requests(run: dict[str, Any], prefix: str) -> list[ExportTraceServiceRequest]:
    """The run's requests, each resource's service renamed `PREFIX/service`: several runs in one collector."""
    requests = decoded(run["requests"], prefix)
    for request in requests:
        for resource_spans in request.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    attribute.value.string_value = f"{prefix}/{attribute.value.string_value}"
    return requests


def test_recording_is_litellm_1_110_2() -> None:
    document = json.loads(RECORDING.read_text())
    assert document["versions"]["litellm"] == "1.110.2" and "MIT License" in document["notice"]
    assert {(run["integration"], run["app"]) for run in document["runs"]} == {
        ("v1", "plain"), ("v1", "llmsight"), ("v1", "openllmetry"), ("v2", "plain"), ("v2", "llmsight"), ("v1", "sdk")}


def test_proxy_one_right_priced_attributed_row_per_call(collector) -> None:
    runs = _runs()
    now = time.time_ns()
    for index, run in enumerate(runs):  # a minute apart: the local provider gives each run the same response ids
        prefix = f"{run['integration']}-{run['app']}"
        for request in shifted_to(_requests(run, prefix), now - (1 + 60 * index) * 1_000_000_000):
            assert post_protobuf(collector.http_endpoint, request) == 200
    rows = settled_rows(collector)
    for run in runs:
        prefix = f"{run['integration']}-{run['app']}"
        mine = [row for row in rows if row["service"].startswith(prefix + "/")]
        ledger = sorted((Billed(**entry) for entry in run["ledger"]), key=lambda entry: entry.at)
        assert len(mine) == len(ledger) == (6 if run["app"] == "sdk" else 14), (prefix, [r["instrumentation"] for r in mine])
        skipped = UNREPORTED.get((run["integration"], run["app"]), set())
        for row, entry in zip(mine, ledger, strict=True):
            call = (prefix, entry.model, entry.streamed)
            for field in FIELDS[1:]:
                if field not in skipped:
                    assert actual(row, field) == expected(entry, field), (call, field, row)
            # The provider and model LiteLLM routed to, priced by llmsight at the ledger's usage.
            assert (row["provider"], row["request_model"]) == (PROVIDERS[entry.provider], entry.model), call
            assert row["total_cost"] == pytest.approx(ledger_price(entry), rel=1e-9), (call, row)
            # LiteLLM's attribution and cost (a cross-check: its price list is not genai-prices').
            attributes = row["attributes"]
            assert attributes[MODEL_GROUP] == ASKED.get(entry.model, entry.model) and float(attributes[COST]) > 0, call
            assert row["response_model"] == entry.model, call  # the proxy answers with the name asked: not kept
            if run["app"] == "sdk":  # no proxy: no team or key, the `user` the app passed
                assert (row["tenant"], row["user_id"], row["service"]) == ("", "sdk-user", f"{prefix}/litellm-sdk-app")
                continue
            assert (row["tenant"], row["user_id"], attributes[TEAM_ID]) == ("team-search", "end-user-7", "team-search")
            assert "server.port" not in attributes or attributes["server.port"] != "", call
            if run["app"] == "llmsight":  # the app's span: its tags, its TTFT; the proxy's address is not kept
                assert (row["instrumentation"], row["task"], row["prompt_name"]) == (
                    "llmsight.openai", "support-answer", "policy-qa"), call
                assert row["service"] == f"{prefix}/litellm-app-llmsight", call
            elif run["app"] == "openllmetry":  # another peer's span in the app, joined by trace and response id
                assert (row["instrumentation"], row["service"]) == (
                    "opentelemetry.instrumentation.openai.v1", f"{prefix}/litellm-app-openllmetry"), call
            else:
                assert row["instrumentation"] == "litellm" and row["service"] == f"{prefix}/litellm-proxy", call


def _app_and_proxy(run: dict[str, Any]) -> tuple[list[ExportTraceServiceRequest], list[ExportTraceServiceRequest]]:
    requests = _requests(run, "unit")
    services = [{attr.value.string_value for rs in r.resource_spans for attr in rs.resource.attributes
                 if attr.key == "service.name"} for r in requests]
    app = [r for r, names in zip(requests, services, strict=True) if "unit/litellm-proxy" not in names]
    return app, [r for r in requests if r not in app]


def test_join_without_trace_parentage_by_response_id() -> None:
    """An app that sends no traceparent: LiteLLM's span is in a trace of its own, and is joined with the app's
    span of the call by the response id the proxy handed back."""
    run = next(run for run in _runs() if (run["integration"], run["app"]) == ("v1", "llmsight"))
    app, proxy = _app_and_proxy(run)
    for request in proxy:  # cut the parentage: new trace ids, no parent
        for span in (s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans):
            span.trace_id = bytes(reversed(span.trace_id))
            span.parent_span_id = b""
    records = [record for request in app + proxy for record in normalise_request(request).records]
    calls = len(run["ledger"])
    assert len(records) == 2 * calls and len({record.trace_id for record in records}) == 2 * calls
    merged, joined = merge_calls(records)
    assert (len(merged), joined) == (calls, calls)
    assert {r.instrumentation for r in merged} == {"llmsight.openai"}
    assert {r.provider for r in merged} == set(PROVIDERS.values())
    assert all(r.attributes[TEAM_ID] == "team-search" and r.task == "support-answer" for r in merged)


def test_join_without_trace_parentage_by_litellm_call_id() -> None:
    """No traceparent and no response id in common (a proxy that rewrites ids): the app's span recorded the proxy's
    x-litellm-call-id, LiteLLM's span carries the same `litellm.call_id`."""
    run = next(run for run in _runs() if (run["integration"], run["app"]) == ("v2", "llmsight"))
    app, proxy = _app_and_proxy(run)
    for request in proxy:
        for span in (s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans):
            span.trace_id = bytes(reversed(span.trace_id))
            span.parent_span_id = b""
            for attribute in span.attributes:
                if attribute.key == "gen_ai.response.id":
                    attribute.value.string_value = "rewritten-" + attribute.value.string_value
    app_records = [record for request in app for record in normalise_request(request).records]
    proxy_records = [record for request in proxy for record in normalise_request(request).records]
    calls = len(run["ledger"])
    assert len(app_records) == len(proxy_records) == calls
    merged, joined = merge_calls(proxy_records + app_records)  # either order
    assert (len(merged), joined) == (calls, calls)
    assert {r.attributes["litellm.call_id"] for r in merged} == {r.attributes["litellm.call_id"] for r in app_records}
    assert all(r.task == "support-answer" and r.attributes[TEAM_ID] == "team-search" for r in merged)


@pytest.mark.parametrize("first", ["app", "proxy"])
def test_halves_in_different_batches_are_one_priced_row(first: str, collector) -> None:
    """The halves of a call reach the collector in different batches (the proxy exports in batches, usually
    after the app): the later half finds the stored row (by LiteLLM's call id, or the response id) and is not
    stored a second time. The row is the first half's: the app's span alone bills as the provider and model the
    proxy routed to (llmsight recorded its x-litellm-model-name header), the proxy's span alone as ever."""
    run = next(run for run in _runs() if (run["integration"], run["app"]) == ("v2", "llmsight"))
    app, proxy = _app_and_proxy(run)
    shifted = shifted_to(app + proxy, time.time_ns() - 1_000_000_000)
    halves = (shifted[:len(app)], shifted[len(app):])
    if first == "proxy":
        halves = halves[::-1]
    for request in halves[0]:
        assert post_protobuf(collector.http_endpoint, request) == 200
    calls = len(run["ledger"])
    deadline = time.monotonic() + 30
    while collector.metrics()["pipeline"]["stored"] < calls:  # the first halves are stored: the others come later
        assert time.monotonic() < deadline, collector.metrics()["pipeline"]
        time.sleep(0.05)
    for request in halves[1]:
        assert post_protobuf(collector.http_endpoint, request) == 200
    rows = settled_rows(collector)
    assert len(rows) == calls and collector.final_metrics["pipeline"]["merged_calls"] == calls
    ledger = sorted((Billed(**entry) for entry in run["ledger"]), key=lambda entry: entry.at)
    for row, entry in zip(rows, ledger, strict=True):
        assert (row["instrumentation"], row["provider"], row["request_model"]) == (
            "llmsight.openai" if first == "app" else "litellm", PROVIDERS[entry.provider], entry.model), row
        assert row["total_cost"] == pytest.approx(ledger_price(entry), rel=1e-9), row
        if first == "app":
            assert row["attributes"]["litellm.proxy.address"] == "127.0.0.1" and "server.address" not in row["attributes"]

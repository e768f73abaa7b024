"""Alert rules on real ClickHouse seeded through the collector: healthy data fires nothing, a cost spike
fires the spend rule, a template change that breaks caching fires the cache rule naming the new prefix
hash, a resolved condition is announced once; and the Grafana provisioning the rules compile to."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from llmsight.alerts.evaluator import AlertEvaluator
from llmsight.alerts.grafana import provisioning_files
from llmsight.alerts.rules import AlertsConfig, Webhook, load_rules
from tests.dashboards.grafana_backend import expand
from tests.dashboards.seed import Call, healthy_calls


class WebhookRecorder:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                recorder.posts.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def webhooks() -> Iterator[tuple[WebhookRecorder, WebhookRecorder]]:
    plain, slack = WebhookRecorder(), WebhookRecorder()
    yield plain, slack
    plain.server.shutdown()
    slack.server.shutdown()


def baseline(store, count: int = 400) -> list[Call]:
    """Healthy traffic between 1 and 23 hours ago."""
    calls = healthy_calls(store.now, count=count)
    for call in calls:
        if call.ts > store.now - timedelta(hours=1):
            call.ts -= timedelta(hours=2)
    return calls


def recent(store, template: Call, count: int, *, span_base: int = 9_000_000, start_min: int = 40, **changes: Any) -> list[Call]:
    """`count` copies of `template`, one a minute from `start_min` minutes ago, with `changes` applied."""
    calls = []
    for index in range(count):
        call = Call(**{**template.__dict__, "attributes": {}})
        call.ts = store.now - timedelta(minutes=start_min) + timedelta(minutes=index)
        call.span_id = span_base + index
        for name, value in changes.items():
            setattr(call, name, value)
        calls.append(call)
    return calls


def evaluator(store, hooks=(), **params: float) -> AlertEvaluator:
    config = AlertsConfig(params=params, webhooks=[Webhook(url=h.url, format=f) for h, f in hooks])
    return AlertEvaluator(store.query, config)


def test_healthy_traffic_fires_nothing(empty_store) -> None:
    empty_store.add(baseline(empty_store))
    healthy_now = recent(empty_store, baseline(empty_store)[0], 10, cache_read=1000, cache_write=0, input_tokens=2000)
    empty_store.add(healthy_now)
    transitions = evaluator(empty_store).evaluate_once(empty_store.now)
    assert transitions == []


def test_cost_spike_fires_the_spend_rules(empty_store, webhooks) -> None:
    plain, slack = webhooks
    calls = baseline(empty_store)
    empty_store.add(calls)
    spike = recent(empty_store, calls[0], 30, service="api", task="summarise", model="acme-large",
                   input_tokens=100_000, cache_read=0, cache_write=0, output_tokens=1000, status="ok", http_status=200,
                   error_type="", retries=0, finish_reason="stop")
    empty_store.add(spike)
    engine = evaluator(empty_store, [(plain, "json"), (slack, "slack")], daily_budget_usd=20.0)
    fired = {(t.rule_id, t.status): t for t in engine.evaluate_once(empty_store.now)}
    spike_alert = fired[("spend_rate_spike", "firing")]
    assert spike_alert.labels == {"service": "api", "task": "summarise"}
    # The rule's arithmetic, by hand, over raw rows: the last 60 minutes against the 23 hours before them.
    now = empty_store.now
    mine = [c for c in calls + spike if c.service == "api" and c.task == "summarise"]
    in_window = [c for c in mine if now - timedelta(hours=24) <= c.ts <= now]
    recent_cost = sum(c.total_cost for c in in_window if c.ts >= now - timedelta(hours=1))
    baseline_hourly = sum(c.total_cost for c in in_window if c.ts < now - timedelta(hours=1)) / 23
    assert spike_alert.value == pytest.approx(recent_cost / baseline_hourly, rel=1e-9)
    assert spike_alert.value > 3
    daily = fired[("daily_spend_over_budget", "firing")]
    assert daily.labels == {"service": "api"}
    expected_api = sum(c.total_cost for c in calls + spike if c.service == "api" and c.ts >= now - timedelta(hours=24))
    assert daily.value == pytest.approx(expected_api, rel=1e-9)
    assert {p["rule_id"] for p in plain.posts} >= {"spend_rate_spike", "daily_spend_over_budget"}
    assert all(set(p) == {"text"} for p in slack.posts) and any("Spend rate spike" in p["text"] for p in slack.posts)
    # No spam: the same condition evaluated again sends nothing new.
    before = len(plain.posts)
    assert engine.evaluate_once(empty_store.now + timedelta(minutes=1)) == []
    assert len(plain.posts) == before


def test_template_change_breaking_the_cache_fires_and_resolves_once(empty_store, webhooks) -> None:
    plain, _ = webhooks
    calls = baseline(empty_store)
    empty_store.add(calls)
    template = next(c for c in calls if c.prompt_name == "support" and c.cache_read > 0)
    broken = recent(empty_store, template, 12, prefix_hash="c0ffee00c0ffee00", cache_read=0, cache_write=800,
                    status="ok", http_status=200, error_type="")
    empty_store.add(broken)
    engine = evaluator(empty_store, [(plain, "json")])
    fired = [t for t in engine.evaluate_once(empty_store.now) if t.rule_id == "cache_hit_ratio_regression"]
    assert len(fired) == 1
    alert = fired[0]
    assert alert.labels == {"prompt_name": "support", "request_model": template.model}
    assert "new prefix hash c0ffee00c0ffee00 (12 calls)" in alert.summary
    base = [c for c in calls if c.prompt_name == "support" and c.model == template.model and c.status == "ok"]
    expected_drop = sum(c.cache_read for c in base) / sum(c.input_tokens for c in base)
    assert alert.value == pytest.approx(expected_drop, rel=1e-9)
    # Two hours later the recent window is empty: the condition clears, announced exactly once.
    later = empty_store.now + timedelta(hours=2)
    resolved = [t for t in engine.evaluate_once(later) if t.rule_id == "cache_hit_ratio_regression"]
    assert [t.status for t in resolved] == ["resolved"]
    assert [t for t in engine.evaluate_once(later + timedelta(minutes=1)) if t.rule_id == "cache_hit_ratio_regression"] == []
    statuses = [p["status"] for p in plain.posts if p["rule_id"] == "cache_hit_ratio_regression"]
    assert statuses == ["firing", "resolved"]


def test_state_survives_a_restart_without_refiring(empty_store, tmp_path) -> None:
    calls = baseline(empty_store)
    empty_store.add(calls)
    empty_store.add(recent(empty_store, calls[0], 30, service="api", task="summarise", model="acme-large",
                           input_tokens=100_000, cache_read=0, cache_write=0))
    state = tmp_path / "alerts_state.json"
    first = AlertEvaluator(empty_store.query, AlertsConfig(), state)
    assert any(t.rule_id == "spend_rate_spike" for t in first.evaluate_once(empty_store.now))
    second = AlertEvaluator(empty_store.query, AlertsConfig(), state)
    assert [t for t in second.evaluate_once(empty_store.now) if t.status == "firing"] == []


def test_every_alert_query_runs_server_side_with_one_numeric_column(empty_store) -> None:
    empty_store.add(baseline(empty_store, count=100))
    for rule in load_rules().rules:
        for ref, query in rule.queries.items():
            sql = rule.query_sql(ref, {})
            assert "$__conditionalAll" not in sql and "${" not in sql and "{" not in sql.replace("{{", ""), (rule.id, ref)
            expanded = expand(sql, time_from=empty_store.now - timedelta(seconds=rule.lookback_seconds),
                              time_to=empty_store.now)
            assert "$" not in expanded, (rule.id, ref)
            described = empty_store.query(f"DESCRIBE TABLE ({expanded})").rows
            assert [row[0] for row in described] == [*rule.labels, *query.labels, "value"], (rule.id, ref)
            types = [row[1] for row in described]
            assert all("String" in t for t in types[:-1]) and "String" not in types[-1], (rule.id, ref, types)


GRAFANA_RULES_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "groups"],
    "properties": {"groups": {"type": "array", "items": {
        "type": "object", "required": ["orgId", "name", "folder", "interval", "rules"],
        "properties": {"rules": {"type": "array", "minItems": 8, "items": {
            "type": "object",
            "required": ["uid", "title", "condition", "data", "for", "noDataState", "execErrState"],
            "properties": {
                "uid": {"type": "string", "maxLength": 40},
                "data": {"type": "array", "minItems": 3, "items": {
                    "type": "object", "required": ["refId", "datasourceUid", "model", "relativeTimeRange"]}},
            },
        }}},
    }}},
}


def test_grafana_provisioning_files_are_structurally_valid() -> None:
    import jsonschema

    files = provisioning_files()
    jsonschema.validate(files["rules.yaml"], GRAFANA_RULES_SCHEMA)
    rules = files["rules.yaml"]["groups"][0]["rules"]
    assert {r["condition"] for r in rules} == {"alert"}
    for rule in rules:
        *queries, value, threshold = rule["data"]
        assert all(q["datasourceUid"] == "llmsight-clickhouse" and q["model"]["rawSql"] for q in queries)
        assert value["model"]["type"] in ("reduce", "math") and threshold["model"]["type"] == "threshold"
        assert threshold["model"]["expression"] == value["refId"] == "value"
        assert len({node["refId"] for node in rule["data"]}) == len(rule["data"])
    contact = files["contact-points.yaml"]["contactPoints"][0]
    assert contact["receivers"][0]["type"] == "webhook"
    policy = files["policies.yaml"]["policies"][0]
    assert policy["receiver"] == contact["name"]
    # The committed provisioning matches what the rules compile to.
    from pathlib import Path

    committed = Path(__file__).resolve().parents[2] / "alerts" / "provisioning"
    for name, document in files.items():
        assert yaml.safe_load((committed / name).read_text()) == document, f"run: llmsight alerts compile ({name})"


def test_truncated_output_rule_sees_the_last_60_minutes_across_a_clock_hour(empty_store) -> None:
    """Evaluated at five past the hour, truncations 31-40 minutes earlier (the previous clock hour) are inside
    "the last hour" its summary names: the rule fires (an hourly-rollup bucket would hold only five minutes)."""
    now = empty_store.now
    evaluate_at = now.replace(minute=5, second=0) - (timedelta(hours=1) if now.minute < 5 else timedelta(0))
    template = healthy_calls(now, count=1)[0]
    template.ts = evaluate_at
    truncated = recent(empty_store, template, 10, start_min=40 + int((now - evaluate_at).total_seconds() // 60),
                       finish_reason="length", status="ok", http_status=200, error_type="", task="extract")
    assert all(evaluate_at - timedelta(minutes=41) < c.ts < evaluate_at.replace(minute=0) for c in truncated)
    empty_store.add(truncated)
    fired = {(t.rule_id, t.status): t for t in evaluator(empty_store).evaluate_once(evaluate_at)}
    alert = fired[("truncated_output_rate", "firing")]
    assert alert.labels == {"request_model": template.model, "task": "extract"} and alert.value == pytest.approx(1.0)
    assert "100% of" in alert.summary and "in the last hour" in alert.summary

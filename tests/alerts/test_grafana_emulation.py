"""The provisioned Grafana rules, evaluated as Grafana evaluates them (tests/alerts/grafana_emulation.py,
from Grafana's source, with the plugin's macros from tests/dashboards/grafana_backend.py) against chDB seeded with
four incidents, fire exactly what the built-in evaluator fires, with the same annotation text: the provisioned
templates expanded by Go's text/template (tests/alerts/gotemplate_go)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from llmsight.alerts.evaluator import AlertEvaluator
from llmsight.alerts.grafana import DATASOURCE_UID, EXPRESSION_UID
from llmsight.alerts.rules import AlertsConfig
from tests.alerts.go_templates import expand_in_go, go_case
from tests.alerts.grafana_emulation import Frame, Number, alerting, convert, math_expression, union
from tests.alerts.test_alerts import baseline, recent

ROOT = Path(__file__).resolve().parents[2]


def provisioned_rules() -> list[dict]:
    document = yaml.safe_load((ROOT / "alerts" / "provisioning" / "rules.yaml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


@pytest.fixture
def incidents(empty_store):
    """A healthy day, then in the last hour: a spend spike, a template change that breaks the cache,
    an unstable prefix on another prompt, a 429 burst and a TTFT regression."""
    store = empty_store
    calls = baseline(store)
    store.add(calls)
    template = next(c for c in calls if c.prompt_name == "support" and c.cache_read > 0 and c.model == "acme-small")
    incidents = []
    incidents += recent(store, calls[0], 30, span_base=9_100_000, service="api", task="summarise", model="acme-large",
                        prompt_name="", input_tokens=100_000, cache_read=0, cache_write=0, status="ok",
                        http_status=200, error_type="", retries=0, streaming=False, ttft_ms=None)
    incidents += recent(store, template, 12, span_base=9_200_000, prefix_hash="c0ffee00c0ffee00", cache_read=0,
                        cache_write=800, status="ok", http_status=200, error_type="", streaming=False, ttft_ms=None)
    chat = [*recent(store, template, 6, span_base=9_300_000, start_min=300, prompt_name="chat",
                    prefix_hash="chat-v1", cache_read=1000, input_tokens=2000, status="ok", http_status=200,
                    streaming=False, ttft_ms=None)]
    chat += [c for i, c in enumerate(recent(store, template, 8, span_base=9_400_000, prompt_name="chat",
                                            cache_read=0, input_tokens=2000, status="ok", http_status=200,
                                            streaming=False, ttft_ms=None))
             if not setattr(c, "prefix_hash", f"chat-{i:012d}")]
    incidents += chat
    incidents += recent(store, template, 10, span_base=9_500_000, start_min=12, prompt_name="", status="error",
                        error_type="RateLimitError", http_status=429, streaming=False, ttft_ms=None)
    incidents += recent(store, template, 10, span_base=9_600_000, start_min=55, prompt_name="", model="acme-large",
                        streaming=True, ttft_ms=2400.0, status="ok", http_status=200, error_type="")
    store.add(incidents)
    return store


def test_grafana_fires_exactly_what_the_builtin_evaluator_fires(incidents, go_expander: Path) -> None:
    store = incidents
    config = AlertsConfig()
    builtin = {(t.rule_id, tuple(sorted(t.labels.items()))): t
               for t in AlertEvaluator(store.query, config).evaluate_once(store.now) if t.status == "firing"}
    fired = [(rule, instance) for rule in provisioned_rules() for instance in alerting(rule, store.query, store.now)]
    rendered = expand_in_go(go_expander, [
        go_case(rule["annotations"]["summary"], {**rule["labels"], **instance.labels}, instance.values)
        for rule, instance in fired
    ])
    assert [r["error"] for r in rendered] == [""] * len(fired)
    grafana = {(rule["labels"]["rule_id"], tuple(sorted(instance.labels.items()))): (instance, result["output"])
               for (rule, instance), result in zip(fired, rendered, strict=True)}

    assert set(grafana) == set(builtin)
    for key, (instance, summary) in grafana.items():
        assert summary == builtin[key].summary, key
        assert instance.values["value"][1] == pytest.approx(builtin[key].value, rel=1e-12), key

    fired_labels = {rule_id: dict(labels) for rule_id, labels in grafana}
    assert ("spend_rate_spike", (("service", "api"), ("task", "summarise"))) in grafana
    assert fired_labels["rate_limit_spike"] == {"provider": "acme"}
    assert fired_labels["ttft_p95_regression"] == {"request_model": "acme-large"}
    cache = {labels["prompt_name"]: (labels, s) for (rid, lab), (_, s) in grafana.items()
             if rid == "cache_hit_ratio_regression" for labels in [dict(lab)]}
    assert cache["support"][0] == {"prompt_name": "support", "request_model": "acme-small"}
    assert "the static prefix changed: new prefix hash c0ffee00c0ffee00 (12 calls)" in cache["support"][1]
    assert "changes on nearly every call (8 prefix hashes in 8 calls)" in cache["chat"][1]

    spike = grafana[("spend_rate_spike", (("service", "api"), ("task", "summarise")))][1]
    assert spike.startswith("Spend for api/summarise in the last hour is $") and "x its hourly average of $" in spike
    burst = grafana[("rate_limit_spike", (("provider", "acme"),))]
    recent_calls = [c for c in store.calls if store.now - timedelta(minutes=15) <= c.ts <= store.now]
    limited = [c for c in recent_calls if c.http_status == 429 or c.retries > 0]
    assert burst[0].values["limited"][1] == pytest.approx(len(limited) / len(recent_calls))
    assert f"of {len(recent_calls)} acme calls hit rate limits" in burst[1]
    ttft = grafana[("ttft_p95_regression", (("request_model", "acme-large"),))][1]
    assert ttft.startswith("p95 time to first token of acme-large in the last hour is 2400 ms")


def test_the_three_numeric_columns_shape_is_what_grafana_rejects() -> None:
    """The emulated conversion is Grafana's: one numeric column + strings is a number set; more is an error."""
    good = Frame([("service", "string", ["api", "worker"]), ("value", "numeric", [1.5, None])])
    assert convert(good) == [Number({"service": "api"}, 1.5), Number({"service": "worker"}, None)]
    from tests.alerts.grafana_emulation import GrafanaError

    with pytest.raises(GrafanaError, match="wide series"):
        convert(Frame([("service", "string", ["api"]), ("recent", "numeric", [1.0]), ("baseline", "numeric", [2.0])]))
    with pytest.raises(GrafanaError, match="wide series"):
        convert(Frame([("streaming", "other", [True]), ("value", "numeric", [1.0])]))
    # mathexp union: equal labels pair up; a superset pairs with its subset; the lone pair is combined unlabelled.
    a = [Number({"p": "x", "m": "1"}, 4.0), Number({"p": "y", "m": "1"}, 6.0)]
    b = [Number({"p": "x", "m": "1"}, 2.0)]
    assert [(labels, x.value, y.value) for labels, x, y in union(a, b)] == [({"p": "x", "m": "1"}, 4.0, 2.0)]
    assert math_expression("$a / $b", {"a": [Number({"p": "x"}, 1.0)], "b": [Number({"p": "z"}, 4.0)]}) == [Number(None, 0.25)]


def test_provisioning_is_valid_for_grafana(go_expander: Path) -> None:
    rules = provisioned_rules()
    uids = [r["uid"] for r in rules]
    assert len(uids) == len(set(uids)) and all(len(u) <= 40 for u in uids)
    datasources = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/clickhouse.yaml").read_text())["datasources"]
    known_uids = {d["uid"] for d in datasources} | {EXPRESSION_UID}
    assert DATASOURCE_UID in known_uids
    for rule in rules:
        refs = [node["refId"] for node in rule["data"]]
        assert len(refs) == len(set(refs)) and rule["condition"] in refs
        for node in rule["data"]:
            assert node["datasourceUid"] in known_uids and node["model"]["refId"] == node["refId"]
            model = node["model"]
            if node["datasourceUid"] == EXPRESSION_UID:
                used = [model["expression"]] if model["type"] in ("reduce", "threshold") else \
                    [v.lstrip("$") for v in model["expression"].split() if v.startswith("$")]
                assert all(u in refs[: refs.index(node["refId"])] for u in used), (rule["uid"], node["refId"])
        # The annotation parses and renders in Go for an instance with every query captured.
        values = {ref: ({"prefix_change": "x"}, 1.0) for ref in refs}
        labels = {"service": "s", "tenant": "t", "task": "k", "provider": "p", "prompt_name": "n",
                  "request_model": "m", "model": "m"}
        (result,) = expand_in_go(go_expander, [go_case(rule["annotations"]["summary"], labels, values)])
        assert result["error"] == "", (rule["uid"], result["error"])
        assert "{" not in result["output"] and "[no value]" not in result["output"], (rule["uid"], result["output"])

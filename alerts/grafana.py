"""Compile the alert rules to Grafana unified-alerting provisioning: per rule, one ClickHouse query per
value (label columns + one numeric column: Grafana's "number set"), then a reduce (one query) or math
(several) expression `value`, then a threshold `alert` — the condition. A webhook contact point and a
notification policy complete it. Grafana evaluates alert queries server-side, so only the plugin's
backend macros appear in them (no $__conditionalAll, no dashboard variables)."""

from __future__ import annotations

from typing import Any

from llmsight.alerts.rules import ALERT_REF, VALUE_REF, AlertsConfig, Rule, active_rules

DATASOURCE_UID = "llmsight-clickhouse"
EXPRESSION_UID = "__expr__"
FOLDER = "llmsight"
CONTACT_POINT = "llmsight-webhook"
FORMAT_TABLE = 1
# The contact point URL in the provisioning files: Grafana substitutes it from its environment when it reads them.
WEBHOOK_URL_VARIABLE = "LLMSIGHT_ALERT_WEBHOOK_URL"


def _expression(ref: str, model: dict[str, Any]) -> dict[str, Any]:
    return {"refId": ref, "relativeTimeRange": {"from": 0, "to": 0}, "datasourceUid": EXPRESSION_UID,
            "model": {"refId": ref, **model}}


def grafana_rule(rule: Rule, config: AlertsConfig) -> dict[str, Any]:
    queries = [
        {
            "refId": ref,
            "relativeTimeRange": {"from": rule.lookback_seconds, "to": 0},
            "datasourceUid": DATASOURCE_UID,
            "model": {
                "refId": ref,
                "editorType": "sql",
                "format": FORMAT_TABLE,
                "queryType": "table",
                "rawSql": rule.query_sql(ref, config.params),
                "intervalMs": 60000,
                "maxDataPoints": 43200,
            },
        }
        for ref in rule.queries
    ]
    single = rule.condition.single_ref
    value = (
        _expression(VALUE_REF, {"type": "reduce", "expression": single, "reducer": "last", "settings": {"mode": "dropNN"}})
        if single
        else _expression(VALUE_REF, {"type": "math", "expression": rule.condition.value.strip()})
    )
    alert = _expression(ALERT_REF, {
        "type": "threshold",
        "expression": VALUE_REF,
        "conditions": [{"evaluator": {"type": rule.condition.op, "params": [rule.threshold_value(config.params)]}}],
    })
    return {
        "uid": f"llmsight-{rule.id}"[:40],
        "title": rule.title,
        "condition": ALERT_REF,
        "data": [*queries, value, alert],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": rule.for_,
        "labels": {"severity": rule.severity, "source": "llmsight", "rule_id": rule.id},
        "annotations": {"summary": rule.summary_template(config.params)},
        "isPaused": False,
    }


def compile_rules(config: AlertsConfig | None = None) -> dict[str, Any]:
    """The alerts file's rules (the built-in ones it keeps and its budgets') as one Grafana rule group."""
    config = config or AlertsConfig()
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "llmsight",
                "folder": FOLDER,
                "interval": config.interval,
                "rules": [grafana_rule(rule, config) for rule in active_rules(config)],
            }
        ],
    }


def contact_points() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "contactPoints": [
            {
                "orgId": 1,
                "name": CONTACT_POINT,
                "receivers": [
                    {
                        "uid": "llmsight-webhook",
                        "type": "webhook",
                        "settings": {"url": f"${{{WEBHOOK_URL_VARIABLE}}}", "httpMethod": "POST"},
                        "disableResolveMessage": False,
                    }
                ],
            }
        ],
    }


def notification_policies() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "policies": [
            {
                "orgId": 1,
                "receiver": CONTACT_POINT,
                "group_by": ["alertname", "rule_id"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
            }
        ],
    }


def provisioning_files(config: AlertsConfig | None = None) -> dict[str, dict[str, Any]]:
    return {
        "rules.yaml": compile_rules(config=config),
        "contact-points.yaml": contact_points(),
        "policies.yaml": notification_policies(),
    }

"""Compile the alert rules to Grafana unified-alerting provisioning: rule groups (ClickHouse query →
reduce → threshold), a webhook contact point and a notification policy. Grafana evaluates alert queries
server-side, so only the plugin's backend macros appear in them (no $__conditionalAll, no variables)."""

from __future__ import annotations

from typing import Any

from llmsight.alerts.rules import AlertsConfig, Rule, RuleSet, load_rules

DATASOURCE_UID = "llmsight-clickhouse"
FOLDER = "llmsight"
CONTACT_POINT = "llmsight-webhook"
_GRAFANA_OPS = {"gt": "gt", "lt": "lt", "gte": "gt", "lte": "lt"}


def grafana_rule(rule: Rule, config: AlertsConfig) -> dict[str, Any]:
    threshold = rule.threshold_value(config.params)
    return {
        "uid": f"llmsight-{rule.id}"[:40],
        "title": rule.title,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": rule.lookback_seconds, "to": 0},
                "datasourceUid": DATASOURCE_UID,
                "model": {
                    "refId": "A",
                    "editorType": "sql",
                    "format": 1,
                    "queryType": "table",
                    "rawSql": rule.sql(config.params),
                    "intervalMs": 60000,
                    "maxDataPoints": 43200,
                },
            },
            {
                "refId": "B",
                "relativeTimeRange": {"from": 0, "to": 0},
                "datasourceUid": "__expr__",
                "model": {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last", "settings": {"mode": "dropNN"}},
            },
            {
                "refId": "C",
                "relativeTimeRange": {"from": 0, "to": 0},
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": {"type": _GRAFANA_OPS[rule.threshold.op], "params": [threshold]}}],
                },
            },
        ],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": rule.for_,
        "labels": {"severity": rule.severity, "source": "llmsight", "rule_id": rule.id},
        "annotations": {"summary": rule.title, "description": rule.description},
        "isPaused": False,
    }


def compile_rules(rules: RuleSet | None = None, config: AlertsConfig | None = None) -> dict[str, Any]:
    rules = rules or load_rules()
    config = config or AlertsConfig()
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "llmsight",
                "folder": FOLDER,
                "interval": config.interval,
                "rules": [grafana_rule(rule, config) for rule in rules.rules if rule.id not in config.disabled],
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
                        "settings": {"url": "${LLMSIGHT_ALERT_WEBHOOK_URL}", "httpMethod": "POST"},
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

"""`llmsight grafana sync`: push the data source, dashboards, alert rule group, contact point and
notification policy to an existing Grafana with grafana-client, idempotently (create or update by uid)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

from llmsight.alerts.grafana import (
    CONTACT_POINT,
    FOLDER,
    WEBHOOK_URL_VARIABLE,
    compile_rules,
    contact_points,
    notification_policies,
)
from llmsight.alerts.rules import AlertsConfig
from llmsight.dashboards.build import DATASOURCE, render_all

FOLDER_UID = "llmsight"


@dataclass
class GrafanaTarget:
    url: str
    token: str | None = None
    user: str | None = None
    password: str | None = None

    def api(self) -> GrafanaApi:
        credential: Any = self.token or (self.user, self.password)
        return GrafanaApi.from_url(self.url, credential=credential)


def _exists(call: Any) -> Any:
    try:
        return call()
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise


def sync(
    target: GrafanaTarget,
    *,
    clickhouse_url: str,
    clickhouse_user: str,
    clickhouse_password: str,
    webhook_url: str | None = None,
    alerts: AlertsConfig | None = None,
) -> list[str]:
    grafana = target.api()
    report: list[str] = []
    # 1. data source (the plugin's jsonData; the password stays in secureJsonData)
    host, _, port = clickhouse_url.split("://", 1)[-1].partition(":")
    datasource = {
        "uid": DATASOURCE["uid"],
        "name": "llmsight ClickHouse",
        "type": DATASOURCE["type"],
        "access": "proxy",
        "isDefault": False,
        "jsonData": {
            "host": host,
            "port": int(port or 8123),
            "protocol": "http",
            "username": clickhouse_user,
            "defaultDatabase": "llmsight",
            "secure": clickhouse_url.startswith("https"),
        },
        "secureJsonData": {"password": clickhouse_password},
    }
    if _exists(lambda: grafana.datasource.get_datasource_by_uid(DATASOURCE["uid"])):
        grafana.datasource.update_datasource_by_uid(DATASOURCE["uid"], datasource)
        report.append("data source: updated")
    else:
        grafana.datasource.create_datasource(datasource)
        report.append("data source: created")
    # 2. folder + dashboards (overwrite by uid: a re-run replaces, never duplicates)
    if not _exists(lambda: grafana.folder.get_folder(FOLDER_UID)):
        grafana.folder.create_folder(FOLDER, uid=FOLDER_UID)
        report.append("folder: created")
    for name, text in sorted(render_all(budgets=alerts.budgets if alerts else ()).items()):
        grafana.dashboard.update_dashboard({"dashboard": json.loads(text), "folderUid": FOLDER_UID, "overwrite": True})
        report.append(f"dashboard {name}: saved")
    # 3. alert rules as one rule group in the folder
    group = compile_rules(alerts)["groups"][0]
    rule_group = {
        "title": group["name"],
        "interval": _interval_seconds(group["interval"]),
        "rules": [{**rule, "folderUID": FOLDER_UID, "ruleGroup": group["name"], "orgID": 1} for rule in group["rules"]],
    }
    grafana.alertingprovisioning.update_rule_group(FOLDER_UID, group["name"], rule_group, disable_provenance=True)
    report.append(f"alert rules: {len(group['rules'])} in group {group['name']}")
    # 4. contact point + policy. Grafana's HTTP API stores settings as sent (only provisioning FILES substitute
    # ${VARIABLES}): without a real URL the contact point could never deliver, so neither it nor the policy
    # routing to it is written, and the report says so.
    if not webhook_url:
        report.append(f"contact point and notification policy: not synced (no webhook URL: give --webhook-url or "
                      f"{WEBHOOK_URL_VARIABLE}); alerts use the policies Grafana already has")
        return report
    receiver = contact_points()["contactPoints"][0]["receivers"][0]
    contact = {"uid": receiver["uid"], "name": CONTACT_POINT, "type": "webhook",
               "settings": {**receiver["settings"], "url": webhook_url}}
    existing = grafana.alertingprovisioning.get_contactpoints(name=CONTACT_POINT) or []
    if any(c.get("uid") == contact["uid"] for c in existing):
        grafana.alertingprovisioning.update_contactpoint(contact["uid"], contact, disable_provenance=True)
        report.append("contact point: updated")
    else:
        grafana.alertingprovisioning.create_contactpoint(contact, disable_provenance=True)
        report.append("contact point: created")
    policy = notification_policies()["policies"][0]
    tree = {k: v for k, v in policy.items() if k != "orgId"}
    grafana.alertingprovisioning.set_notification_policy_tree(tree, disable_provenance=True)
    report.append("notification policy: set")
    return report


def _interval_seconds(text: str) -> int:
    from llmsight.alerts.rules import seconds

    return seconds(text)

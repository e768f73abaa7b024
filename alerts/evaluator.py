"""The collector's own alert evaluator, for users without Grafana: the same rules and SQL, evaluated on
an interval, with firing/resolved state per series, a `for` duration, no repeated spam, and delivery to
webhooks (generic JSON or Slack-compatible). State is persisted, so a restart does not re-fire."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from llmsight.alerts.rules import OPERATORS, AlertsConfig, Rule, load_config, load_rules, seconds
from llmsight.dashboards.macros import expand

logger = logging.getLogger("llmsight.alerts")

Query = Callable[..., Any]  # (sql, parameters) -> result with .column_names / .rows


@dataclass
class SeriesState:
    state: str = "normal"  # normal | pending | firing
    since: float = 0.0
    last_notified: float = 0.0
    value: float = 0.0


@dataclass(frozen=True)
class Transition:
    rule_id: str
    title: str
    severity: str
    status: str  # "firing" | "resolved"
    labels: dict[str, str]
    value: float
    threshold: float
    summary: str
    at: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def as_slack(self) -> dict[str, Any]:
        icon = ":rotating_light:" if self.status == "firing" else ":white_check_mark:"
        labels = ", ".join(f"{k}={v}" for k, v in self.labels.items())
        return {"text": f"{icon} [{self.status.upper()}] {self.title} ({labels}): {self.summary}"}


def _summary(rule: Rule, labels: dict[str, str], value: float, threshold: float) -> str:
    class Lenient(dict):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    try:
        return rule.description.format_map(Lenient(labels, value=value, threshold=threshold))
    except (ValueError, TypeError):
        return rule.description


class AlertEvaluator:
    def __init__(self, query: Query, config: AlertsConfig, state_file: Path | None = None) -> None:
        self.query = query
        self.config = config
        self.rules = [r for r in load_rules().rules if r.id not in config.disabled]
        self.state_file = state_file
        self.states: dict[str, SeriesState] = self._load_state()
        self.sent: list[Transition] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Any, query: Query) -> AlertEvaluator:
        config = load_config(settings.alerts_file)
        return cls(query, config, settings.data_dir / "alerts_state.json")

    # --- state ---
    def _load_state(self) -> dict[str, SeriesState]:
        if self.state_file is None or not self.state_file.exists():
            return {}
        try:
            raw = json.loads(self.state_file.read_text())
            return {key: SeriesState(**value) for key, value in raw.items()}
        except (ValueError, TypeError):
            logger.warning("alert state file %s unreadable; starting fresh", self.state_file)
            return {}

    def _save_state(self) -> None:
        if self.state_file is None:
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: asdict(v) for k, v in self.states.items()}))
        tmp.replace(self.state_file)

    # --- evaluation ---
    def evaluate_rule(self, rule: Rule, now: datetime) -> list[tuple[dict[str, str], float]]:
        """(labels, value) for every series the rule's query returns at `now`."""
        sql = expand(
            rule.sql(self.config.params),
            time_from=now - timedelta(seconds=rule.lookback_seconds),
            time_to=now,
            interval_s=60,
            server_side=True,
        )
        result = self.query(sql)
        series = []
        for row in result.rows:
            record = dict(zip(result.column_names, row))
            value = record.pop("value", None)
            if value is None:
                continue
            labels = {k: str(v) for k, v in record.items() if isinstance(v, str)}
            series.append((labels, float(value)))
        return series

    def evaluate_once(self, now: datetime | None = None) -> list[Transition]:
        now = now or datetime.now(timezone.utc)
        clock = now.timestamp()
        transitions: list[Transition] = []
        repeat = seconds(self.config.repeat_interval) if self.config.repeat_interval else None
        for rule in self.rules:
            threshold = rule.threshold_value(self.config.params)
            compare = OPERATORS[rule.threshold.op]
            try:
                series = self.evaluate_rule(rule, now)
            except Exception as exc:
                logger.warning("alert rule %s failed: %s", rule.id, exc)
                continue
            breaching: dict[str, tuple[dict[str, str], float]] = {}
            for labels, value in series:
                if compare(value, threshold):
                    breaching[_key(rule.id, labels)] = (labels, value)
            for key, (labels, value) in breaching.items():
                state = self.states.setdefault(key, SeriesState())
                state.value = value
                if state.state == "normal":
                    state.state, state.since = "pending", clock
                if state.state == "pending" and clock - state.since >= rule.for_seconds:
                    state.state, state.last_notified = "firing", clock
                    transitions.append(self._transition(rule, "firing", labels, value, threshold, now))
                elif state.state == "firing" and repeat and clock - state.last_notified >= repeat:
                    state.last_notified = clock
                    transitions.append(self._transition(rule, "firing", labels, value, threshold, now))
            for key, state in list(self.states.items()):
                if not key.startswith(rule.id + "|") or key in breaching:
                    continue
                if state.state == "firing":
                    labels = json.loads(key.split("|", 1)[1])
                    transitions.append(self._transition(rule, "resolved", labels, state.value, threshold, now))
                del self.states[key]
        self._save_state()
        for transition in transitions:
            self._deliver(transition)
        return transitions

    def _transition(self, rule: Rule, status: str, labels: dict[str, str], value: float, threshold: float, now: datetime) -> Transition:
        return Transition(
            rule_id=rule.id, title=rule.title, severity=rule.severity, status=status, labels=labels,
            value=value, threshold=threshold, summary=_summary(rule, labels, value, threshold), at=now.isoformat(),
        )

    def firing(self) -> list[str]:
        return sorted(k for k, s in self.states.items() if s.state == "firing")

    # --- delivery ---
    def _deliver(self, transition: Transition) -> None:
        self.sent.append(transition)
        for hook in self.config.webhooks:
            payload = transition.as_slack() if hook.format == "slack" else transition.as_json()
            body = json.dumps(payload).encode()
            for attempt in range(3):
                try:
                    request = urllib.request.Request(hook.url, data=body, headers={"content-type": "application/json"})
                    with urllib.request.urlopen(request, timeout=10):
                        break
                except OSError as exc:
                    logger.warning("webhook %s failed (attempt %d): %s", hook.url, attempt + 1, exc)
                    time.sleep(0.5 * (attempt + 1))

    # --- background loop ---
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="llmsight-alerts", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = seconds(self.config.interval)
        while not self._stop.wait(interval):
            try:
                self.evaluate_once()
            except Exception:
                logger.exception("alert evaluation failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _key(rule_id: str, labels: dict[str, str]) -> str:
    return f"{rule_id}|{json.dumps(labels, sort_keys=True)}"

"""The collector's own alert evaluator, for users without Grafana: the same rules, queries and arithmetic,
evaluated on an interval, with firing/resolved state per series, a `for` duration, no repeated spam, and
delivery to webhooks (generic JSON or Slack-compatible). State is persisted, so a restart does not re-fire.

It never dies: a failing rule or a failing tick is logged and counted (the collector's /metrics shows the
counters), and the next tick runs. A rule that cannot be evaluated is an alert of its own (RULE_FAILED, one series
per rule, resolved once it evaluates again): silence must never be mistaken for "nothing breaches". What it
remembers is bounded (series states, sent notifications)."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from llmsight.alerts.arithmetic import compile_expression
from llmsight.alerts.gotemplate import Labels, TemplateError, Value, render
from llmsight.alerts.macros import expand
from llmsight.alerts.rules import (
    ALERT_REF,
    OPERATORS,
    VALUE_REF,
    AlertsConfig,
    Rule,
    active_rules,
    load_config,
    seconds,
)

logger = logging.getLogger("llmsight.alerts")

Query = Callable[..., Any]  # (sql, parameters) -> result with .column_names / .rows
Counters = Callable[..., None]  # add(alert_evaluations=1, …): the collector's shared counters
MAX_SERIES = 10_000  # series states kept across all rules; more are evaluated but not tracked
SENT_MEMORY = 1_000  # recent notifications kept for inspection (`sent`)
RULE_FAILED = "alert_rule_cannot_be_evaluated"  # the evaluator's own rule: labels {"rule": the failing rule's id}


@dataclass
class SeriesState:
    state: str = "normal"  # normal | pending | firing
    since: float = 0.0
    last_notified: float = 0.0
    value: float = 0.0
    summary: str = ""


@dataclass(frozen=True)
class Series:
    """One row of a rule's result: its labels, the condition value and what the summary may show."""

    labels: dict[str, str]
    value: float | None
    values: dict[str, Value] = field(default_factory=dict)


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


@dataclass(frozen=True)
class RuleFacts:
    """What a transition says about its rule (a rule from rules.yaml, or the evaluator's own RULE_FAILED)."""

    rule_id: str
    title: str
    severity: str
    threshold: float
    for_seconds: float


_FAILED = RuleFacts(RULE_FAILED, "An alert rule cannot be evaluated", "critical", 0.0, 0.0)


@dataclass(frozen=True)
class Breach:
    """A series over its rule's threshold now."""

    labels: dict[str, str]
    value: float
    summary: str


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


class AlertEvaluator:
    def __init__(
        self, query: Query, config: AlertsConfig, state_file: Path | None = None, *, counters: Counters | None = None
    ) -> None:
        self.query = query
        self.config = config
        self.rules = active_rules(config)
        self.state_file = state_file
        self.counters = counters
        self.interval_s: float = config.interval_seconds
        self.max_series = MAX_SERIES
        self.states: dict[str, SeriesState] = self._load_state()
        self.sent: deque[Transition] = deque(maxlen=SENT_MEMORY)
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls, settings: Any, query: Query, *, config: AlertsConfig | None = None, counters: Counters | None = None
    ) -> AlertEvaluator | None:
        """The collector's evaluator, or None when the alerts file leaves alerting to Grafana."""
        config = config or load_config(settings.alerts_file)
        if not config.builtin_evaluator:
            logger.info("built-in alert evaluator off (builtin_evaluator: false): Grafana delivers alerts")
            return None
        return cls(query, config, settings.data_dir / "alerts_state.json", counters=counters)

    def _count(self, **counts: int) -> None:
        if self.counters is not None:
            try:
                self.counters(**counts)
            except Exception:  # counting must never stop evaluation
                logger.debug("alert counters unavailable", exc_info=True)

    # --- state ---
    def _load_state(self) -> dict[str, SeriesState]:
        if self.state_file is None or not self.state_file.exists():
            return {}
        try:
            raw = json.loads(self.state_file.read_text())
            active = {rule.id for rule in self.rules} | {RULE_FAILED}
            return {key: SeriesState(**value) for key, value in raw.items() if key.split("|", 1)[0] in active}
        except (OSError, ValueError, TypeError):
            logger.warning("alert state file %s unreadable; starting fresh", self.state_file)
            return {}

    def _save_state(self) -> None:
        if self.state_file is None:
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: asdict(v) for k, v in self.states.items()}))
        tmp.replace(self.state_file)

    # --- evaluation ---
    def _rows(self, rule: Rule, ref: str, now: datetime) -> dict[tuple[str, ...], tuple[dict[str, str], float | None]]:
        sql = expand(
            rule.query_sql(ref, self.config.params),
            time_from=now - timedelta(seconds=rule.lookback_seconds),
            time_to=now,
            interval_s=60,
            server_side=True,
        )
        result = self.query(sql)
        label_columns = [*rule.labels, *rule.queries[ref].labels]
        rows = {}
        for row in result.rows:
            record = dict(zip(result.column_names, row, strict=True))
            labels = {name: str(record[name]) for name in label_columns}
            rows[tuple(labels[name] for name in rule.labels)] = (labels, _number(record["value"]))
        return rows

    def evaluate_rule(self, rule: Rule, now: datetime) -> list[Series]:
        """Every series of the rule at `now`: the condition value and the values its summary may show."""
        results = {ref: self._rows(rule, ref, now) for ref in rule.queries}
        used = rule.condition.refs
        keys = [key for key in results[used[0]] if all(key in results[ref] for ref in used)]
        single = rule.condition.single_ref
        expression = None if single else compile_expression(rule.condition.value)
        threshold = rule.threshold_value(self.config.params)
        series = []
        for key in keys:
            labels = dict(zip(rule.labels, key, strict=True))
            operands = {ref: results[ref][key][1] for ref in used}
            value = operands[single] if single else expression(operands)  # type: ignore[misc]
            if single and (value is None or not math.isfinite(value)):
                continue  # Grafana's reduce in dropNN mode drops NULL, NaN and ±Inf
            values = {
                ref: Value(Labels(rows[key][0]), math.nan if (cell := rows[key][1]) is None else cell)
                for ref, rows in results.items()
                if key in rows
            }
            values[VALUE_REF] = Value(Labels(labels), math.nan if value is None else value)
            firing = value is not None and OPERATORS[rule.condition.op](value, threshold)
            values[ALERT_REF] = Value(Labels(labels), 1.0 if firing else 0.0)
            series.append(Series(labels, value, values))
        return series

    def evaluate_once(self, now: datetime | None = None) -> list[Transition]:
        """Evaluate every rule at `now`, advance each series' state, deliver and return the transitions."""
        now = now or datetime.now(timezone.utc)
        transitions: list[Transition] = []
        failed: dict[str, Breach] = {}
        for rule in self.rules:
            facts = RuleFacts(rule.id, rule.title, rule.severity, rule.threshold_value(self.config.params), rule.for_seconds)
            try:
                breaches = self._breaches(rule, facts.threshold, now)
            except Exception as exc:  # its own series keep their state: a failure says nothing about them
                logger.warning("alert rule %s failed: %s", rule.id, exc)
                self._count(alert_rule_failures=1)
                labels = {"rule": rule.id}
                failed[_key(RULE_FAILED, labels)] = Breach(labels, 1.0, f"{rule.title} ({rule.id}) cannot be evaluated: {exc}")
                continue
            transitions += self._advance(facts, breaches, now)
        transitions += self._advance(_FAILED, failed, now)
        self._save_state()
        for transition in transitions:
            self._deliver(transition)
        return transitions

    def _breaches(self, rule: Rule, threshold: float, now: datetime) -> dict[str, Breach]:
        """The rule's series over its threshold now, by state key."""
        compare = OPERATORS[rule.condition.op]
        return {
            _key(rule.id, series.labels): Breach(series.labels, series.value, _summary(rule, series, self.config.params))
            for series in self.evaluate_rule(rule, now)
            if series.value is not None and compare(series.value, threshold)
        }

    def _advance(self, facts: RuleFacts, breaches: dict[str, Breach], now: datetime) -> list[Transition]:
        """Move the rule's series along normal → pending → firing, and resolve those that no longer breach."""
        transitions = [t for key, breach in breaches.items() if (t := self._breaching(facts, key, breach, now))]
        return transitions + self._resolve(facts, breaches, now)

    def _breaching(self, facts: RuleFacts, key: str, breach: Breach, now: datetime) -> Transition | None:
        clock = now.timestamp()
        state = self.states.get(key)
        if state is None:
            if len(self.states) >= self.max_series:
                logger.warning("alert series limit (%d) reached; %s not tracked", self.max_series, key)
                return None
            state = self.states[key] = SeriesState()
        state.value, state.summary = breach.value, breach.summary
        if state.state == "normal":
            state.state, state.since = "pending", clock
        if state.state == "pending" and clock - state.since >= facts.for_seconds:
            state.state, state.last_notified = "firing", clock
            return self._transition(facts, "firing", breach.labels, state, now)
        repeat = seconds(self.config.repeat_interval) if self.config.repeat_interval else None
        if state.state == "firing" and repeat and clock - state.last_notified >= repeat:
            state.last_notified = clock
            return self._transition(facts, "firing", breach.labels, state, now)
        return None

    def _resolve(self, facts: RuleFacts, breaching: dict[str, Breach], now: datetime) -> list[Transition]:
        """Forget the rule's series that no longer breach; those that were firing resolve."""
        transitions = []
        for key, state in list(self.states.items()):
            if not key.startswith(facts.rule_id + "|") or key in breaching:
                continue
            if state.state == "firing":
                labels = json.loads(key.split("|", 1)[1])
                transitions.append(self._transition(facts, "resolved", labels, state, now))
            del self.states[key]
        return transitions

    def _transition(
        self, facts: RuleFacts, status: str, labels: dict[str, str], state: SeriesState, now: datetime
    ) -> Transition:
        return Transition(
            rule_id=facts.rule_id, title=facts.title, severity=facts.severity, status=status, labels=labels,
            value=state.value, threshold=facts.threshold, summary=state.summary, at=now.isoformat(),
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
                        self._count(alert_notifications=1)
                        break
                except OSError as exc:
                    logger.warning("webhook %s failed (attempt %d): %s", hook.url, attempt + 1, exc)
                    time.sleep(0.5 * (attempt + 1))
            else:
                self._count(alert_notification_failures=1)

    # --- background loop ---
    def tick(self) -> list[Transition]:
        """One evaluation that cannot raise: a failure is logged, counted and remembered in last_error."""
        self._count(alert_evaluations=1)
        try:
            return self.evaluate_once()
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._count(alert_evaluation_failures=1)
            logger.exception("alert evaluation failed; the next one runs in %ss", self.interval_s)
            return []

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="llmsight-alerts", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _summary(rule: Rule, series: Series, params: dict[str, float]) -> str:
    try:
        return render(rule.summary_template(params), series.labels, series.values)
    except TemplateError as exc:  # Grafana, too, sends the error instead of the text
        return f"failed to expand template: {exc}"


def _key(rule_id: str, labels: dict[str, str]) -> str:
    return f"{rule_id}|{json.dumps(labels, sort_keys=True)}"

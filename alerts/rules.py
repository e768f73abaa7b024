"""Alert rules (alerts/rules.yaml) and the user's alerts file, as strictly validated pydantic models.

A rule is shaped the way Grafana's expression engine evaluates it: each query returns string label
columns plus exactly ONE numeric column (Grafana turns such a table into one number per row, labelled by
the strings); the rule's `condition.value` is either one query (a reduce) or a math expression over them
(`$recent / $baseline`), compared with a threshold. The built-in evaluator runs the same queries and
the same arithmetic.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from llmsight.alerts.budgets import Budget, status_sql
from llmsight.alerts.defaults import BUDGET_PARAMS
from llmsight.collector.reconcile.tables import COMPLETED_DAY, completed_day_lines
from llmsight.collector.store.schema import TRUNCATED_REASONS

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PLACEHOLDER = re.compile(r"(?<!\{)\{([a-z_][a-z0-9_]*)\}(?!\})")
_REF = re.compile(r"\$([a-z][a-z0-9_]*)")
_VALUE_USE = re.compile(r"\$values\.([A-Za-z_][A-Za-z0-9_]*)")
Operator = Literal["gt", "lt", "gte", "lte"]
OPERATORS: dict[str, Callable[[float, float], bool]] = {"gt": operator.gt, "lt": operator.lt, "gte": operator.ge, "lte": operator.le}
VALUE_REF, ALERT_REF = "value", "alert"  # the expression nodes every compiled rule ends with
MIN_INTERVAL_S, MAX_INTERVAL_S = 10, 86400


def seconds(duration: str) -> int:
    match = _DURATION.match(str(duration).strip())
    if not match:
        raise ValueError(f"{duration!r} is not a duration like 30s, 15m, 24h, 7d")
    return int(match.group(1)) * _UNITS[match.group(2)]


# SQL a rule may name like a parameter, `{name}`: defined once, beside the schema it describes.
SQL_FRAGMENTS: dict[str, str] = {
    "truncated_reasons": TRUNCATED_REASONS,
    # The bill lines of the last completed UTC day (provider vs stored tokens and dollars per model and token class).
    "completed_day_bill": completed_day_lines(COMPLETED_DAY),
}


def fill(text: str, values: dict[str, float]) -> str:
    """Replace `{name}` placeholders: a declared parameter by its value as a float literal, a SQL fragment by its text."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return repr(float(values[name]))
        return SQL_FRAGMENTS.get(name, match.group(0))

    return _PLACEHOLDER.sub(value, text)


class Query(BaseModel):
    """One Grafana query: the rule's label columns, `labels` (extra string columns that annotate, e.g.
    the new prefix hashes) and one numeric `value` expression, over the rule's `source`."""

    model_config = ConfigDict(extra="forbid")
    value: str
    labels: dict[str, str] = Field(default_factory=dict)


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str  # "$query" (reduce) or a math expression over $queries
    op: Operator = "gt"
    threshold: str  # a parameter name

    @property
    def refs(self) -> list[str]:
        return _REF.findall(self.value)

    @property
    def single_ref(self) -> str | None:
        match = re.fullmatch(r"\s*\$([a-z][a-z0-9_]*)\s*", self.value)
        return match.group(1) if match else None


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    summary: str  # a Go template (Grafana's annotation syntax), rendered by Grafana and by our evaluator
    severity: Literal["critical", "warning", "info"]
    lookback: str
    for_: str = Field(alias="for", default="0s")
    labels: list[str] = Field(min_length=1)
    source: str  # FROM … WHERE … GROUP BY <labels> [HAVING …]
    queries: dict[str, Query] = Field(min_length=1)
    condition: Condition
    params: dict[str, float] = Field(default_factory=dict)

    @field_validator("lookback", "for_")
    @classmethod
    def _duration(cls, value: str) -> str:
        seconds(value)
        return value

    @field_validator("queries", mode="before")
    @classmethod
    def _short_queries(cls, value: object) -> object:
        if isinstance(value, dict):
            return {ref: {"value": q} if isinstance(q, str) else q for ref, q in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        for ref in self.queries:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", ref) or ref in (VALUE_REF, ALERT_REF):
                raise ValueError(f"query name {ref!r}: lower-case identifier, not {VALUE_REF!r} or {ALERT_REF!r}")
        if re.search(r"\$[a-z0-9_]+[-.$]", self.condition.value):
            raise ValueError("condition.value: put spaces around operators (Grafana's math reads - . $ as part of a name)")
        unknown = [ref for ref in self.condition.refs if ref not in self.queries]
        if unknown or not self.condition.refs:
            raise ValueError(f"condition.value {self.condition.value!r} must use the rule's queries ({unknown or 'none'})")
        if self.condition.threshold not in self.defaults:
            raise ValueError(f"threshold parameter {self.condition.threshold!r} has no default (rule params or budgets)")
        texts = [self.source, *(q.value for q in self.queries.values()),
                 *(e for q in self.queries.values() for e in q.labels.values())]
        undeclared = {name for text in texts for name in _PLACEHOLDER.findall(text)} - set(self.defaults) - set(SQL_FRAGMENTS)
        if undeclared:
            raise ValueError(f"undeclared parameters {sorted(undeclared)}")
        return self

    @property
    def defaults(self) -> dict[str, float]:
        """Every parameter the rule uses, with its default (budgets come from alerts/defaults.py)."""
        return {**BUDGET_PARAMS, **self.params}

    def parameters(self, overrides: dict[str, float]) -> dict[str, float]:
        return {name: float(overrides.get(name, default)) for name, default in self.defaults.items()}

    @property
    def lookback_seconds(self) -> int:
        return seconds(self.lookback)

    @property
    def for_seconds(self) -> int:
        return seconds(self.for_)

    def query_sql(self, ref: str, overrides: dict[str, float]) -> str:
        """The SQL of one query: label columns, extra label columns, one numeric column `value`."""
        query = self.queries[ref]
        columns = [*self.labels, *(f"{expr} AS {name}" for name, expr in query.labels.items()), f"{query.value} AS value"]
        return fill(f"SELECT {', '.join(columns)}\n{self.source.strip()}", self.parameters(overrides))

    def threshold_value(self, overrides: dict[str, float]) -> float:
        return self.parameters(overrides)[self.condition.threshold]

    def summary_template(self, overrides: dict[str, float]) -> str:
        """The Go template of the annotation, with parameter values filled in. Grafana also expands it when a
        query returned no rows (NoData, with no `$values`): the summary is then guarded by the values it reads,
        so it says "no data" instead of printing `%!f(<nil>)` or failing in humanizePercentage."""
        text = fill(self.summary.strip(), self.parameters(overrides))
        used = sorted(set(_VALUE_USE.findall(text)))
        if not used:
            return text
        guard = " ".join(f"$values.{ref}" for ref in used)
        test = f"and {guard}" if len(used) > 1 else guard
        return f"{{{{ if {test} }}}}{text}{{{{ else }}}}{self.title}: no data in the last {self.lookback}.{{{{ end }}}}"


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[Rule]

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        return self

    @property
    def ids(self) -> set[str]:
        return {r.id for r in self.rules}

    @property
    def parameter_names(self) -> set[str]:
        return {name for rule in self.rules for name in rule.defaults}


@cache
def load_rules() -> RuleSet:
    text = resources.files("llmsight.alerts").joinpath("rules.yaml").read_text()
    return RuleSet.model_validate(yaml.safe_load(text))


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://\S+$")
    format: Literal["json", "slack"] = "json"


def _known_parameter(name: str) -> str:
    known = load_rules().parameter_names
    if name not in known:
        raise ValueError(f"unknown parameter {name!r} (known: {', '.join(sorted(known))})")
    return name


def _number(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}")
    return value


def _known_rule(rule_id: str) -> str:
    known = load_rules().ids
    if rule_id not in known:
        raise ValueError(f"unknown rule {rule_id!r} (known: {', '.join(sorted(known))})")
    return rule_id


# Validated one by one, so an error points at the line of the offending key or item.
ParameterName = Annotated[str, AfterValidator(_known_parameter)]
ParameterValue = Annotated[float, BeforeValidator(_number)]
RuleId = Annotated[str, AfterValidator(_known_rule)]


class AlertsConfig(BaseModel):
    """The user's alerts file (LLMSIGHT_ALERTS_FILE): thresholds, webhooks, evaluation cadence. Unknown
    keys, unknown parameters or rule ids, non-finite numbers and bad durations are errors."""

    model_config = ConfigDict(extra="forbid")
    interval: str = "1m"
    repeat_interval: str | None = None  # re-send a still-firing alert this often (None: never)
    params: dict[ParameterName, ParameterValue] = Field(default_factory=dict)
    webhooks: list[Webhook] = Field(default_factory=list)
    disabled: list[RuleId] = Field(default_factory=list)
    # false where Grafana delivers the same rules (the compose stack): one notification path, not two.
    builtin_evaluator: bool = True
    budgets: list[Budget] = Field(default_factory=list)

    @field_validator("budgets")
    @classmethod
    def _unique_budgets(cls, value: list[Budget]) -> list[Budget]:
        names = [budget.name for budget in value]
        if len(names) != len(set(names)):
            raise ValueError(f"budget names must be unique: {sorted({n for n in names if names.count(n) > 1})}")
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if not MIN_INTERVAL_S <= seconds(value) <= MAX_INTERVAL_S:
            raise ValueError(f"must be between {MIN_INTERVAL_S}s and {MAX_INTERVAL_S // 3600}h, not {value}")
        return value

    @field_validator("repeat_interval")
    @classmethod
    def _repeat(cls, value: str | None) -> str | None:
        if value is not None and seconds(value) < 60:
            raise ValueError(f"must be at least 1m, not {value}")
        return value

    @property
    def interval_seconds(self) -> int:
        return seconds(self.interval)


def load_config(path: Path | None) -> AlertsConfig:
    """The alerts file at `path` (defaults when None); ConfigFileError (`file:line: …`) when invalid."""
    if path is None:
        return AlertsConfig()
    from llmsight.collector.config_file import load_yaml_model

    return load_yaml_model(Path(path), AlertsConfig)


def budget_rules(budget: Budget) -> list[Rule]:
    """A budget's three alert rules over its forecast (alerts/budgets.py): projected over the budget, spent over
    its warn share, spent over its critical share. One alert per scope value (labels `budget` and `scope`); the
    period is not a label, so a period that rolls over resolves or keeps an alert instead of starting another."""
    scope = "" if budget.scope == "org" else f" ({budget.scope} {{{{ $labels.scope }}}})"
    name = f"{budget.describe[0].upper()}{budget.describe[1:]}{scope}"
    source = f"FROM ({status_sql(budget)})\nGROUP BY budget, scope"
    spent = '${{ printf "%.2f" $values.spent.Value }}'
    limit = budget.amount * budget.critical
    common = {"lookback": "1h", "labels": ["budget", "scope"], "source": source}
    return [
        Rule.model_validate({
            **common, "id": f"budget_{budget.name}_forecast", "title": f"Budget {budget.name} forecast over budget",
            "severity": "warning",
            "summary": f"{name}: projected to exceed ${limit:,.2f} on {{{{ $values.projected.Labels.crossing }}}} "
                       f'(projected ${{{{ printf "%.2f" $values.projected.Value }}}}, budget ${limit:,.2f}; {spent} spent '
                       "so far, this period ends before {{ $values.projected.Labels.period_end }}).",
            "queries": {"spent": "any(spent)",
                        "projected": {"value": "any(projected)",
                                      "labels": {"crossing": "any(crossing)", "period_end": "any(period_end)"}}},
            "condition": {"value": "$projected", "op": "gt", "threshold": "budget_limit"},
            "params": {"budget_limit": limit}}),
        Rule.model_validate({
            **common, "id": f"budget_{budget.name}_exceeded", "title": f"Budget {budget.name} exceeded",
            "severity": "critical",
            "summary": f"{name}: exceeded, {spent} spent this period "
                       "(since {{ $values.spent.Labels.period_start }}).",
            "queries": {"spent": {"value": "any(spent)", "labels": {"period_start": "any(period_start)"}}},
            "condition": {"value": "$spent", "op": "gte", "threshold": "budget_limit"},
            "params": {"budget_limit": limit}}),
        Rule.model_validate({
            **common, "id": f"budget_{budget.name}_warning", "title": f"Budget {budget.name} {budget.warn:.0%} spent",
            "severity": "info",
            "summary": f"{name}: {spent} spent this period, {budget.warn:.0%} of the budget or more.",
            "queries": {"spent": "any(spent)"},
            "condition": {"value": "$spent", "op": "gte", "threshold": "budget_warn_at"},
            "params": {"budget_warn_at": budget.amount * budget.warn}}),
    ]


def active_rules(config: AlertsConfig) -> list[Rule]:
    """The rules an alerts file turns on: the built-in ones it does not disable, and its budgets' rules."""
    return [rule for rule in load_rules().rules if rule.id not in config.disabled] + \
        [rule for budget in config.budgets for rule in budget_rules(budget)]

"""Grafana's alert evaluation, re-implemented from Grafana's source for the tests (independent of our
evaluator), so provisioned rules can be checked without a Grafana server:

- the ClickHouse plugin's backend macros (tests/dashboards/grafana_backend.py, written from the plugin's docs and
  tests, not llmsight's expander);
- the ClickHouse plugin (grafana/clickhouse-datasource pkg/converters, grafana/sqlds query.go): a
  `format: 1` (table) query becomes one frame whose field types follow the ClickHouse column types;
- the expression engine's result conversion (grafana pkg/expr/converter.go: isNumberTable /
  extractNumberSet): a frame without a time field becomes a *number set* only when it has exactly one
  numeric field and otherwise string fields — anything else is "input data must be a wide series";
- reduce (pkg/expr/commands.go: on numbers a no-op, dropNN drops NULL/NaN/±Inf), math
  (pkg/expr/mathexp/exp.go: union by labels — equal, or one side's labels contained in the other's, or
  the lone-pair fallback — and float64 binary ops), threshold (pkg/expr/threshold.go);
- the alert evaluation (pkg/services/ngalert/eval/eval.go): a data query without frames makes the rule
  NoData; each condition number is Normal (0), Alerting (non-zero) or NoData (nil); captured values per
  refId are matched to each instance by exact label fingerprint, else by label containment; NoData
  maps to the rule's noDataState.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tests.dashboards.grafana_backend import expand

EXPR_UID = "__expr__"
Labels = dict[str, str]


class GrafanaError(Exception):
    pass


@dataclass
class Number:
    labels: Labels | None
    value: float | None


@dataclass
class Frame:
    fields: list[tuple[str, str, list[Any]]]  # (name, kind: numeric|string|time|other, values)


# --- the ClickHouse plugin: column type -> field kind -----------------------------------------------

_NUMERIC = re.compile(r"^(Nullable\()?(U?Int(8|16|32|64)|Float(32|64)|Decimal.*)\)?$")
_STRING = re.compile(r"^(Nullable\()?(String|FixedString\(\d+\)|Enum(8|16)\(.*\)|IPv[46])\)?$")


def field_kind(clickhouse_type: str) -> str:
    inner = clickhouse_type
    if inner.startswith("LowCardinality(") and inner.endswith(")"):
        inner = inner[len("LowCardinality("):-1]
    if _NUMERIC.match(inner):
        return "numeric"
    if _STRING.match(inner):
        return "string"
    if re.match(r"^(Nullable\()?(Date|DateTime)", inner):
        return "time"
    return "other"  # Bool, arrays, maps, tuples, JSON, 128/256-bit integers


def run_table_query(query: Callable[[str], Any], sql: str) -> Frame:
    described = query(f"DESCRIBE TABLE ({sql})")
    types = {row[0]: row[1] for row in described.rows}
    result = query(sql)
    columns = list(zip(*result.rows, strict=True)) if result.rows else [[] for _ in result.column_names]
    return Frame([(name, field_kind(types[name]), list(values)) for name, values in zip(result.column_names, columns, strict=True)])


# --- pkg/expr/converter.go ----------------------------------------------------------------------------

def convert(frame: Frame) -> list[Number]:
    if not frame.fields:
        return []  # untyped no data
    kinds = [kind for _, kind, _ in frame.fields]
    if "time" in kinds:
        raise GrafanaError("time series frames are not produced by alert rules here")
    numeric = kinds.count("numeric")
    if not (numeric == 1 and kinds.count("other") == 0):
        raise GrafanaError("input data must be a wide series but got type not (input refid)")
    (value_index,) = [i for i, kind in enumerate(kinds) if kind == "numeric"]
    string_fields = [(name, values) for name, kind, values in frame.fields if kind == "string"]
    rows = len(frame.fields[0][2])
    numbers = []
    for row in range(rows):
        labels: Labels | None = None
        for name, values in string_fields:
            if labels is None:
                labels = {}
            if values[row] is None:
                raise GrafanaError("nil string label (a panic in extractNumberSet)")
            labels[name] = values[row]
        raw = frame.fields[value_index][2][row]
        numbers.append(Number(labels, None if raw is None else float(raw)))
    return numbers


# --- pkg/expr/mathexp: parse + union + binary ops -----------------------------------------------------

def _binary_op(op: str, a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            return math.nan if a == 0 else math.copysign(math.inf, a) * math.copysign(1.0, b)
        return a / b
    raise GrafanaError(f"operator {op} not emulated")


def _labels(value: Number) -> Labels:
    return value.labels or {}


def _contains(a: Labels, b: Labels) -> bool:
    return all(k in a and a[k] == v for k, v in b.items())


def union(a_values: list[Number], b_values: list[Number]) -> list[tuple[Labels | None, Number, Number]]:
    unions: list[tuple[Labels | None, Number, Number]] = []
    if not a_values or not b_values:
        return unions
    for a in a_values:
        for b in b_values:
            la, lb = _labels(a), _labels(b)
            if la == lb or not la or not lb:
                labels = la if la else lb
            elif len(la) == len(lb):
                continue
            elif _contains(la, lb):
                labels = la
            elif _contains(lb, la):
                labels = lb
            else:
                continue
            unions.append((labels, a, b))
    if not unions and len(a_values) == 1 and len(b_values) == 1:
        unions.append((None, a_values[0], b_values[0]))
    return unions


def _tokenize(expression: str) -> list[str]:
    # mathexp/parse/lex.go: a variable runs over letters, digits and _ - . $ (so `$a-$b` is ONE name).
    return re.findall(r"\$\{[^}]+\}|\$[\w\-.$]+|\d+(?:\.\d+)?|[-+*/()]", expression)


def math_expression(expression: str, variables: dict[str, list[Number]]) -> list[Number]:
    tokens = _tokenize(expression)
    position = 0

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def operand() -> list[Number] | float:
        token = take()
        if token == "(":
            inner = additive()
            assert take() == ")"
            return inner
        if token.startswith("$"):
            return variables[token.strip("${}")]
        return float(token)

    def combine(op: str, left: list[Number] | float, right: list[Number] | float) -> list[Number] | float:
        if isinstance(left, float) and isinstance(right, float):
            return _binary_op(op, left, right)
        if isinstance(left, float) or isinstance(right, float):
            scalar = left if isinstance(left, float) else right
            numbers = right if isinstance(left, float) else left
            out = []
            for n in numbers:  # type: ignore[union-attr]
                value = None if n.value is None else (
                    _binary_op(op, scalar, n.value) if isinstance(left, float) else _binary_op(op, n.value, scalar))
                out.append(Number(n.labels, value))
            return out
        results = []
        for labels, a, b in union(left, right):
            value = None if a.value is None or b.value is None else _binary_op(op, a.value, b.value)
            results.append(Number(labels, value))
        return results

    def multiplicative() -> list[Number] | float:
        left = operand()
        while position < len(tokens) and tokens[position] in "*/":
            left = combine(take(), left, operand())
        return left

    def additive() -> list[Number] | float:
        left = multiplicative()
        while position < len(tokens) and tokens[position] in "+-":
            left = combine(take(), left, multiplicative())
        return left

    result = additive()
    if isinstance(result, float):
        return [Number(None, result)]
    return result


# --- reduce / threshold -----------------------------------------------------------------------------

def reduce(values: list[Number], mode: str | None) -> list[Number]:
    out = []
    for n in values:
        value = n.value
        if mode == "dropNN":
            if value is None or math.isnan(value) or math.isinf(value):
                continue
        elif mode is not None:
            raise GrafanaError(f"reduce mode {mode} not emulated")
        out.append(Number(n.labels, value))
    return out


_PREDICATES: dict[str, Callable[[float, list[float]], bool]] = {
    "gt": lambda v, p: v > p[0], "lt": lambda v, p: v < p[0], "gte": lambda v, p: v >= p[0],
    "lte": lambda v, p: v <= p[0], "eq": lambda v, p: v == p[0], "ne": lambda v, p: v != p[0],
    "within_range": lambda v, p: p[0] < v < p[1], "outside_range": lambda v, p: v < p[0] or v > p[1],
}


def threshold(values: list[Number], evaluator: dict[str, Any]) -> list[Number]:
    predicate = _PREDICATES[evaluator["type"]]
    return [Number(n.labels, None if n.value is None else (1.0 if predicate(n.value, evaluator["params"]) else 0.0))
            for n in values]


# --- pkg/services/ngalert/eval ----------------------------------------------------------------------

@dataclass
class Instance:
    state: str  # Alerting | Normal | NoData | Error
    labels: Labels
    values: dict[str, tuple[Labels, float | None]] = field(default_factory=dict)
    error: str = ""


def evaluate_rule(rule: dict[str, Any], query: Callable[[str], Any], now: datetime) -> list[Instance]:
    variables: dict[str, list[Number]] = {}
    datasource_refs = []
    try:
        for node in rule["data"]:
            model = node["model"]
            if node["datasourceUid"] != EXPR_UID:
                datasource_refs.append(node["refId"])
                span = node["relativeTimeRange"]
                sql = expand(model["rawSql"], time_from=now - timedelta(seconds=span["from"]),
                             time_to=now - timedelta(seconds=span["to"]), interval_s=model["intervalMs"] / 1000)
                if model.get("format") != 1:
                    raise GrafanaError("only table-format queries are emulated")
                variables[node["refId"]] = convert(run_table_query(query, sql))
            elif model["type"] == "reduce":
                variables[node["refId"]] = reduce(variables[model["expression"].lstrip("$")],
                                                  (model.get("settings") or {}).get("mode"))
            elif model["type"] == "math":
                variables[node["refId"]] = math_expression(model["expression"], variables)
            elif model["type"] == "threshold":
                (condition,) = model["conditions"]
                variables[node["refId"]] = threshold(variables[model["expression"]], condition["evaluator"])
            else:
                raise GrafanaError(f"expression type {model['type']} not emulated")
    except GrafanaError as exc:
        return [Instance("Error", {}, error=str(exc))]
    if any(not variables[ref] for ref in datasource_refs):
        return [Instance("NoData", {"ref_id": ",".join(r for r in datasource_refs if not variables[r])})]
    condition = variables[rule["condition"]]
    if not condition:
        return [Instance("NoData", {})]
    instances = []
    for number in condition:
        labels = number.labels or {}
        values: dict[str, tuple[Labels, float | None]] = {}
        for ref, captured in variables.items():
            exact = [c for c in captured if (c.labels or {}) == labels]
            matches = exact or [c for c in captured
                                if _contains(labels, c.labels or {}) or _contains(c.labels or {}, labels)]
            for match in matches:
                values[ref] = (match.labels or {}, match.value)
        state = "NoData" if number.value is None else ("Normal" if number.value == 0 else "Alerting")
        instances.append(Instance(state, labels, values))
    seen = [tuple(sorted(i.labels.items())) for i in instances]
    if len(seen) != len(set(seen)):
        return [Instance("Error", {}, error="frame cannot uniquely be identified by its labels")]
    return instances


def alerting(rule: dict[str, Any], query: Callable[[str], Any], now: datetime) -> list[Instance]:
    """The instances that alert, after noDataState / execErrState are applied."""
    instances = evaluate_rule(rule, query, now)
    errors = [i for i in instances if i.state == "Error"]
    if errors and rule["execErrState"] == "Error":
        raise AssertionError(f"rule {rule['uid']} errors in Grafana: {errors[0].error}")
    if rule["noDataState"] == "Alerting":
        return [i for i in instances if i.state in ("Alerting", "NoData")]
    return [i for i in instances if i.state == "Alerting"]

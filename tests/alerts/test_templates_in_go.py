"""Every alert annotation template, expanded by Go's real text/template (tests/alerts/gotemplate_go: Grafana's
data shape, missingkey=invalid and the Prometheus function names) and by the Python renderer the built-in
evaluator uses: both must succeed, say the same, and never print a Go formatting error or `[no value]`, with
sample values and for the NoData case (Grafana expands annotations with no `$values` then too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmsight.alerts.budgets import Budget
from llmsight.alerts.gotemplate import Labels, Value, render
from llmsight.alerts.rules import VALUE_REF, AlertsConfig, Rule, active_rules
from tests.alerts.go_templates import expand_in_go, go_case

CONFIG = AlertsConfig(budgets=[Budget(name="org", amount=1000, timezone="Europe/Paris"),
                               Budget(name="tenants", scope="tenant", period="week", amount=50)])
RULES = active_rules(CONFIG)  # the built-in rules and the budgets' rules


def sample(rule: Rule) -> tuple[dict[str, str], dict[str, Value]]:
    """Labels and values of one firing instance: every label and extra label set, every query with a value."""
    labels = {name: f"{name}-1" for name in rule.labels}
    values = {ref: Value(Labels({**labels, **{extra: f"{extra} text" for extra in query.labels}}), 0.1234 * (n + 2))
              for n, (ref, query) in enumerate(rule.queries.items())}
    values[VALUE_REF] = Value(Labels(labels), 3.25)
    return labels, values


def go_values(values: dict[str, Value]) -> dict[str, tuple[Labels, float]]:
    return {ref: (v.Labels, v.Value) for ref, v in values.items()}


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_summary_renders_the_same_in_go_with_values_and_without(go_expander: Path, rule: Rule) -> None:
    template = rule.summary_template(CONFIG.params)
    labels, values = sample(rule)
    firing, no_data = expand_in_go(go_expander, [go_case(template, labels, go_values(values)), go_case(template, labels, {})])
    for case, result in (("firing", firing), ("no data", no_data)):
        assert result["error"] == "", f"{rule.id} ({case}): Go cannot expand it: {result['error']}"
        assert "%!" not in result["output"] and "[no value]" not in result["output"], (case, result["output"])
    assert render(template, labels, values) == firing["output"]
    assert render(template, labels, {}) == no_data["output"]
    assert "no data" not in firing["output"] and no_data["output"] == f"{rule.title}: no data in the last {rule.lookback}."

def test_the_go_check_catches_what_grafana_rejects(go_expander: Path) -> None:
    """The checker really is strict: a summary that reads a value with no guard fails on NoData, as in Grafana."""
    unguarded = '{{ humanizePercentage $values.ratio.Value }} and ${{ printf "%.2f" $values.spend.Value }}'
    result, = expand_in_go(go_expander, [go_case(unguarded, {}, {})])
    assert "can't convert <nil> to float" in result["error"]
    printf_only, = expand_in_go(go_expander, [go_case('${{ printf "%.2f" $values.spend.Value }}', {}, {})])
    assert printf_only["output"] == "$%!f(<nil>)"

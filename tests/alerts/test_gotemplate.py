"""The Go-template renderer our evaluator uses, against outputs stated by Prometheus' own template tests
(prometheus/template/template_test.go) and by Grafana's alert templating (missingkey=invalid →
"[no value]", Labels printed as `k=v, k=v`, Value printed with FormatFloat 'f' -1)."""

from __future__ import annotations

import math

import pytest

from llmsight.alerts.gotemplate import Labels, TemplateError, Value, go_sprintf, render


def each(function: str, inputs: list) -> str:
    values = {f"v{i}": Value(Labels(), float(x)) if not isinstance(x, str) else x for i, x in enumerate(inputs)}
    text = "".join(f"{{{{ {function} $values.v{i}{'.Value' if not isinstance(x, str) else ''} }}}}:"
                   for i, x in enumerate(inputs))
    return render(text, {}, values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("function", "inputs", "output"), [
    ("humanize", [0.0, 1.0, 1234567.0, 0.12], "0:1:1.235M:120m:"),
    ("humanize", ["0.0", "1.0", "1234567.0", ".12"], "0:1:1.235M:120m:"),
    ("humanize", [0, -1, 1, 1234567, 9223372036854775807], "0:-1:1:1.235M:9.223E:"),
    ("humanizeDuration", [0, 1, 60, 3600, 86400, 86400 + 3600, -(86400 * 2 + 3600 * 3 + 60 * 4 + 5), 899.99],
     "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"),
    ("humanizeDuration", [.1, .0001, .12345, 60.1, 60.5, 1.2345, 12.345],
     "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"),
    ("humanize", [math.inf, -math.inf, math.nan], "+Inf:-Inf:NaN:"),
    ("humanizeDuration", [math.inf, -math.inf, math.nan], "+Inf:-Inf:NaN:"),
    ("humanizePercentage", [0, -1, 1, 1234567, 9223372036854775807], "0%:-100%:100%:1.235e+08%:9.223e+20%:"),
])
def test_prometheus_functions(function: str, inputs: list, output: str) -> None:
    assert each(function, inputs) == output


def test_pipelines_literals_and_printf() -> None:
    text = ("{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}"
            ":{{ 1.23456 | humanizePercentage }}")
    assert render(text, {}, {}) == "-22.22%:0%:12.35%:123.5%"
    assert render('{{ "aa bb CC" | toUpper }} {{ "aA bB CC" | toLower }}', {}, {}) == "AA BB CC aa bb cc"
    assert render('{{ printf "%0.2f" 3720.0100001 }}', {}, {}) == "3720.01"
    assert go_sprintf("%.1f|%d|%s|%5.1f|%v", 2.25, 7, "x", 3.14159, 1e21) == "2.2|7|x|  3.1|1e+21"
    assert go_sprintf("%d", 2.5) == "%!d(float64=2.5)"


def test_grafana_data_missing_keys_and_printing() -> None:
    values = {"A": Value(Labels({"service": "api", "model": "m"}), 3.0), "B": Value(Labels(), 0.1 + 0.2)}
    text = ("{{ $labels.service }}|{{ $labels.missing }}|{{ $values.A }}|{{ $values.A.Labels }}|{{ $values.B.Value }}"
            "|{{ $values.C.Value }}|{{ .Labels.service }}|{{ $value }}")
    assert render(text, {"service": "api"}, values, "[ var='A' ]") == \
        "api|[no value]|3|model=m, service=api|0.30000000000000004|[no value]|api|[ var='A' ]"
    big = {"M": Value(Labels(), 1234567.0), "K": Value(Labels(), 123456.0), "S": Value(Labels(), 1e-05)}
    assert render("{{ $values.M.Value }} {{ $values.K.Value }} {{ $values.S.Value }} {{ $values.S }} {{ $values.M }}",
                  {}, big) == "1.234567e+06 123456 1e-05 0.00001 1234567"
    branches = "{{ if $values.C }}c{{ else if $values.A }}a{{ else }}none{{ end }}-{{ with $values.A }}{{ .Value }}{{ end }}"
    assert render(branches, {}, values) == "a-3"
    assert render("x  {{- 1.5 -}}  y", {}, {}) == "x1.5y"


def test_errors_are_errors() -> None:
    for text in ("{{ humanize \"one\" }}", "{{ nosuch 1 }}", "{{ if 1 }}", "{{ end }}", "{{ humanize $values.C.Value }}"):
        with pytest.raises(TemplateError):
            render(text, {}, {})

"""The part of Go's text/template and of Grafana's alert-annotation functions our rule summaries use,
rendered the way Grafana renders them, so the built-in evaluator's message is the text Grafana sends.

Grafana (pkg/services/ngalert/state/template) prepends
`{{- $labels := .Labels -}}{{- $values := .Values -}}{{- $value := .Value -}}` to the annotation and
expands it with Prometheus' template functions (humanize, humanizePercentage, …) and
`missingkey=invalid`, then replaces `<no value>` by `[no value]`. Supported here: text, `{{ }}` with
`{{-`/`-}}` trimming, comments, `if`/`else`/`else if`/`with`/`end`, `$var := pipeline`, field and map-key
chains (`$values.A.Value`, `.Labels.x`), string/number literals, parenthesised pipelines, `|` pipelines,
and the functions below. Anything else is a TemplateError (a rule's summary is checked in the tests).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from llmsight.errors import LLMSightError

PREAMBLE = "{{- $labels := .Labels -}}{{- $values := .Values -}}{{- $value := .Value -}}"


class TemplateError(LLMSightError, ValueError):
    pass


class _Missing:
    """Go's invalid reflect.Value: what a missing map key yields under missingkey=invalid."""

    def __str__(self) -> str:
        return "<no value>"


MISSING = _Missing()


class Labels(dict[str, str]):
    """Grafana's template.Labels: prints as `k=v, k=v` in key order."""

    def __str__(self) -> str:
        return ", ".join(f"{k}={self[k]}" for k in sorted(self))


@dataclass(frozen=True)
class Value:
    """Grafana's template.Value: the labels and value of one query or expression for this alert."""

    Labels: Labels = field(default_factory=Labels)
    Value: float = math.nan

    def __str__(self) -> str:
        return go_float(self.Value, "f")


# --- Go number formatting -------------------------------------------------------------------------

def _special(value: float) -> str | None:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return None


def _shortest(value: float, style: str) -> str:
    """strconv.FormatFloat(v, style, -1, 64): the shortest digits that round-trip. Style 'g' switches to
    the %e form when the exponent is < -4 or >= 6 (strconv's eprec for the shortest precision); 'f' never."""
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    minus = "-" if sign else ""
    if value == 0:
        return minus + "0"
    text = "".join(map(str, digits))
    point = len(digits) + int(exponent)  # decimal point position relative to the digits
    exp10 = point - 1
    if style == "g" and (exp10 < -4 or exp10 >= 6):
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'+' if exp10 >= 0 else '-'}{abs(exp10):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return minus + text + "0" * (point - len(text))
    return f"{minus}{text[:point]}.{text[point:]}"


def go_float(value: float, verb: str = "v", precision: int = -1) -> str:
    """fmt/strconv formatting of a float64 for the verbs v (= shortest %g), g, f, e."""
    special = _special(value)
    if special is not None:
        return special
    if precision < 0 and verb in "vgf":
        return _shortest(value, "f" if verb == "f" else "g")
    if precision < 0:
        precision = 6
    return f"%.{precision}{verb}" % value  # Python's %f/%e/%g round and trim like Go's for finite values


_PRINTF_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([vsdfegqxt%])")


def go_sprintf(fmt: str, *args: Any) -> str:
    out, position, index = [], 0, 0
    for match in _PRINTF_VERB.finditer(fmt):
        out.append(fmt[position:match.start()])
        position = match.end()
        flags, width, precision, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        if index >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[index]
        index += 1
        out.append(_format_arg(arg, verb, flags or "", int(width) if width else None, int(precision) if precision else -1))
    out.append(fmt[position:])
    if index < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{type(a).__name__}={go_print(a)}" for a in args[index:]) + ")")
    return "".join(out)


def _format_arg(arg: Any, verb: str, flags: str, width: int | None, precision: int) -> str:
    if isinstance(arg, bool):
        text = "true" if arg else "false"
    elif isinstance(arg, float) and verb in "vfeg":
        text = go_float(arg, verb, precision)
        if "+" in flags and not text.startswith(("-", "+")):
            text = "+" + text
    elif isinstance(arg, int) and verb in "vd":
        text = str(arg)
    elif verb == "q":
        text = '"' + str(arg).replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif verb in "vs":
        text = go_print(arg)
        if precision >= 0:
            text = text[:precision]
    else:
        kind = "float64" if isinstance(arg, float) else "int" if isinstance(arg, int) else "string"
        text = f"%!{verb}({kind}={go_print(arg)})"
    if width is not None and len(text) < width:
        text = text.ljust(width) if "-" in flags else (text.rjust(width, "0") if "0" in flags and verb in "dfeg" else text.rjust(width))
    return text


def go_print(value: Any) -> str:
    """How text/template prints a value ({{ x }}): fmt.Sprint, with String() methods."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, (Labels, Value, _Missing)):
        return str(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_print(value[k])}" for k in sorted(value)) + "]"
    if value is None:
        return "<nil>"
    return str(value)


# --- Prometheus / Grafana template functions ------------------------------------------------------

def _to_float(value: Any) -> float:
    if isinstance(value, bool) or value is MISSING or value is None:
        raise TemplateError(f"can't convert {go_print(value)} to float")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise TemplateError(f"can't convert {value!r} to float") from None
    raise TemplateError(f"can't convert {type(value).__name__} to float")


def humanize(value: Any) -> str:
    v = _to_float(value)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return go_sprintf("%.4g", v)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return go_sprintf("%.4g", v) + prefix
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return go_sprintf("%.4g", v) + prefix


def humanize_percentage(value: Any) -> str:
    return go_sprintf("%.4g%%", _to_float(value) * 100)


def humanize_duration(value: Any) -> str:
    v = _to_float(value)
    if math.isnan(v) or math.isinf(v):
        return go_sprintf("%.4g", v)
    if v == 0:
        return go_sprintf("%.4gs", v)
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        whole = int(v)
        s, m, h, d = whole % 60, (whole // 60) % 60, (whole // 3600) % 24, whole // 86400
        if d:
            return f"{sign}{d}d {h}h {m}m {s}s"
        if h:
            return f"{sign}{h}h {m}m {s}s"
        if m:
            return f"{sign}{m}m {s}s"
        return sign + go_sprintf("%.4gs", v)
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return go_sprintf("%.4g", v) + prefix + "s"


def _truth(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, (bool, int, float, str, Mapping, list, tuple)):
        return bool(value)
    return True


def _and(first: Any, *rest: Any) -> Any:
    """Go's `and`: the first falsy argument, or the last."""
    for value in (first, *rest):
        if not _truth(value):
            return value
    return (first, *rest)[-1]


def _or(first: Any, *rest: Any) -> Any:
    """Go's `or`: the first truthy argument, or the last."""
    for value in (first, *rest):
        if _truth(value):
            return value
    return (first, *rest)[-1]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "humanize": humanize,
    "humanizePercentage": humanize_percentage,
    "humanizeDuration": humanize_duration,
    "printf": lambda fmt, *args: go_sprintf(fmt, *args),
    "toUpper": lambda s: str(s).upper(),
    "toLower": lambda s: str(s).lower(),
    "not": lambda v: not _truth(v),
    "and": _and,
    "or": _or,
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": lambda a, b: a != b,
    "len": lambda v: len(v),
}


# --- parsing --------------------------------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)'
    r"|(?P<var>\$[A-Za-z_0-9]*(?:\.[A-Za-z_][A-Za-z_0-9]*)*)|(?P<field>(?:\.[A-Za-z_][A-Za-z_0-9]*)+|\.)"
    r"|(?P<ident>[A-Za-z_][A-Za-z_0-9]*)|(?P<punct>:=|\||\(|\)))"
)


@dataclass
class _Node:
    kind: str  # text | action | if | with | assign
    text: str = ""
    pipeline: list[list[Any]] = field(default_factory=list)
    variable: str = ""
    body: list[_Node] = field(default_factory=list)
    orelse: list[_Node] = field(default_factory=list)


def _tokens(source: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    source = source.rstrip()
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            raise TemplateError(f"unexpected {source[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _parse_pipeline(tokens: list[tuple[str, str]], start: int = 0) -> tuple[list[list[Any]], int]:
    commands: list[list[Any]] = [[]]
    index = start
    while index < len(tokens):
        kind, text = tokens[index]
        if kind == "punct" and text == "|":
            commands.append([])
        elif kind == "punct" and text == "(":
            inner, index = _parse_pipeline(tokens, index + 1)
            commands[-1].append(("pipeline", inner))
        elif kind == "punct" and text == ")":
            return commands, index
        else:
            commands[-1].append((kind, text))
        index += 1
    if any(not command for command in commands):
        raise TemplateError("empty command in pipeline")
    return commands, index


def parse(template: str) -> list[_Node]:
    root: list[_Node] = []
    stack: list[tuple[_Node | None, list[_Node]]] = [(None, root)]
    position = 0
    pending_trim = False
    for match in _ACTION.finditer(template):
        text = template[position:match.start()]
        if pending_trim:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        if text:
            stack[-1][1].append(_Node("text", text=text))
        position = match.end()
        pending_trim = bool(match.group(3))
        body = match.group(2).strip()
        if body.startswith("/*"):
            continue
        tokens = _tokens(body)
        if not tokens:
            raise TemplateError("empty action")
        head = tokens[0][1] if tokens[0][0] == "ident" else ""
        if head in ("if", "with"):
            pipeline, _ = _parse_pipeline(tokens, 1)
            node = _Node(head, pipeline=pipeline)
            stack[-1][1].append(node)
            stack.append((node, node.body))
        elif head == "else":
            owner = stack[-1][0]
            if owner is None:
                raise TemplateError("unexpected {{else}}")
            stack.pop()
            if len(tokens) > 1 and tokens[1][1] in ("if", "with"):  # else if: nested, closed by the same end
                pipeline, _ = _parse_pipeline(tokens, 2)
                nested = _Node(tokens[1][1], pipeline=pipeline)
                owner.orelse.append(nested)
                stack.append((nested, nested.body))
            else:
                stack.append((owner, owner.orelse))
        elif head == "end":
            if stack[-1][0] is None:
                raise TemplateError("unexpected {{end}}")
            stack.pop()
        elif len(tokens) > 2 and tokens[0][0] == "var" and tokens[1] == ("punct", ":="):
            pipeline, _ = _parse_pipeline(tokens, 2)
            stack[-1][1].append(_Node("assign", variable=tokens[0][1], pipeline=pipeline))
        else:
            pipeline, _ = _parse_pipeline(tokens)
            stack[-1][1].append(_Node("action", pipeline=pipeline))
    if len(stack) != 1:
        raise TemplateError("unclosed {{if}} or {{with}}")
    text = template[position:]
    if pending_trim:
        text = text.lstrip()
    if text:
        root.append(_Node("text", text=text))
    return root


# --- execution ------------------------------------------------------------------------------------

def _field(value: Any, name: str) -> Any:
    if value is MISSING:
        return MISSING
    if isinstance(value, Mapping):
        return value.get(name, MISSING)
    if isinstance(value, Value) and name in ("Labels", "Value"):
        return getattr(value, name)
    raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")


def _chain(value: Any, path: str) -> Any:
    for name in filter(None, path.split(".")):
        value = _field(value, name)
    return value


class _Execution:
    def __init__(self, data: Any) -> None:
        self.dot = data
        self.variables: dict[str, Any] = {"$": data}

    def operand(self, token: tuple[str, Any], final: Any) -> Any:
        kind, text = token
        if kind == "string":
            return bytes(text[1:-1], "utf-8").decode("unicode_escape")
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "var":
            name, _, path = text.partition(".")
            if name not in self.variables:
                raise TemplateError(f"undefined variable {name}")
            return _chain(self.variables[name], path)
        if kind == "field":
            return _chain(self.dot, text)
        if kind == "pipeline":
            return self.pipeline(text)
        if kind == "ident" and text in ("true", "false"):
            return text == "true"
        raise TemplateError(f"unexpected {text!r}")

    def command(self, command: list[Any], final: Any, has_final: bool) -> Any:
        head_kind, head = command[0]
        if head_kind == "ident" and head not in ("true", "false"):
            function = FUNCTIONS.get(head)
            if function is None:
                raise TemplateError(f'function "{head}" not defined')
            args = [self.operand(token, None) for token in command[1:]]
            if has_final:
                args.append(final)
            return function(*args)
        if len(command) > 1 or has_final:
            raise TemplateError(f"can't give argument to non-function {head}")
        return self.operand(command[0], None)

    def pipeline(self, commands: list[list[Any]]) -> Any:
        value: Any = None
        for position, command in enumerate(commands):
            value = self.command(command, value, position > 0)
        return value

    def run(self, nodes: list[_Node], out: list[str]) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                out.append(go_print(self.pipeline(node.pipeline)))
            elif node.kind == "assign":
                self.variables[node.variable] = self.pipeline(node.pipeline)
            else:
                value = self.pipeline(node.pipeline)
                if _truth(value):
                    saved = self.dot
                    if node.kind == "with":
                        self.dot = value
                    self.run(node.body, out)
                    self.dot = saved
                else:
                    self.run(node.orelse, out)


def render(template: str, labels: Mapping[str, str], values: Mapping[str, Value], value: str = "") -> str:
    """Expand an annotation as Grafana does for one alert instance."""
    nodes = parse(PREAMBLE + template)
    out: list[str] = []
    _Execution({"Labels": Labels(labels), "Values": dict(values), "Value": value}).run(nodes, out)
    return "".join(out).replace("<no value>", "[no value]")

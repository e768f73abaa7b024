"""What the browser does to a panel query before the ClickHouse plugin's backend sees it, emulated from the sources:

1. The plugin's `applyTemplateVariables` (grafana/clickhouse-datasource, src/data/CHDatasource.ts):
   `applyConditionalAll` — from the LAST `$__conditionalAll(` backwards, arguments split by `getMacroArgs`
   (brackets counted, quotes NOT respected, arguments not trimmed), the variable found in the trimmed second
   argument by `(?<=\\$\\{)[\\w\\d]+(?=\\})|(?<=\\$)[\\w\\d]+`, its legacy `current.value.toString()` compared with
   '' and '$__all' (→ `1=1`, else the condition), the call rebuilt as `$__conditionalAll(` + arg0 + ',' + arg1 +
   ')' and replaced with JavaScript `String.prototype.replace` (first occurrence; `$$`, `$&`, `` $` ``, `$'`
   patterns in the replacement); a call without exactly two arguments stops the whole pass.
2. Template interpolation (`getTemplateSrv().replace(sql, scopedVars, this.format)`), which for a dashboard
   (scenes) is @grafana/scenes' `sceneInterpolator` (variables/interpolation/sceneInterpolator.ts,
   formatRegistry.ts, variants/MultiValueVariable.ts, constants.ts VARIABLE_REGEX): `$var`, `[[var:fmt]]`,
   `${var.path:fmt}`; All → every option's value, or a `CustomAllValue` (custom allValue, inserted
   UNFORMATTED then interpolated again); unknown names stay as written; the format is the explicit `:fmt`, else the
   plugin's own function: an array becomes `'a','b'` (joined with "','", no escaping), a string is kept as is.

Grafana core's template_srv.ts (public/app/features/templating) applies the same rules for non-scene callers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

ALL = "$__all"
Value = str | list[str]

# constants.ts VARIABLE_REGEX (JS `\w` is ASCII-only: re.ASCII)
VARIABLE_REGEX = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)((?:\.[^:^{}\[\]]+|\[\"[^\"]*\"\]|\['[^']*'\]|\[[^\]\"']*\])*)(?::([^}]+))?\}",
    re.ASCII,
)
_CONDITIONAL_VAR = re.compile(r"(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+", re.ASCII)


@dataclass
class Variable:
    """A dashboard variable as a scene holds it: options are the values a query variable found."""

    name: str
    type: str = "query"  # query | custom | constant | textbox
    value: Value = ALL  # '$__all' / ['$__all'] = All; a list for multi-value variables
    options: list[str] = field(default_factory=list)
    multi: bool = True
    include_all: bool = True
    all_value: str | None = None

    def has_all_value(self) -> bool:
        return self.value == ALL or (isinstance(self.value, list) and self.value[:1] == [ALL])

    def legacy_current_value(self) -> str:
        """`variable.current.value.toString()` as the plugin reads it (JS Array.toString joins with ',')."""
        return ",".join(self.value) if isinstance(self.value, list) else str(self.value)


@dataclass(frozen=True)
class CustomAllValue:
    value: str

    def formatter(self, fmt: Any) -> str:
        if fmt == "text":
            return "All"
        if fmt == "percentencode":
            return _encode_uri_component_strict(self.value)
        if fmt == "queryparam":
            return "var-All"  # not used by llmsight
        return self.value


def _js_string(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_js_string(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _encode_uri_component_strict(value: Any) -> str:
    # encodeURIComponent keeps A-Z a-z 0-9 - _ . ! ~ * ' ( ); the strict variant also encodes ! ' ( ) *
    return quote(_js_string(value), safe="-_.~")


def _escape_regex(value: str) -> str:
    return re.sub(r"[\\^$*+?.()|{}\[\]/]", lambda m: "\\" + m.group(0), value)


def _lucene_escape(value: str) -> str:
    try:
        float(value)
        return value
    except ValueError:
        return re.sub(r"([!*+\-=<>\s&|()\[\]{}^~?:\\/\"])", r"\\\1", value)


def _sqlstring_one(value: str) -> str:
    return "'" + re.sub(r"'|\"", lambda m: {"'": "''", '"': '\\"'}[m.group(0)], value) + "'"


def _format(fmt: str, value: Value, args: list[str], variable: Variable | None) -> str:
    """formatRegistry.ts, the formats a SQL dashboard can use."""
    is_list = isinstance(value, list)
    if fmt == "raw":
        return _js_string(value)
    if fmt == "csv":
        return ",".join(value) if is_list else _js_string(value)
    if fmt == "pipe":
        return "|".join(value) if is_list else _js_string(value)
    if fmt == "join":
        return (args[0] if args else ",").join(value) if is_list else _js_string(value)
    if fmt == "distributed":
        if not is_list:
            return _js_string(value)
        name = variable.name if variable else ""
        return ",".join(v if i == 0 else f"{name}={v}" for i, v in enumerate(value))
    if fmt == "singlequote":
        items = value if is_list else [_js_string(value)]
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in items)
    if fmt == "doublequote":
        items = value if is_list else [_js_string(value)]
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in items)
    if fmt == "sqlstring":
        items = value if is_list else [_js_string(value)]
        return ",".join(_sqlstring_one(v) for v in items)
    if fmt == "json":
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if fmt == "regex":
        if not is_list:
            return _escape_regex(_js_string(value))
        escaped = [_escape_regex(v) for v in value]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "lucene":
        if not is_list:
            return _lucene_escape(_js_string(value))
        return "__empty__" if not value else "(" + " OR ".join(f'"{_lucene_escape(v)}"' for v in value) + ")"
    if fmt == "percentencode":
        return _encode_uri_component_strict("{" + ",".join(value) + "}" if is_list else value)
    if fmt == "queryparam":
        name = variable.name if variable else ""
        items = value if is_list else [value]
        return "&".join(f"var-{name}={_encode_uri_component_strict(v)}" for v in items)
    if fmt == "text":
        if variable is not None and variable.has_all_value():
            return "All"
        return " + ".join(value) if is_list else _js_string(value)
    # glob, and the fallback for an unknown format
    if is_list and len(value) > 1:
        return "{" + ",".join(value) + "}"
    return _js_string(value)


def plugin_format(value: Value, variable: Variable | None = None) -> str:
    """CHDatasource.format: arrays → 'a','b' (not escaped), anything else as it is."""
    if isinstance(value, list):
        return "'" + "','".join(value) + "'"
    return _js_string(value)


Format = str | Callable[[Value, Variable | None], str] | None


@dataclass
class Scene:
    """The variables in scope of a panel, plus the time range (for $__from / $__to) and interval."""

    variables: Mapping[str, Variable]
    time_from: datetime
    time_to: datetime
    interval_s: float = 60
    data_row: Mapping[str, Any] | None = None  # ${__data.fields.x} / ${__value.raw} in data links
    value_field: str | None = None

    def macro(self, name: str, field_path: str | None, fmt: Format) -> str | None:
        from datetime import timedelta

        from llmsight.alerts.macros import format_duration

        if name in ("__from", "__to"):
            moment = self.time_from if name == "__from" else self.time_to
            millis = str(int(moment.timestamp() * 1000))
            if isinstance(fmt, str) and fmt.startswith("date"):
                args = fmt.split(":")[1:]
                if args and args[0] == "seconds":
                    return str(round(int(millis) / 1000))
                if args and args[0] != "ms":
                    raise NotImplementedError(f"date format {fmt}")
            return millis
        if name == "__interval":
            return format_duration(timedelta(seconds=self.interval_s))
        if name == "__interval_ms":
            return str(int(self.interval_s * 1000))
        if name == "__url_time_range":
            return f"from={int(self.time_from.timestamp() * 1000)}&to={int(self.time_to.timestamp() * 1000)}"
        if name == "__data" and self.data_row is not None and field_path and field_path.startswith("fields."):
            value = self.data_row[field_path.removeprefix("fields.")]
            return _format(fmt, _js_string(value), [], None) if isinstance(fmt, str) else _js_string(value)
        if name == "__value" and self.data_row is not None and field_path in ("raw", "text") and self.value_field:
            value = _js_string(self.data_row[self.value_field])
            return _format(fmt, value, [], None) if isinstance(fmt, str) else value
        return None


def _variable_value(variable: Variable) -> Value | CustomAllValue:
    if variable.type in ("query", "custom") and variable.has_all_value():
        if variable.all_value:
            return CustomAllValue(variable.all_value)
        return list(variable.options)
    return variable.value


def interpolate(target: str, scene: Scene, fmt: Format = None) -> str:
    """sceneInterpolator(sceneObject, target, scopedVars, format)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        explicit = match.group(3) or match.group(6)
        format_ = explicit or fmt
        raw_path = match.group(5)
        path = raw_path[1:] if raw_path and raw_path.startswith(".") else (raw_path or None)
        variable = scene.variables.get(name)
        if variable is None:
            macro = scene.macro(name, path, format_)
            return match.group(0) if macro is None else macro
        if path is not None:
            raise NotImplementedError(f"field paths on variables (${{{name}.{path}}})")
        value = _variable_value(variable)
        if isinstance(value, CustomAllValue):
            return interpolate(value.formatter(format_), scene)
        if variable.type == "constant" and isinstance(value, str):
            value = interpolate(value, scene)  # ConstantVariable.getValue interpolates itself
        if callable(format_):
            return format_(value, variable)
        args: list[str] = []
        name_of_format = format_ or "glob"
        if ":" in name_of_format:
            name_of_format, *args = name_of_format.split(":")
        return _format(name_of_format, value, args, variable)

    return VARIABLE_REGEX.sub(replace, target)


def _macro_args(query: str, args_index: int) -> list[str]:
    """CHDatasource.getMacroArgs."""
    args: list[str] = []
    bracket_count, last_arg_end = 0, 1
    tail = query[args_index:]
    for match in re.finditer(r"\(|\)|,", tail):
        node = match.group(0)
        if node == "(":
            bracket_count += 1
        elif node == ")":
            bracket_count -= 1
        if node == "," and bracket_count == 1:
            args.append(tail[last_arg_end:match.end() - 1])
            last_arg_end = match.end()
        if bracket_count == 0:
            args.append(tail[last_arg_end:match.end() - 1])
            return args
    return []


def _js_replace_first(text: str, pattern: str, replacement: str) -> str:
    """String.prototype.replace(string, string): the first occurrence, with the replacement's $ patterns."""
    index = text.find(pattern)
    if index < 0:
        return text
    before, after = text[:index], text[index + len(pattern):]

    def expand(match: re.Match[str]) -> str:
        token = match.group(0)
        return {"$$": "$", "$&": pattern, "$`": before, "$'": after}.get(token, token)

    return before + re.sub(r"\$[$&`']", expand, replacement) + after


def apply_conditional_all(raw_query: str, variables: Mapping[str, Variable]) -> str:
    """CHDatasource.applyConditionalAll."""
    macro = "$__conditionalAll("
    index = raw_query.rfind(macro)
    while index != -1:
        params = _macro_args(raw_query, index + len(macro) - 1)
        if len(params) != 2:
            return raw_query
        found = _CONDITIONAL_VAR.search(params[1].strip())
        phrase = params[0]
        if found:
            variable = variables.get(found.group(0))
            value = variable.legacy_current_value() if variable is not None else None
            if value == "" or value == ALL:
                phrase = "1=1"
        raw_query = _js_replace_first(raw_query, f"{macro}{params[0]},{params[1]})", phrase)
        index = raw_query.rfind(macro)
    return raw_query


def apply_template_variables(raw_sql: str, scene: Scene) -> str:
    """CHDatasource.applyTemplateVariables (no ad hoc filters on llmsight's dashboards)."""
    return interpolate(apply_conditional_all(raw_sql, scene.variables), scene, plugin_format)


def variables_from_dashboard(
    dashboard: Mapping[str, Any], options: Mapping[str, Sequence[str]], selection: Mapping[str, Value] | None = None
) -> dict[str, Variable]:
    """Scene variables for a dashboard's templating list: `options` are what each query variable's own query
    returned, `selection` overrides the saved current values."""
    selection = selection or {}
    out: dict[str, Variable] = {}
    for item in dashboard["templating"]["list"]:
        name, kind = item["name"], item["type"]
        if kind in ("constant", "textbox"):
            value: Value = selection.get(name, item["query"])
            out[name] = Variable(name, kind, value, multi=False, include_all=False)
            continue
        current = item.get("current", {}).get("value", ALL)
        if kind == "custom" and name not in options:
            found = [o["value"] for o in item.get("options", []) if o.get("value") != ALL]
            values = found or [v.strip() for v in item["query"].split(",") if v.strip()]
        else:
            values = list(options.get(name, []))
        out[name] = Variable(
            name, kind, selection.get(name, current), values, multi=bool(item.get("multi")),
            include_all=bool(item.get("includeAll")), all_value=item.get("allValue") or None,
        )
    return out


# --- configFromData, as Grafana's frontend applies it (public/app/features/transformers:
# configFromQuery/configFromQuery.ts and fieldToConfigMapping/fieldToConfigMapping.ts), then the field config
# validation and threshold lookup (packages/grafana-data: fieldOverrides.ts validateFieldConfig,
# thresholds.ts getActiveThreshold) --------------------------------------------------------------------
def config_from_data(mappings: list[dict[str, Any]], config_row: dict[str, float]) -> dict[str, Any]:
    """The field config a configFromData transformation gives the matched field, from the config query's row
    (its columns in query order). evaluateFieldMappings keeps the FIRST mapping per field name
    (`mappings.find`); an unmapped field's handler is its lower-cased name; each threshold1 field pushes one
    step in field order; keys set from data replace the panel's own (`{...field.config, ...dataConfig}`)."""
    config: dict[str, Any] = {}
    for field_name, value in config_row.items():
        mapping = next((m for m in mappings if m["fieldName"] == field_name), None)
        key = mapping["handlerKey"] if mapping else field_name.lower()
        if value is None:
            continue
        if key in ("max", "min"):
            config[key] = float(value)
        elif key == "threshold1":
            color = ((mapping or {}).get("handlerArguments") or {}).get("threshold", {}).get("color", "red")
            config.setdefault("thresholds", {"mode": "absolute", "steps": []})["steps"].append(
                {"value": float(value), "color": color})
    return config


def field_config(panel_defaults: dict[str, Any], from_data: dict[str, Any]) -> dict[str, Any]:
    """Data config over the panel's defaults, then validateFieldConfig: the first step's value is -Infinity."""
    merged = {**panel_defaults, **from_data}
    steps = [dict(step) for step in merged.get("thresholds", {}).get("steps", [])]
    if steps:
        steps[0]["value"] = float("-inf")
    return {**merged, "thresholds": {**merged.get("thresholds", {}), "steps": steps}}


def active_threshold_color(value: float, steps: list[dict[str, Any]]) -> str:
    """getActiveThreshold: the last step whose value the number reaches, steps in their given order."""
    active = steps[0]
    for step in steps:
        if value >= (step["value"] if step["value"] is not None else float("-inf")):
            active = step
        else:
            break
    return str(active["color"])

"""The arithmetic of a rule's `condition.value` (`$recent / $baseline`, `$baseline - $recent`) for the
built-in evaluator: + - * / and parentheses over query values and numbers, with float64 semantics (x/0
is ±Inf or NaN, NaN propagates) and a missing (NULL) operand making the result missing."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

Values = Mapping[str, float | None]
Expression = Callable[[Values], float | None]
_TOKEN = re.compile(r"\s*(?:(\$[a-z][a-z0-9_]*)|(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|([-+*/()]))")


def _divide(a: float, b: float) -> float:
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


_OPERATORS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": _divide,
}


def _binary(op: str, left: Expression, right: Expression) -> Expression:
    def apply(values: Values) -> float | None:
        a, b = left(values), right(values)
        if a is None or b is None:
            return None
        return _OPERATORS[op](a, b)

    return apply


def compile_expression(text: str) -> Expression:
    tokens: list[str] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"cannot read {text[position:]!r} in {text!r}")
        tokens.append(match.group(match.lastindex or 0))
        position = match.end()
    index = 0

    def peek() -> str | None:
        return tokens[index] if index < len(tokens) else None

    def take() -> str:
        nonlocal index
        if index >= len(tokens):
            raise ValueError(f"incomplete expression {text!r}")
        index += 1
        return tokens[index - 1]

    def primary() -> Expression:
        token = take()
        if token == "(":
            inner = sum_()
            if take() != ")":
                raise ValueError(f"missing ')' in {text!r}")
            return inner
        if token == "-":
            operand = primary()
            return lambda values: None if (v := operand(values)) is None else -v
        if token.startswith("$"):
            name = token[1:]
            return lambda values: None if values.get(name) is None else float(values[name])  # type: ignore[arg-type]
        if token[0].isdigit():
            number = float(token)
            return lambda values: number
        raise ValueError(f"unexpected {token!r} in {text!r}")

    def product() -> Expression:
        result = primary()
        while peek() in ("*", "/"):
            op = take()
            result = _binary(op, result, primary())
        return result

    def sum_() -> Expression:
        result = product()
        while peek() in ("+", "-"):
            op = take()
            result = _binary(op, result, product())
        return result

    expression = sum_()
    if index != len(tokens):
        raise ValueError(f"unexpected {tokens[index]!r} in {text!r}")
    return expression

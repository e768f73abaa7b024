"""One loader for every YAML configuration file (prices, alerts, collector settings).

    overrides = load_yaml_model(Path("prices.yaml"), PriceOverrides)

The file is read as UTF-8, parsed (libyaml when available), checked for duplicate keys, then validated by a
pydantic model (which should forbid unknown keys). Every failure is a `ConfigFileError` whose text is
`FILE:LINE: what is wrong`, one line per problem, so the user can go straight to the line at fault.

YAML timestamps are kept as strings: pydantic parses them with a readable error, where PyYAML would raise
from deep inside the parser on `2026-13-01`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from llmsight.errors import ConfigurationError, LLMSightError

M = TypeVar("M", bound=BaseModel)
MAX_REPORTED = 20  # problems listed before "... and N more"

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # C parser: ~10x faster on large files


class ConfigFileError(ConfigurationError):
    """A configuration file is wrong. `str()` is `FILE:LINE: message` (one line per problem)."""

    def __init__(self, path: Path, problems: Sequence[tuple[int | None, str]]) -> None:
        self.path = path
        self.problems = list(problems)
        self.line = self.problems[0][0] if self.problems else None
        self.message = self.problems[0][1] if self.problems else "invalid"
        shown = [f"{path}:{line}: {message}" if line else f"{path}: {message}" for line, message in self.problems[:MAX_REPORTED]]
        if len(self.problems) > MAX_REPORTED:
            shown.append(f"{path}: ... and {len(self.problems) - MAX_REPORTED} more problems")
        super().__init__("\n".join(shown))


class _KeyProblem(LLMSightError, yaml.YAMLError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


class _StrictLoader(_Loader):  # type: ignore[misc]
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_lines: dict[tuple[str, Any], int] = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` overrides on purpose
            if not isinstance(key_node, yaml.ScalarNode):
                raise _KeyProblem(line, "a key must be a plain value, not a list or mapping")
            key = (key_node.tag, key_node.value)
            if key in first_lines:
                raise _KeyProblem(line, f"duplicate key {key_node.value!r} (first set on line {first_lines[key]})")
            first_lines[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> str:
        return str(self.construct_scalar(node))


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_yaml_timestamp)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigFileError(path, [(None, f"cannot read: {exc.strerror or exc}")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigFileError(
            path, [(line, f"not UTF-8: byte 0x{data[exc.start]:02x} at column {column} (save the file as UTF-8)")]
        ) from None


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """A large file is millions of young objects and no garbage: the cyclic collector's passes over them
    made parsing superlinear (a 200k-entry prices file took minutes). It runs again afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """The document and its node tree (for line numbers). Raises ConfigFileError."""
    text = _read_text(path)
    loader = _StrictLoader(text)
    try:
        with _no_gc_pauses():
            node = loader.get_single_node()
            document = loader.construct_document(node) if node is not None else None
    except _KeyProblem as exc:
        raise ConfigFileError(path, [(exc.line, str(exc))]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ConfigFileError(path, [(mark.line + 1 if mark else None, f"not valid YAML: {problem}")]) from None
    except (yaml.YAMLError, ValueError, TypeError) as exc:  # the constructors raise plain errors too
        raise ConfigFileError(path, [(None, f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    cycle = _recursive_alias_line(node) if "&" in text else None  # only an anchor can be aliased
    if cycle is not None:
        raise ConfigFileError(path, [(cycle, "nested too deeply: an alias refers to a node that contains it")])
    return document, node


def _recursive_alias_line(root: yaml.Node | None) -> int | None:
    """The line of a node that contains an alias of itself (`a: &a [*a]`), which no model can validate."""
    if root is None:
        return None
    on_path: set[int] = set()
    done: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            on_path.discard(id(node))
            done.add(id(node))
            continue
        if id(node) in on_path:
            return int(node.start_mark.line) + 1
        if id(node) in done or isinstance(node, yaml.ScalarNode):
            continue
        on_path.add(id(node))
        stack.append((node, True))
        children = node.value if isinstance(node, yaml.SequenceNode) else [child for pair in node.value for child in pair]
        stack.extend((child, False) for child in children)
    return None


def line_of(node: yaml.Node | None, loc: Sequence[Any]) -> int | None:
    """1-based line of the deepest node along a pydantic error location: the key's line for a mapping
    entry (also for an unknown key), the mapping's first line for a missing key."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        # else: a location part with no node of its own (a union member, a validator's name): skip it
    return line


def validation_problems(exc: ValidationError, node: yaml.Node | None) -> list[tuple[int | None, str]]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        where = ".".join(str(part) for part in loc if part != "[key]")
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"].removeprefix("Value error, ")
        problems.append((line_of(node, loc), f"{where}: {message}" if where else message))
    return sorted(problems, key=lambda problem: problem[0] or 0)


def validate_document(path: Path, document: Any, node: yaml.Node | None, model: type[M]) -> M:
    """Validate a parsed document; pydantic's errors become `FILE:LINE: field: message`."""
    try:
        with _no_gc_pauses():
            return model.model_validate({} if document is None else document)
    except ValidationError as exc:
        raise ConfigFileError(path, validation_problems(exc, node)) from None


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Read, parse and validate a YAML configuration file. An empty file is an empty mapping."""
    document, node = parse_yaml(path)
    return validate_document(path, document, node, model)

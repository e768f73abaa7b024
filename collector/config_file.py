"""Strict YAML config files: one pydantic model per file, every error as `file:line: what is wrong`.

`load_yaml_model(path, Model)` reads UTF-8 YAML, rejects duplicate keys, validates with the model (whose
`extra="forbid"` rejects unknown keys) and maps each validation error back to the line of the offending
key or value, so a typo in a config file is reported where it is, at start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
Location = tuple[str | int, ...]


class ConfigFileError(ValueError):
    """A config file that cannot be used; str() is `file:line: message` (one line per problem)."""

    def __init__(self, path: Path, problems: list[tuple[int, str]]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}:{line}: {message}" for line, message in problems))


class _Loader(yaml.SafeLoader):
    """SafeLoader that records the line of every mapping key and value and rejects duplicate keys."""

    lines: dict[Location, int]


def _walk(loader: _Loader, node: yaml.Node, location: Location) -> Any:
    loader.lines.setdefault(location, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise yaml.MarkedYAMLError(problem="a key must be a plain value", problem_mark=key_node.start_mark)
            if key in result:
                raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark)
            loader.lines[(*location, key)] = key_node.start_mark.line + 1
            result[key] = _walk(loader, value_node, (*location, key))
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, item, (*location, index)) for index, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _line_of(lines: dict[Location, int], location: Location) -> int:
    """The line of the deepest known prefix of a pydantic error location."""
    for end in range(len(location), -1, -1):
        if location[:end] in lines:
            return lines[location[:end]]
    return 1


def load_yaml_document(path: Path) -> tuple[Any, dict[Location, int]]:
    """The parsed document and the line of every key path; ConfigFileError for unreadable YAML."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigFileError(path, [(1, f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(path, [(1, f"not UTF-8 text (byte {exc.start})")]) from None
    loader = _Loader(text)
    loader.lines = {}
    try:
        root = loader.get_single_node()
        document = _walk(loader, root, ()) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigFileError(path, [((mark.line + 1) if mark else 1, str(exc.problem or exc))]) from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(path, [(1, str(exc))]) from None
    except RecursionError:  # a self-referencing alias
        raise ConfigFileError(path, [(1, "nested too deeply (a recursive alias?)")]) from None
    finally:
        loader.dispose()
    return document, loader.lines


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Validate the YAML file at `path` as `model`; an empty file is the model's defaults."""
    document, lines = load_yaml_document(path)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigFileError(path, [(1, f"expected a mapping of settings, found {type(document).__name__}")])
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = tuple(error["loc"])
            where = ".".join(str(part) for part in location if part != "[key]")
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append((_line_of(lines, location), f"{where}: {message}" if where else message))
        raise ConfigFileError(path, sorted(problems)) from None

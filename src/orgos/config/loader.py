"""YAML loading whose errors name the file and the line.

PyYAML gives a node tree with positions; a pydantic error's location is
walked down that tree to find the line of the offending key or value."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from orgos.errors import ConfigError

M = TypeVar("M", bound=pydantic.BaseModel)


def _line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse a YAML file; malformed YAML raises ConfigError with file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    return data, node


def validate(
    model: type[M],
    data: Any,
    *,
    path: Path,
    node: yaml.Node | None,
    loc_prefix: Sequence[int | str] = (),
) -> M:
    """Validate data into ``model``; errors name file, line and field."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = [*loc_prefix, *err["loc"]]
            line = _line_of(node, loc)
            field = ".".join(str(p) for p in err["loc"]) or "(top)"
            where = f"{path}:{line}" if line else str(path)
            lines.append(f"{where}: {field}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None


def load_file(model: type[M], path: Path) -> M:
    data, node = read_yaml(path)
    if data is None:
        raise ConfigError(f"{path}:1: the file is empty")
    return validate(model, data, path=path, node=node)

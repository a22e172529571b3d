"""The tools a kernel knows, by name, with a version that changes with them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orgos.tools.base import Tool


class ToolRegistry(dict[str, Tool]):
    """A dict of tools by name whose ``version`` counts its changes.

    What is built from the tools (an agent's tool schemas, offered to its
    model) is kept with the version it was built from and rebuilt when the
    version moved on: a tool replaced under the same name (``add_tool``)
    is seen at once, schema and function together. Reads are a dict's."""

    __slots__ = ("version",)

    def __init__(self, tools: Mapping[str, Tool] | Iterable[tuple[str, Tool]] = ()) -> None:
        super().__init__(tools)
        self.version = 0

    def __setitem__(self, name: str, tool: Tool) -> None:
        super().__setitem__(name, tool)
        self.version += 1

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name)
        self.version += 1

    def __ior__(self, other: Any) -> ToolRegistry:  # type: ignore[override,misc]
        self.update(other)
        return self

    def update(self, *args: Any, **kwargs: Tool) -> None:
        super().update(*args, **kwargs)
        self.version += 1

    def setdefault(self, name: str, default: Tool) -> Tool:
        if name not in self:
            self[name] = default
        return self[name]

    def pop(self, name: str, *default: Any) -> Any:
        self.version += 1
        return super().pop(name, *default)

    def popitem(self) -> tuple[str, Tool]:
        self.version += 1
        return super().popitem()

    def clear(self) -> None:
        super().clear()
        self.version += 1

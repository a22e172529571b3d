"""What a run's tool calls achieved, held against what its answer claims.

An agent spec's ``requires`` names the tools whose effect the run is for: the
run cannot succeed unless each of them succeeded, and a denied or failed one
fails the run, saying why. ``bind`` ties answer fields to tool results: a
refund id in the answer must be one a refund call of this run returned, so a
model cannot report a refund that never happened. The results held here are
the ones the loop got from journaled ``tool`` syscalls, so a replay rebuilds
the same verdicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from orgos.config.specs import AgentSpec
from orgos.errors import OrgosError
from orgos.tools.base import ToolResult

#: How many times an answer that fails its bindings or requirements is sent
#: back before the run fails.
MAX_REJECTED = 2
_MISSING = object()


class RequiredEffectFailed(OrgosError):
    """A tool the agent's run is for was denied or failed: the run cannot succeed."""


class InventedValue(OrgosError):
    """The answer kept giving a value no tool of the run returned."""


@dataclass(slots=True)
class Effects:
    spec: AgentSpec
    #: Tool name -> the values of its successful calls, in order.
    ok: dict[str, list[Any]] = field(default_factory=dict)
    #: Tool name -> the error of its last failed (or denied) call.
    failed: dict[str, str] = field(default_factory=dict)
    rejected: int = 0

    @classmethod
    def of(cls, spec: AgentSpec) -> Effects | None:
        """The tracker of a spec that asks for one (most do not: no cost)."""
        return cls(spec) if spec.requires or spec.bind else None

    def record(self, name: str, result: ToolResult) -> None:
        if result.ok:
            self.ok.setdefault(name, []).append(result.value)
        else:
            self.failed[name] = result.error or "it failed"

    def problem(self, answer: Any, report: bool) -> str | None:
        """Why the answer cannot stand yet (the model is told and asked
        again); raises when it never can: a required tool failed, or the
        model kept answering with values no tool returned."""
        spec = self.spec
        problems: list[str] = []
        for name in spec.requires:
            if name in self.ok:
                continue
            if name in self.failed:
                raise RequiredEffectFailed(
                    f"{spec.name}'s required {name} did not succeed: {self.failed[name]}"
                )
            problems.append(f"you have not called {name}; the task needs it done")
        data = answer.get("data") if report and isinstance(answer, dict) else answer
        unbound = self._unbound(data)
        problems.extend(unbound)
        if not problems:
            return None
        self.rejected += 1
        why = "; ".join(problems)
        if self.rejected <= MAX_REJECTED:
            return why
        if unbound:
            raise InventedValue(f"{spec.name}'s answer was sent back {MAX_REJECTED} times: {why}")
        raise RequiredEffectFailed(f"{spec.name} answered without doing its task: {why}")

    def _unbound(self, data: Any) -> list[str]:
        out: list[str] = []
        for fld, source in self.spec.bind.items():
            value = _get(data, fld)
            if value is _MISSING:
                continue  # the schema says whether it must be there
            tool, _, path = source.partition(".")
            returned = [v for r in self.ok.get(tool, []) if (v := _get(r, path)) is not _MISSING]
            if any(_same(value, v) for v in returned):
                continue
            if returned:
                said = ", ".join(_show(v) for v in returned[:5])
                out.append(
                    f"{fld} is {_show(value)}, but {tool} returned {path} {said} in this run;"
                    f" give the {path} {tool} returned"
                )
            else:
                out.append(
                    f"{fld} is {_show(value)}, but no {tool} call succeeded in this run,"
                    f" so there is no {path} to give"
                )
        return out


def _get(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return bool(a == b)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."

"""The rule engine: rules compiled once into matchers, evaluated on every
syscall. First matching rule decides; otherwise the default.

Cheap by construction: the rules that could apply to an (agent, kind, tool)
are found once and cached; per call only their dynamic conditions (arguments,
cost, time, taint) run, as precompiled closures.
"""

from __future__ import annotations

import asyncio
import fnmatch
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orgos.errors import OrgosError
from orgos.policy.spec import Action, PolicySpec, Rule

_MISSING = object()


@dataclass(slots=True)
class Call:
    """A syscall as policy sees it."""

    agent: str
    kind: str
    tool: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    team: str | None = None
    risk: str = "low"
    untrusted: bool = False
    cost: float = 0.0
    tokens: int = 0
    hour: int = 0
    #: Computes the tool's facts (lazily: only rules that need them ask).
    facts_fn: Callable[[], Mapping[str, Any]] | None = None
    _facts: Mapping[str, Any] | None = None

    def facts(self) -> Mapping[str, Any]:
        if self._facts is None:
            self._facts = self.facts_fn() if self.facts_fn is not None else {}
        return self._facts


@dataclass(slots=True, frozen=True)
class Decision:
    action: Action
    rule: str | None
    reason: str
    approver: str | None = None


Pred = Callable[[Call], bool]

#: Syscalls that record a run's own bookkeeping (its clock, its workflow's
#: step states and routing, waits, guardrail checks) rather than act on the
#: world. A rule that names them decides them; the ``default`` does not, so
#: ``default: deny`` governs effects without stopping the engine itself.
BOOKKEEPING = frozenset({"clock", "step", "route", "wait", "cancel", "bus.mark", "guard", "gate"})


def _names(v: str | list[str] | None) -> Callable[[str | None], bool] | None:
    if v is None:
        return None
    pats = [v] if isinstance(v, str) else list(v)
    exact = frozenset(p for p in pats if not any(c in p for c in "*?["))
    globs = [p for p in pats if p not in exact]

    def match(name: str | None) -> bool:
        if name is None:
            return False
        return name in exact or any(fnmatch.fnmatchcase(name, g) for g in globs)

    return match


def _lookup(obj: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(obj, Mapping):
            obj = obj.get(part, _MISSING)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return _MISSING
        if obj is _MISSING:
            return obj
    return obj


class NotFinite(OrgosError, ValueError):
    """A numeric comparison met NaN or an infinity: no answer is safe, so the
    rule's condition fails closed (a deny or approve rule applies)."""


def _num(a: Any, b: Any, op: Callable[[float, float], bool]) -> bool:
    if isinstance(a, bool) or not isinstance(a, int | float):
        try:
            a = float(a)
        except (TypeError, ValueError, OverflowError):
            return False
    if not math.isfinite(a):
        raise NotFinite(f"{a!r} is not a finite number")
    try:
        return op(a, float(b))
    except (TypeError, ValueError):
        return False


def _matches(v: Any, rx: re.Pattern[str]) -> bool:
    return isinstance(v, str) and rx.search(v) is not None


def _contains(v: Any, r: Any) -> bool:
    return isinstance(v, str | list | dict) and r in v


def _in(v: Any, r: Any) -> bool:
    try:
        return v in r
    except TypeError:
        return False


_BINOPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": lambda v, r: _num(v, r, operator.gt),
    "gte": lambda v, r: _num(v, r, operator.ge),
    "lt": lambda v, r: _num(v, r, operator.lt),
    "lte": lambda v, r: _num(v, r, operator.le),
    "in": _in,
    "not_in": lambda v, r: not _in(v, r),
    "contains": _contains,
    "matches": _matches,
}


def _comparison(cond: Any) -> Callable[[Any], bool]:
    """A test on one value; ``cond`` is a plain value (equality) or a dict of
    comparisons, all of which must hold. A missing value fails every test
    but ``exists: false``."""
    if not isinstance(cond, dict):

        def equal(v: Any) -> bool:
            return v is not _MISSING and bool(v == cond)

        return equal
    pairs: list[tuple[Callable[[Any, Any], bool], Any]] = []
    exists: bool | None = None
    for op, ref in cond.items():
        if op == "exists":
            exists = bool(ref)
        else:
            pairs.append((_BINOPS[op], re.compile(str(ref)) if op == "matches" else ref))

    def check(v: Any) -> bool:
        if v is _MISSING:
            return exists is False
        if exists is False:
            return False
        return all(f(v, r) for f, r in pairs)

    return check


def _path_pred(test: Callable[[Any], bool], keys: list[str], facts: bool) -> Pred:
    if facts:

        def on_facts(c: Call) -> bool:
            return test(_lookup(c.facts(), keys))

        return on_facts

    def on_args(c: Call) -> bool:
        return test(_lookup(c.args, keys))

    return on_args


def _hours(spec: str) -> Callable[[int], bool]:
    a, b = (int(x) for x in spec.split("-"))
    if a <= b:
        return lambda h: a <= h < b
    return lambda h: h >= a or h < b


class CompiledRule:
    def __init__(self, rule: Rule):
        self.rule = rule
        w = rule.when
        self.agent = _names(w.agent)
        self.team = _names(w.team)
        self.kind = _names(w.kind)
        self.tool = _names(w.tool)
        self.preds: list[tuple[str, Pred]] = []
        for path, cond in w.args.items():
            pred = _path_pred(_comparison(cond), path.split("."), facts=False)
            self.preds.append((f"args.{path} {cond}", pred))
        for path, cond in w.facts.items():
            pred = _path_pred(_comparison(cond), path.split("."), facts=True)
            self.preds.append((f"facts.{path} {cond}", pred))
        risk = _names(w.risk)
        if risk is not None:
            self.preds.append((f"risk {w.risk}", lambda c: risk(c.risk)))
        if w.untrusted is not None:
            u = w.untrusted
            self.preds.append((f"untrusted {u}", lambda c: c.untrusted == u))
        if w.cost_over is not None:
            co = w.cost_over
            self.preds.append((f"cost over {co}", lambda c: c.cost > co))
        if w.tokens_over is not None:
            to = w.tokens_over
            self.preds.append((f"tokens over {to}", lambda c: c.tokens > to))
        if w.hours is not None:
            h = _hours(w.hours)
            self.preds.append((f"hours {w.hours}", lambda c: h(c.hour)))

    def static(self, agent: str, team: str | None, kind: str, tool: str | None) -> str | None:
        """Why the rule cannot apply to calls of this shape, or None."""
        for name, test, value in (
            ("agent", self.agent, agent),
            ("team", self.team, team),
            ("kind", self.kind, kind),
            ("tool", self.tool, tool),
        ):
            if test is not None and not test(value):
                return f"{name} is {value!r}"
        return None

    def dynamic(self, call: Call) -> str | None:
        for desc, pred in self.preds:
            try:
                ok = pred(call)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # facts could not be computed: fail closed,
                if self.rule.decide != "allow":  # a deny or approve rule applies
                    return None
                return f"{desc} failed: {type(exc).__name__}: {exc}"
            if not ok:
                return f"not {desc}"
        return None


class RuleSet:
    def __init__(self, spec: PolicySpec):
        self.spec = spec
        self.rules = [CompiledRule(r) for r in spec.rules]
        self._by_shape: dict[tuple[str, str | None, str, str | None], list[CompiledRule]] = {}
        self._default = Decision(spec.default, None, "no rule matched; the default decides")
        self._own = Decision("allow", None, "the run's own bookkeeping; no rule matched")

    def candidates(
        self, agent: str, team: str | None, kind: str, tool: str | None
    ) -> list[CompiledRule]:
        key = (agent, team, kind, tool)
        found = self._by_shape.get(key)
        if found is None:
            found = [r for r in self.rules if r.static(agent, team, kind, tool) is None]
            if len(self._by_shape) > 10_000:
                self._by_shape.clear()
            self._by_shape[key] = found
        return found

    def needs_facts(self, agent: str, team: str | None, kind: str, tool: str | None) -> bool:
        return any(r.rule.when.facts for r in self.candidates(agent, team, kind, tool))

    def decide(self, call: Call) -> Decision:
        for r in self.candidates(call.agent, call.team, call.kind, call.tool):
            if not r.preds or r.dynamic(call) is None:
                return _decision(r.rule)
        return self._own if call.kind in BOOKKEEPING else self._default

    def explain(self, call: Call) -> tuple[Decision, list[tuple[str, str]]]:
        """The decision, and for each rule in order whether it matched and why not."""
        trace: list[tuple[str, str]] = []
        decision: Decision | None = None
        for r in self.rules:
            why = r.static(call.agent, call.team, call.kind, call.tool) or r.dynamic(call)
            if decision is None and why is None:
                decision = _decision(r.rule)
                trace.append((r.rule.name, f"matches: {r.rule.decide}"))
            elif why is None:
                trace.append((r.rule.name, "would match, but an earlier rule decided"))
            else:
                trace.append((r.rule.name, f"skipped: {why}"))
        fallback = self._own if call.kind in BOOKKEEPING else self._default
        return decision or fallback, trace


def _decision(rule: Rule) -> Decision:
    reason = rule.reason or (
        f"denied by policy rule {rule.name!r}"
        if rule.decide == "deny"
        else f"policy rule {rule.name!r} requires a person's approval"
        if rule.decide == "approve"
        else f"allowed by policy rule {rule.name!r}"
    )
    return Decision(rule.decide, rule.name, reason, rule.approver)

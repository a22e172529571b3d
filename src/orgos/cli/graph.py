"""``orgos show`` for a workflow run: its graph, layer by layer, with each
step's state, who did it, its runs (branches, attempts), time and summary.

The state comes from the run's journal (the engine journals each change of a
step's state) and from its child runs (each knows its step)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from orgos.cli.common import fmt_seconds, short
from orgos.cli.safe import inert, safe
from orgos.cli.tree import RunNode, run_seconds
from orgos.kernel.run_input import RunInput, StepOrigin
from orgos.store.waiting import WaitDecision

if TYPE_CHECKING:
    from rich.console import RenderableType

STATE_STYLE = {
    "succeeded": ("✓", "green"),
    "failed": ("✗", "red"),
    "running": ("▶", "cyan"),
    "pending": ("·", "dim"),
    "skipped": ("↷", "dim"),
    "compensated": ("↶", "yellow"),
    "not run": ("·", "dim"),
    "escalated": ("⏸", "yellow"),
}


@dataclass
class StepView:
    id: str
    doer: str
    needs: list[str]
    state: str = "pending"
    error: str | None = None
    runs: list[RunNode] = field(default_factory=list)
    layer: int = 0

    @property
    def agents(self) -> list[str]:
        return sorted({n.run.target for n in self.runs if not _origin(n).compensation})

    @property
    def seconds(self) -> float | None:
        if not self.runs:
            return None
        start = min(n.run.created_at for n in self.runs)
        end = max(n.run.created_at + run_seconds(n.run) for n in self.runs)
        return end - start


#: The origin of a run started for no step.
_NO_STEP = StepOrigin("", "", -1, 1, 0)


def _origin(node: RunNode) -> StepOrigin:
    inp = node.run.input
    return (RunInput.read(inp).step if isinstance(inp, dict) else None) or _NO_STEP


def workflow_steps(node: RunNode) -> list[StepView]:
    """The steps of a workflow run, with their states, in layers."""
    inp = node.run.input
    spec = (RunInput.read(inp).workflow if isinstance(inp, dict) else None) or {}
    views = {
        s["id"]: StepView(s["id"], _doer(s), list(s.get("needs") or []))
        for s in spec.get("steps") or []
    }
    for e in node.journal:
        if e.phase == "intent" and e.kind == "step" and isinstance(e.payload, dict):
            for sid, state in (e.payload.get("states") or {}).items():
                if sid in views:
                    views[sid].state = state
            for sid, err in (e.payload.get("errors") or {}).items():
                if sid in views:
                    views[sid].error = err
    for child in node.children:
        sid = _origin(child).step
        if sid in views:
            views[sid].runs.append(child)
    _escalated(node, views)
    if node.run.status.terminal:
        for v in views.values():
            if v.state == "pending":
                v.state = "not run"
    for v in views.values():
        v.layer = _layer(views, v.id, set())
    return sorted(views.values(), key=lambda v: v.layer)


def _escalated(node: RunNode, views: dict[str, StepView]) -> None:
    """The step a waiting workflow escalated to a person: not running, waiting
    for their answer, and why."""
    if node.run.status.value != "waiting":
        return
    w = node.run.waiting_on
    req = w.request if type(w) is WaitDecision and w.syscall == "escalate" else None
    v = views.get(str((req or {}).get("step")))
    if v is not None and isinstance(req, dict):
        v.state = "escalated"
        v.error = f"to {req.get('to')}: {req.get('error')}"


def _doer(step: dict[str, Any]) -> str:
    if step.get("agent"):
        return str(step["agent"])
    if step.get("route"):
        route = step["route"]
        return f"route({','.join(route.get('capabilities') or [])}: {route.get('strategy')})"
    if step.get("workflow"):
        return f"workflow {step['workflow']}"
    return f"planner {step.get('planner')}"


def _layer(views: dict[str, StepView], sid: str, seen: set[str]) -> int:
    if sid in seen:
        return 0
    needs = [n for n in views[sid].needs if n in views]
    return 1 + max((_layer(views, n, seen | {sid}) for n in needs), default=0)


def runs_text(v: StepView) -> str:
    work = [n for n in v.runs if not _origin(n).compensation]
    if not work:
        return "-"
    branches = {_origin(n).branch for n in work}
    ok = sum(1 for n in work if n.run.status.value == "succeeded")
    if branches != {-1}:
        done = len({_origin(n).branch for n in work if n.run.status.value == "succeeded"})
        extra = len(work) - len(branches)
        text = f"{done}/{len(branches)} branches"
        return text + (f", {extra} retries" if extra else "")
    iterations = max((_origin(n).iteration for n in work), default=0)
    text = f"{ok}/{len(work)} run(s)"
    return text + (f", {iterations} iterations" if iterations > 1 else "")


def summary_of(v: StepView) -> str:
    if v.error:
        return v.error
    for n in reversed(v.runs):
        out = n.run.output
        if n.run.status.value == "succeeded":
            if isinstance(out, dict) and "summary" in out:
                return str(out.get("summary"))
            return short(out, 80)
    return ""


def render_workflow(node: RunNode, *, full: bool = False) -> RenderableType:
    r = node.run
    head = Text()
    head.append(inert(f"workflow {r.target}@{r.target_version}"), style="bold")
    head.append(f" {inert(r.id)} ", style="dim")
    mark, style = STATE_STYLE.get(r.status.value, ("", ""))
    head.append(inert(r.status.value), style=style or _run_style(r.status.value))
    head.append(f"  {fmt_seconds(run_seconds(r))}", style="dim")
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold dim")
    for col in ("", "step", "state", "by", "needs", "runs", "time", "summary"):
        table.add_column(col, overflow="fold")
    last = 0
    for v in workflow_steps(node):
        mark, style = STATE_STYLE.get(v.state, ("?", "white"))
        agents = ", ".join(v.agents[:3]) + ("…" if len(v.agents) > 3 else "")
        by = v.doer if not agents or agents == v.doer else f"{v.doer} → {agents}"
        table.add_row(  # every cell a Text: a step's summary is the model's words
            f"{v.layer}" if v.layer != last else "",
            safe(v.id),
            safe(f"{mark} {v.state}", style),
            safe(by),
            safe("← " + ", ".join(v.needs) if v.needs else ""),
            safe(runs_text(v)),
            fmt_seconds(v.seconds),
            Text(short(summary_of(v), None if full else 60)),
        )
        last = v.layer
    parts: list[RenderableType] = [head, table]
    if r.status.value == "succeeded":
        parts.append(Text("output: ", style="green") + Text(short(r.output, None if full else 300)))
    elif r.error:
        parts.append(Text(f"{inert(r.status.value)}: {short(r.error, None)}",
                          style="yellow" if r.status.value == "waiting" else "red"))  # fmt: skip
    return Group(*parts)


def _run_style(status: str) -> str:
    return {"waiting": "yellow", "cancelled": "red", "queued": "cyan"}.get(status, "white")

"""Rich renderings: the run tree (``orgos show``), the runs table, outcomes."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from orgos.cli.common import fmt_seconds, fmt_tokens, short
from orgos.cli.safe import inert, inert_json, safe
from orgos.cli.tree import RunNode, Step, outcome, run_seconds
from orgos.kernel.run_input import RunInput
from orgos.redact import redact_env
from orgos.store.waiting import WaitApproval, WaitDecision

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from orgos.store.base import RunRecord

STATUS_STYLE = {
    "succeeded": ("✓", "green"),
    "failed": ("✗", "red"),
    "cancelled": ("⊘", "red"),
    "waiting": ("⏸", "yellow"),
    "running": ("▶", "cyan"),
    "queued": ("…", "cyan"),
}


def status_text(status: str) -> Text:
    mark, style = STATUS_STYLE.get(status, ("?", "white"))
    return Text(f"{mark} {inert(status)}", style=style)


def call_text(name: str, args: Any, limit: int | None) -> str:
    """``name(key=value, ...)`` with JSON values; inert (``short``)."""
    if isinstance(args, dict):
        inner = ", ".join(
            f"{k}={short(json.dumps(v, ensure_ascii=False), None)}" for k, v in args.items()
        )
    else:
        inner = short(args, None)
    return short(f"{name}({inner})", limit)


def tokens_text(i: int, o: int) -> str:
    return f"{fmt_tokens(i)} in / {fmt_tokens(o)} out tok"


def decision_text(decision: Any) -> str:
    """A person's answer about a step: an approval, or an in-doubt call's fate."""
    if not isinstance(decision, dict):
        return short(decision, None)
    d = decision
    by = f" by {d['by']}" if d.get("by") else ""
    if "approval" in d:
        text = f"{d.get('decision')}{by} ({d.get('approval')})"
        if d.get("edited_arguments") is not None:
            text += f" with arguments {short(d['edited_arguments'], None)}"
    elif "action" in d:
        text = f"decided {d['action']}{by}"
        if "value" in d:
            text += f", result {short(d['value'], None)}"
    else:
        return short(d, None)
    if d.get("note"):
        text += f": {d['note']}"
    return short(text, None)


# --- the tree ---------------------------------------------------------------------------
def run_label(node: RunNode, *, full: bool) -> Text:
    r = node.run
    label = Text()
    label.append(inert(f"{r.target}@{r.target_version}"), style="bold")
    label.append(f" {inert(r.id)} ", style="dim")
    label.append_text(status_text(r.status.value))
    i, o = node.own_tokens
    label.append(f"  {fmt_seconds(node.seconds)}  {tokens_text(i, o)}", style="dim")
    task = RunInput.read(r.input).task if isinstance(r.input, dict) else r.input
    if task:
        label.append("\ntask: ", style="dim")
        label.append(short(task, None if full else 200))
    return label


def _count(value: Any) -> int:
    """How many runs a wait names: a list of ids, or their number."""
    if isinstance(value, list):
        return len(value)
    return value if isinstance(value, int) else 0


def step_label(node: RunNode, step: Step, *, full: bool) -> Text:
    lim = None if full else 160
    t = Text()
    t.append(f"#{step.seq} ", style="dim")
    req = step.request if isinstance(step.request, dict) else {}
    _, value, _ = outcome(step.result)
    if step.kind == "llm":
        model = value.get("model") if isinstance(value, dict) else None
        t.append("model", style="magenta")
        t.append(" " + short(model or req.get("model", ""), None))
    elif step.kind == "tool":
        t.append("tool ", style="blue")
        t.append(call_text(str(req.get("tool", "?")), req.get("arguments", {}), lim))
    elif step.kind == "delegate":
        kids = req.get("children") or []
        t.append("delegate", style="blue")
        t.append(" → " + short(", ".join(str(c.get("target")) for c in kids), None))
    elif step.kind == "wait":
        t.append("wait", style="blue")
        which = "any of " if req.get("any") else ""
        t.append(f" for {which}{_count(req.get('runs'))} run(s)")
    elif step.kind == "step" and isinstance(req.get("states"), dict):  # a workflow's steps
        t.append("steps ", style="blue")
        t.append(short(", ".join(f"{k} {v}" for k, v in req["states"].items()), lim))
    else:
        t.append(short(step.kind, None), style="blue")
        t.append(" " + short(step.request, lim))
    extra = [fmt_seconds(step.seconds)] if step.seconds is not None else []
    if step.kind == "llm" and step.done:
        extra.append(tokens_text(*step.tokens))
    if extra:
        t.append("  " + "  ".join(extra), style="dim")
    _append_result(t, node, step, full=full)
    return t


def _append_result(t: Text, node: RunNode, step: Step, *, full: bool) -> None:
    lim = None if full else 300
    if step.decision is not None:
        t.append(f"\ndecided: {decision_text(step.decision)}", style="yellow")
    if not step.done:
        if node.in_doubt == step.seq:
            t.append("\n? in doubt: it may or may not have taken effect", style="bold yellow")
        else:
            t.append("\n… in flight", style="yellow")
        return
    ok, value, error = outcome(step.result)
    if not ok:
        t.append(f"\n✗ {short(error, lim)}", style="red")
    elif step.kind == "llm":
        value = value if isinstance(value, dict) else {}
        if value.get("content"):
            t.append("\n" + short(value["content"], lim), style="italic")
        for c in value.get("tool_calls") or []:
            t.append("\n→ ", style="dim")
            t.append(call_text(str(c.get("name")), c.get("arguments"), lim), style="cyan")
    elif step.kind == "tool":
        t.append(f"\n→ {short(value, lim)}", style="green")
    elif step.kind == "wait":
        ended = value.get("ended") if isinstance(value, dict) else value  # any of / all of
        for out in ended if isinstance(ended, list) else []:
            t.append("\n")
            t.append_text(status_text(str(out.get("status"))))
            t.append(" " + short(f"{out.get('target')} {out.get('run_id')}", None), style="dim")
    elif step.kind not in ("delegate", "step"):
        t.append(f"\n{short(value, lim)}", style="green")


def add_run(tree: Tree, node: RunNode, *, full: bool) -> Tree:
    branch = tree.add(run_label(node, full=full))
    fill_run(branch, node, full=full)
    return branch


def fill_run(branch: Tree, node: RunNode, *, full: bool) -> None:
    for step in node.steps:
        sub = branch.add(step_label(node, step, full=full))
        for child in step.children:
            add_run(sub, child, full=full)
    for child in node.orphans:
        add_run(branch, child, full=full)
    r = node.run
    if r.status.value == "succeeded":
        branch.add(Text("output: ", style="green") + Text(short(r.output, None if full else 300)))
    elif r.error:
        style = "yellow" if r.status.value == "waiting" else "red"
        branch.add(Text(f"{inert(r.status.value)}: {short(r.error, None)}", style=style))


def render_tree(node: RunNode, *, full: bool = False) -> RenderableType:
    if node.run.kind == "workflow" and not full:  # its graph; --full: every run too
        from orgos.cli.graph import render_workflow

        return Group(render_workflow(node), totals_text(node))
    tree = Tree(run_label(node, full=full), guide_style="dim")
    fill_run(tree, node, full=full)
    return Group(tree, totals_text(node))


def totals_text(node: RunNode) -> Text:
    nodes = node.walk()
    steps = [s for n in nodes for s in n.steps]
    i, o = node.tokens
    llm = sum(1 for s in steps if s.kind == "llm")
    tools = sum(1 for s in steps if s.kind == "tool")
    return Text(
        f"total: {len(nodes)} run(s), {llm} model call(s), {tools} tool call(s),"
        f" {fmt_tokens(i + o)} tokens ({tokens_text(i, o)}), {fmt_seconds(node.seconds)}",
        style="bold",
    )


# --- tables and outcomes ----------------------------------------------------------------------
def runs_table(rows: list[tuple[RunRecord, int]]) -> Table:
    """Runs and their token counts (the run and its descendants)."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("run", "agent", "status", "created", "duration", "tokens"):
        table.add_column(col, justify="right" if col in ("duration", "tokens") else "left")
    for r, tokens in rows:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at))
        table.add_row(
            safe(r.id),
            safe(f"{r.target}@{r.target_version}"),
            status_text(r.status.value),
            created,
            fmt_seconds(run_seconds(r)),
            fmt_tokens(tokens),
        )
    return table


def print_output(con: Console, output: Any) -> None:
    """A run's output, whole, inert, each line indented: nothing it holds
    can pass for a line orgos printed (a fake ``✔ approved``)."""
    if isinstance(output, str):
        text = inert(redact_env(output), lines=True)
    else:
        text = inert_json(redact_env(json.dumps(output, indent=2, ensure_ascii=False, default=str)))
    con.print(Text("\n".join("  " + line for line in text.split("\n"))))


def decision_help(con: Console, run: RunRecord) -> None:
    """What is in doubt in a run parked for a decision, and how to answer."""
    w = run.waiting_on
    if type(w) is WaitApproval:
        from orgos.cli.approve import approval_help

        approval_help(con, run)
        return
    seq, kind, req = (
        (w.seq, w.syscall, w.request or {}) if type(w) is WaitDecision else (None, None, {})
    )
    what = (
        call_text(str(req.get("tool")), req.get("arguments"), None)
        if kind == "tool"
        else f"{kind} {short(req, None)}"
    )
    rid = inert(run.id)
    con.print(safe(f"? {run.target} {rid} waits for a decision", "bold yellow"))
    if run.error:
        con.print(Text(f"  {short(run.error, None)}"))
    con.print(safe(f"  in doubt: step #{seq}: {what}"))
    con.print(Text("  decide with one of:"))
    con.print(Text(f"    orgos resume {rid} --decide retry      # run the call again"))
    con.print(Text(f"    orgos resume {rid} --decide done --value JSON  # it happened; its result"))
    con.print(Text(f"    orgos resume {rid} --decide not-done   # it did not happen"))

"""Following runs as they work: the kernel's live events become one line per
completed syscall (and, on a terminal, a live area where the current model
call's tokens stream)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rich.console import Group
from rich.spinner import Spinner
from rich.text import Text

from orgos.cli.common import fmt_seconds, short
from orgos.cli.render import call_text, status_text, tokens_text
from orgos.cli.safe import inert
from orgos.cli.tree import outcome
from orgos.kernel.run_input import RunInput
from orgos.store.waiting import WaitApproval, WaitDecision, WaitRuns

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from orgos.kernel.events import Event
    from orgos.runtime import Runtime
    from orgos.store.base import RunRecord

#: Syscalls that wait (for runs, an event): not lines of their own.
_WAITS = frozenset({"wait", "bus.wait"})


@dataclass
class Watched:
    agent: str
    depth: int
    since: float
    state: str = "running"  # running | waiting | ended
    stream: str = ""
    spinner: Spinner | None = None


class Progress:
    """Prints what the runs of a tree do, as they do it."""

    def __init__(self, rt: Runtime, console: Console, *, width: int = 120) -> None:
        self.rt = rt
        self.con = console
        self.width = width
        self.runs: dict[str, Watched] = {}
        #: A run of the tree parked until a person decides (it stalls the tree).
        self.decision: RunRecord | None = None

    # --- runs -----------------------------------------------------------------------
    def start(self, run_id: str, agent: str, depth: int, task: Any, note: str = "") -> None:
        self.runs[run_id] = Watched(agent, depth, time.monotonic())
        line = self._prefix(run_id, "▶ ")
        line.append(inert(f"{run_id}{note}"), style="dim")
        text = RunInput.read(task).task if isinstance(task, dict) else task
        if text:
            line.append(": " + short(text, self.width))
        self.con.print(line, soft_wrap=True)

    async def _ensure(self, run_id: str) -> Watched:
        """A run first seen through its events (a resumed or recovered run)."""
        w = self.runs.get(run_id)
        if w is not None:
            return w
        rec = await self.rt.store.get_run(self.rt.workspace, run_id)
        agent, depth, task = (
            (rec.target, await self._depth(rec), rec.input) if rec else ("?", 0, "")
        )
        self.start(run_id, agent, depth, task, " (resumed)")
        return self.runs[run_id]

    async def _depth(self, rec: RunRecord) -> int:
        depth, parent = 0, rec.parent_id
        while parent is not None and depth < 100:
            w = self.runs.get(parent)
            if w is not None:
                return depth + 1 + w.depth
            p = await self.rt.store.get_run(self.rt.workspace, parent)
            depth, parent = depth + 1, p.parent_id if p else None
        return depth

    def _prefix(self, run_id: str, mark: str = "") -> Text:
        w = self.runs[run_id]
        t = Text("  " * w.depth + mark)
        t.append(inert(w.agent), style="bold")
        t.append(" ")
        return t

    # --- events ---------------------------------------------------------------------
    async def handle(self, ev: Event) -> None:
        w = await self._ensure(ev.run_id)
        if ev.type == "token":
            w.stream += str(ev.data.get("text", ""))
            return
        if ev.type == "syscall" and ev.data.get("kind") in _WAITS:
            return  # its park's status line says what it waited for
        now = time.monotonic()
        elapsed, w.since, w.stream = now - w.since, now, ""
        if ev.type == "syscall":
            self._syscall(ev, elapsed)
        elif ev.type == "status":
            await self._status(ev, w, elapsed)

    def _syscall(self, ev: Event, elapsed: float) -> None:
        d = ev.data
        kind, req, res = str(d.get("kind")), d.get("request") or {}, d.get("result") or {}
        ok_, value, error = outcome(res)
        line = self._prefix(ev.run_id)
        lim = self.width
        if kind == "llm":
            ok = value if ok_ and isinstance(value, dict) else None
            line.append("model", style="magenta")
            if ok is None:
                line.append(f" ✗ {short(error, lim)}", style="red")
            else:
                u = ok.get("usage") or {}
                line.append(
                    f" {fmt_seconds(elapsed)}, "
                    f"{tokens_text(u.get('input_tokens', 0), u.get('output_tokens', 0))}",
                    style="dim",
                )
                calls = ok.get("tool_calls") or []
                for c in calls:
                    line.append(" → ")
                    line.append(call_text(str(c.get("name")), c.get("arguments"), lim), "cyan")
                if not calls:
                    line.append(" answer: ")
                    line.append(short(ok.get("content", ""), lim), style="italic")
        elif kind == "tool":
            line.append("tool ", style="blue")
            line.append(call_text(str(req.get("tool")), req.get("arguments"), lim))
            if ok_:
                line.append(f" → {short(value, lim)}", style="green")
            else:
                line.append(f" ✗ {short(error, lim)}", style="red")
        elif kind == "delegate":
            kids = req.get("children") or []
            line.append("delegates to ", style="blue")
            line.append(short(", ".join(str(c.get("target")) for c in kids), None))
            ids = value if ok_ and isinstance(value, list) else None
            if ids is None:
                line.append(f" ✗ {short(error, lim)}", style="red")
            self.con.print(line, soft_wrap=True)
            depth = self.runs[ev.run_id].depth + 1
            for cid, kid in zip(ids or [], kids, strict=False):
                self.start(str(cid), str(kid.get("target")), depth, kid.get("input"))
            return
        elif kind == "step":
            states = req.get("states") or {}
            line.append("steps ", style="blue")
            line.append(short(", ".join(f"{sid} {state}" for sid, state in states.items()), None))
        elif kind == "route":
            line.append("routes ", style="blue")
            line.append(short(f"{req.get('step')} → {short(value if ok_ else error, lim)}", None))
        else:
            line.append(inert(kind), style="blue")
            line.append(f" {short(req, lim)} → {short(res, lim)}")
        self.con.print(line, soft_wrap=True)

    async def _status(self, ev: Event, w: Watched, elapsed: float) -> None:
        status, error = str(ev.data.get("status")), ev.data.get("error")
        line = self._prefix(ev.run_id, "")
        line.append_text(status_text(status))
        w.state = "waiting" if status == "waiting" else "ended"
        if status == "waiting":
            rec = await self.rt.store.get_run(self.rt.workspace, ev.run_id)
            waiting = rec.waiting_on if rec else None
            if type(waiting) in (WaitDecision, WaitApproval) and rec is not None:
                self.decision = rec
                what = "approval" if type(waiting) is WaitApproval else "a decision"
                line.append(f" for {what}: {short(error, None)}", style="yellow")
            elif type(waiting) is WaitRuns and waiting.runs:
                line.append(f" for {len(waiting.runs)} run(s)", style="dim")
            elif error:
                line.append(f": {short(error, None)}", style="dim")
        elif status == "succeeded":
            rec = await self.rt.store.get_run(self.rt.workspace, ev.run_id)
            line.append(f" → {short(rec.output if rec else None, self.width)}", style="green")
        elif error:
            line.append(f": {short(error, None)}", style="red")
        self.con.print(line, soft_wrap=True)
        if status == "running":
            w.state = "running"

    # --- the live area (terminals only) ---------------------------------------------
    def __rich__(self) -> RenderableType:
        rows: list[RenderableType] = []
        now = time.monotonic()
        for w in self.runs.values():
            if w.state != "running":
                continue
            if w.spinner is None:
                w.spinner = Spinner("dots", style="cyan")
            tail = short(w.stream, None)[-self.width :] if w.stream else "thinking…"
            w.spinner.text = (
                Text("  " * w.depth)
                .append(inert(w.agent), style="bold")
                .append(f" {fmt_seconds(now - w.since)} {tail}", style="dim")
            )
            rows.append(w.spinner)
        return Group(*rows)


@contextlib.contextmanager
def live_area(progress: Progress, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    from rich.live import Live

    with Live(progress, console=progress.con, refresh_per_second=8, transient=True):
        yield


Outcome = Literal["ended", "decision", "interrupted", "timeout"]


async def follow(
    rt: Runtime,
    queue: asyncio.Queue[Event],
    root_id: str,
    progress: Progress,
    *,
    timeout: float | None,
    stop: asyncio.Event,
) -> tuple[Outcome, RunRecord | None]:
    """Show the events of one run tree until its root ends (or parks for a
    decision), a run of the tree parks for a decision, Ctrl-C, or timeout."""
    waiter = asyncio.ensure_future(rt.wait(root_id, timeout=timeout))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        while True:
            get = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({waiter, get, stopper}, return_when="FIRST_COMPLETED")
            if get in done:
                ev = get.result()
                if ev.root_id == root_id:
                    await progress.handle(ev)
            else:
                get.cancel()
            if waiter in done or stopper in done or progress.decision is not None:
                break
        while not queue.empty():
            ev = queue.get_nowait()
            if ev.root_id == root_id:
                await progress.handle(ev)
        if waiter.done():
            try:
                return "ended", waiter.result()
            except TimeoutError:
                return "timeout", None
        if progress.decision is not None:
            return "decision", progress.decision
        return "interrupted", None
    finally:
        for t in (waiter, stopper):
            t.cancel()
        await asyncio.gather(waiter, stopper, return_exceptions=True)


async def unfinished(rt: Runtime) -> list[RunRecord]:
    """Runs a worker can still move on: queued, running, or waiting for a
    deadline or for child runs that can move on themselves (not those parked
    until a person decides, nor a parent waiting on only those)."""
    from orgos.store.base import RunFilter, RunStatus

    flt = RunFilter(
        rt.workspace,
        statuses=[RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING],
        limit=100_000,
    )
    out = []
    for r in await rt.store.list_runs(flt):
        w = r.waiting_on
        runs = w.runs if type(w) is WaitRuns else ()
        moves = r.status is not RunStatus.WAITING or (type(w) is WaitRuns and w.until is not None)
        if moves or (runs and not await rt.kernel.waits_for_person(r)):
            out.append(r)
    return out


async def drain(
    rt: Runtime, queue: asyncio.Queue[Event], progress: Progress, *, stop: asyncio.Event
) -> bool:
    """Show every event until no run is left to move on; False on Ctrl-C."""
    check = True
    while not stop.is_set():
        if check and not await unfinished(rt):
            while not queue.empty():
                await progress.handle(queue.get_nowait())
            return True
        get = asyncio.ensure_future(queue.get())
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({get, stopper}, timeout=0.5, return_when="FIRST_COMPLETED")
        stopper.cancel()
        if get in done:
            ev = get.result()
            await progress.handle(ev)
            check = ev.type == "status"
        else:
            get.cancel()
            check = True
    return False

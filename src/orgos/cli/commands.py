"""What the commands do, as coroutines; ``orgos.cli.app`` parses the options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

from orgos.cli import common
from orgos.cli.common import (
    CliError,
    State,
    console,
    fmt_seconds,
    fmt_tokens,
    open_runtime,
    short,
)
from orgos.cli.follow import Outcome, Progress, drain, follow, live_area, unfinished
from orgos.cli.render import decision_help, print_output, render_tree, runs_table, status_text
from orgos.cli.safe import safe, safe_json
from orgos.cli.tree import load_tree, run_seconds, tree_json
from orgos.store.waiting import WaitApproval, WaitDecision, WaitRuns, to_stored

if TYPE_CHECKING:
    from rich.console import Console

    from orgos.runtime import Runtime
    from orgos.store.base import RunRecord


# --- run --------------------------------------------------------------------------------
async def run(
    state: State,
    agent: str,
    task: str,
    *,
    as_json: bool,
    timeout: float | None,
    auto_approve: bool = False,
) -> int:
    from orgos.cli.approve import answer_approval
    from orgos.cli.prompt import LineReader

    rt = open_runtime(state, adopt=False)  # its own run tree only; `resume` recovers others
    con = console()
    async with rt:
        with common.interrupt_event() as stop:
            queue = rt.kernel.events.subscribe(None)  # before the run exists: miss nothing
            rec = await _submit(rt, agent, task)
            progress = Progress(rt, _quiet() if as_json else con)
            progress.start(rec.id, agent, 0, rec.input)
            reader = LineReader() if not auto_approve and sys.stdin.isatty() else None
            while True:
                with live_area(progress, con.is_terminal and not as_json):
                    outcome, end = await follow(
                        rt, queue, rec.id, progress, timeout=timeout, stop=stop
                    )
                if outcome not in ("decision", "ended") or end is None:
                    break
                # The run that parked, or the ones holding a waiting tree up
                # (the tree's wait may be seen before the child's park event).
                asked = [end] if outcome == "decision" else await rt.kernel.waits_for_person(end)
                answered = False
                for parked in asked:
                    answered = await answer_approval(state, rt, con, parked, auto=auto_approve,
                                                     quiet=as_json, stop=stop,
                                                     reader=reader) or answered  # fmt: skip
                if not answered:
                    break
                progress.decision = None
        return await report(rt, con, rec.id, outcome, end, as_json=as_json, timeout=timeout)


def _parked_for_person(rec: RunRecord) -> bool:
    w = type(rec.waiting_on)
    return w is WaitDecision or w is WaitApproval


def _check_agent(rt: Runtime, agent: str) -> None:
    known = sorted(rt.agents)
    if agent not in known:
        flows = f"; workflows: {', '.join(sorted(rt.workflows))}" if rt.workflows else ""
        raise CliError(
            f"no agent named {agent!r}; agents of this project: {', '.join(known)}" + flows
        )


async def _submit(rt: Runtime, name: str, task: str) -> RunRecord:
    """A run of the workflow or the agent called ``name``."""
    if name in rt.workflows:
        from orgos.cli.workflows import workflow_input

        return await rt.submit_workflow(name, workflow_input(task))
    _check_agent(rt, name)
    if not task.strip():
        raise CliError(f'agent {name!r} needs a task: orgos run {name} "what to do"')
    return await rt.submit(name, task)


def _quiet() -> Console:
    from rich.console import Console

    return Console(quiet=True)


async def submit_queued(state: State, agent: str, task: str) -> tuple[str, Path]:
    """Record a run, queued for any worker; returns its id and the project folder."""
    rt = open_runtime(state, max_active=0, recover=False)  # this process runs nothing
    async with rt:
        rec = await _submit(rt, agent, task)
    return rec.id, rt.project_root or state.root()


def detach(state: State, agent: str, task: str, *, as_json: bool) -> int:
    """Record the run, then leave it to a background worker process."""
    run_id, root = common.run_async(lambda: submit_queued(state, agent, task))
    log_path = root / ".orgos" / f"worker-{run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "orgos.cli", "--project", str(root), "resume"],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    con = console()
    if as_json:
        doc = {"id": run_id, "status": "queued", "worker_pid": worker.pid, "log": str(log_path)}
        con.print(safe_json(doc))
        return common.EXIT_OK
    con.print(safe(f"▶ {run_id} ({agent}) runs in the background: worker pid {worker.pid}"))
    con.print(safe(f"  log: {log_path}"))
    con.print(Text(f"  see it: orgos show {run_id}    stop it: orgos cancel {run_id}"))
    return common.EXIT_OK


async def report(
    rt: Runtime,
    con: Console,
    run_id: str,
    outcome: Outcome,
    end: RunRecord | None,
    *,
    as_json: bool,
    timeout: float | None = None,
) -> int:
    """The tree and the outcome of a followed run; returns the exit code."""
    if outcome in ("interrupted", "timeout"):
        why = "interrupted" if outcome == "interrupted" else f"still going after {timeout:g} s"
        con.print(
            Text(
                f"{why}: run {run_id} is unfinished and resumable; it goes on from where it"
                f" stopped with `orgos resume {run_id}` (or stop it: `orgos cancel {run_id}`)",
                style="yellow",
            )
        )
        return common.EXIT_INTERRUPTED if outcome == "interrupted" else common.EXIT_TIMEOUT
    tree = await load_tree(rt, run_id)
    root = tree.run
    # What waits for a person: the run that just parked, or whatever holds
    # the whole tree up (a workflow waiting on a child parked for approval).
    people = [end] if outcome == "decision" and end is not None else []
    people = people or await rt.kernel.waits_for_person(root)
    parked = people[0] if people else None
    if as_json:
        i, o = tree.tokens
        doc: dict[str, Any] = {
            "id": root.id, "agent": root.target, "status": root.status.value,
            "output": root.output, "error": root.error,
            "waiting_on": to_stored(parked.waiting_on if parked else root.waiting_on),
            "waiting_run": parked.id if parked else None,
            "waiting_runs": [p.id for p in people],
            "tokens": {"input": i, "output": o}, "seconds": round(tree.seconds, 3),
        }  # fmt: skip
        con.print(safe_json(doc), soft_wrap=True)
    else:
        con.print(render_tree(tree))
        con.print()
    if parked is not None:
        if not as_json:
            for p in people:
                decision_help(con, p)
        return common.EXIT_DECISION
    if not as_json:
        line = safe(f"{root.target} {root.id} ")
        line.append_text(status_text(root.status.value))
        line.append(f" in {fmt_seconds(tree.seconds)}")
        if root.error:
            line.append(f": {short(root.error, None)}", style="red")
        con.print(line)
        if root.status.value == "succeeded":
            print_output(con, root.output)
    return common.EXIT_OK if root.status.value == "succeeded" else common.EXIT_FAILED


# --- resume -------------------------------------------------------------------------------
async def resume(
    state: State, run_id: str | None, decide: str | None, value: Any, *, by: str = "local"
) -> int:
    if run_id is None:
        if decide is not None:
            raise CliError("--decide needs a RUN")
        return await work(state)
    rt = open_runtime(state, adopt=False)
    con = console()
    async with rt:
        rec = await rt.get_run(run_id)
        w = rec.waiting_on
        decision = rec.status.value == "waiting" and type(w) is WaitDecision
        if rec.status.value in ("succeeded", "cancelled"):
            raise CliError(f"run {rec.id} {rec.status.value}; there is nothing to resume")
        if decision and decide is None:
            decision_help(con, rec)
            return common.EXIT_DECISION
        if decide is not None and not decision:
            raise CliError(f"run {rec.id} is {rec.status.value}, not waiting for a decision")
        root = await rt.get_run(rec.root_id) if rec.root_id != rec.id else rec
        rt.kernel.follow(root.id)
        target = root if not root.status.terminal or root.id == rec.id else rec
        with common.interrupt_event() as stop:
            queue = rt.kernel.events.subscribe(None)
            if decide is not None:
                try:
                    await rt.control.decide(rec.id, decide, value, by=by)
                except (ValueError, PermissionError) as exc:
                    raise CliError(str(exc)) from None
            elif rec.status.value == "failed" or (
                rec.status.value == "waiting" and not (type(w) is WaitRuns and w.runs)
            ):
                await rt.control.resume(rec.id)
            progress = Progress(rt, con)
            progress.start(target.id, target.target, 0, target.input, " (resumed)")
            with live_area(progress, con.is_terminal):
                outcome, end = await follow(rt, queue, target.id, progress, timeout=None, stop=stop)
        return await report(rt, con, target.id, outcome, end, as_json=False)


async def work(state: State) -> int:
    """A worker: recover every unfinished run of the project, until all end."""
    # A worker process is the CLI's own: its collector may be paced for many runs.
    rt = open_runtime(state, recover=True, tune_gc=True)
    con = console()
    async with rt:
        with common.interrupt_event() as stop:
            queue = rt.kernel.events.subscribe(None)
            pending = await unfinished(rt)
            con.print(Text(f"worker {rt.kernel.worker_id}: {len(pending)} unfinished run(s)"))
            progress = Progress(rt, con)
            with live_area(progress, con.is_terminal):
                finished = await drain(rt, queue, progress, stop=stop)
        if not finished:
            con.print(Text("interrupted: unfinished runs stay resumable", style="yellow"))
            return common.EXIT_INTERRUPTED
        from orgos.store.base import RunFilter, RunStatus

        parked = [
            r
            for r in await rt.store.list_runs(
                RunFilter(rt.workspace, statuses=[RunStatus.WAITING], limit=10_000)
            )
            if _parked_for_person(r)
        ]
        for r in parked:
            decision_help(con, r)
        con.print(Text(f"no unfinished runs left; {len(parked)} wait(s) for a decision"))
        return common.EXIT_DECISION if parked else common.EXIT_OK


# --- reading ------------------------------------------------------------------------------
async def show(state: State, run_id: str, *, full: bool, as_json: bool) -> int:
    rt = open_runtime(state, models_needed=False)
    await rt.store.open()
    try:
        tree = await load_tree(rt, run_id)
    finally:
        await rt.store.close()
    con = console()
    if as_json:
        con.print(safe_json(tree_json(tree)), soft_wrap=True)
    else:
        con.print(render_tree(tree, full=full))
        if _parked_for_person(tree.run):
            decision_help(con, tree.run)
    return common.EXIT_OK


async def runs(state: State, *, all_runs: bool, limit: int, status: str | None) -> int:
    from orgos.store.base import RunFilter, RunStatus

    try:
        statuses = [RunStatus(status)] if status else []
    except ValueError:
        known = ", ".join(s.value for s in RunStatus)
        raise CliError(f"unknown status {status!r}; use one of {known}") from None
    rt = open_runtime(state, models_needed=False)
    await rt.store.open()
    try:
        flt = RunFilter(rt.workspace, statuses, top_level_only=not all_runs, limit=limit)
        rows = [(r, await _tokens(rt, r, deep=not all_runs)) for r in await rt.store.list_runs(flt)]
    finally:
        await rt.store.close()
    con = console()
    if not rows:
        con.print(Text("no runs yet" if not status else f"no {status} runs"))
        return common.EXIT_OK
    con.print(runs_table(rows))
    total = sum(t for _, t in rows)
    span = sum(run_seconds(r) for r, _ in rows)
    con.print(Text(f"{len(rows)} run(s), {fmt_tokens(total)} tokens, {fmt_seconds(span)}", "dim"))
    return common.EXIT_OK


async def _tokens(rt: Runtime, run: RunRecord, *, deep: bool) -> int:
    """Tokens of a run (and, when ``deep``, of its descendants)."""
    total = 0
    for r in await rt.history.tree(run.id) if deep else [run]:
        for e in await rt.history.journal(r.id):
            if e.phase == "result" and e.kind == "llm" and isinstance(e.payload, dict):
                usage = (e.payload.get("ok") or {}).get("usage") or {}
                total += int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))
    return total


async def cancel(state: State, run_id: str) -> int:
    rt = open_runtime(state, models_needed=False)
    await rt.store.open()
    try:
        rec = await rt.get_run(run_id)
        con = console()
        if rec.status.terminal:
            con.print(safe(f"run {rec.id} already {rec.status.value}; nothing to cancel"))
            return common.EXIT_OK
        ids = await rt.control.cancel(rec.id)
        for rid in ids:
            now = await rt.store.get_run(rt.workspace, rid)
            line = safe(f"{rid} ")
            if now is not None and now.status.value == "cancelled":
                line.append_text(status_text("cancelled"))
            else:
                line.append("asked its worker to stop it", style="yellow")
            con.print(line)
        con.print(Text(f"cancelled {len(ids)} run(s)"))
        return common.EXIT_OK
    finally:
        await rt.store.close()

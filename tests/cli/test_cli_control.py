"""`orgos cancel`, `orgos resume` (a failed run, a run waiting for a
decision, a worker for every unfinished run) and Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from cli_helpers import HANG, WORD_COUNT, run_id_of
from conftest import Cli, ModelFile

from orgos.runtime import Runtime
from orgos.store.base import RunRecord, RunStatus
from orgos.store.waiting import WaitDecision
from orgos.testing import ScriptedModel

CHARGE_TOOL = '''

_started = asyncio.Event()


@tool
async def charge(amount: int) -> str:
    """Charge the customer (not idempotent, and takes no idempotency key)."""
    _started.set()
    await asyncio.Event().wait()  # the worker dies while this is in flight
    return "charged"
'''


def add_charging_agent(project: Path) -> None:
    tools = project / "tools.py"
    tools.write_text("import asyncio\n" + tools.read_text() + CHARGE_TOOL)
    (project / "agents" / "cashier.yaml").write_text(
        "name: cashier\ninstructions: Charge 5.\ntools: [charge]\n"
    )


async def crash_during_charge(project: Path) -> str:
    """Start a cashier run and stop its worker while `charge` is in flight."""
    model = ScriptedModel([ScriptedModel.call("charge", amount=5)])
    # drain_timeout=0: it leaves as if it died, not waiting for the charge to end
    async with Runtime.from_project(project, models={"default": model}, drain_timeout=0) as rt:
        rec = await rt.submit("cashier", "charge the customer")
        started: asyncio.Event = rt.tools["charge"].fn.__globals__["_started"]
        await asyncio.wait_for(started.wait(), timeout=30)
    return rec.id  # the worker left: the run is unfinished, its charge in doubt


async def status_of(project: Path, run_id: str) -> RunRecord:
    rt = Runtime.from_project(project, models={})
    await rt.store.open()
    try:
        return await rt.get_run(run_id)
    finally:
        await rt.store.close()


async def parked_tree(project: Path) -> tuple[str, str]:
    """A boss run waiting for its child, which is queued (nobody runs it)."""
    (project / "agents" / "boss.yaml").write_text("name: boss\ndelegates: [assistant]\n")
    model = ScriptedModel([ScriptedModel.call("delegate", agent="assistant", task="count")])
    rt = Runtime.from_project(project, models={"default": model}, max_active=1, recover=False)
    async with rt:
        events = rt.kernel.events.subscribe(None)
        rec = await rt.submit("boss", "go")
        child = ""
        async with asyncio.timeout(30):
            while True:
                ev = await events.get()
                if ev.type == "syscall" and ev.data["kind"] == "delegate":
                    child = ev.data["result"]["ok"][0]
                if ev.type == "status" and ev.run_id == rec.id:
                    break
    return rec.id, child


def test_cancel_cancels_the_run_and_its_descendants(project: Path, cli: Cli) -> None:
    boss, child = asyncio.run(parked_tree(project))
    assert asyncio.run(status_of(project, child)).status is RunStatus.QUEUED
    result = cli("-p", project, "cancel", boss)
    assert result.exit_code == 0, result.output
    assert f"{boss} ⊘ cancelled" in result.output
    assert f"{child} ⊘ cancelled" in result.output
    assert "cancelled 2 run(s)" in result.output
    for rid in (boss, child):
        assert asyncio.run(status_of(project, rid)).status is RunStatus.CANCELLED
    again = cli("-p", project, "cancel", boss)
    assert again.exit_code == 0 and "already cancelled" in again.output
    assert cli("-p", project, "resume", boss).exit_code == 2  # nothing to resume


def test_resume_a_failed_run(project: Path, cli: Cli, model_file: ModelFile) -> None:
    broken = model_file("model = ScriptedModel([RuntimeError('the adapter crashed')])")
    first = cli("-p", project, "run", "assistant", "How many words?", model=broken)
    assert first.exit_code == 1, first.output
    assert "RuntimeError: the adapter crashed" in first.output
    run_id = run_id_of(first.output)

    result = cli("-p", project, "resume", run_id, model=model_file(WORD_COUNT))
    assert result.exit_code == 0, result.output
    assert f"▶ assistant {run_id} (resumed)" in result.output
    assert "tool word_count" in result.output
    assert result.output.rstrip().endswith("It has 6 words.")
    assert asyncio.run(status_of(project, run_id)).status is RunStatus.SUCCEEDED


def test_resume_a_run_waiting_for_a_decision(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    add_charging_agent(project)
    run_id = asyncio.run(crash_during_charge(project))
    finish = model_file('model = ScriptedModel([ScriptedModel.final("charged 5")])')

    # a worker recovers it: the charge may or may not have happened, so it parks
    worker = cli("-p", project, "resume", model=finish)
    assert worker.exit_code == 3, worker.output
    assert f"? cashier {run_id} waits for a decision" in worker.output
    rec = asyncio.run(status_of(project, run_id))
    assert rec.status is RunStatus.WAITING and isinstance(rec.waiting_on, WaitDecision)

    # without --decide: show what is in doubt
    ask = cli("-p", project, "resume", run_id, model=finish)
    assert ask.exit_code == 3, ask.output
    assert "in doubt: step #2: charge(amount=5)" in ask.output
    assert f"orgos resume {run_id} --decide done --value JSON" in ask.output
    shown = cli("-p", project, "show", run_id).output
    assert "? in doubt" in shown

    # the operator checked: it happened
    done = cli("-p", project, "resume", run_id, "--decide", "done", "--value", '"charged"',
               model=finish)  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.output.rstrip().endswith("charged 5")
    assert "decided done by local" in done.output  # before there are people: the local user
    assert "→ charged" in done.output
    wrong = cli("-p", project, "resume", run_id, "--decide", "retry", model=finish)
    assert wrong.exit_code == 2 and "nothing to resume" in wrong.output


def test_decide_not_done_tells_the_model(project: Path, cli: Cli, model_file: ModelFile) -> None:
    add_charging_agent(project)
    run_id = asyncio.run(crash_during_charge(project))
    assert cli("-p", project, "resume", model=model_file(WORD_COUNT)).exit_code == 3
    seen = model_file(
        "def respond(request):\n"
        "    return ScriptedModel.final(request.messages[-1].content)\n"
        "model = ScriptedModel(respond)\n"
    )
    result = cli("-p", project, "resume", run_id, "--decide", "not-done", model=seen)
    assert result.exit_code == 0, result.output
    assert "did not take effect" in result.output


def test_deciding_an_in_doubt_call_needs_an_approver_and_show_tells_who(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    add_charging_agent(project)
    run_id = asyncio.run(crash_during_charge(project))
    tokens = {}
    for name, role in (("root", "admin"), ("bob", "builder"), ("ana", "operator")):
        added = cli("-p", project, "people", "add", name, role,
                    env={"ORGOS_TOKEN": tokens.get("root", "")})  # fmt: skip
        assert added.exit_code == 0, added.output
        tokens[name] = added.output.strip().splitlines()[-1]
    finish = model_file('model = ScriptedModel([ScriptedModel.final("charged 5")])')
    worker = cli("-p", project, "resume", model=finish, env={"ORGOS_TOKEN": tokens["bob"]})
    assert worker.exit_code == 3, worker.output  # a builder may resume; the run parks

    args = ("-p", project, "resume", run_id, "--decide", "done", "--value", '"charged"')
    denied = cli(*args, model=finish, env={"ORGOS_TOKEN": tokens["bob"]})
    assert denied.exit_code == 4, denied.output
    assert "permission denied: bob (builder) may not approvals decide" in denied.output
    decided = cli(*args, model=finish, env={"ORGOS_TOKEN": tokens["ana"]})
    assert decided.exit_code == 0, decided.output

    shown = cli("-p", project, "show", run_id, env={"ORGOS_TOKEN": tokens["bob"]})
    assert "decided done by ana" in shown.output, shown.output
    log = cli("-p", project, "audit", "log", env={"ORGOS_TOKEN": tokens["bob"]})
    assert re.search(r"\bana\s+decision\.done\s+" + run_id, log.output), log.output


def test_worker_resume_finishes_every_unfinished_run(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    boss, child = asyncio.run(parked_tree(project))
    model = model_file(
        "def respond(request):\n"
        "    if request.messages[0].content.startswith('You are boss'):\n"
        "        return ScriptedModel.final('boss done')\n"
        "    return ScriptedModel.final('child done')\n"
        "model = ScriptedModel(respond)\n"
    )
    result = cli("-p", project, "resume", model=model)
    assert result.exit_code == 0, result.output
    assert "2 unfinished run(s)" in result.output
    assert "no unfinished runs left" in result.output
    for rid in (boss, child):
        assert asyncio.run(status_of(project, rid)).status is RunStatus.SUCCEEDED


def _lines(stream: Any, out: queue.Queue[str]) -> None:
    for line in iter(stream.readline, ""):
        out.put(line)
    out.put("")


def test_ctrl_c_stops_cleanly_and_the_run_stays_resumable(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    env = {**os.environ, "ORGOS_MODEL_SCRIPT": str(model_file(HANG)), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orgos.cli", "-p", str(project), "run", "assistant", "hi"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        first = lines.get(timeout=60)  # "▶ assistant r-...: hi", printed once the run exists
        assert first.startswith("▶ assistant"), first
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    rest = []
    while (line := lines.get(timeout=10)) != "":
        rest.append(line)
    output = first + "".join(rest)
    run_id = run_id_of(output)
    assert "interrupted" in output and f"orgos resume {run_id}" in output
    assert "Traceback" not in output
    assert asyncio.run(status_of(project, run_id)).status is RunStatus.QUEUED

    result = cli("-p", project, "resume", run_id, model=model_file(WORD_COUNT))
    assert result.exit_code == 0, result.output
    assert "It has 6 words." in result.output


REFUND_TOOL = '''

@tool(risk="high")
def refund(amount: int) -> str:
    """Refund the customer."""
    return f"refunded {amount}"
'''

APPROVE_REFUNDS = """rules:
  - name: refunds
    when: {tool: refund}
    decide: approve
    reason: a person checks every refund
"""


async def tree_waiting_for_an_approval(project: Path) -> tuple[str, str]:
    """A boss run waiting for its child, which is parked for an approval."""
    tools = project / "tools.py"
    tools.write_text(tools.read_text() + REFUND_TOOL)
    (project / "agents" / "clerk.yaml").write_text("name: clerk\ntools: [refund]\n")
    (project / "agents" / "boss.yaml").write_text("name: boss\ndelegates: [clerk]\n")
    (project / "policy.yaml").write_text(APPROVE_REFUNDS)

    def respond(req: Any) -> Any:
        if req.messages[0].content.startswith("You are boss"):
            return ScriptedModel.call("delegate", agent="clerk", task="refund 5")
        return ScriptedModel.call("refund", amount=5)

    async with Runtime.from_project(project, models={"default": ScriptedModel(respond)}) as rt:
        assert rt.governance is not None
        events = rt.kernel.events.subscribe(None)
        rec = await rt.submit("boss", "refund the customer")
        a = await asyncio.wait_for(rt.governance.approvals.requested.get(), timeout=30)
        async with asyncio.timeout(30):  # the boss waits for the child, which waits for a person
            while not ((ev := await events.get()).run_id == rec.id and ev.type == "status"
                       and ev.data["status"] == "waiting"):  # fmt: skip
                pass
    return rec.id, a.run_id


def orgos_process(project: Path, model: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORGOS_MODEL_SCRIPT": str(model), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "orgos.cli", "-p", str(project), *args],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def test_resume_exits_listing_the_runs_waiting_for_a_person(
    project: Path, model_file: ModelFile
) -> None:
    boss, clerk = asyncio.run(tree_waiting_for_an_approval(project))
    model = model_file(WORD_COUNT)

    worker = orgos_process(project, model, "resume")  # every unfinished run
    assert worker.returncode == 3, worker.stdout + worker.stderr
    assert f"clerk {clerk} waits for approval" in worker.stdout
    assert "1 wait(s) for a decision" in worker.stdout

    one = orgos_process(project, model, "resume", boss)  # the tree that waits
    assert one.returncode == 3, one.stdout + one.stderr
    assert f"clerk {clerk} waits for approval" in one.stdout
    assert asyncio.run(status_of(project, boss)).status is RunStatus.WAITING

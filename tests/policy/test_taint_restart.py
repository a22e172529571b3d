"""A run that read untrusted content stays tainted through kill -9: the
worker that takes it on rebuilds the taint from the journal, so its
high-risk call still waits for a person."""

from __future__ import annotations

import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from gov_helpers import next_approval, runtime
from stores import store_for
from taint_worker import POLICY, agent, delegating_agents

from orgos import tool
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.testing import ScriptedModel

WORKER = Path(__file__).with_name("taint_worker.py")


def _tools(refunds: list[Any]) -> list[Any]:
    @tool(idempotent=True)
    def read_page(url: str) -> str:
        """Read a web page (content from outside)."""
        raise AssertionError("journaled: replay must not read it again")

    @tool(risk="high")
    def refund(order_id: str, amount: float, idempotency_key: str) -> str:
        """Refund a customer."""
        refunds.append((order_id, amount))
        return "refunded"

    return [read_page, refund]


def _obeys_the_page(req: ModelRequest) -> ModelResponse:
    results = [m.content for m in req.messages if m.role == "tool"]
    if len(results) == 1:
        return ScriptedModel.call("refund", order_id="X-9", amount=900.0)
    return ScriptedModel.final(results[-1])


def _kill_after_the_read(tmp_path: Path, *mode: str) -> str:
    proc = subprocess.Popen([sys.executable, str(WORKER), str(store_for(tmp_path)), *mode],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    out = proc.stdout
    threading.Thread(target=lambda: lines.put(out.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=60).split()
        assert line and line[0] == "READ", f"worker said {line!r}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    return line[1]


async def test_taint_survives_kill_9(tmp_path: Path) -> None:
    run_id = _kill_after_the_read(tmp_path)
    refunds: list[Any] = []
    rt = runtime(tmp_path, POLICY, ScriptedModel(_obeys_the_page), _tools(refunds),
                 agents=[agent()])  # fmt: skip
    async with rt:  # recovers the dead worker's run at once (same host, pid gone)
        a = await next_approval(rt, timeout=30)
        assert a.run_id == run_id and a.rule == "injection-containment"
        assert (a.request or {})["call"]["tool"] == "refund"
        assert refunds == []
        await rt.control.approve(a.id, by="olga")
        done = await rt.wait(run_id, timeout=30)
    assert done.status.value == "succeeded" and refunds == [("X-9", 900.0)]


@pytest.mark.sqlite_file
async def test_taint_from_a_child_survives_kill_9_of_its_parent(tmp_path: Path) -> None:
    """The parent is killed after it read its child's tainted answer and
    before anything else happened: its row still says untainted (it was
    written when it parked for the child), and no untrusted tool is in its
    own journal. The worker that takes it on rebuilds the taint from the
    journaled outcome, so the refund still waits for a person."""
    run_id = _kill_after_the_read(tmp_path, "child")
    with sqlite3.connect(tmp_path / "o.db") as db:
        (row_says,) = db.execute("SELECT tainted FROM runs WHERE id=?", (run_id,)).fetchone()
    assert row_says == 0  # only the journal knows
    refunds: list[Any] = []
    rt = runtime(tmp_path, POLICY, ScriptedModel(_obeys_the_page), _tools(refunds),
                 agents=delegating_agents())  # fmt: skip
    async with rt:
        a = await next_approval(rt, timeout=30)
        assert a.run_id == run_id and a.agent == "clerk" and a.rule == "injection-containment"
        assert refunds == []
        await rt.control.deny(a.id, by="olga")
        done = await rt.wait(run_id, timeout=30)
    assert done.status.value == "succeeded" and refunds == []


async def test_taint_survives_kill_9_when_the_untrusted_result_was_refused(
    tmp_path: Path,
) -> None:
    """The page could not be journaled (the run saw an error instead); the
    journaled error still says where it came from, so after kill -9 the
    refund still waits for a person."""
    run_id = _kill_after_the_read(tmp_path, "refused")
    refunds: list[Any] = []
    rt = runtime(tmp_path, POLICY, ScriptedModel(_obeys_the_page), _tools(refunds),
                 agents=[agent()])  # fmt: skip
    async with rt:
        a = await next_approval(rt, timeout=30)
        assert a.run_id == run_id and a.rule == "injection-containment"
        assert refunds == []


async def test_untainted_control(tmp_path: Path) -> None:
    """The same restart without the page read: no approval is needed, so the
    test above fails if the taint is not rebuilt."""
    refunds: list[Any] = []

    def respond(req: ModelRequest) -> ModelResponse:
        if not any(m.role == "tool" for m in req.messages):
            return ScriptedModel.call("refund", order_id="X-9", amount=900.0)
        return ScriptedModel.final("ok")

    rt = runtime(tmp_path, POLICY, ScriptedModel(respond), _tools(refunds), agents=[agent()])
    async with rt:
        run = await rt.run("clerk", "refund X-9", timeout=30)
    assert run.status.value == "succeeded" and refunds == [("X-9", 900.0)]

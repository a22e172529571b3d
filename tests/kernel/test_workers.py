"""Several `orgos worker` processes on one SQLite store: one killed with
SIGKILL while it holds runs (a barrier says when: each run is inside its
second model call), and its runs move to the other within the lease TTL,
their first step not done again; fencing shows who held them. And one
paused (SIGSTOP) past its lease while its model call is held at a gate:
another worker takes its run over and ends it; woken (SIGCONT) and its
model answered, the paused one writes nothing and does nothing again."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import IO

from orgos.runtime import Runtime
from orgos.store import RunFilter, RunStatus
from orgos.testing import ScriptedModel

N = 3
TOOLS = """
import os
from orgos import tool

@tool
def record(label: str, n: int) -> str:
    \"\"\"An effect: one line per execution.\"\"\"
    with open(os.environ["EFFECTS"], "a") as f:
        f.write(f"{label}:{n}\\n")
    return "recorded"
"""
MODEL = """
import asyncio, os
from orgos.testing import ScriptedModel

async def respond(req):
    label = req.messages[1].content
    n = sum(1 for m in req.messages if m.role == "assistant")
    if n == 0:
        return ScriptedModel.call("record", label=label, n=0)
    if os.environ.get("HANG"):
        print(f"BLOCKED {label}", flush=True)
        await asyncio.Event().wait()
    gate = os.environ.get("GATE")
    if n == 1 and gate:  # held until the test writes to the gate (a FIFO)
        print(f"BLOCKED {label}", flush=True)
        await asyncio.to_thread(lambda: open(gate).read())
    if n == 1:
        return ScriptedModel.call("record", label=label, n=1)
    return ScriptedModel.final(f"{label} finished")

model = ScriptedModel(respond)
"""


def _lines(stream: IO[str], out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line.rstrip("\n"))


class Worker:
    def __init__(self, project: Path, model: Path, effects: Path, *, ttl: float, **env_vars: str):
        env = {**os.environ, "ORGOS_MODEL_SCRIPT": str(model), "EFFECTS": str(effects),
               "COLUMNS": "200", **env_vars}  # fmt: skip
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orgos.cli", "-p", str(project), "worker",
             "--lease-ttl", str(ttl)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=_lines, args=(self.proc.stdout, self.lines), daemon=True).start()
        self.seen: list[str] = []

    def expect(self, prefix: str, count: int = 1, timeout: float = 60) -> list[str]:
        got = []
        while len(got) < count:
            line = self.lines.get(timeout=timeout)  # queue.Empty: the test fails
            self.seen.append(line)
            if line.startswith(prefix):
                got.append(line)
        return got

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def _project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    (proj / "agents").mkdir(parents=True)
    (proj / "orgos.yaml").write_text("name: proj\nstore: sqlite:///.orgos/orgos.db\n"
                                     "tools: [tools.py]\nagents: [agents]\n")  # fmt: skip
    (proj / "agents" / "a.yaml").write_text("name: a\ntools: [record]\n")
    (proj / "tools.py").write_text(textwrap.dedent(TOOLS))
    return proj


async def _submit(proj: Path, n: int = N) -> list[str]:
    rt = Runtime.from_project(
        proj, models={"default": ScriptedModel([])}, recover=False, adopt=False, max_active=0
    )  # fmt: skip: queued, for any worker
    async with rt:
        return [(await rt.submit("a", f"job-{i}")).id for i in range(n)]


async def _runs(proj: Path) -> list[tuple[str, RunStatus, int]]:
    rt = Runtime.from_project(proj, models={"default": ScriptedModel([])}, recover=False,
                              adopt=False)  # fmt: skip
    await rt.store.open()
    try:
        runs = await rt.store.list_runs(RunFilter(rt.workspace, limit=100))
    finally:
        await rt.store.close()
    return sorted((r.id, r.status, r.fence) for r in runs)


def test_a_killed_workers_runs_resume_on_another_within_the_lease(tmp_path: Path) -> None:
    proj, effects = _project(tmp_path), tmp_path / "effects.log"
    model = tmp_path / "model.py"
    model.write_text(textwrap.dedent(MODEL))
    ids = asyncio.run(_submit(proj))
    first = Worker(proj, model, effects, ttl=2.0, HANG="1")
    second: Worker | None = None
    try:
        first.expect("BLOCKED", N)  # every run is inside its second model call on it
        second = Worker(proj, model, effects, ttl=2.0)
        second.expect("worker ")  # started (it found the first one alive)
        first.proc.send_signal(signal.SIGKILL)
        assert first.proc.wait(timeout=30) == -signal.SIGKILL
        ends = second.expect("■", N, timeout=60)  # after the first one's lease ran out
        assert all("succeeded" in line for line in ends), ends
        second.proc.send_signal(signal.SIGTERM)  # a clean stop
        assert second.proc.wait(timeout=60) == 0, second.seen
        assert any("stopped" in line for line in second.lines.queue), second.seen
    finally:
        first.close()
        if second is not None:
            second.close()
    runs = asyncio.run(_runs(proj))
    # Claimed twice each: by the first worker (fence 1), then by the second (2).
    assert runs == [(rid, RunStatus.SUCCEEDED, 2) for rid in sorted(ids)]
    # The step done before the kill is not done again.
    lines = effects.read_text().splitlines()
    assert sorted(lines) == sorted(f"job-{i}:{n}" for i in range(N) for n in (0, 1))


def _journal(db: Path) -> list[tuple[int, str, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT seq, phase, kind FROM journal ORDER BY rowid").fetchall()
    finally:
        conn.close()


def test_a_paused_worker_whose_lease_was_taken_over_writes_nothing(tmp_path: Path) -> None:
    proj, effects = _project(tmp_path), tmp_path / "effects.log"
    model, gate = tmp_path / "model.py", tmp_path / "gate"
    model.write_text(textwrap.dedent(MODEL))
    os.mkfifo(gate)
    [rid] = asyncio.run(_submit(proj, 1))
    paused = Worker(proj, model, effects, ttl=1.0, GATE=str(gate))
    other: Worker | None = None
    try:
        paused.expect("BLOCKED")  # inside its second model call, its first step journaled
        paused.proc.send_signal(signal.SIGSTOP)
        other = Worker(proj, model, effects, ttl=30.0)
        [end] = other.expect("■", timeout=60)  # once the paused one's lease ran out
        assert "succeeded" in end, other.seen
        done = _journal(proj / ".orgos" / "orgos.db")
        paused.proc.send_signal(signal.SIGCONT)
        opener = threading.Thread(target=gate.write_text, args=("go",), daemon=True)
        opener.start()  # its model call answers now, with a call of the tool
        opener.join(timeout=60)
        assert not opener.is_alive()
        while not any("fenced" in line for line in paused.seen):
            paused.expect("")  # its next line (none in 60 s: the test fails)
        for w in (paused, other):
            w.proc.send_signal(signal.SIGTERM)
            assert w.proc.wait(timeout=60) == 0, w.seen
    finally:
        paused.close()
        if other is not None:
            other.close()
    # The other worker's results stand, nothing was added, no effect doubled.
    assert _journal(proj / ".orgos" / "orgos.db") == done
    assert sorted(effects.read_text().splitlines()) == ["job-0:0", "job-0:1"]
    assert asyncio.run(_runs(proj)) == [(rid, RunStatus.SUCCEEDED, 2)]

"""Several `orgos worker` processes on one SQLite store: one killed with
SIGKILL while it holds runs (a barrier says when: each run is inside its
second model call), and its runs move to the other within the lease TTL,
their first step not done again; fencing shows who held them."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
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
    return ScriptedModel.final(f"{label} finished")

model = ScriptedModel(respond)
"""


def _lines(stream: IO[str], out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line.rstrip("\n"))


class Worker:
    def __init__(self, project: Path, model: Path, effects: Path, *, hang: bool, ttl: float):
        env = {**os.environ, "ORGOS_MODEL_SCRIPT": str(model), "EFFECTS": str(effects),
               "COLUMNS": "200", **({"HANG": "1"} if hang else {})}  # fmt: skip
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


async def _submit(proj: Path) -> list[str]:
    rt = Runtime.from_project(
        proj, models={"default": ScriptedModel([])}, recover=False, adopt=False, max_active=0
    )  # fmt: skip: queued, for any worker
    async with rt:
        return [(await rt.submit("a", f"job-{i}")).id for i in range(N)]


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
    first = Worker(proj, model, effects, hang=True, ttl=2.0)
    second: Worker | None = None
    try:
        first.expect("BLOCKED", N)  # every run is inside its second model call on it
        second = Worker(proj, model, effects, hang=False, ttl=2.0)
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
    assert sorted(lines) == sorted(f"job-{i}:0" for i in range(N))

"""kill -9 in the middle of a parallel stage: after a restart the workflow
finishes, and the branches that had finished are not run again."""

from __future__ import annotations

import collections
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from lines import LineReader

WORKER = Path(__file__).with_name("wf_crash_worker.py")
N = 30


class Worker(LineReader):
    def __init__(self, tmp: Path, submit: bool):
        args = [sys.executable, str(WORKER), str(tmp / "o.db"), str(tmp / "effects.log"), str(N)]
        self.proc = subprocess.Popen([*args, *(["--submit"] if submit else [])],
                                     stdout=subprocess.PIPE, text=True)  # fmt: skip
        self._start_reading()


def test_kill_9_during_a_fan_out(tmp_path: Path) -> None:
    w = Worker(tmp_path, submit=True)
    finished: set[int] = set()
    while len(finished) < 8:
        line = w.next_line()
        assert line is not None and not line.startswith("ALLDONE"), line
        if line.startswith("DONE"):
            finished.add(int(line.split()[1]))
    w.proc.send_signal(signal.SIGKILL)
    w.proc.wait(timeout=30)
    effects = collections.Counter((tmp_path / "effects.log").read_text().split())
    assert len(finished) < N and sum(effects.values()) < N  # the kill landed mid-stage

    w = Worker(tmp_path, submit=False)
    while (line := w.next_line(timeout=120)) is not None and not line.startswith("ALLDONE"):
        pass
    assert line is not None, "the recovering worker exited early"
    _, status, output = line.split(" ", 2)
    assert status == "succeeded"
    assert json.loads(output) == [i * i for i in range(N)]
    w.proc.wait(timeout=30)

    after = collections.Counter((tmp_path / "effects.log").read_text().split())
    for i in finished:  # finished before the kill: never run again
        assert after[f"work:{i}"] == 1, (i, after[f"work:{i}"])
    assert set(after) == {f"work:{i}" for i in range(N)}
    conn = sqlite3.connect(tmp_path / "o.db")
    rows = conn.execute("SELECT kind, target, status FROM runs").fetchall()
    conn.close()
    per_agent = collections.Counter((k, t, s) for k, t, s in rows)
    # one run per branch, started once: the spawn was journaled before the kill
    assert per_agent[("agent", "worker", "succeeded")] == N
    assert per_agent == {
        ("workflow", "crashy", "succeeded"): 1,
        ("agent", "lister", "succeeded"): 1,
        ("agent", "worker", "succeeded"): N,
        ("agent", "summer", "succeeded"): 1,
    }

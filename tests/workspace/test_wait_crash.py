"""Kill -9 a worker whose runs write a file, park until an event, then
publish: events published while no worker runs wake them later; no write or
publish is repeated, no run is lost."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from test_bus_crash import Proc

from orgos.store.sqlite import SQLiteStore

WORKER = Path(__file__).with_name("wait_worker.py")
N = 40


class Worker(Proc):
    def __init__(self, db: Path, submit: bool) -> None:
        import queue
        import threading

        args = [sys.executable, str(WORKER), str(db), str(N)] + (["--submit"] if submit else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True)  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def some_acks(self, n: int, idle: float = 1.0) -> None:
        """Read until ``n`` ACK lines, or until the worker has been quiet for
        ``idle`` seconds (its runs all parked)."""
        import queue

        while n:
            try:
                line = self.lines.get(timeout=idle)
            except queue.Empty:
                return
            assert line is not None and not line.startswith(("BAD", "Traceback")), line
            n -= line.startswith("ACK")


async def publish_go(db: Path, ids: list[int]) -> None:
    store = SQLiteStore(db)
    await store.open()
    try:
        for i in ids:  # keyed: publishing again after a retry is harmless
            await store.bus.publish("default", f"go.{i}", None, source="test", key=f"go{i}")
    finally:
        await store.close()


def test_parked_runs_survive_kill_9_and_wake_on_later_events(tmp_path: Path) -> None:
    rng = random.Random(7)
    db = tmp_path / "o.db"
    order = list(range(N))
    rng.shuffle(order)
    w = Worker(db, submit=True)
    assert w.wait_for("SUBMITTED")
    kills = 0
    while order:
        w.some_acks(rng.randint(1, 25))
        w.proc.send_signal(signal.SIGKILL)
        w.proc.wait(timeout=30)
        kills += 1
        batch, order = order[:6], order[6:]
        asyncio.run(publish_go(db, batch))  # while no worker runs
        w = Worker(db, submit=False)
    assert w.wait_for("ALLDONE")
    w.proc.wait(timeout=30)

    conn = sqlite3.connect(db)
    statuses = conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()
    versions = conn.execute("SELECT path, COUNT(*) FROM fs_versions GROUP BY path").fetchall()
    done = conn.execute("SELECT data FROM bus_events WHERE topic='done'").fetchall()
    waits = conn.execute("SELECT COUNT(*) FROM bus_waits").fetchone()[0]
    conn.close()
    assert statuses == [("succeeded", N)]
    assert len(versions) == N and {n for _, n in versions} == {1}  # each write made once
    assert len(done) == N  # each publish made once
    assert waits == 0
    assert kills >= 6

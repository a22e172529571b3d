"""Kill -9 the publisher and the consumer of a topic, again and again: no
event is lost, no keyed publish is doubled, and every redelivery carries the
id of the event it repeats, so the consumer recognizes it."""

from __future__ import annotations

import collections
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from lines import LineReader

WORKER = Path(__file__).with_name("bus_worker.py")
N = 2000


class Proc(LineReader):
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdout=subprocess.PIPE, stdin=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self._start_reading()

    def wait_for(self, prefix: str, count: int = 1) -> bool:
        """Read until ``count`` lines start with ``prefix``; False if it ended first."""
        while count:
            line = self.next_line()
            if line is None:
                return False
            assert not line.startswith(("Traceback", "Error")), line
            if line == "DONE" and prefix != "DONE":
                return False
            if line.startswith(prefix):
                count -= 1
        return True

    def answer(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def finish(self) -> None:
        assert self.wait_for("DONE"), "the worker ended without DONE"
        self.proc.wait(timeout=30)


def test_kill_9_loses_no_event_and_duplicates_are_recognized(tmp_path: Path) -> None:
    rng = random.Random(4)
    db, sink = str(tmp_path / "o.db"), str(tmp_path / "sink.txt")
    pub = Proc("publish", db, str(N))
    kills = 0
    for _ in range(2):  # the publisher dies twice mid-way and starts over
        pub.wait_for("PUB", rng.randint(100, 600))
        pub.kill()
        kills += 1
        pub = Proc("publish", db, str(N))
    held = 0
    for _ in range(8):  # the consumer dies at random points
        con = Proc("consume", db, str(N), sink, "--hold")
        for _ in range(rng.randint(0, 4)):  # let a few batches through
            assert con.wait_for("BATCH")
            con.answer()
        assert con.wait_for("BATCH")
        if rng.random() < 0.5:
            con.answer()  # the kill races the acknowledgement
        else:
            held += 1  # the kill lands between handling the batch and acknowledging it
        con.kill()
        kills += 1
    pub.finish()
    Proc("consume", db, str(N), sink).finish()

    conn = sqlite3.connect(db)
    events = conn.execute("SELECT id, key FROM bus_events WHERE topic='jobs'").fetchall()
    conn.close()
    assert sorted(k for _, k in events) == sorted(f"k{i}" for i in range(N))  # none doubled
    key_of = dict(events)

    deliveries = [line.split() for line in Path(sink).read_text().splitlines()]
    by_id = collections.Counter(int(i) for i, _ in deliveries)
    assert set(by_id) == set(key_of)  # every event delivered: none lost
    assert all(key_of[int(i)] == k for i, k in deliveries)  # an id always names one event
    duplicates = sum(n - 1 for n in by_id.values())
    assert kills == 10
    assert held and duplicates >= held  # redelivered, and recognized by id

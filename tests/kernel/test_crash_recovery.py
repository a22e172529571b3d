"""Kill -9 a worker at random points, again and again; after each restart
every run goes on from its journal. Checks: every run completes, no tool call
whose result was journaled runs again, no acknowledged entry is lost, and the
keyed payment happens once per call."""

from __future__ import annotations

import collections
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from lines import LineReader

WORKER = Path(__file__).with_name("crash_worker.py")
N_RUNS, STEPS, TRIALS = 80, 9, 24


class Worker(LineReader):
    def __init__(self, tmp: Path, submit: bool):
        args = [sys.executable, str(WORKER), str(tmp / "o.db"), str(tmp / "effects.log"),
                str(tmp / "ledger.db"), str(N_RUNS), str(STEPS)]  # fmt: skip
        if submit:
            args.append("--submit")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self._start_reading()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        while self.lines.get(timeout=30) is not None:  # drain what it printed
            pass


def journal(db: Path) -> list[tuple[str, int, str, str, str | None]]:
    """What is durable in the store, read straight from the file."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT run_id, seq, phase, kind, payload, result FROM journal ORDER BY rowid"
        ).fetchall()
    finally:
        conn.close()
    out = []
    for run_id, seq, phase, kind, payload, result in rows:
        out.append((run_id, seq, phase, kind, payload))
        if result is not None:  # an intent and its result committed together
            out.append((run_id, seq, "result", kind, result))
    return out


def effect_counts(log: Path) -> collections.Counter[str]:
    return collections.Counter(log.read_text().split()) if log.exists() else collections.Counter()


def completed_calls(rows: list[tuple[str, int, str, str, str | None]]) -> dict[str, str]:
    """(run, seq) of tool calls with a journaled result -> their effect label."""
    import json

    intents = {(r, s): json.loads(p or "{}") for r, s, ph, k, p in rows if ph == "intent"}
    out = {}
    for r, s, ph, k, _ in rows:
        if ph == "result" and k == "tool":
            req = intents[(r, s)]
            a = req["arguments"]
            out[f"{r}:{s}"] = f"{req['tool']}:{a['label']}:{a['n']}"
    return out


def test_kill_9_at_random_points(tmp_path: Path) -> None:
    rng = random.Random(20261121)
    db, log = tmp_path / "o.db", tmp_path / "effects.log"
    frozen: dict[str, tuple[str, int]] = {}  # completed call -> effect count when first seen
    kills = 0
    for trial in range(TRIALS):
        w = Worker(tmp_path, submit=trial == 0)
        acked: set[tuple[str, int]] = set()
        target = rng.randint(1, 30)
        finished = False
        submitting = trial == 0  # the first kill comes after every run is recorded
        while submitting or len(acked) < target:
            line = w.next_line()
            assert line is not None, "worker exited unexpectedly"
            if line == "ALLDONE":
                finished = True
                break
            assert not line.startswith("BAD"), line
            if line == "SUBMITTED":
                submitting = False
            if line.startswith("ACK"):
                _, run_id, seq = line.split()
                acked.add((run_id, int(seq)))
        w.kill()
        kills += not finished
        rows = journal(db)
        results = {(r, s) for r, s, ph, _, _ in rows if ph == "result"}
        lost = acked - results
        assert not lost, f"trial {trial}: acknowledged entries lost: {sorted(lost)[:5]}"
        counts = effect_counts(log)
        for call, label in completed_calls(rows).items():
            frozen.setdefault(call, (label, counts[label]))
        if finished:
            break
    assert kills >= 20, f"only {kills} kills landed before the work finished"

    w = Worker(tmp_path, submit=False)
    while (line := w.next_line(timeout=120)) != "ALLDONE":
        assert line is not None and not line.startswith("BAD"), line
    w.proc.wait(timeout=30)

    conn = sqlite3.connect(db)
    statuses = collections.Counter(s for (s,) in conn.execute("SELECT status FROM runs"))
    assert statuses == {"succeeded": N_RUNS}
    conn.close()
    per_call = collections.Counter((r, s) for r, s, ph, _, _ in journal(db) if ph == "result")
    dup = [k for k, n in per_call.items() if n > 1]
    assert dup == [], f"results journaled twice: {dup[:5]}"

    counts = effect_counts(log)
    repeated = {c: (lbl, n, counts[lbl]) for c, (lbl, n) in frozen.items() if counts[lbl] != n}
    assert not repeated, f"completed tool calls ran again: {list(repeated.items())[:5]}"

    ledger = sqlite3.connect(tmp_path / "ledger.db")
    payments = collections.Counter(
        f"{label}:{n}" for label, n in ledger.execute("SELECT label, n FROM ledger")
    )
    ledger.close()
    expected = {f"job-{i}:{n}" for i in range(N_RUNS) for n in range(STEPS) if n % 3 == 2}
    assert set(payments) == expected
    assert max(payments.values()) == 1  # one payment per call, even when retried

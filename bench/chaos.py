"""Chaos: kill a worker again and again and count what the world saw.

Runs mix idempotent, keyed and unrepeatable tools, delegations, workflow
fan-outs and approvals. A worker process works on them; at points a seeded
RNG picks (after a random number of journaled syscalls) it gets SIGKILL, or
a clean stop (SIGTERM, SIGINT). An operator, like a careful person, approves
refunds and answers every call left in doubt by looking at the ledger first:
the effect is there: ``done``; it is not: ``retry`` (or ``not-done``). When
a retried attempt does its effect the worker is killed at once, so that
attempt is in doubt too. Then workers resume until every run has ended.

Every tool writes its effect to a ledger (a SQLite file of its own) before
it answers. Counted at the end: lost effects (a run succeeded, or its
journal says a call succeeded, without the effect in the ledger), doubled
effects (an unrepeatable effect twice, a keyed payment under two keys),
hung runs (not ended), calls a clean stop left in doubt, journaled results.

    python bench/chaos.py                 # 120 trials (make chaos)
    python bench/chaos.py --trials 20     # the short form the test suite runs
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orgos import Agent, Runtime, tool
from orgos.config.workflow import WorkflowSpec
from orgos.kernel.syscall import Syscall
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.policy import Governance, PolicySpec
from orgos.store import RunFilter, RunStatus
from orgos.store.waiting import WaitDecision, WaitRuns
from orgos.testing import ScriptedModel
from orgos.tools.base import Tool

PLAN = ("ship", "pay", "charge", "refund")  # what a clerk does for each job
UNREPEATABLE = ("charge", "refund")
LABEL = re.compile(r"\b[JBW]\d+(?:x\d+)?\b")
PAUSE = 0.02  # an unrepeatable call is in flight this long before and after its effect
POLICY = {"rules": [{"name": "refunds", "when": {"tool": "refund"}, "decide": "approve",
                     "reason": "a person checks every refund"}]}  # fmt: skip
FANOUT = {"name": "fanout", "inputs": ["items"], "reports": False,
          "steps": [{"id": "each", "agent": "clerk", "for_each": "input.items",
                     "task": "{{ item }}"}]}  # fmt: skip


# --- the world: a ledger of effects -------------------------------------------------------
def ledger(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS effects (tool TEXT, label TEXT, key TEXT)")
    conn.execute("CREATE TABLE IF NOT EXISTS calls (tool TEXT, label TEXT)")
    return conn


def make_tools(book: sqlite3.Connection) -> list[Tool]:
    """The tools; all run on the event loop (the ledger connection is not
    shared with threads)."""

    def record(name: str, label: str, key: str | None = None, once: bool = False) -> None:
        book.execute("INSERT INTO calls VALUES (?, ?)", (name, label))
        if once:  # an idempotent effect: doing it again changes nothing
            book.execute("INSERT INTO effects SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM"
                         " effects WHERE tool=? AND label=? AND key IS ?)",
                         (name, label, key, name, label, key))  # fmt: skip
        else:
            book.execute("INSERT INTO effects VALUES (?, ?, ?)", (name, label, key))

    @tool(idempotent=True)
    async def ship(label: str) -> str:
        """Book the shipment of a job (idempotent)."""
        record("ship", label, once=True)
        return f"shipped {label}"

    @tool
    async def pay(label: str, amount: int, idempotency_key: str) -> str:
        """Pay, once per key."""
        record("pay", label, idempotency_key, once=True)
        return f"paid {amount} for {label}"

    @tool
    async def charge(label: str) -> str:
        """Charge a card: not idempotent, no key (in doubt after a crash)."""
        await asyncio.sleep(PAUSE)
        record("charge", label)
        await asyncio.sleep(PAUSE)
        return f"charged {label}"

    @tool(risk="high")
    async def refund(label: str, amount: int) -> str:
        """Refund: a person approves it first; not idempotent."""
        await asyncio.sleep(PAUSE)
        record("refund", label)
        await asyncio.sleep(PAUSE)
        return f"refunded {amount} for {label}"

    return [ship, pay, charge, refund]


def respond(req: ModelRequest) -> ModelResponse:
    """The model: a clerk does PLAN in order (again after an error); a boss
    delegates its job to a clerk."""
    found = LABEL.search(req.messages[1].content)
    label = found.group(0) if found else "?"
    results = [m.content for m in req.messages if m.role == "tool"]
    if req.messages[0].content.startswith("You are boss"):
        if results:
            return ScriptedModel.final(f"{label} delegated")
        return ScriptedModel.call("delegate", agent="clerk", task=label)
    ok = sum(1 for r in results if not str(r).startswith("ERROR"))
    if ok >= len(PLAN):
        return ScriptedModel.final(f"{label} done")
    name = PLAN[ok]
    args: dict[str, Any] = {"label": label}
    if name in ("pay", "refund"):
        args["amount"] = 5
    return ScriptedModel.call(name, **args)


def runtime(folder: Path, *, operator: bool) -> Runtime:
    book = ledger(folder / "ledger.db")
    tools = make_tools(book)
    gov = Governance(PolicySpec.model_validate(POLICY), switch_interval=0.05)
    extra: dict[str, Any] = dict(max_active=0, recover=False, adopt=False) if operator else {}
    return Runtime(
        store=folder / "o.db",
        agents=[Agent(name="clerk", tools=[t.name for t in tools], max_steps=40),
                Agent(name="boss", delegates=["clerk"], max_steps=10)],
        tools=tools, models=ScriptedModel(respond, latency=0.002, record=False),
        workflows=[WorkflowSpec.model_validate(FANOUT)], governance=gov,
        poll_interval=0.05, lease_ttl=30, drain_timeout=5.0, **extra,
    )  # fmt: skip


# --- the worker process ---------------------------------------------------------------------
async def work(folder: Path) -> None:
    """Work until nothing can move on without a person, or a signal stops us."""
    rt = runtime(folder, operator=False)

    def ack(sc: Syscall, result: dict[str, Any]) -> None:
        print("A", flush=True)

    rt.kernel.pipeline.after.append(ack)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with rt:
        print("READY", flush=True)
        while not stop.is_set() and await movable(rt):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
    print("STOPPED" if stop.is_set() else "IDLE", flush=True)


async def movable(rt: Runtime) -> bool:
    """Whether any run can still move on without a person (like `orgos resume`)."""
    flt = RunFilter(rt.workspace, statuses=[RunStatus.QUEUED, RunStatus.RUNNING,
                                            RunStatus.WAITING], limit=100_000)  # fmt: skip
    for r in await rt.store.list_runs(flt):
        w = r.waiting_on
        if r.status is not RunStatus.WAITING or (isinstance(w, WaitRuns) and w.until is not None):
            return True
        if isinstance(w, WaitRuns) and w.runs and not await rt.kernel.waits_for_person(r):
            return True
    return False


def zygote(folder: Path) -> None:
    """Fork a fresh worker process for each ``go`` line on stdin, one at a
    time (imports are paid once); print ``EXIT code`` when it has ended. The
    worker's lines (``PID``, ``A`` per journaled syscall, ``STOPPED``/``IDLE``)
    share this stdout."""
    for line in sys.stdin:
        if line.strip() != "go":
            return
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # the worker: no thread or loop exists here yet
            code = 0
            try:
                print(f"PID {os.getpid()}", flush=True)
                asyncio.run(work(folder))
            except BaseException as exc:
                print(f"worker: {type(exc).__name__}: {exc}", file=sys.stderr)
                code = 1
            finally:
                sys.stdout.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        # On a line of its own, even if the worker died in the middle of one.
        print(f"\nEXIT {os.waitstatus_to_exitcode(status)}", flush=True)


# --- the operator ------------------------------------------------------------------------------
@dataclass
class Figures:
    trials: int = 0
    signals: dict[str, int] = field(default_factory=dict)
    idle_exits: int = 0
    forced_kills: int = 0
    approvals: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    decided_retried_attempt: int = 0
    clean_stops_left_in_doubt: int = 0
    slow_clean_stops: int = 0
    stalled_workers: int = 0
    jobs: int = 0
    runs: dict[str, int] = field(default_factory=dict)
    effects: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    journaled_results: int = 0
    results_twice: int = 0
    hung: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Operator:
    """A careful person: approves refunds, and answers a call in doubt only
    after looking for its effect in the ledger."""

    def __init__(self, rt: Runtime, book: sqlite3.Connection, rng: random.Random, f: Figures):
        self.rt, self.book, self.rng, self.f = rt, book, rng, f
        #: Retried attempts not yet seen doing their effect: (tool, label) -> effects before.
        self.retried: dict[tuple[str, str], int] = {}

    def count(self, tool_name: str, label: str) -> int:
        return int(self.book.execute("SELECT COUNT(*) FROM effects WHERE tool=? AND label=?",
                                     (tool_name, label)).fetchone()[0])  # fmt: skip

    async def answer(self) -> None:
        gov = self.rt.governance
        assert gov is not None
        for a in await gov.store.approvals.list(self.rt.workspace):
            await self.rt.control.approve(a.id, by="operator")
            self.f.approvals += 1
        waiting = await self.rt.store.list_runs(
            RunFilter(self.rt.workspace, statuses=[RunStatus.WAITING], limit=100_000)
        )
        for r in waiting:
            d = r.waiting_on
            if not isinstance(d, WaitDecision):
                continue
            req = d.request
            name, label = req["tool"], req["arguments"]["label"]
            attempt = d.attempt or 1
            self.f.decided_retried_attempt += attempt > 1
            if self.count(name, label):  # it happened: say so, with its result
                action, value = "done", f"{name} {label}: found in the ledger"
            else:
                action, value = ("retry" if self.rng.random() < 0.75 else "not-done"), None
            try:
                await self.rt.kernel.recovery.decide(r.id, action, value, attempt=attempt)
            except ValueError:
                continue  # answered or changed meanwhile: look again next time
            self.f.decisions[action] = self.f.decisions.get(action, 0) + 1
            if action == "retry":
                self.retried[(name, label)] = self.count(name, label)

    def retried_effect_done(self) -> bool:
        """A retried attempt did its effect (its result is not journaled yet)."""
        if not self.retried:
            return False
        for key, before in list(self.retried.items()):
            if self.count(*key) > before:
                del self.retried[key]
                return True
        return False

    async def loop(self) -> None:
        while True:
            try:
                await self.answer()
            except Exception as exc:  # a busy database: next time
                print(f"operator: {exc}", file=sys.stderr)
            await asyncio.sleep(0.02)


# --- the harness ----------------------------------------------------------------------------------
def dangling(db: Path) -> set[tuple[str, int]]:
    """Unrepeatable calls whose latest attempt has no result: in doubt at restart."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        rows = conn.execute(
            "SELECT j.run_id, j.seq FROM journal j WHERE j.phase='intent' AND j.kind='tool'"
            " AND json_extract(j.payload, '$.tool') IN ('charge','refund') AND j.result IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM journal r WHERE r.run_id=j.run_id AND r.seq=j.seq"
            "  AND r.phase='result')"
        ).fetchall()
    finally:
        conn.close()
    return {(r, s) for r, s in rows}


async def top_up(rt: Runtime, f: Figures, n: int) -> None:
    """Keep about ``n`` jobs unfinished: clerks, bosses and fan-outs."""
    live = await rt.store.list_runs(
        RunFilter(rt.workspace, statuses=[RunStatus.QUEUED, RunStatus.RUNNING,
                                          RunStatus.WAITING], limit=100_000)
    )  # fmt: skip
    while len(live) < n:
        i = f.jobs
        f.jobs += 1
        if i % 4 == 3:
            rec = await rt.submit_workflow("fanout", {"items": [f"W{i}x{k}" for k in range(3)]})
        elif i % 4 == 2:
            rec = await rt.submit("boss", f"B{i}")
        else:
            rec = await rt.submit("clerk", f"J{i}")
        live.append(rec)


class Workers:
    """Worker processes, forked one at a time by a zygote process."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin, self.stdout = proc.stdin, proc.stdout

    @classmethod
    async def start(cls, folder: Path) -> Workers:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "zygote", str(folder),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc)

    async def fork(self) -> int:
        self.stdin.write(b"go\n")
        await self.stdin.drain()
        while not (line := await self.stdout.readline()).startswith(b"PID "):
            if not line:
                raise RuntimeError("the zygote died")
        return int(line.split()[1])

    async def close(self) -> None:
        self.stdin.close()
        await self.proc.wait()


async def trial(workers: Workers, folder: Path, op: Operator, rng: random.Random,
                *, kill: bool) -> None:  # fmt: skip
    f = op.f
    # One trial in six is a clean stop (SIGTERM, Ctrl-C); the point is random.
    sig = {5: signal.SIGTERM, 11: signal.SIGINT}.get(f.trials % 12, signal.SIGKILL)
    after = rng.randint(1, 40)
    before = dangling(folder / "o.db") if sig is not signal.SIGKILL else set()
    pid = await workers.fork()
    acks, sent, line, heard = 0, None, b"", time.monotonic()
    while True:
        try:
            line = await asyncio.wait_for(workers.stdout.readline(), 0.005)
            heard = time.monotonic()
        except TimeoutError:
            line = b"-"
        if line.startswith(b"EXIT") or not line:
            break  # it ended by itself: nothing left to move without a person
        if sent is None and time.monotonic() - heard > 20:
            sent = signal.SIGTERM  # a worker that neither works nor ends: stalled
            f.stalled_workers += 1
        if kill and sig is signal.SIGKILL and sent is None and op.retried_effect_done():
            sent = signal.SIGKILL  # the retried attempt did its effect: crash now
            f.forced_kills += 1
        acks += line == b"A\n"
        # While a retried attempt is pending, wait for it (bounded) to crash in it.
        wait = 400 if op.retried and sig is signal.SIGKILL else 0
        if kill and sent is None and acks >= after + wait:
            sent = sig
        if sent is not None:
            with contextlib.suppress(ProcessLookupError):  # it just ended
                os.kill(pid, sent)
            break
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(60):
            while line and not line.startswith(b"EXIT"):  # what it prints while it stops
                line = await workers.stdout.readline()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        f.slow_clean_stops += 1
    # A retried attempt that ended meanwhile (a clean stop, no kill in time)
    # is no longer one to crash in.
    op.retried = {k: n for k, n in op.retried.items() if op.count(*k) == n}
    if sent is None:
        f.idle_exits += 1
        return
    f.signals[sent.name] = f.signals.get(sent.name, 0) + 1
    if sent is not signal.SIGKILL:
        f.slow_clean_stops += time.monotonic() - t0 > 15
        left = dangling(folder / "o.db") - before
        f.clean_stops_left_in_doubt += len(left)
        for run_id, seq in left:  # what it was doing (none expected)
            print(f"after {sent.name}: {run_id} step {seq} in doubt", file=sys.stderr)
            show = sqlite3.connect(folder / "o.db")
            for row in show.execute("SELECT rowid, seq, phase, kind, substr(payload, 1, 80),"
                                    " result IS NOT NULL FROM journal WHERE run_id=?"
                                    " ORDER BY rowid", (run_id,)):  # fmt: skip
                print("   ", row, file=sys.stderr)
            show.close()


async def chaos(
    trials: int, seed: int, folder: Path, live: int = 10, verbose: bool = False
) -> Figures:
    # Two streams: where the kills land does not depend on what the operator drew.
    rng, person = random.Random(seed), random.Random(seed + 1)
    f = Figures()
    t0 = time.monotonic()
    book = ledger(folder / "ledger.db")
    rt = runtime(folder, operator=True)
    workers = await Workers.start(folder)
    async with rt:
        op = Operator(rt, book, person, f)
        answering = asyncio.create_task(op.loop())
        try:
            while f.trials < trials:
                await top_up(rt, f, live)
                landed = sum(f.signals.values())
                await trial(workers, folder, op, rng, kill=True)
                f.trials += sum(f.signals.values()) > landed
                if verbose:
                    print(f"trial {f.trials}: {dict(f.signals)}, idle {f.idle_exits},"
                          f" {dict(f.decisions)}", file=sys.stderr, flush=True)  # fmt: skip
            # Then resume, without kills, until every run has ended (or three
            # rounds in a row end none: those runs hang).
            still, idle_rounds = await unended(rt), 0
            while still and idle_rounds < 3:
                await trial(workers, folder, op, rng, kill=False)
                await op.answer()
                left = await unended(rt)
                idle_rounds = idle_rounds + 1 if len(left) >= len(still) else 0
                still = left
        finally:
            answering.cancel()
            await workers.close()
        await count(rt, book, f)
    f.seconds = round(time.monotonic() - t0, 1)
    return f


async def unended(rt: Runtime) -> list[str]:
    runs = await rt.store.list_runs(RunFilter(rt.workspace, limit=1_000_000))
    return [r.id for r in runs if not r.status.terminal]


async def count(rt: Runtime, book: sqlite3.Connection, f: Figures) -> None:
    runs = await rt.store.list_runs(RunFilter(rt.workspace, limit=1_000_000))
    f.runs = dict(collections.Counter(r.status.value for r in runs))
    f.hung = [r.id for r in runs if not r.status.terminal]
    effects = collections.Counter(
        (t, lbl) for t, lbl in book.execute("SELECT tool, label FROM effects")
    )
    f.effects = sum(effects.values())
    for r in runs:
        if r.target != "clerk":
            continue
        label = str(r.input.get("task") if isinstance(r.input, dict) else r.input)
        label = (LABEL.search(label) or re.match(".*", label)).group(0)  # type: ignore[union-attr]
        if r.status is RunStatus.SUCCEEDED:
            f.lost += [f"{t}:{label}" for t in PLAN if not effects[(t, label)]]
        per_seq: collections.Counter[int] = collections.Counter()
        for e in await rt.history.journal(r.id):
            if e.phase != "result":
                continue
            f.journaled_results += 1
            per_seq[e.seq] += 1
        f.results_twice += sum(1 for n in per_seq.values() if n > 1)
    f.lost += await said_done_but_absent(rt, runs, effects)
    f.doubled = [f"{t}:{lbl}" for (t, lbl), n in effects.items() if t in UNREPEATABLE and n > 1]
    keys = collections.Counter(lbl for lbl, _key in book.execute(
        "SELECT DISTINCT label, key FROM effects WHERE tool='pay'"))  # fmt: skip
    f.doubled += [f"pay:{lbl}" for lbl, n in keys.items() if n > 1]


async def said_done_but_absent(rt: Runtime, runs: list[Any], effects: Any) -> list[str]:
    """Tool calls the journal says succeeded whose effect is not in the ledger."""
    out = []
    for r in runs:
        if r.target != "clerk":
            continue
        intents: dict[int, Any] = {}
        for e in await rt.history.journal(r.id):
            if e.phase == "intent" and e.kind == "tool":
                intents[e.seq] = e.payload
            elif e.phase == "result" and e.kind == "tool" and (e.payload or {}).get("ok"):
                call = intents.get(e.seq) or {}
                name, label = call.get("tool"), (call.get("arguments") or {}).get("label")
                if name in PLAN and not effects[(name, label)]:
                    out.append(f"{name}:{label} (journaled as done)")
    return out


def report(f: Figures, trials: int, seed: int) -> str:
    d = asdict(f)
    lines = [
        f"chaos: {f.trials} trials (seed {seed}) in {f.seconds} s",
        f"  signals: {dict(f.signals)}; worker exits with nothing to do: {f.idle_exits}",
        f"  kills right after a retried attempt's effect: {f.forced_kills}",
        f"  approvals: {f.approvals}; decisions: {dict(f.decisions)};"
        f" decisions about a retried attempt: {f.decided_retried_attempt}",
        f"  jobs: {f.jobs}; runs: {f.runs}; effects: {f.effects};"
        f" journaled results: {f.journaled_results}",
        f"  lost: {len(f.lost)}; doubled: {len(f.doubled)}; hung runs: {len(f.hung)};"
        f" results journaled twice: {f.results_twice}",
        f"  clean stops that left a call in doubt: {f.clean_stops_left_in_doubt};"
        f" slow clean stops: {f.slow_clean_stops}; stalled workers: {f.stalled_workers}",
    ]
    return "\n".join(lines) + "\n" + json.dumps(d, default=str)


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "zygote":
        zygote(Path(sys.argv[2]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=120)
    p.add_argument("--seed", type=int, default=20261201)
    p.add_argument("--dir", type=Path, default=None, help="keep the files here")
    p.add_argument("--verbose", action="store_true", help="a line per trial on stderr")
    args = p.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="orgos-chaos-"))
    folder.mkdir(parents=True, exist_ok=True)
    f = asyncio.run(chaos(args.trials, args.seed, folder, verbose=args.verbose))
    print(report(f, args.trials, args.seed))
    bad = f.lost or f.doubled or f.hung or f.results_twice or f.clean_stops_left_in_doubt
    bad = bad or f.slow_clean_stops or f.stalled_workers
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""The cost of governance per syscall: policy + budgets + audit.

Two measurements, each the median of several trials:

* pipeline: the governance hooks alone (before + after) on a tool syscall,
  with a 12-rule policy (argument comparisons, patterns, hours, taint) and
  budgets on; plus the audit record's share of the journal commit (a batch
  with and without one Audit op).
* end to end: sequential agent runs (model call + tool call per step, every
  step journaled, kill-safe) with and without governance; the difference
  divided by the number of syscalls.

    python bench/governance_bench.py            # prints JSON, writes its part of
                                                # bench/RESULTS-governance.md
    python bench/governance_bench.py --no-write # prints JSON only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import governance_report

from orgos import Agent, Runtime, tool
from orgos.kernel.syscall import Syscall
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.policy import Governance, PolicySpec
from orgos.result import Result
from orgos.store.base import Append, Audit, JournalEntry, RunRecord
from orgos.testing.scripted import ScriptedModel

POLICY = PolicySpec.model_validate({
    "rules": [
        {"name": f"r{i}", "when": {"tool": f"other_{i}", "args": {"x": {"gt": i}}},
         "decide": "deny"} for i in range(8)
    ] + [
        {"name": "night", "when": {"tool": "deploy*", "hours": "22-6"}, "decide": "deny"},
        {"name": "big", "when": {"tool": "add", "args": {"a": {"gt": 10**9}}}, "decide": "approve"},
        {"name": "taint", "when": {"untrusted": True, "risk": "high"}, "decide": "approve"},
        {"name": "spend", "when": {"kind": "llm", "cost_over": 10**6}, "decide": "deny"},
    ],
    "budgets": {"run": {"tokens": 10**12}, "day": {"cost": 10**9}},
    "untrusted_tools": ["fetch"],
})  # fmt: skip


@tool(idempotent=True)
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def model(steps: int) -> ScriptedModel:
    def respond(req: ModelRequest) -> ModelResponse:
        done = (len(req.messages) - 2) // 2
        if done >= steps:
            return ScriptedModel.final("done")
        return ScriptedModel.call("add", a=done, b=1)

    return ScriptedModel(respond, record=False)


def runtime(db: Path, steps: int, governed: bool) -> Runtime:
    gov = Governance(POLICY) if governed else None
    return Runtime(store=db, agents=[Agent(name="bench", tools=[add], max_steps=steps + 1)],
                   tools=[add], models=model(steps), governance=gov, tune_gc=True)  # fmt: skip


async def end_to_end(governed: bool, runs: int, steps: int) -> float:
    """Seconds per syscall over ``runs`` sequential runs."""
    with tempfile.TemporaryDirectory() as tmp:
        async with runtime(Path(tmp) / "b.db", steps, governed) as rt:
            await rt.run("bench", "warm up")
            t0 = time.perf_counter()
            for i in range(runs):
                await rt.run("bench", f"t{i}")
            took = time.perf_counter() - t0
    return took / (runs * (2 * steps + 1))


async def pipeline(n: int) -> dict[str, float]:
    """Microseconds per syscall: hooks, and the audit record in the commit."""
    with tempfile.TemporaryDirectory() as tmp:
        rt = runtime(Path(tmp) / "p.db", 1, True)
        async with rt:
            gov = rt.governance
            assert gov is not None
            run = RunRecord("r-bench", "default", "agent", "bench", 1, {}, root_id="r-bench")
            result = Result.of(3)
            calls = [Syscall(run, 1, "tool", {"tool": "add", "arguments": {"a": i, "b": 1}})
                     for i in range(n)]  # fmt: skip
            await gov.before(calls[0])
            t0 = time.perf_counter()
            for sc in calls:
                await gov.before(sc)
                gov.after(sc, result)
            hooks = (time.perf_counter() - t0) / n
            # the audit record's share of a commit: batches of one syscall
            store, wid = rt.store, rt.kernel.worker_id

            def batch(i: int, audited: bool) -> list[Any]:
                ops: list[Any] = [
                    Append(JournalEntry("r-bench", 10 + i, "intent", "tool", {"tool": "add"},
                                        "default")),
                    Append(JournalEntry("r-bench", 10 + i, "result", "tool", result, "default")),
                ]  # fmt: skip
                if audited:
                    ops.append(Audit("default", "agent:bench", "tool.allow", "r-bench", 10 + i,
                                     {"rule": None, "tool": "add"}))  # fmt: skip
                return ops

            timings = {}
            for audited in (False, True, False, True):
                t0 = time.perf_counter()
                for i in range(n):
                    await store.write_batch(wid, batch(i, audited))
                timings[audited] = (time.perf_counter() - t0) / n
    return {"hooks_us": hooks * 1e6, "audit_us": (timings[True] - timings[False]) * 1e6}


async def measure() -> dict[str, float]:
    trials = [await pipeline(5000) for _ in range(5)]
    hooks = median(t["hooks_us"] for t in trials)
    audit = median(t["audit_us"] for t in trials)
    plain, governed = [], []
    for _ in range(5):
        plain.append(await end_to_end(False, 60, 5))
        governed.append(await end_to_end(True, 60, 5))
    p, g = median(plain) * 1e6, median(governed) * 1e6
    return {
        "hooks_us_per_syscall": round(hooks, 2),
        "audit_commit_us_per_syscall": round(audit, 2),
        "pipeline_us_per_syscall": round(hooks + audit, 2),
        "end_to_end_plain_us_per_syscall": round(p, 1),
        "end_to_end_governed_us_per_syscall": round(g, 1),
        "end_to_end_delta_us_per_syscall": round(g - p, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--no-write", action="store_true", help="print JSON only")
    args = p.parse_args()
    load, t0 = os.getloadavg()[0], time.perf_counter()
    out = asyncio.run(measure())
    print(json.dumps(out, indent=2))
    if not args.no_write:
        governance_report.update("governance", out, time.perf_counter() - t0, load)
        print(f"wrote {governance_report.RESULTS}")


if __name__ == "__main__":
    main()

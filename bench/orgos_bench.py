"""orgos workloads for bench/run.py; one workload per process, one JSON line out.

A step is one model call (the fake model, orgos.testing.ScriptedModel) plus
one tool call, everything journaled through the kernel. After its steps the
agent's last model call gives the final answer with no latency, so the floor
of N steps at L ms of model latency is N x L.

    python bench/orgos_bench.py --workload a --durability power-safe
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

from orgos import Agent, Runtime, aio, tool
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.testing.scripted import ScriptedModel


@tool(idempotent=True)
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def fake_model(steps: int, latency: float) -> ScriptedModel:
    async def respond(req: ModelRequest) -> ModelResponse:
        done = (len(req.messages) - 2) // 2  # system, task, then (assistant, tool) pairs
        if done >= steps:
            return ScriptedModel.final("done")
        if latency:
            await asyncio.sleep(latency)
        return ScriptedModel.call("add", a=done, b=1)

    return ScriptedModel(respond, record=False)


async def agent_runs(args: argparse.Namespace, db: Path, go: Any = None) -> dict[str, Any]:
    rt = Runtime(
        store=db,
        tune_gc=True,  # the benchmark owns its process: a collector paced for many runs
        durability=args.durability,
        agents=[Agent(name="bench", tools=[add], max_steps=args.steps + 1)],
        tools=[add],
        models=fake_model(args.steps, args.latency_ms / 1000),
        max_active=args.runs + 10,
    )
    async with rt:
        if go is not None:  # a worker process of --procs: start with the others
            await go()
        start = time.time()
        t0 = time.perf_counter()
        recs = await asyncio.gather(*(rt.submit("bench", f"job {i}") for i in range(args.runs)))
        done = await asyncio.gather(*(rt.wait(r.id, timeout=600) for r in recs))
        wall = time.perf_counter() - t0
        end = time.time()
        j = rt.kernel.journal
        batches, ops = j.batches, j.ops
    bad = [d.id for d in done if d.status.value != "succeeded"]
    syscalls = args.runs * (2 * args.steps + 1)
    return {
        "wall_s": round(wall, 4),
        "per_step_ms": round(wall / (args.runs * args.steps) * 1000, 4),
        "commits": batches,
        "journal_ops": ops,
        "syscalls": syscalls,
        "commits_per_syscall": round(batches / syscalls, 3),
        "failed_runs": len(bad),
        "start": start,
        "end": end,
    }


def several(args: argparse.Namespace) -> dict[str, Any]:
    """``--procs N`` worker processes on one store, started together, each
    submitting and running its share; wall is first start to last end."""
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        db = Path(tmp) / "bench.db"
        share = args.runs // args.procs
        cmd = [sys.executable, __file__, "--workload", args.workload, "--durability",
               args.durability, "--runs", str(share), "--steps", str(args.steps),
               "--latency-ms", str(args.latency_ms), "--child-db", str(db)]  # fmt: skip
        procs = [
            subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for _ in range(args.procs)
        ]  # fmt: skip
        for p in procs:  # each has opened the store and waits
            assert p.stdout is not None
            if p.stdout.readline().strip() != "READY":
                _, err = p.communicate(timeout=60)
                for other in procs:
                    other.kill()
                raise RuntimeError(f"worker process failed to start: {err.strip()[-2000:]}")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("GO\n")
            p.stdin.flush()
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=600)
            if p.returncode != 0:  # say why, rather than break the others' pipes
                raise RuntimeError(f"worker process failed: {err.strip()[-2000:]}")
            outs.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(o["end"] for o in outs) - min(o["start"] for o in outs)
    return {
        "procs": args.procs,
        "wall_s": round(wall, 4),
        "per_step_ms": round(wall / (args.runs * args.steps) * 1000, 4),
        "commits": sum(o["commits"] for o in outs),
        "failed_runs": sum(o["failed_runs"] for o in outs),
        "peak_rss_mb": round(sum(o["peak_rss_mb"] for o in outs), 1),
    }


async def child(args: argparse.Namespace) -> dict[str, Any]:
    async def go() -> None:
        print("READY", flush=True)
        await asyncio.to_thread(sys.stdin.readline)

    return await agent_runs(args, Path(args.child_db), go)


def startup(args: argparse.Namespace) -> dict[str, Any]:
    def timed(cmd: list[str]) -> float:
        runs = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            runs.append(time.perf_counter() - t)
        return round(median(runs), 4)

    orgos_bin = str(Path(sys.executable).with_name("orgos"))
    return {
        "python_bare_s": timed([sys.executable, "-c", "pass"]),
        "import_orgos_s": timed([sys.executable, "-c", "import orgos"]),
        "orgos_help_s": timed([orgos_bin, "--help"]),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workload", choices=["a", "b", "c", "d"], required=True)
    p.add_argument("--durability", default="kill-safe", choices=["kill-safe", "power-safe"])
    p.add_argument("--runs", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--latency-ms", type=float)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--db-dir", default=None)
    p.add_argument("--procs", type=int, default=1, help="worker processes on one store")
    p.add_argument("--child-db", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    defaults = {"a": (1, 200, 0.0), "b": (1000, 5, 100.0), "c": (10_000, 5, 100.0), "d": (0, 0, 0)}
    runs, steps, lat = defaults[args.workload]
    args.runs = args.runs or runs
    args.steps = args.steps or steps
    args.latency_ms = lat if args.latency_ms is None else args.latency_ms
    # The loop orgos.aio.run picks (uvloop when installed; ORGOS_LOOP=asyncio for the standard one).
    out: dict[str, Any] = {"system": "orgos", "workload": args.workload, "loop": aio.loop_name()}
    if args.child_db:
        out.update(aio.run(child(args)))
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(out))
        return
    if args.workload == "d":
        out.update(startup(args))
    elif args.procs > 1:
        out.update(durability=args.durability, runs=args.runs, steps=args.steps,
                   latency_ms=args.latency_ms)  # fmt: skip
        out.update(several(args))
    else:
        out.update(durability=args.durability, runs=args.runs, steps=args.steps,
                   latency_ms=args.latency_ms)  # fmt: skip
        with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
            out.update(aio.run(agent_runs(args, Path(tmp) / "bench.db")))
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

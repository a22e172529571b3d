"""LangGraph side of bench/workflow_bench.py: the same 1,000-branch fan-out /
fan-in, with the Send API, checkpointed to SQLite (AsyncSqliteSaver, its
default ``async`` durability). Run from the peer venv only:

    bench/.peer-venv/bin/python bench/peers/langgraph_fanout.py --branches 1000

Prints one JSON line: wall times of each repeat."""

from __future__ import annotations

import argparse
import asyncio
import json
import operator
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send


class State(TypedDict):
    items: list[int]
    results: Annotated[list[int], operator.add]
    total: str


class Branch(TypedDict):
    item: int


def build(n: int, latency: float) -> StateGraph[Any]:
    g: StateGraph[Any] = StateGraph(State)

    async def lister(state: State) -> dict[str, Any]:
        return {"items": list(range(n))}  # the list step's model call (no latency)

    def fan_out(state: State) -> list[Send]:
        return [Send("branch", {"item": i}) for i in state["items"]]

    async def branch(state: Branch) -> dict[str, Any]:
        await asyncio.sleep(latency)  # the branch's model call
        return {"results": [1]}

    async def fanin(state: State) -> dict[str, Any]:
        return {"total": "sum"}  # the fan-in model call (no latency)

    g.add_node("lister", lister)
    g.add_node("branch", branch)
    g.add_node("fanin", fanin)
    g.add_edge(START, "lister")
    g.add_conditional_edges("lister", fan_out, ["branch"])
    g.add_edge("branch", "fanin")
    g.add_edge("fanin", END)
    return g


async def once(n: int, latency: float, db: Path) -> tuple[float, float]:
    async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
        await saver.setup()
        graph = build(n, latency).compile(checkpointer=saver)
        t0, c0 = time.perf_counter(), time.process_time()
        out = await graph.ainvoke({"items": [], "results": [], "total": ""},
                                  {"configurable": {"thread_id": "t"}})  # fmt: skip
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if len(out["results"]) != n or out["total"] != "sum":
        raise RuntimeError(f"wrong result: {len(out['results'])} results")
    return wall, cpu


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--branches", type=int, default=1000)
    p.add_argument("--latency-ms", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    walls, cpus = [], []
    for _ in range(a.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu = asyncio.run(once(a.branches, a.latency_ms / 1000, Path(tmp) / "lg.db"))
        walls.append(wall)
        cpus.append(cpu)
    print(json.dumps({"status": "ok", "wall_s": walls, "cpu_s": cpus,
                      "langgraph_version": version("langgraph")}))  # fmt: skip


if __name__ == "__main__":
    main()

"""LangGraph side of the peer benchmark (imported only in the measured child process).

One agent "step" is a fake model node (returns a tool-call-like dict, optionally
after the fake model latency) followed by a tool node (adds two numbers). Each
node is one LangGraph super-step, and LangGraph writes a checkpoint to the
SqliteSaver / AsyncSqliteSaver after every super-step, as its durable execution
normally does.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any, Literal, TypedDict, cast

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import START, StateGraph
from langgraph.types import Durability
from peer_common import Options, Progress, fresh_db, pragma_fields, remove_db, workload_fields


class AgentState(TypedDict):
    step: int
    max_steps: int
    total: int
    pending: dict[str, Any] | None


def fake_model(state: AgentState) -> dict[str, Any]:
    """What a model returns when it decides to call a tool."""
    step = state["step"]
    return {
        "type": "tool_call",
        "id": f"call_{step}",
        "name": "add",
        "args": {"a": state["total"], "b": step + 1},
    }


def add(a: int, b: int) -> int:
    return a + b


def expected_total(steps: int) -> int:
    return steps * (steps + 1) // 2


def build_graph(progress: Progress, latency_s: float, use_async: bool) -> StateGraph[Any]:
    builder: StateGraph[Any] = StateGraph(AgentState)

    if use_async:

        async def model_node(state: AgentState) -> dict[str, Any]:
            if latency_s > 0:
                await asyncio.sleep(latency_s)  # fake model latency
            return {"pending": fake_model(state)}

        builder.add_node("model", model_node)
    else:

        def model_node_sync(state: AgentState) -> dict[str, Any]:
            if latency_s > 0:
                time.sleep(latency_s)  # fake model latency (workload a uses 0)
            return {"pending": fake_model(state)}

        builder.add_node("model", model_node_sync)

    def tool_node(state: AgentState) -> dict[str, Any]:
        call = state["pending"]
        if call is None or call["name"] != "add":
            raise RuntimeError(f"unexpected tool call {call!r}")
        result = add(**call["args"])
        progress.steps_completed += 1
        return {"total": result, "step": state["step"] + 1, "pending": None}

    def route(state: AgentState) -> Literal["model", "__end__"]:
        return "model" if state["step"] < state["max_steps"] else "__end__"  # == END

    builder.add_node("tool", tool_node)
    builder.add_edge(START, "model")
    builder.add_edge("model", "tool")
    builder.add_conditional_edges("tool", route)
    return builder


def run_config(thread_id: str, steps: int) -> Any:
    # Two super-steps per agent step, plus slack.
    return {"configurable": {"thread_id": thread_id}, "recursion_limit": 2 * steps + 10}


def initial_state(steps: int) -> AgentState:
    return {"step": 0, "max_steps": steps, "total": 0, "pending": None}


def count_checkpoints(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0])


def run_sync(opts: Options, db: Path, durability: Durability, progress: Progress) -> dict[str, Any]:
    """Workload a (single sequential run): SqliteSaver on a file, graph.invoke."""
    fresh_db(db)
    t_setup = time.perf_counter()
    with SqliteSaver.from_conn_string(str(db)) as saver:
        saver.setup()  # what the first write does anyway; kept out of the timed part
        journal = str(saver.conn.execute("PRAGMA journal_mode").fetchone()[0])
        sync_level = int(saver.conn.execute("PRAGMA synchronous").fetchone()[0])
        progress.info.update(pragma_fields(journal, sync_level))
        graph = build_graph(progress, opts.latency_s, use_async=False).compile(checkpointer=saver)
        progress.info["setup_s"] = round(time.perf_counter() - t_setup, 4)

        progress.start_workload()
        t0 = time.perf_counter()
        for i in range(opts.runs):
            out = graph.invoke(
                initial_state(opts.steps),
                run_config(f"run-{i}", opts.steps),
                durability=durability,
            )
            if out["total"] != expected_total(opts.steps):
                raise RuntimeError(f"run {i}: wrong total {out['total']}")
            progress.runs_completed += 1
        wall = time.perf_counter() - t0
    fields = workload_fields(opts, wall, progress)
    fields["checkpoints_written"] = count_checkpoints(db)
    remove_db(db, opts.keep_db)
    return fields


async def _run_async(
    opts: Options, db: Path, durability: Durability, progress: Progress
) -> dict[str, Any]:
    fresh_db(db)
    t_setup = time.perf_counter()
    async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
        await saver.setup()  # what the first write does anyway; kept out of the timed part
        async with saver.conn.execute("PRAGMA journal_mode") as cur:
            row = await cur.fetchone()
            journal = str(row[0]) if row else None
        async with saver.conn.execute("PRAGMA synchronous") as cur:
            row = await cur.fetchone()
            sync_level = int(row[0]) if row else None
        progress.info.update(pragma_fields(journal, sync_level))
        graph = build_graph(progress, opts.latency_s, use_async=True).compile(checkpointer=saver)
        progress.info["setup_s"] = round(time.perf_counter() - t_setup, 4)

        async def one(i: int) -> None:
            out = await graph.ainvoke(
                initial_state(opts.steps),
                run_config(f"run-{i}", opts.steps),
                durability=durability,
            )
            if out["total"] != expected_total(opts.steps):
                raise RuntimeError(f"run {i}: wrong total {out['total']}")
            progress.runs_completed += 1

        progress.start_workload()
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(opts.runs)))
        wall = time.perf_counter() - t0
    fields = workload_fields(opts, wall, progress)
    fields["checkpoints_written"] = count_checkpoints(db)
    remove_db(db, opts.keep_db)
    return fields


def run_concurrent(
    opts: Options, db: Path, durability: Durability, progress: Progress
) -> dict[str, Any]:
    """Workloads b and c: AsyncSqliteSaver, asyncio.gather over graph.ainvoke with
    distinct thread_ids."""
    return asyncio.run(_run_async(opts, db, durability, progress))


def run(opts: Options, db: Path, durability: str, progress: Progress) -> dict[str, Any]:
    mode = cast(Durability, durability)
    if opts.workload == "a":
        return run_sync(opts, db, mode, progress)
    return run_concurrent(opts, db, mode, progress)

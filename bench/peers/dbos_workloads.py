"""DBOS side of the peer benchmark (imported only in the measured child process).

One agent "step" is a @DBOS.step fake model call (returns a tool-call-like dict,
optionally after the fake model latency) followed by a @DBOS.step tool call (adds
two numbers). DBOS checkpoints each step's output to the system database before
the workflow goes on, and records the workflow's start and result, as its
durable execution normally does. The system database is a SQLite file
(DBOSConfig system_database_url="sqlite:///<path>").
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSConfig
from peer_common import Options, Progress, fresh_db, pragma_fields, remove_db, workload_fields

# Workflows are module-level (DBOS registers them by name when decorated) and
# report through this; run() points it at the child's shared-memory Progress.
PROGRESS = Progress()


def fake_model(total: int, step: int) -> dict[str, Any]:
    """What a model returns when it decides to call a tool."""
    return {
        "type": "tool_call",
        "id": f"call_{step}",
        "name": "add",
        "args": {"a": total, "b": step + 1},
    }


def add(a: int, b: int) -> int:
    return a + b


def expected_total(steps: int) -> int:
    return steps * (steps + 1) // 2


@DBOS.step()
def model_step(total: int, step: int, latency_s: float) -> dict[str, Any]:
    if latency_s > 0:
        time.sleep(latency_s)  # fake model latency (workload a uses 0)
    return fake_model(total, step)


@DBOS.step()
def tool_step(call: dict[str, Any]) -> int:
    if call["name"] != "add":
        raise RuntimeError(f"unexpected tool call {call!r}")
    return add(**call["args"])


@DBOS.workflow()
def agent_workflow(steps: int, latency_s: float) -> int:
    total = 0
    for step in range(steps):
        call = model_step(total, step, latency_s)
        total = tool_step(call)
        PROGRESS.steps_completed += 1
    return total


@DBOS.step()
async def model_step_async(total: int, step: int, latency_s: float) -> dict[str, Any]:
    if latency_s > 0:
        await asyncio.sleep(latency_s)  # fake model latency
    return fake_model(total, step)


@DBOS.step()
async def tool_step_async(call: dict[str, Any]) -> int:
    if call["name"] != "add":
        raise RuntimeError(f"unexpected tool call {call!r}")
    return add(**call["args"])


@DBOS.workflow()
async def agent_workflow_async(steps: int, latency_s: float) -> int:
    total = 0
    for step in range(steps):
        call = await model_step_async(total, step, latency_s)
        total = await tool_step_async(call)
        PROGRESS.steps_completed += 1
    return total


def read_pragmas() -> dict[str, Any]:
    """Journal mode and synchronous level of a connection from DBOS's own pool
    (its engine's connect hook has run on it)."""
    from dbos._dbos import _get_dbos_instance  # DBOS exposes no public engine handle

    engine: sa.Engine = _get_dbos_instance()._sys_db.engine
    with engine.connect() as conn:
        journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        sync_level = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    return pragma_fields(
        str(journal) if journal is not None else None,
        int(sync_level) if sync_level is not None else None,
    )


def launch(db: Path, progress: Progress, max_executor_threads: int | None) -> None:
    config: DBOSConfig = {
        "name": "orgos-peer-bench",
        "system_database_url": f"sqlite:///{db}",
        "log_level": "WARNING",
    }
    if max_executor_threads is not None:
        config["max_executor_threads"] = max_executor_threads
    t_setup = time.perf_counter()
    DBOS(config=config)
    DBOS.launch()
    progress.info["setup_s"] = round(time.perf_counter() - t_setup, 4)
    progress.info.update(read_pragmas())


def count_rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        workflows = conn.execute("SELECT count(*) FROM workflow_status").fetchone()[0]
        outputs = conn.execute("SELECT count(*) FROM operation_outputs").fetchone()[0]
    return {"workflows_written": int(workflows), "step_outputs_written": int(outputs)}


def run_sync(opts: Options) -> dict[str, Any]:
    """Workload a: a synchronous workflow called directly; steps run inline."""
    progress = PROGRESS
    progress.start_workload()
    t0 = time.perf_counter()
    for i in range(opts.runs):
        total = agent_workflow(opts.steps, opts.latency_s)
        if total != expected_total(opts.steps):
            raise RuntimeError(f"run {i}: wrong total {total}")
        progress.runs_completed += 1
    return workload_fields(opts, time.perf_counter() - t0, progress)


async def _run_async(opts: Options) -> dict[str, Any]:
    progress = PROGRESS

    async def one(i: int) -> None:
        handle = await DBOS.start_workflow_async(agent_workflow_async, opts.steps, opts.latency_s)
        total = await handle.get_result()
        if total != expected_total(opts.steps):
            raise RuntimeError(f"run {i}: wrong total {total}")
        progress.runs_completed += 1

    progress.start_workload()
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(opts.runs)))
    return workload_fields(opts, time.perf_counter() - t0, progress)


def run_concurrent(opts: Options) -> dict[str, Any]:
    """Workloads b and c: async workflows started with DBOS.start_workflow_async,
    all at once, on one event loop; each handle is awaited for its result."""
    return asyncio.run(_run_async(opts))


def run(
    opts: Options, db: Path, max_executor_threads: int | None, progress: Progress
) -> dict[str, Any]:
    global PROGRESS
    PROGRESS = progress
    fresh_db(db)
    launch(db, progress, max_executor_threads)
    try:
        fields = run_sync(opts) if opts.workload == "a" else run_concurrent(opts)
    finally:
        DBOS.destroy()
    fields.update(count_rows(db))
    remove_db(db, opts.keep_db)
    return fields

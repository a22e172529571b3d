"""LangGraph peer benchmark: a model->tool agent loop checkpointed to SQLite.

Run from the peer venv only (bench/peers/setup_venv.sh creates it):
    bench/.peer-venv/bin/python bench/peers/langgraph_bench.py --workload a --db-dir DIR

Workloads (see README.md): a = 1 run x 200 steps, SqliteSaver, no latency;
b/c = 1,000/10,000 concurrent runs x 5 steps, AsyncSqliteSaver, 100 ms fake model
latency; d = import time of langgraph.graph + the SQLite checkpointers.
The last stdout line is one JSON object; the measured work runs in a child
process that is killed at --timeout-s (see peer_common).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from importlib.metadata import version

from peer_common import (
    base_fields,
    db_path,
    is_child,
    parse_args,
    run_child,
    run_import_workload,
    supervise,
)

PEER = "langgraph"
IMPORT_STATEMENTS = (
    "import langgraph.graph; import langgraph.checkpoint.sqlite; "
    "import langgraph.checkpoint.sqlite.aio"
)


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--durability",
        choices=("sync", "async", "exit"),
        default="async",
        help="LangGraph durability mode. Default 'async' is LangGraph's own default: every "
        "super-step's checkpoint is committed, concurrently with the next step; 'sync' "
        "waits for each commit before the next step.",
    )


def main(argv: list[str] | None = None) -> int:
    opts, ns = parse_args(PEER, argv, add_options)
    opts.extra.update(
        {
            "langgraph_checkpoint_sqlite_version": version("langgraph-checkpoint-sqlite"),
            "aiosqlite_version": version("aiosqlite"),
            "sqlite_version": sqlite3.sqlite_version,
        }
    )
    if opts.workload != "d":
        opts.extra["durability"] = ns.durability
        opts.extra["checkpointer"] = "SqliteSaver" if opts.workload == "a" else "AsyncSqliteSaver"
    base = base_fields(PEER, version("langgraph"), opts)
    if opts.workload == "d":
        return run_import_workload(base, opts, IMPORT_STATEMENTS)
    db = db_path(opts, PEER)
    if not is_child():
        return supervise(base, opts, db, __file__)

    from langgraph_workloads import run  # the peer is imported in the child only

    return run_child(base, lambda progress: run(opts, db, ns.durability, progress))


if __name__ == "__main__":
    sys.exit(main())

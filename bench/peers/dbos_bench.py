"""DBOS peer benchmark: an agent loop as a durable workflow on a SQLite system database.

Run from the peer venv only (bench/peers/setup_venv.sh creates it):
    bench/.peer-venv/bin/python bench/peers/dbos_bench.py --workload a --db-dir DIR

Workloads (see README.md): a = 1 sync workflow x 200 steps, no latency;
b/c = 1,000/10,000 async workflows x 5 steps started concurrently, 100 ms fake
model latency; d = import time of `dbos`.
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

PEER = "dbos"
IMPORT_STATEMENTS = "import dbos"


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-executor-threads",
        type=int,
        default=None,
        help="DBOSConfig max_executor_threads (default: DBOS's own, i.e. unbounded; "
        "DBOS runs each blocking system-database call of an async workflow on this pool)",
    )


def main(argv: list[str] | None = None) -> int:
    opts, ns = parse_args(PEER, argv, add_options)
    opts.extra.update(
        {
            "sqlalchemy_version": version("sqlalchemy"),
            "sqlite_version": sqlite3.sqlite_version,
        }
    )
    if opts.workload != "d":
        opts.extra["system_database"] = "sqlite"
        opts.extra["max_executor_threads"] = ns.max_executor_threads
    base = base_fields(PEER, version("dbos"), opts)
    if opts.workload == "d":
        return run_import_workload(base, opts, IMPORT_STATEMENTS)
    db = db_path(opts, PEER)
    if not is_child():
        return supervise(base, opts, db, __file__)

    from dbos_workloads import run  # the peer is imported in the child only

    return run_child(base, lambda progress: run(opts, db, ns.max_executor_threads, progress))


if __name__ == "__main__":
    sys.exit(main())

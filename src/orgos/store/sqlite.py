"""SQLite backend (WAL). The embedded default: one file, no server.

Writes run inline on the event loop at both durability levels. Kill-safe
(synchronous=NORMAL): a commit is a write() into the WAL, tens of
microseconds, and survives a process kill. Power-safe (synchronous=FULL): the
commit also fsyncs the WAL, shared through the journal's group commit by
every run that wrote meanwhile. (An fsync here takes 0.2-3 ms; on a writer
thread each batch waited longer for the thread to get the GIL back, and the
runs waiting for the commit had nothing else to do.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pydantic_core

from orgos.errors import FencedOut
from orgos.store import audit as audit_sql
from orgos.store import codec, fencing, lifecycle
from orgos.store.base import (
    Append,
    Durability,
    InsertRun,
    JournalEntry,
    Listener,
    Op,
    RunFilter,
    RunRecord,
    UpdateRun,
    Usage,
)
from orgos.store.blobs import BlobStore
from orgos.store.children import SQLiteEnded
from orgos.store.claims import claim
from orgos.store.routing import SQLiteLoads
from orgos.store.rows import (
    _RUN_COLS,
    _RUN_MARKS,
    _TERMINAL_SQL,
    _loads,
    _run_from_row,
)
from orgos.store.scheduling import SQLiteClaims
from orgos.store.sqlite_approvals import SQLiteApprovals, SQLiteAudit
from orgos.store.sqlite_bus import SQLiteBus
from orgos.store.sqlite_files import SQLiteFiles
from orgos.store.sqlite_governance import (
    SQLiteGovernance,
    SQLitePeople,
    SQLiteUsage,
    insert_usage,
    usage_row,
)
from orgos.store.sqlite_memory import SQLiteMemory
from orgos.store.sqlite_retention import SQLiteRetention
from orgos.store.sqlite_schema import enable_wal, migrate
from orgos.store.sqlite_workers import SQLiteAgents, SQLiteWorkers
from orgos.store.transaction import transact
from orgos.store.waiting import WaitRuns, from_stored

T = TypeVar("T")
log = logging.getLogger("orgos.store")

#: Waiting for another process's write lock: first retry, longest step, and
#: how long in all before the "database is locked" error is the caller's.
_BUSY_FIRST, _BUSY_MAX, _BUSY_WAIT = 0.0002, 0.005, 10.0


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "database is locked" in str(exc)


def _nothing() -> None:
    return None


#: A batch's check, in one statement: is its worker fenced, and (with ?2, a
#: JSON object of run id to the fence the worker claimed it with) which of
#: those runs another worker claimed since (a JSON array).
_CHECK_WORKER = "SELECT fenced FROM workers WHERE id=?"
_CHECK_RUNS = (
    "SELECT fenced, (SELECT json_group_array(r.id) FROM json_each(?2) AS j"
    " JOIN runs AS r ON r.id = j.key WHERE r.fence != j.value) FROM workers WHERE id=?1"
)


def _check(conn: sqlite3.Connection, worker_id: str, mine: dict[str, int]) -> None:
    """Inside a batch's transaction: refuse it if its worker is fenced, or if
    it writes for runs of ``mine`` another worker claimed since."""
    if mine:
        row = conn.execute(_CHECK_RUNS, (worker_id, pydantic_core.to_json(mine).decode()))
    else:
        row = conn.execute(_CHECK_WORKER, (worker_id,))
    found = row.fetchone()
    if found is None or found[0]:
        raise FencedOut(f"worker {worker_id} has been fenced; its writes are refused")
    if mine and found[1] != "[]":
        raise fencing.refused(worker_id, _loads(found[1]))


class SQLiteStore:
    """A Store on one SQLite file. Several processes may share the file."""

    def __init__(self, path: str | Path, durability: Durability = Durability.KILL_SAFE):
        self.path = Path(path)
        self.durability = Durability(durability)
        self._w: sqlite3.Connection | None = None
        self._r: sqlite3.Connection | None = None
        self._checkpointer: threading.Thread | None = None
        self._stop = threading.Event()
        self.checkpoint_interval = 1.0
        # The repositories (orgos.store.repos), on this store's connections.
        self.workers = SQLiteWorkers(self)
        self.agents = SQLiteAgents(self)
        self.scheduling = SQLiteClaims(self)
        self.children = SQLiteEnded(self)
        self.loads = SQLiteLoads(self)
        self.audit = SQLiteAudit(self)
        self.approvals = SQLiteApprovals(self)
        self.governance = SQLiteGovernance(self)
        self.usage = SQLiteUsage(self)
        self.people = SQLitePeople(self)
        self.files = SQLiteFiles(self)
        self.bus = SQLiteBus(self)
        self.memory = SQLiteMemory(self)
        self.retention = SQLiteRetention(self)
        #: ``.orgos/orgos.db`` keeps its blobs in ``.orgos/orgos.blobs/``.
        self.blobs = BlobStore(
            self.path.with_suffix(".blobs"), fsync=self.durability is Durability.POWER_SAFE
        )

    def listen(self, listener: Listener) -> Callable[[], None]:
        # Another process's changes are not announced: workers poll.
        return _nothing

    # --- lifecycle ------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        enable_wal(conn)
        sync = "FULL" if self.durability is Durability.POWER_SAFE else "NORMAL"
        conn.execute(f"PRAGMA synchronous={sync}")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA foreign_keys=OFF")
        # Checkpoints fsync; the checkpointer thread does them, never a commit.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._w = self._connect()
        self._r = self._connect()
        try:
            await self._write(migrate)
        except BaseException:
            self._w.close()
            self._r.close()
            self._w = self._r = None
            raise
        # From now on a writer that finds the lock taken (another process is
        # committing) is told at once and retries in _write, in short steps:
        # SQLite's own busy handler sleeps in coarse steps (up to 100 ms), and
        # would do so on the event loop.
        self._w.execute("PRAGMA busy_timeout=0")
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="orgos-sqlite-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        """Move the WAL into the database file now and then, off the event
        loop (PASSIVE: never blocks writers or readers)."""
        conn = self._connect()
        try:
            while not self._stop.wait(self.checkpoint_interval):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # a busy or closing database: next time
            log.warning("checkpoint failed: %s", exc)
        finally:
            conn.close()

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._stop.set()
            await asyncio.to_thread(self._checkpointer.join)
            self._checkpointer = None
        if self._w is not None:
            with contextlib.suppress(sqlite3.Error):
                self._w.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for conn in (self._w, self._r):
            if conn is not None:
                conn.close()
        self._w = self._r = None

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the writer connection, retried while another process
        holds the write lock (awaiting between tries: the loop keeps working)."""
        conn = self._w
        if conn is None:
            raise RuntimeError("store is not open")
        delay, deadline = _BUSY_FIRST, 0.0
        while True:
            try:
                return fn(conn)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                now = time.monotonic()
                deadline = deadline or now + _BUSY_WAIT
                if now > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BUSY_MAX)

    async def _transact(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` in one write transaction on the writer connection."""
        return await self._write(functools.partial(transact, fn=fn))

    def _read(self) -> sqlite3.Connection:
        if self._r is None:
            raise RuntimeError("store is not open")
        return self._r

    # --- the batch --------------------------------------------------------------
    async def write_batch(
        self, worker_id: str, ops: list[Op], fences: Mapping[str, int] | None = None
    ) -> None:
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        entries: list[tuple[Any, ...]] = []
        created: list[tuple[Any, ...]] = []
        ending: list[tuple[str, str | None, float, str, int]] = []
        usages: list[tuple[Any, ...]] = []
        now = time.time()
        # A result whose intent is in this batch is stored in the intent's row:
        # remember where each intent went, and patch that row in one pass.
        where: dict[tuple[str, int], int] = {}
        for op in ops:
            enc = op.encoded or codec.prepare(op)
            if type(op) is Append:
                e = op.entry
                phase = e.phase
                if phase == "result":
                    i = where.pop((e.run_id, e.seq), -1)
                    if i >= 0:
                        entries[i] = (*entries[i][:7], enc[0], e.ts or now)
                        continue
                elif phase == "intent":
                    where[(e.run_id, e.seq)] = len(entries)
                entries.append(
                    (e.run_id, e.seq, phase, e.kind, enc[0], e.workspace, e.ts or now, None, None)
                )
            elif type(op) is UpdateRun:
                if op.status.terminal:
                    ending.append((op.status.value, enc[2], now, op.run_id, int(op.tainted)))
                updates.append(
                    (op.status.value, enc[0], enc[2], enc[1], now, 1 if op.tainted else 0,
                     1 if op.release else 0, op.run_id)
                )  # fmt: skip
            elif type(op) is InsertRun:
                r = op.run
                inserts.append(
                    (
                        r.id, r.workspace, r.kind, r.target, r.target_version, enc[0],
                        r.parent_id, r.root_id or r.id, r.status.value, enc[1], r.error,
                        enc[2], r.owner, r.fence, r.priority, r.created_at or now,
                        now, 1 if r.cancel_requested else 0, 1 if r.tainted else 0,
                    )
                )  # fmt: skip
                created.append(lifecycle.created_row(r, now))
            elif type(op) is Usage:
                usages.append(usage_row(op, now))

        audits = audit_sql.batch_rows(ops, entries, now)
        key = self.audit.key_now() if audits and self.audit.key is not None else None

        mine = fencing.claimed(ops, fences)

        def apply(conn: sqlite3.Connection) -> None:
            _check(conn, worker_id, mine)
            if inserts:
                conn.executemany(f"INSERT INTO runs ({_RUN_COLS}) VALUES ({_RUN_MARKS})", inserts)
                lifecycle.record_created(conn, created)
            if entries:
                conn.executemany(
                    "INSERT INTO journal (run_id, seq, phase, kind, payload, workspace, ts,"
                    " result, result_ts) VALUES (?,?,?,?,?,?,?,?,?)",
                    entries,
                )
            if updates:
                if ending:
                    lifecycle.record_ending(conn, ending)
                conn.executemany(
                    "UPDATE runs SET status=?, output=?, error=?, waiting_on=?, updated_at=?,"
                    " tainted=MAX(tainted, ?), owner=CASE WHEN ? THEN NULL ELSE owner END"
                    " WHERE id=?",
                    updates,
                )
            insert_usage(conn, usages)
            if audits:
                audit_sql.append(conn, audit_sql.fill_earlier(conn, audits), key)

        await self._transact(apply)

    # --- runs -------------------------------------------------------------------
    async def get_run(self, workspace: str, run_id: str) -> RunRecord | None:
        row = (
            self._read()
            .execute(
                f"SELECT {_RUN_COLS} FROM runs WHERE id=? AND workspace=?", (run_id, workspace)
            )
            .fetchone()
        )
        return None if row is None else _run_from_row(row)

    async def list_runs(self, flt: RunFilter) -> list[RunRecord]:
        where = ["workspace=?"]
        args: list[Any] = [flt.workspace]
        if flt.statuses:
            where.append(f"status IN ({','.join('?' * len(flt.statuses))})")
            args.extend(s.value for s in flt.statuses)
        if flt.parent_id is not None:
            where.append("parent_id=?")
            args.append(flt.parent_id)
        if flt.root_id is not None:
            where.append("root_id=?")
            args.append(flt.root_id)
        if flt.top_level_only:
            where.append("parent_id IS NULL")
        if flt.id_prefix is not None:
            where.append("substr(id, 1, ?) = ?")
            args.extend((len(flt.id_prefix), flt.id_prefix))
        args.append(flt.limit)
        rows = (
            self._read()
            .execute(
                f"SELECT {_RUN_COLS} FROM runs WHERE {' AND '.join(where)}"
                " ORDER BY created_at DESC, id DESC LIMIT ?",
                args,
            )
            .fetchall()
        )
        return [_run_from_row(r) for r in rows]

    async def tree_size(self, workspace: str, root_id: str) -> int:
        row = (
            self._read()
            .execute(
                "SELECT COUNT(*) FROM runs WHERE root_id=? AND workspace=?", (root_id, workspace)
            )
            .fetchone()
        )
        return int(row[0])

    async def load_journal(self, run_id: str) -> list[JournalEntry]:
        rows = (
            self._read()
            .execute(
                "SELECT run_id, seq, phase, kind, payload, workspace, ts, result, result_ts"
                " FROM journal WHERE run_id=? ORDER BY rowid",
                (run_id,),
            )
            .fetchall()
        )
        out = []
        for r in rows:
            out.append(JournalEntry(r[0], r[1], r[2], r[3], _loads(r[4]), r[5], r[6]))
            if r[7] is not None:
                out.append(JournalEntry(r[0], r[1], "result", r[3], _loads(r[7]), r[5], r[8]))
        return out

    async def request_cancel(self, workspace: str, run_id: str) -> list[str]:
        def apply(conn: sqlite3.Connection) -> list[str]:
            ids = [
                r[0]
                for r in conn.execute(
                    "WITH RECURSIVE tree(id) AS (SELECT id FROM runs WHERE id=? AND workspace=?"
                    " UNION SELECT runs.id FROM runs JOIN tree ON runs.parent_id=tree.id)"
                    f" SELECT runs.id FROM runs JOIN tree USING(id)"
                    f" WHERE runs.status NOT IN {_TERMINAL_SQL}",
                    (run_id, workspace),
                )
            ]
            now = time.time()
            for rid in ids:
                conn.execute(
                    "UPDATE runs SET cancel_requested=1, updated_at=? WHERE id=?", (now, rid)
                )
                cur = conn.execute(
                    "UPDATE runs SET status='cancelled', owner=NULL, error='cancelled'"
                    " WHERE id=? AND status IN ('queued','waiting')",
                    (rid,),
                )
                if cur.rowcount:
                    lifecycle.record_ended(conn, "cancelled", "cancelled", now, rid)
                    conn.execute(
                        "INSERT INTO journal (run_id, seq, phase, kind, payload, workspace, ts)"
                        " VALUES (?, -1, 'status', 'cancelled', NULL, ?, ?)",
                        (rid, workspace, now),
                    )
            return ids

        return await self._transact(apply)

    async def cancel_requests(self, worker_id: str) -> list[str]:
        rows = self._read().execute(
            "SELECT id FROM runs WHERE owner=? AND cancel_requested=1 AND status='running'",
            (worker_id,),
        )
        return [r[0] for r in rows]

    @staticmethod
    def _wake(
        conn: sqlite3.Connection, workspace: str, run_id: str, ended: str | None = None
    ) -> bool:
        row = conn.execute(
            "SELECT status, waiting_on FROM runs WHERE id=? AND workspace=?", (run_id, workspace)
        ).fetchone()
        if row is None or row[0] != "waiting":
            return False
        waiting = from_stored(_loads(row[1]))
        if type(waiting) is not WaitRuns:
            return False
        children, until = waiting.runs, waiting.until
        if until is not None and time.time() >= until:
            pass  # a deadline passed (wait_any with until)
        elif not children:
            return False
        elif waiting.any and ended is not None and ended in children:
            pass  # the child that just ended is one it waits for: no search
        else:
            # wait_any: one ended child is enough; wait_runs: all of them. Either
            # way one row answers (a parent of 1,000 children is asked 1,000
            # times); ids grow with time and older children end first, so
            # "all" looks from the newest, "any" from the oldest.
            marks = ",".join("?" * len(children))
            which, order = ("IN", "ASC") if waiting.any else ("NOT IN", "DESC")
            found = conn.execute(
                f"SELECT 1 FROM runs WHERE id IN ({marks}) AND status {which} {_TERMINAL_SQL}"
                f" ORDER BY id {order} LIMIT 1",
                children,
            ).fetchone()
            if (found is None) if waiting.any else (found is not None):
                return False
        conn.execute(
            "UPDATE runs SET status='queued', owner=NULL, updated_at=? WHERE id=?",
            (time.time(), run_id),
        )
        return True

    async def wake_if_ready(self, workspace: str, run_id: str, ended: str | None = None) -> bool:
        # Most calls come from a child ending while its parent is not parked:
        # a read says so without a write transaction. (A parent that parks
        # after this read checks its children itself once its status is in.)
        row = (
            self._read()
            .execute("SELECT status FROM runs WHERE id=? AND workspace=?", (run_id, workspace))
            .fetchone()
        )
        if row is None or row[0] != "waiting":
            return False

        def apply(conn: sqlite3.Connection) -> bool:
            woke = self._wake(conn, workspace, run_id, ended)
            return woke

        return await self._transact(apply)

    async def wake_all_ready(self, workspaces: Collection[str]) -> int:
        marks = ",".join("?" * len(workspaces))

        def apply(conn: sqlite3.Connection) -> int:
            ids = conn.execute(
                f"SELECT workspace, id FROM runs WHERE status='waiting' AND workspace IN ({marks})",
                tuple(workspaces),
            ).fetchall()
            n = sum(1 for ws, rid in ids if self._wake(conn, ws, rid))
            return n

        return await self._transact(apply)

    async def requeue(self, workspace: str, run_id: str) -> bool:
        def apply(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE runs SET status='queued', owner=NULL, error=NULL, waiting_on=NULL,"
                " updated_at=? WHERE id=? AND workspace=? AND status IN ('waiting','failed')",
                (time.time(), run_id, workspace),
            )
            return cur.rowcount == 1

        return await self._write(apply)

    # --- claims ----------------------------------------------------------------
    async def claim_runs(
        self,
        worker_id: str,
        limit: int,
        now: float,
        roots: Collection[str] | None = None,
        *,
        workspaces: Collection[str],
    ) -> list[RunRecord]:
        if roots is not None and not roots:
            return []
        return await self._transact(
            lambda conn: claim(conn, worker_id, limit, now, roots, workspaces)
        )

"""Approvals and the audit log on SQLite. Every change to an approval is
audited in its own transaction (the chain is extended under the write lock,
so several workers extend one chain)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orgos.store import audit as audit_sql
from orgos.store.records import Approval, AuditEntry, AuditHead, AuditRow, Notice, Verdict
from orgos.store.repos import KeySource
from orgos.store.rows import APPROVAL_COLS, _dumps, approval_of
from orgos.store.sqlite_bus import insert_event

if TYPE_CHECKING:
    from orgos.store.sqlite import SQLiteStore

_APPROVAL_COLS = APPROVAL_COLS


class SQLiteAudit:
    def __init__(self, db: SQLiteStore) -> None:
        self._db = db
        #: The key that seals audit records (set by governance; None: keyless).
        self.key: KeySource | None = None

    def set_key(self, key: KeySource | None) -> None:
        self.key = key

    def key_now(self) -> bytes | None:
        return None if self.key is None else self.key()

    def record_in(self, conn: sqlite3.Connection, ts: float, *entries: AuditEntry) -> None:
        """Append records inside the caller's transaction."""
        rows: list[audit_sql.Pending] = [
            (ts, e.workspace, e.actor, e.action, e.run_id, e.step, _dumps(e.data), None, None)
            for e in entries
        ]
        audit_sql.append(conn, rows, self.key_now())

    async def record(self, *entries: AuditEntry) -> None:
        now = time.time()
        await self._db._transact(lambda conn: self.record_in(conn, now, *entries))

    async def verify(self, *, key: bytes | None = None, head: AuditHead | None = None) -> Verdict:
        kept = None if head is None else (head.seq, head.hash)
        return audit_sql.verify(self._db._read(), key=key, head=kept)

    async def head(self) -> AuditHead:
        return AuditHead(*audit_sql.head(self._db._read()))

    async def rows(self, after: int = 0) -> list[AuditRow]:
        return list(audit_sql.rows(self._db._read(), after=after))


class SQLiteApprovals:
    def __init__(self, db: SQLiteStore) -> None:
        self._db = db

    def _audit(self, conn: sqlite3.Connection, ts: float, e: AuditEntry) -> None:
        self._db.audit.record_in(conn, ts, e)

    async def create(self, a: Approval) -> Approval:
        def apply(conn: sqlite3.Connection) -> Approval:
            row = conn.execute(
                f"SELECT {_APPROVAL_COLS} FROM approvals WHERE run_id=? AND step=?",
                (a.run_id, a.step),
            ).fetchone()
            if row is not None:
                return approval_of(row)
            conn.execute(
                f"INSERT INTO approvals ({_APPROVAL_COLS}) VALUES"
                " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (a.id, a.workspace, a.run_id, a.step, a.agent, a.kind, _dumps(a.request),
                 a.rule, a.reason, a.status, a.assignee, a.escalations, a.due_at,
                 a.created_at, None, None, None, None),
            )  # fmt: skip
            data = {"approval": a.id, "rule": a.rule, "assignee": a.assignee}
            self._audit(conn, a.created_at, AuditEntry(
                a.workspace, "kernel", "approval.requested", a.run_id, a.step, data))  # fmt: skip
            return a

        return await self._db._transact(apply)

    async def get(self, workspace: str, run_id: str, step: int) -> Approval | None:
        row = (
            self._db._read()
            .execute(
                f"SELECT {_APPROVAL_COLS} FROM approvals WHERE run_id=? AND step=? AND workspace=?",
                (run_id, step, workspace),
            )
            .fetchone()
        )
        return None if row is None else approval_of(row)

    async def list(
        self, workspace: str, *, status: str | None = "pending", id_prefix: str | None = None
    ) -> list[Approval]:
        sql = f"SELECT {_APPROVAL_COLS} FROM approvals WHERE workspace=?"
        args: list[Any] = [workspace]
        if status is not None:
            sql += " AND status=?"
            args.append(status)
        if id_prefix is not None:
            sql += " AND substr(id, 1, ?) = ?"
            args.extend((len(id_prefix), id_prefix))
        rows = self._db._read().execute(sql + " ORDER BY created_at, id", args).fetchall()
        return [approval_of(r) for r in rows]

    async def decide(
        self, workspace: str, approval_id: str, status: str, by: str, note: str | None,
        arguments: Any,
    ) -> bool:  # fmt: skip
        def apply(conn: sqlite3.Connection) -> bool:
            now = time.time()
            cur = conn.execute(
                "UPDATE approvals SET status=?, decided_by=?, decided_at=?, note=?,"
                " arguments=? WHERE id=? AND workspace=? AND status='pending'",
                (status, by, now, note, _dumps(arguments), approval_id, workspace),
            )
            if cur.rowcount != 1:
                return False
            run, step = conn.execute(
                "SELECT run_id, step FROM approvals WHERE id=?", (approval_id,)
            ).fetchone()
            data = {"approval": approval_id, "decision": status, "note": note,
                    "edited_arguments": arguments}  # fmt: skip
            self._audit(conn, now, AuditEntry(workspace, by, f"approval.{status}", run, step, data))
            # The run's own journal says who decided, so `orgos show` tells it.
            conn.execute(
                "INSERT INTO journal (run_id, seq, phase, kind, payload, workspace, ts)"
                " VALUES (?,?,?,?,?,?,?)",
                (run, step, "decision", "approval", _dumps({**data, "by": by}), workspace, now),
            )
            return True

        return await self._db._transact(apply)

    async def reopen(self, a: Approval) -> bool:
        def apply(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE approvals SET status='pending', request=?, rule=?, reason=?,"
                " assignee=?, escalations=0, due_at=?, decided_by=NULL, decided_at=NULL,"
                " note=NULL, arguments=NULL WHERE id=? AND workspace=? AND status='approved'",
                (_dumps(a.request), a.rule, a.reason, a.assignee, a.due_at, a.id, a.workspace),
            )
            if cur.rowcount != 1:
                return False
            data = {"approval": a.id, "rule": a.rule, "assignee": a.assignee, "edited": True}
            self._audit(conn, time.time(), AuditEntry(
                a.workspace, "kernel", "approval.requested", a.run_id, a.step, data))  # fmt: skip
            return True

        return await self._db._transact(apply)

    async def escalate(
        self,
        workspace: str,
        approval_id: str,
        assignee: str,
        due_at: float | None,
        *,
        expected: int | None = None,
        notice: Callable[[Approval], Notice] | None = None,
    ) -> Approval | None:
        def apply(conn: sqlite3.Connection) -> Approval | None:
            sql = (
                "UPDATE approvals SET assignee=?, due_at=?, escalations=escalations+1"
                " WHERE id=? AND workspace=? AND status='pending'"
            )
            args: list[Any] = [assignee, due_at, approval_id, workspace]
            if expected is not None:
                sql += " AND escalations=?"
                args.append(expected)
            if conn.execute(sql, args).rowcount != 1:
                return None
            row = conn.execute(
                f"SELECT {_APPROVAL_COLS} FROM approvals WHERE id=?", (approval_id,)
            ).fetchone()
            a = approval_of(row)
            data = {"approval": approval_id, "assignee": assignee}
            self._audit(conn, time.time(), AuditEntry(
                workspace, "kernel", "approval.escalated", a.run_id, a.step, data))  # fmt: skip
            if notice is not None:
                n = notice(a)
                insert_event(conn, workspace, n.topic, n.data, source=n.source)
            return a

        return await self._db._transact(apply)

    async def mark_asked(self, workspace: str, approval_id: str, escalations: int) -> bool:
        def apply(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE approvals SET request=json_set(request, '$.asked', ?)"
                " WHERE id=? AND workspace=? AND status='pending' AND escalations=?"
                " AND json_extract(request, '$.asked') IS NOT ?",
                (escalations, approval_id, workspace, escalations, escalations),
            )
            return cur.rowcount == 1

        return await self._db._transact(apply)

"""Approvals on PostgreSQL: each change commits with its audit record (and
a decision with its line in the run's journal)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orgos.store.postgres.repos import insert_event
from orgos.store.records import Approval, AuditEntry, Notice
from orgos.store.rows import APPROVAL_COLS, _dumps, approval_of

if TYPE_CHECKING:
    from orgos.store.postgres.store import Cursor, PostgresStore

_COLS = APPROVAL_COLS
_MARKS = ",".join(["%s"] * 18)


class PgApprovals:
    def __init__(self, db: PostgresStore) -> None:
        self._db = db

    async def _audit(self, cur: Cursor, ts: float, e: AuditEntry) -> None:
        await self._db.audit.record_in(cur, ts, e)

    async def create(self, a: Approval) -> Approval:
        async with self._db.transaction() as cur:
            await cur.execute(
                f"INSERT INTO approvals ({_COLS}) VALUES ({_MARKS})"
                " ON CONFLICT (run_id, step) DO NOTHING",
                (a.id, a.workspace, a.run_id, a.step, a.agent, a.kind, _dumps(a.request),
                 a.rule, a.reason, a.status, a.assignee, a.escalations, a.due_at,
                 a.created_at, None, None, None, None),
            )  # fmt: skip
            if cur.rowcount != 1:
                await cur.execute(
                    f"SELECT {_COLS} FROM approvals WHERE run_id=%s AND step=%s",
                    (a.run_id, a.step),
                )
                row = await cur.fetchone()
                assert row is not None
                return approval_of(row)
            data = {"approval": a.id, "rule": a.rule, "assignee": a.assignee}
            await self._audit(cur, a.created_at, AuditEntry(
                a.workspace, "kernel", "approval.requested", a.run_id, a.step, data))  # fmt: skip
            return a

    async def get(self, workspace: str, run_id: str, step: int) -> Approval | None:
        row = await self._db._one(
            f"SELECT {_COLS} FROM approvals WHERE run_id=%s AND step=%s AND workspace=%s",
            (run_id, step, workspace),
        )
        return None if row is None else approval_of(row)

    async def list(
        self, workspace: str, *, status: str | None = "pending", id_prefix: str | None = None
    ) -> list[Approval]:
        sql = f"SELECT {_COLS} FROM approvals WHERE workspace=%s"
        args: list[Any] = [workspace]
        if status is not None:
            sql += " AND status=%s"
            args.append(status)
        if id_prefix is not None:
            sql += " AND starts_with(id, %s)"
            args.append(id_prefix)
        rows = await self._db._all(sql + " ORDER BY created_at, id", args)
        return [approval_of(r) for r in rows]

    async def decide(
        self, workspace: str, approval_id: str, status: str, by: str, note: str | None,
        arguments: Any,
    ) -> bool:  # fmt: skip
        async with self._db.transaction() as cur:
            now = time.time()
            await cur.execute(
                "UPDATE approvals SET status=%s, decided_by=%s, decided_at=%s, note=%s,"
                " arguments=%s WHERE id=%s AND workspace=%s AND status='pending'"
                " RETURNING run_id, step",
                (status, by, now, note, _dumps(arguments), approval_id, workspace),
            )
            row = await cur.fetchone()
            if row is None:
                return False
            run, step = row
            data = {"approval": approval_id, "decision": status, "note": note,
                    "edited_arguments": arguments}  # fmt: skip
            await self._audit(cur, now, AuditEntry(workspace, by, f"approval.{status}", run, step,
                                                   data))  # fmt: skip
            await cur.execute(
                "INSERT INTO journal (run_id, seq, phase, kind, payload, workspace, ts)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s)",
                (run, step, "decision", "approval", _dumps({**data, "by": by}), workspace, now),
            )
            return True

    async def reopen(self, a: Approval) -> bool:
        async with self._db.transaction() as cur:
            await cur.execute(
                "UPDATE approvals SET status='pending', request=%s, rule=%s, reason=%s,"
                " assignee=%s, escalations=0, due_at=%s, decided_by=NULL, decided_at=NULL,"
                " note=NULL, arguments=NULL WHERE id=%s AND workspace=%s AND status='approved'",
                (_dumps(a.request), a.rule, a.reason, a.assignee, a.due_at, a.id, a.workspace),
            )
            if cur.rowcount != 1:
                return False
            data = {"approval": a.id, "rule": a.rule, "assignee": a.assignee, "edited": True}
            await self._audit(cur, time.time(), AuditEntry(
                a.workspace, "kernel", "approval.requested", a.run_id, a.step, data))  # fmt: skip
            return True

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
        sql = (
            "UPDATE approvals SET assignee=%s, due_at=%s, escalations=escalations+1"
            " WHERE id=%s AND workspace=%s AND status='pending'"
        )
        args: list[Any] = [assignee, due_at, approval_id, workspace]
        if expected is not None:
            sql += " AND escalations=%s"
            args.append(expected)
        async with self._db.transaction() as cur:
            await cur.execute(sql + f" RETURNING {_COLS}", args)
            row = await cur.fetchone()
            if row is None:
                return None
            a = approval_of(row)
            data = {"approval": approval_id, "assignee": assignee}
            await self._audit(cur, time.time(), AuditEntry(
                workspace, "kernel", "approval.escalated", a.run_id, a.step, data))  # fmt: skip
            if notice is not None:
                n = notice(a)
                await insert_event(cur, workspace, n.topic, n.data, source=n.source)
            return a

    async def mark_asked(self, workspace: str, approval_id: str, escalations: int) -> bool:
        n = await self._db._exec(
            "UPDATE approvals SET request=jsonb_set(COALESCE(request, '{}')::jsonb, '{asked}',"
            " to_jsonb(%s::bigint))::text WHERE id=%s AND workspace=%s AND status='pending'"
            " AND escalations=%s AND (request::jsonb -> 'asked') IS DISTINCT FROM"
            " to_jsonb(%s::bigint)",
            (escalations, approval_id, workspace, escalations, escalations),
        )
        return n == 1

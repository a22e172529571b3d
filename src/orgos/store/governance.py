"""What governance keeps in the store: approvals, kill switches, people and
their tokens, encrypted secrets, the audit log, and usage read back from the
journal. SQLite only for now; it works on a SQLiteStore through its
``_write`` / ``_read`` helpers, so writes share the store's writer."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orgos.errors import ConfigError, NotFound
from orgos.ids import new_id
from orgos.people import check_person_name
from orgos.store import audit as audit_sql
from orgos.store import people as people_sql
from orgos.store.base import Store
from orgos.store.rows import _dumps, _loads
from orgos.store.sqlite import SQLiteStore

_APPROVAL_COLS = (
    "id, workspace, run_id, step, agent, kind, request, rule, reason, status, assignee,"
    " escalations, due_at, created_at, decided_by, decided_at, note, arguments"
)


@dataclass(slots=True)
class Approval:
    id: str
    workspace: str
    run_id: str
    step: int
    agent: str
    kind: str
    request: Any
    rule: str | None
    reason: str | None
    status: str  # pending | approved | denied
    assignee: str | None
    escalations: int
    due_at: float | None
    created_at: float
    decided_by: str | None = None
    decided_at: float | None = None
    note: str | None = None
    #: Arguments a person edited before approving (a tool call's arguments).
    arguments: Any = None


def _approval(r: tuple[Any, ...]) -> Approval:
    return Approval(r[0], r[1], r[2], r[3], r[4], r[5], _loads(r[6]), r[7], r[8], r[9], r[10],
                    r[11], r[12], r[13], r[14], r[15], r[16], _loads(r[17]))  # fmt: skip


AuditEntry = tuple[str, str, str, str | None, int | None, Any]  # ws, actor, action, run, step, data


class GovernanceStore:
    """Governance tables on a SQLiteStore."""

    def __init__(self, store: Store):
        if not isinstance(store, SQLiteStore):
            raise ConfigError("governance needs the SQLite store for now")
        self.store = store

    # --- audit ------------------------------------------------------------------------
    def _record(
        self,
        conn: sqlite3.Connection,
        ts: float,
        ws: str,
        actor: str,
        action: str,
        run: str | None,
        step: int | None,
        data: Any,
    ) -> None:
        row: audit_sql.Pending = (ts, ws, actor, action, run, step, _dumps(data), None, None)
        audit_sql.append(conn, [row], self.store.audit_key_now())

    async def audit(self, *entries: AuditEntry) -> None:
        now = time.time()
        rows: list[audit_sql.Pending] = [
            (now, ws, actor, action, run, step, _dumps(data), None, None)
            for ws, actor, action, run, step, data in entries
        ]
        key = self.store.audit_key_now()
        await self.store._transact(lambda conn: audit_sql.append(conn, rows, key))

    def verify_audit(
        self, *, key: bytes | None = None, head: tuple[int, str] | None = None
    ) -> audit_sql.Verdict:
        return audit_sql.verify(self.store._read(), key=key, head=head)

    def audit_head(self) -> tuple[int, str]:
        return audit_sql.head(self.store._read())

    def audit_rows(self, after: int = 0) -> list[audit_sql.AuditRow]:
        return list(audit_sql.rows(self.store._read(), after=after))

    # --- approvals --------------------------------------------------------------------
    async def create_approval(self, a: Approval) -> Approval:
        """Insert, or return the one already there for this run and step."""

        def apply(conn: sqlite3.Connection) -> Approval:
            row = conn.execute(
                f"SELECT {_APPROVAL_COLS} FROM approvals WHERE run_id=? AND step=?",
                (a.run_id, a.step),
            ).fetchone()
            if row is not None:
                return _approval(row)
            conn.execute(
                f"INSERT INTO approvals ({_APPROVAL_COLS}) VALUES"
                " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (a.id, a.workspace, a.run_id, a.step, a.agent, a.kind, _dumps(a.request),
                 a.rule, a.reason, a.status, a.assignee, a.escalations, a.due_at,
                 a.created_at, None, None, None, None),
            )  # fmt: skip
            data = {"approval": a.id, "rule": a.rule, "assignee": a.assignee}
            self._record(
                conn,
                a.created_at,
                a.workspace,
                "kernel",
                "approval.requested",
                a.run_id,
                a.step,
                data,
            )
            return a

        return await self.store._transact(apply)

    def approval_for(self, run_id: str, step: int) -> Approval | None:
        row = (
            self.store._read()
            .execute(
                f"SELECT {_APPROVAL_COLS} FROM approvals WHERE run_id=? AND step=?", (run_id, step)
            )
            .fetchone()
        )
        return None if row is None else _approval(row)

    def approvals(
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
        rows = self.store._read().execute(sql + " ORDER BY created_at", args).fetchall()
        return [_approval(r) for r in rows]

    async def decide_approval(
        self,
        approval_id: str,
        status: str,
        by: str,
        note: str | None,
        arguments: Any,
    ) -> bool:
        """Record a person's decision on a pending approval, with its audit
        record, in one transaction. False if it was no longer pending."""

        def apply(conn: sqlite3.Connection) -> bool:
            now = time.time()
            cur = conn.execute(
                "UPDATE approvals SET status=?, decided_by=?, decided_at=?, note=?,"
                " arguments=? WHERE id=? AND status='pending'",
                (status, by, now, note, _dumps(arguments), approval_id),
            )
            if cur.rowcount != 1:
                return False
            ws, run, step = conn.execute(
                "SELECT workspace, run_id, step FROM approvals WHERE id=?", (approval_id,)
            ).fetchone()
            data = {"approval": approval_id, "decision": status, "note": note,
                    "edited_arguments": arguments}  # fmt: skip
            self._record(conn, now, ws, by, f"approval.{status}", run, step, data)
            # The run's own journal says who decided, so `orgos show` tells it.
            conn.execute(
                "INSERT INTO journal (run_id, seq, phase, kind, payload, workspace, ts)"
                " VALUES (?,?,?,?,?,?,?)",
                (run, step, "decision", "approval", _dumps({**data, "by": by}), ws, now),
            )
            return True

        return await self.store._transact(apply)

    async def reopen_approval(self, a: Approval) -> bool:
        """Ask again: an approved call whose edited arguments need another
        rule's approval becomes pending under that rule (``a`` holds the new
        request, rule, reason, assignee and due time). False if it was not
        approved (decided or reopened meanwhile)."""

        def apply(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE approvals SET status='pending', request=?, rule=?, reason=?,"
                " assignee=?, escalations=0, due_at=?, decided_by=NULL, decided_at=NULL,"
                " note=NULL, arguments=NULL WHERE id=? AND status='approved'",
                (_dumps(a.request), a.rule, a.reason, a.assignee, a.due_at, a.id),
            )
            if cur.rowcount != 1:
                return False
            data = {"approval": a.id, "rule": a.rule, "assignee": a.assignee, "edited": True}
            self._record(conn, time.time(), a.workspace, "kernel", "approval.requested", a.run_id,
                    a.step, data)  # fmt: skip
            return True

        return await self.store._transact(apply)

    async def escalate(
        self,
        approval_id: str,
        assignee: str,
        due_at: float | None,
        *,
        expected: int | None = None,
        also: Callable[[sqlite3.Connection, Approval], None] | None = None,
    ) -> bool:
        """Move a pending approval to ``assignee`` (only from its ``expected``
        number of escalations, so two workers never move it twice); ``also``
        runs in the same transaction with the moved approval (the notice)."""

        def apply(conn: sqlite3.Connection) -> bool:
            sql = (
                "UPDATE approvals SET assignee=?, due_at=?, escalations=escalations+1"
                " WHERE id=? AND status='pending'"
            )
            args: list[Any] = [assignee, due_at, approval_id]
            if expected is not None:
                sql += " AND escalations=?"
                args.append(expected)
            if conn.execute(sql, args).rowcount != 1:
                return False
            row = conn.execute(
                f"SELECT {_APPROVAL_COLS} FROM approvals WHERE id=?", (approval_id,)
            ).fetchone()
            a = _approval(row)
            data = {"approval": approval_id, "assignee": assignee}
            self._record(conn, time.time(), a.workspace, "kernel", "approval.escalated", a.run_id,
                         a.step, data)  # fmt: skip
            if also is not None:
                also(conn, a)
            return True

        return await self.store._transact(apply)

    async def mark_asked(self, approval_id: str, escalations: int) -> bool:
        """Note that the agent it is assigned to (at this escalation) is asked
        to decide it; False if that was noted already or it moved on."""

        def apply(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE approvals SET request=json_set(request, '$.asked', ?)"
                " WHERE id=? AND status='pending' AND escalations=?"
                " AND json_extract(request, '$.asked') IS NOT ?",
                (escalations, approval_id, escalations, escalations),
            )
            return cur.rowcount == 1

        return await self.store._transact(apply)

    # --- kill switches ----------------------------------------------------------------
    def switches(self, workspace: str) -> dict[str, str]:
        """Paused scopes (``all``, ``agent:NAME``, ``team:NAME``) and why."""
        rows = self.store._read().execute(
            "SELECT scope, reason FROM switches WHERE workspace=?", (workspace,)
        )
        return {r[0]: r[1] or "" for r in rows}

    async def set_switch(
        self, workspace: str, scope: str, paused: bool, reason: str, actor: str
    ) -> bool:
        def apply(conn: sqlite3.Connection) -> bool:
            now = time.time()
            if paused:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO switches VALUES (?,?,?,?,?)",
                    (workspace, scope, reason, actor, now),
                )
            else:
                cur = conn.execute(
                    "DELETE FROM switches WHERE workspace=? AND scope=?", (workspace, scope)
                )
            if cur.rowcount:
                action = "switch.pause" if paused else "switch.resume"
                data = {"scope": scope, "reason": reason}
                self._record(conn, now, workspace, actor, action, None, None, data)
            return bool(cur.rowcount)

        return await self.store._transact(apply)

    async def replace_switch(
        self, workspace: str, scope: str, old: str, new: str | None, actor: str = "breaker"
    ) -> bool:
        """Change a switch's reason from ``old`` to ``new`` (None: lift it),
        only if it still says ``old``: the half-open breaker's claims."""

        def apply(conn: sqlite3.Connection) -> bool:
            now = time.time()
            if new is None:
                cur = conn.execute(
                    "DELETE FROM switches WHERE workspace=? AND scope=? AND reason=?",
                    (workspace, scope, old),
                )
            else:
                cur = conn.execute(
                    "UPDATE switches SET reason=?, ts=? WHERE workspace=? AND scope=? AND reason=?",
                    (new, now, workspace, scope, old),
                )
            if cur.rowcount != 1:
                return False
            action = "switch.resume" if new is None else "switch.pause"
            self._record(
                conn, now, workspace, actor, action, None, None, {"scope": scope, "reason": new}
            )
            return True

        return await self.store._transact(apply)

    # --- people and tokens (SQL in store/people.py) ----------------------------------
    def people(self, workspace: str) -> dict[str, str]:
        return people_sql.read_people(self.store._read(), workspace)

    async def set_person(self, workspace: str, name: str, role: str | None, actor: str) -> None:
        """Give a person a role, or (``role`` None) remove them: their tokens
        are revoked for good, in the same transaction."""
        check_person_name(name)

        def apply(conn: sqlite3.Connection) -> None:
            now = time.time()
            revoked = people_sql.write_person(conn, workspace, name, role, now)
            data: dict[str, Any] = {"person": name, "role": role}
            if role is None:
                data["tokens_revoked"] = revoked
            self._record(conn, now, workspace, actor, "person.set", None, None, data)

        await self.store._transact(apply)

    async def add_token(
        self,
        token_hash: str,
        person: str,
        workspace: str,
        actor: str,
        *,
        expires_at: float | None = None,
    ) -> people_sql.Token:
        """Record a token (by its hash) for a person of ``workspace``, valid
        there only; NotFound if they have no role in it."""

        def apply(conn: sqlite3.Connection) -> people_sql.Token:
            if person not in people_sql.read_people(conn, workspace):
                raise NotFound(f"{person} has no role in workspace {workspace!r}")
            token = people_sql.Token(new_id("tk-"), workspace, person, time.time(), expires_at)
            people_sql.insert_token(conn, token_hash, token)
            data = {"person": person, "token": token.id, "expires_at": expires_at}
            self._record(
                conn, token.created_at, workspace, actor, "token.created", None, None, data
            )
            return token

        return await self.store._transact(apply)

    def token(self, token_hash: str) -> people_sql.Token | None:
        """The record of a token, by its hash (whichever workspace it is of)."""
        return people_sql.read_token(self.store._read(), token_hash)

    def tokens(self, workspace: str) -> list[people_sql.Token]:
        return people_sql.read_tokens(self.store._read(), workspace)

    async def revoke_token(self, workspace: str, token_id: str, actor: str) -> bool:
        """Revoke one token of ``workspace``; False if it has none by that id
        still unrevoked."""

        def apply(conn: sqlite3.Connection) -> bool:
            now = time.time()
            if not people_sql.revoke(conn, workspace, now, token_id=token_id):
                return False
            self._record(
                conn, now, workspace, actor, "token.revoked", None, None, {"token": token_id}
            )
            return True

        return await self.store._transact(apply)

    # --- secrets ----------------------------------------------------------------------
    async def put_secret(self, workspace: str, name: str, ciphertext: bytes, actor: str) -> None:
        def apply(conn: sqlite3.Connection) -> None:
            now = time.time()
            conn.execute(
                "INSERT OR REPLACE INTO secrets VALUES (?,?,?,?)",
                (workspace, name, ciphertext, now),
            )
            data = {"name": name}
            self._record(conn, now, workspace, actor, "secret.set", None, None, data)

        await self.store._transact(apply)

    def secret(self, workspace: str, name: str) -> bytes | None:
        row = (
            self.store._read()
            .execute(
                "SELECT ciphertext FROM secrets WHERE workspace=? AND name=?", (workspace, name)
            )
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    def secret_names(self, workspace: str) -> list[str]:
        rows = self.store._read().execute(
            "SELECT name FROM secrets WHERE workspace=? ORDER BY name", (workspace,)
        )
        return [r[0] for r in rows]

    # --- usage, read back from the journal --------------------------------------------
    def llm_usage(
        self,
        workspace: str,
        *,
        since: float = 0.0,
        run_id: str | None = None,
        root_id: str | None = None,
    ) -> list[tuple[str, str, str, str, int, int]]:
        """(run, agent, model key, model name, input tokens, output tokens) of
        every model call journaled since ``since`` (of one run, or one tree)."""
        sql = (
            "SELECT j.run_id, r.target, json_extract(j.payload, '$.model'),"
            " json_extract(COALESCE(j.result, jr.payload), '$.ok.model'),"
            " json_extract(COALESCE(j.result, jr.payload), '$.ok.usage.input_tokens'),"
            " json_extract(COALESCE(j.result, jr.payload), '$.ok.usage.output_tokens')"
            " FROM journal j JOIN runs r ON r.id = j.run_id"
            " LEFT JOIN journal jr ON j.result IS NULL AND jr.run_id = j.run_id"
            "   AND jr.seq = j.seq AND jr.phase = 'result'"
            " WHERE j.phase = 'intent' AND j.kind = 'llm' AND j.workspace = ? AND j.ts >= ?"
        )
        args: list[Any] = [workspace, since]
        if run_id is not None:
            sql += " AND j.run_id = ?"
            args.append(run_id)
        if root_id is not None:
            sql += " AND r.root_id = ?"
            args.append(root_id)
        out = []
        for r in self.store._read().execute(sql, args):
            if r[4] is None and r[5] is None:
                continue  # no result (yet), or a failed call
            out.append((r[0], r[1], r[2] or "default", r[3] or "", int(r[4] or 0), int(r[5] or 0)))
        return out

    def day_usage(
        self, workspace: str, since: float
    ) -> tuple[list[tuple[str, str, str, str, int, int]], int]:
        """``llm_usage`` since ``since`` and the audit log's head seq, read in
        one snapshot: spend recorded after that seq is what ``spend_after``
        returns, so nothing is counted twice or missed."""
        conn = self.store._read()
        conn.execute("BEGIN")
        try:
            rows = self.llm_usage(workspace, since=since)
            head = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit").fetchone()[0]
        finally:
            conn.execute("COMMIT")
        return rows, int(head)

    def spend_after(
        self, workspace: str, after: int
    ) -> list[tuple[int, float, str, int, float, str | None]]:
        """(seq, ts, agent, tokens, cost, worker) of the model calls whose
        audit record (it carries their usage) is after ``after``."""
        rows = self.store._read().execute(
            "SELECT seq, ts, actor, json_extract(data, '$.tokens'), json_extract(data, '$.cost'),"
            " json_extract(data, '$.worker') FROM audit"
            " WHERE seq > ? AND workspace = ? AND action = 'llm.allow'",
            (after, workspace),
        )
        return [
            (r[0], r[1], str(r[2]).removeprefix("agent:"), int(r[3] or 0), float(r[4] or 0.0), r[5])
            for r in rows
        ]

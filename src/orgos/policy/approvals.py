"""Approvals: a syscall a rule says needs a person parks its run, and the
approval waits in the store (through restarts, for days). A decision wakes
the run, which replays to the same syscall and now passes, fails with the
denial's reason, or runs with the arguments the person edited: an edited call
is a new call, validated and judged by the rules again (denied, asked again
under another rule, or run). A pending
approval that times out moves up the org chart: the agent's supervisors,
then the owner of its team; each move is announced (orgos.policy.escalation)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from orgos.config.chart import OrgChart
from orgos.errors import NotFound
from orgos.store.base import Store
from orgos.store.governance import Approval, GovernanceStore


def chain_for(first: str, agent: str, chart: OrgChart | None) -> list[str]:
    """Who is asked, in order: the first approver, then up the org chart."""
    chain = [first]
    if chart is not None:
        chain.extend(x for x in chart.escalation_chain(agent) if x not in chain)
    return chain


def approved_arguments(a: Approval) -> Any:
    """The arguments an approved tool call runs with: those the last approver
    typed, else those of the call they were shown (an earlier edit)."""
    if a.arguments is not None:
        return a.arguments
    call = (a.request or {}).get("call")
    return call.get("arguments") if isinstance(call, dict) else None


def find(gstore: GovernanceStore, workspace: str, approval_id: str) -> Approval:
    """An approval by id or unique id prefix."""
    found = gstore.approvals(workspace, status=None, id_prefix=approval_id)
    exact = [a for a in found if a.id == approval_id]
    if exact:
        return exact[0]
    if len(found) != 1:
        why = "no approval" if not found else "several approvals"
        raise NotFound(f"{why} matching {approval_id!r}")
    return found[0]


async def decide(
    gstore: GovernanceStore,
    store: Store,
    workspace: str,
    approval_id: str,
    *,
    approve: bool,
    by: str,
    note: str | None = None,
    arguments: Any = None,
) -> Approval:
    """Record a decision (journaled in the audit log, with who made it) and
    wake the run."""
    a = find(gstore, workspace, approval_id)
    if a.status != "pending":
        raise ValueError(f"approval {a.id} was already {a.status} by {a.decided_by}")
    if arguments is not None and not approve:
        raise ValueError("edited arguments go with an approval, not a denial")
    if arguments is not None and not isinstance(arguments, dict):
        raise ValueError("edited arguments must be a JSON object")
    status = "approved" if approve else "denied"
    if not await gstore.decide_approval(a.id, status, by, note, arguments):
        raise ValueError(f"approval {a.id} was decided meanwhile")
    await store.requeue(workspace, a.run_id)
    return find(gstore, workspace, a.id)


#: Runs in the escalation's transaction with the moved approval (the notice).
Notify = Callable[[sqlite3.Connection, Approval, str | None], None]


async def escalate_due(
    gstore: GovernanceStore,
    workspace: str,
    timeout: float,
    now: float | None = None,
    notify: Notify | None = None,
) -> list[Approval]:
    """Move every overdue pending approval to the next one in its chain."""
    now = time.time() if now is None else now
    moved = []
    for a in gstore.approvals(workspace, status="pending"):
        if a.due_at is None or a.due_at > now:
            continue
        b = await escalate(gstore, a, timeout, now, notify)
        if b is not None:
            moved.append(b)
    return moved


def may_decide(gstore: GovernanceStore, workspace: str, person: str) -> None:
    """Raise PermissionError unless ``person`` may answer for a run (a call
    in doubt): anyone until the workspace has people, then only a role that
    decides approvals."""
    from orgos.policy.identity import allowed

    people = gstore.people(workspace)
    if not people:
        return
    role = people.get(person)
    if role is None or not allowed(role, "approvals.decide"):
        who = f"{person} ({role})" if role else f"{person} (no role here)"
        raise PermissionError(f"permission denied: {who} may not decide for runs")


async def escalate(
    gstore: GovernanceStore,
    a: Approval,
    timeout: float,
    now: float,
    notify: Notify | None = None,
) -> Approval | None:
    """Move ``a`` to the next one in its chain, now (None: nobody is left,
    or another worker moved it first)."""
    chain: list[str] = list((a.request or {}).get("chain") or [])
    nxt = a.escalations + 1
    if nxt >= len(chain):
        return None
    due = now + timeout if nxt + 1 < len(chain) else None
    previous = a.assignee

    def also(conn: sqlite3.Connection, moved: Approval) -> None:
        if notify is not None:
            notify(conn, moved, previous)

    if not await gstore.escalate(a.id, chain[nxt], due, expected=a.escalations, also=also):
        return None
    a.assignee, a.escalations, a.due_at = chain[nxt], nxt, due
    return a

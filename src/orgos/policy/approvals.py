"""Approvals: a syscall a rule says needs a person parks its run, and the
approval waits in the store (through restarts, for days). A decision wakes
the run, which replays to the same syscall and now passes, fails with the
denial's reason, or runs with the arguments the person edited: an edited call
is a new call, validated and judged by the rules again (denied, asked again
under another rule, or run). A pending
approval that times out moves up the org chart: the agent's supervisors,
then the owner of its team; each move is announced (orgos.policy.escalation)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from orgos.config.chart import OrgChart
from orgos.errors import NotFound
from orgos.store.base import Store
from orgos.store.records import Approval, Notice


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


async def find(store: Store, workspace: str, approval_id: str) -> Approval:
    """An approval by id or unique id prefix."""
    found = await store.approvals.list(workspace, status=None, id_prefix=approval_id)
    exact = [a for a in found if a.id == approval_id]
    if exact:
        return exact[0]
    if len(found) != 1:
        why = "no approval" if not found else "several approvals"
        raise NotFound(f"{why} matching {approval_id!r}")
    return found[0]


async def decide(
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
    a = await find(store, workspace, approval_id)
    if a.status != "pending":
        raise ValueError(f"approval {a.id} was already {a.status} by {a.decided_by}")
    if arguments is not None and not approve:
        raise ValueError("edited arguments go with an approval, not a denial")
    if arguments is not None and not isinstance(arguments, dict):
        raise ValueError("edited arguments must be a JSON object")
    status = "approved" if approve else "denied"
    if not await store.approvals.decide(workspace, a.id, status, by, note, arguments):
        raise ValueError(f"approval {a.id} was decided meanwhile")
    await store.requeue(workspace, a.run_id)
    return await find(store, workspace, a.id)


#: The notice of a move (the moved approval, who had it): committed with it.
Notify = Callable[[Approval, str | None], Notice]


async def escalate_due(
    store: Store,
    workspace: str,
    timeout: float,
    now: float | None = None,
    notify: Notify | None = None,
) -> list[Approval]:
    """Move every overdue pending approval to the next one in its chain."""
    now = time.time() if now is None else now
    moved = []
    for a in await store.approvals.list(workspace, status="pending"):
        if a.due_at is None or a.due_at > now:
            continue
        b = await escalate(store, a, timeout, now, notify)
        if b is not None:
            moved.append(b)
    return moved


async def may_decide(store: Store, workspace: str, person: str) -> None:
    """Raise PermissionError unless ``person`` may answer for a run (a call
    in doubt): anyone until the workspace has people, then only a role that
    decides approvals."""
    from orgos.policy.identity import allowed

    people = await store.people.roles(workspace)
    if not people:
        return
    role = people.get(person)
    if role is None or not allowed(role, "approvals.decide"):
        who = f"{person} ({role})" if role else f"{person} (no role here)"
        raise PermissionError(f"permission denied: {who} may not decide for runs")


async def escalate(
    store: Store,
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

    def notice(moved: Approval) -> Notice:
        assert notify is not None
        return notify(moved, previous)

    moved = await store.approvals.escalate(
        a.workspace, a.id, chain[nxt], due, expected=a.escalations,
        notice=notice if notify is not None else None,
    )  # fmt: skip
    if moved is None:
        return None
    return dataclasses.replace(a, assignee=chain[nxt], escalations=nxt, due_at=due)

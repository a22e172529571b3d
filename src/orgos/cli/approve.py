"""A run parked for approval, at the command line: what is asked, how to
answer, and answering it in place (a prompt, or --auto-approve)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from rich.text import Text

from orgos.cli.common import State, short

if TYPE_CHECKING:
    from rich.console import Console

    from orgos.runtime import Runtime
    from orgos.store.base import RunRecord


def _call_text(req: dict[str, Any]) -> str:
    if "answer" in req:  # a review: an answer that failed its guardrails
        return f"accept the answer {short(req['answer'], 300)}"
    if "tool" in req:
        args = json.dumps(req.get("arguments"), ensure_ascii=False)
        return f"{req['tool']}({args})"
    return short(req, None)


def approval_help(con: Console, run: RunRecord) -> None:
    a = (run.waiting_on or {}).get("approval") or {}
    con.print(
        Text(f"? {run.target} {run.id} waits for approval {a.get('id')}", style="bold yellow")
    )
    con.print(Text(f"  call: {_call_text(a.get('request') or {})}"))
    con.print(Text(f"  why: {a.get('reason')}"))
    con.print(Text(f"  asked: {a.get('assignee')}"))
    con.print(Text(f"    orgos approvals approve {a.get('id')}              # let it run"))
    con.print(
        Text(f"    orgos approvals approve {a.get('id')} --args JSON  # with other arguments")
    )
    con.print(Text(f"    orgos approvals deny {a.get('id')} --note WHY     # the agent is told"))


async def answer_approval(
    state: State, rt: Runtime, con: Console, run: RunRecord, *, auto: bool, quiet: bool
) -> bool:
    """Decide a parked approval here, if we may; True if decided."""
    from orgos.cli.access import Denied, whoami

    a = (run.waiting_on or {}).get("approval")
    gov = rt.governance
    if not a or gov is None or not (auto or sys.stdin.isatty()):
        return False
    try:
        person = whoami(state, "approvals.decide")
    except Denied as exc:
        con.print(Text(f"  you may not answer it: {exc}", style="yellow"))
        return False
    approve, edited = True, None
    note: str | None = "auto-approved from the command line"
    if not auto:
        approval_help(con, run)
        while True:
            answer = con.input("  approve? [y]es / [n]o / [e]dit arguments: ").strip().lower()
            if answer in ("y", "yes"):
                note = None
                break
            if answer in ("n", "no"):
                approve, note = False, con.input("  why (the agent reads it): ") or None
                break
            if answer in ("e", "edit"):
                try:
                    edited = json.loads(con.input("  arguments (JSON): "))
                except json.JSONDecodeError as exc:
                    con.print(Text(f"  not JSON: {exc.msg}", style="red"))
                    continue
                note = "approved with edited arguments"
                break
    await gov.decide(str(a["id"]), approve=approve, by=person, note=note, arguments=edited)
    if not quiet:
        verb = "approved" if approve else "denied"
        con.print(Text(f"✔ {a['id']} {verb} by {person}: {_call_text(a.get('request') or {})}",
                       style="green" if approve else "yellow"))  # fmt: skip
    return True

"""A run parked for approval, at the command line: what is asked, how to
answer, and answering it in place (a prompt, or --auto-approve)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from rich.text import Text

from orgos.cli.common import State, short
from orgos.cli.prompt import LineReader, ask
from orgos.cli.safe import inert, safe
from orgos.store.waiting import WaitApproval

if TYPE_CHECKING:
    from rich.console import Console

    from orgos.runtime import Runtime
    from orgos.store.base import RunRecord

#: approve?, edited arguments, note
_Answer = tuple[bool, Any, str | None]


def _call_text(req: dict[str, Any]) -> str:
    if "answer" in req:  # a review: an answer that failed its guardrails
        return f"accept the answer {short(req['answer'], 300)}"
    if "tool" in req:
        args = json.dumps(req.get("arguments"), ensure_ascii=False, default=str)
        return short(f"{req['tool']}({args})", None)
    return short(req, None)


def approval_help(con: Console, run: RunRecord) -> None:
    a = run.waiting_on
    if type(a) is not WaitApproval:
        return
    aid = inert(a.id)
    con.print(safe(f"? {run.target} {run.id} waits for approval {aid}", "bold yellow"))
    con.print(Text(f"  call: {_call_text(a.request or {})}"))
    con.print(Text(f"  why: {short(a.reason, None)}"))
    con.print(Text(f"  asked: {short(a.assignee, None)}"))
    con.print(Text(f"    orgos approvals approve {aid}              # let it run"))
    con.print(Text(f"    orgos approvals approve {aid} --args JSON  # with other arguments"))
    con.print(Text(f"    orgos approvals deny {aid} --note WHY     # the agent is told"))


async def answer_approval(
    state: State,
    rt: Runtime,
    con: Console,
    run: RunRecord,
    *,
    auto: bool,
    quiet: bool,
    stop: asyncio.Event | None = None,
    reader: LineReader | None = None,
) -> bool:
    """Decide a parked approval here, if we may; True if it is decided. The
    question is asked without stopping the event loop: the other runs of
    this process go on while the person thinks (orgos.cli.prompt)."""
    from orgos.cli.access import Denied, whoami

    a = run.waiting_on
    gov = rt.governance
    if type(a) is not WaitApproval or gov is None or not (auto or sys.stdin.isatty()):
        return False
    try:
        person = whoami(state, "approvals.decide")
    except Denied as exc:
        con.print(Text(f"  you may not answer it: {short(str(exc), None)}", style="yellow"))
        return False
    answer: _Answer | None = (True, None, "auto-approved from the command line")
    if not auto:
        approval_help(con, run)
        answer = await _ask(con, reader or LineReader(), stop)
    if answer is None:  # Ctrl-C or end of input: it stays parked
        return False
    approve, edited, note = answer
    try:
        await gov.approvals.decide(a.id, approve=approve, by=person, note=note, arguments=edited)
    except ValueError as exc:  # decided meanwhile, elsewhere (orgos approvals): it goes on
        con.print(Text(f"  {short(str(exc), None)}", style="yellow"))
        return True
    if not quiet:
        verb = "approved" if approve else "denied"
        line = f"✔ {inert(a.id)} {verb} by {inert(person)}: "
        con.print(Text(line + _call_text(a.request or {}),
                       style="green" if approve else "yellow"))  # fmt: skip
    return True


async def _ask(con: Console, reader: LineReader, stop: asyncio.Event | None) -> _Answer | None:
    """The person's answer: approve, deny (and why) or edit the arguments."""
    while True:
        reply = await ask(con, "  approve? [y]es / [n]o / [e]dit arguments: ", reader, stop)
        if reply is None:
            return None
        reply = reply.strip().lower()
        if reply in ("y", "yes"):
            return True, None, None
        if reply in ("n", "no"):
            why = await ask(con, "  why (the agent reads it): ", reader, stop)
            return (False, None, why or None) if why is not None else None
        if reply in ("e", "edit"):
            text = await ask(con, "  arguments (JSON): ", reader, stop)
            if text is None:
                return None
            try:
                edited = json.loads(text)
            except json.JSONDecodeError as exc:
                con.print(Text(f"  not JSON: {exc.msg}", style="red"))
                continue
            if not isinstance(edited, dict):
                con.print(Text("  the arguments are a JSON object: {...}", style="red"))
                continue
            return True, edited, "approved with edited arguments"

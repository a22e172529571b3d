"""`orgos audit verify|head|log`: the hash-chained audit log, the journal it
vouches for, and the head to keep elsewhere."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from orgos.cli.access import require
from orgos.cli.common import EXIT_FAILED, EXIT_OK, CliError, fail, run_async
from orgos.cli.governance import _open, _print, _print_json, _state

if TYPE_CHECKING:
    from orgos.policy.governance import Governance
    from orgos.runtime import Runtime

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    head: Annotated[
        str | None,
        typer.Option(
            "--head", metavar="SEQ:HASH", help="A head kept elsewhere (`orgos audit head`)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The verdict as JSON.")] = False,
) -> None:
    """Check the whole chain and the journal entries it vouches for: any edit,
    insertion, deletion or reordering is reported, and with the policy's
    audit key, any record not sealed with it. Exit code 1 if it is broken.
    With --head, the chain must still reach that head (a truncation of the
    log, however well hidden, is found)."""
    from orgos.store.audit import parse_head
    from orgos.store.records import AuditHead

    state = _state(ctx)
    require(state, "audit.verify")
    try:
        kept = AuditHead(*parse_head(head)) if head is not None else None
    except ValueError as exc:
        fail(str(exc))

    async def go(rt: Runtime, gov: Governance) -> int:
        v = await gov.store.audit.verify(key=await _audit_key(gov), head=kept)
        if as_json:
            doc = {"ok": v.ok, "records": v.records, "head": f"{v.seq}:{v.head}",
                   "sealed": v.sealed, "problems": v.problems, "notes": v.notes}  # fmt: skip
            _print_json(doc)
        elif v.ok:
            sealed = f", {v.sealed} sealed with the audit key" if v.sealed else ""
            _print(f"audit chain intact: {v.records} record(s){sealed}, head {v.seq}:{v.head}")
            for n in v.notes:
                _print(f"  {n}")
        else:
            _print(f"audit chain BROKEN ({len(v.problems)} problem(s)):")
            for p in v.problems:
                _print(f"  {p}")
        return EXIT_OK if v.ok else EXIT_FAILED

    raise typer.Exit(run_async(lambda: _open(state, go)))


@audit_app.command("head")
def audit_head(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """Print the last record as SEQ:HASH. Keep it elsewhere (a ticket, a log
    shipper); `orgos audit verify --head SEQ:HASH` later proves that nothing
    up to it was removed or rewritten."""
    state = _state(ctx)
    require(state, "audit.verify")

    async def go(rt: Runtime, gov: Governance) -> int:
        top = await gov.store.audit.head()
        if as_json:
            _print_json({"seq": top.seq, "hash": top.hash})
        else:
            _print(f"{top.seq}:{top.hash}")
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))


async def _audit_key(gov: Governance) -> bytes | None:
    from orgos.errors import OrgosError

    try:
        return await gov.read_audit_key()
    except OrgosError as exc:
        raise CliError(f"the audit key cannot be read: {exc}") from None


@audit_app.command("log")
def audit_log(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="The last N.")] = 30,
) -> None:
    """The latest audit records: who did what, under which rule."""
    state = _state(ctx)
    require(state, "audit.log")

    async def go(rt: Runtime, gov: Governance) -> int:
        rows = (await gov.store.audit.rows())[-limit:]
        for r in rows:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.ts))
            where = f" {r.run_id}#{r.step}" if r.run_id else ""
            _print(f"{r.seq:>6} {when} {r.actor:<16} {r.action:<22}{where} {r.data or ''}")
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))

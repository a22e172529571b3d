"""Governance commands: audit, policy, approvals, usage, pause/unpause,
secrets, people. Each checks the caller's role first (orgos.cli.access)."""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from orgos.cli.access import require
from orgos.cli.common import EXIT_OK, CliError, State, fail, run_async, short

if TYPE_CHECKING:
    from orgos.policy.governance import Governance
    from orgos.runtime import Runtime

T = TypeVar("T")

policy_app = typer.Typer(help="Policy rules.", no_args_is_help=True)
approvals_app = typer.Typer(
    help="The approval inbox: calls parked until a person decides.", invoke_without_command=True
)
secrets_app = typer.Typer(help="The secrets vault.", no_args_is_help=True)
people_app = typer.Typer(help="People, their roles and API tokens.", no_args_is_help=True)


def _state(ctx: typer.Context) -> State:
    s = ctx.find_root().obj
    return s if isinstance(s, State) else State()


async def _open(state: State, fn: Callable[[Runtime, Governance], Awaitable[T]]) -> T:
    """The project's runtime with its store open (no worker, no model)."""
    from orgos.cli.common import open_runtime

    rt = open_runtime(state, models_needed=False)
    if rt.governance is None:
        raise CliError("this project has no governance")
    await rt.store.open()
    try:
        return await fn(rt, rt.governance)
    finally:
        await rt.store.close()


def _print(text: str = "") -> None:
    """One line; whatever it holds from runs, tools or people is inert."""
    from orgos.cli.common import console
    from orgos.cli.safe import safe

    console().print(safe(text))


def _print_json(doc: Any) -> None:
    from orgos.cli.common import console
    from orgos.cli.safe import safe_json

    console().print(safe_json(doc), soft_wrap=True)


# --- policy -------------------------------------------------------------------------------
@policy_app.command("check")
def policy_check(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(help="The agent making the call.")],
    tool: Annotated[str | None, typer.Option(help="A tool call to this tool.")] = None,
    kind: Annotated[str | None, typer.Option(help="Syscall kind (default: tool or llm).")] = None,
    args: Annotated[str | None, typer.Option("--args", help="Arguments, as JSON.")] = None,
    cost: Annotated[float, typer.Option(help="The run's cost so far.")] = 0.0,
    tokens: Annotated[int, typer.Option(help="The run's tokens so far.")] = 0,
    untrusted: Annotated[
        bool, typer.Option("--untrusted", help="The run has read untrusted content.")
    ] = False,
    hour: Annotated[
        int | None, typer.Option(min=0, max=23, help="UTC hour (default: now).")
    ] = None,
) -> None:
    """Explain which rule decides a hypothetical call, and why the others do not."""
    from orgos.cli.common import open_runtime, parse_json_option, reported_errors
    from orgos.policy.rules import Call

    state = _state(ctx)
    require(state, "policy.check")
    with reported_errors():
        parsed = parse_json_option(args, "--args") or {}
        if not isinstance(parsed, dict):
            raise CliError("--args must be a JSON object")
        rt = open_runtime(state, models_needed=False)
        gov = rt.governance
        if gov is None:
            raise CliError("this project has no governance")
        if gov.source.error:
            raise CliError(gov.source.error)
        team = gov.chart.team_of(agent) if gov.chart else None
        t = rt.tools.get(tool) if tool else None
        risk = (gov.spec.risk.get(tool) if tool else None) or (t.risk if t else "low")
        facts_fn = None
        if t is not None and t.facts is not None:
            f, tt = t.facts, t
            facts_fn = lambda: f(**tt.validate(parsed))  # noqa: E731
        call = Call(
            agent, kind or ("tool" if tool else "llm"), tool, parsed, team, risk, untrusted,
            cost, tokens, time.gmtime().tm_hour if hour is None else hour, facts_fn,
        )  # fmt: skip
        decision, trace = gov.source.rules.explain(call)
    by = f"rule {decision.rule}" if decision.rule else "the default"
    _print(f"decision: {decision.action} (by {by}): {decision.reason}")
    width = max((len(n) for n, _ in trace), default=0)
    for i, (name, why) in enumerate(trace, 1):
        _print(f"  {i}. {name:<{width}}  {why}")
    _print(f"  default: {gov.spec.default}")
    raise typer.Exit(EXIT_OK)


# --- approvals ----------------------------------------------------------------------------
@approvals_app.callback()
def approvals_list(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Decided ones too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """The inbox of pending approvals (overdue ones escalate first)."""
    if ctx.invoked_subcommand is not None:
        return
    state = _state(ctx)
    require(state, "approvals.list")

    async def go(rt: Runtime, gov: Governance) -> int:
        await gov.approvals.escalate_due()
        items = await gov.store.approvals.list(rt.workspace, status=None if all_ else "pending")
        if as_json:
            _print_json([_approval_doc(a) for a in items])
            return EXIT_OK
        if not items:
            _print("no pending approvals" if not all_ else "no approvals")
            return EXIT_OK
        for a in items:
            call = (a.request or {}).get("call") or {}
            what = call.get("tool") or a.kind
            arguments = short(call.get("arguments", call), None)
            age = time.time() - a.created_at
            _print(f"{a.id}  {a.status:<8} {a.agent} → {what}({arguments})")
            _print(f"    run {a.run_id} step {a.step}; {a.reason}")
            _print(f"    asked: {a.assignee}; {age / 60:.0f} min ago"
                   + (f"; decided by {a.decided_by}" if a.decided_by else ""))  # fmt: skip
        _print("approve: orgos approvals approve ID [--args JSON]   deny: orgos approvals deny ID")
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))


def _approval_doc(a: Any) -> dict[str, Any]:
    keys = ("id", "run_id", "step", "agent", "kind", "rule", "reason", "status", "assignee",
            "escalations", "due_at", "created_at", "decided_by", "decided_at", "note")  # fmt: skip
    doc = {k: getattr(a, k) for k in keys}
    doc["call"] = (a.request or {}).get("call")
    doc["edited_arguments"] = a.arguments
    return doc


def _decide(
    ctx: typer.Context, approval_id: str, approve: bool, note: str | None, args: str | None,
    follow: bool,
) -> None:  # fmt: skip
    from orgos.cli.common import parse_json_option, reported_errors
    from orgos.policy import approvals as ap

    state = _state(ctx)
    person = require(state, "approvals.decide")
    with reported_errors():
        edited = parse_json_option(args, "--args")

    async def go(rt: Runtime, gov: Governance) -> str:
        try:
            a = await ap.decide(
                rt.store, rt.workspace, approval_id,
                approve=approve, by=person, note=note, arguments=edited,
            )  # fmt: skip
        except ValueError as exc:
            raise CliError(str(exc)) from None
        _print(f"{a.id} {a.status} by {person}; run {a.run_id} goes on")
        return a.run_id

    run_id = run_async(lambda: _open(state, go))
    if not follow:
        raise typer.Exit(EXIT_OK)
    from orgos.cli import commands

    raise typer.Exit(run_async(lambda: commands.resume(state, run_id, None, None)))


_FOLLOW = typer.Option("--follow/--no-follow", help="Work on the run here until it ends.")


@approvals_app.command("approve")
def approvals_approve(
    ctx: typer.Context,
    approval_id: Annotated[str, typer.Argument(metavar="ID", help="An approval id or prefix.")],
    args: Annotated[
        str | None, typer.Option("--args", help="Approve with these arguments instead (JSON).")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    follow: Annotated[bool, _FOLLOW] = True,
) -> None:
    """Approve a parked call (optionally with edited arguments)."""
    _decide(ctx, approval_id, True, note, args, follow)


@approvals_app.command("deny")
def approvals_deny(
    ctx: typer.Context,
    approval_id: Annotated[str, typer.Argument(metavar="ID", help="An approval id or prefix.")],
    note: Annotated[str | None, typer.Option(help="Why; the agent reads it.")] = None,
    follow: Annotated[bool, _FOLLOW] = True,
) -> None:
    """Deny a parked call: the agent is told, with your note."""
    _decide(ctx, approval_id, False, note, None, follow)


# --- usage --------------------------------------------------------------------------------
def usage(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="Group by run, agent or team.")] = "agent",
    days: Annotated[float, typer.Option(help="The last N days.")] = 1.0,
) -> None:
    """Tokens and cost of model calls, per run, agent or team."""
    state = _state(ctx)
    require(state, "usage")
    if by not in ("run", "agent", "team"):
        fail("--by is run, agent or team")

    async def go(rt: Runtime, gov: Governance) -> int:
        from orgos.policy.budgets import Tally

        groups: dict[str, Tally] = {}
        since = time.time() - days * 86_400
        for u in await gov.store.usage.llm_usage(rt.workspace, since=since):
            agent = u.run_target
            team = gov.chart.team_of(agent) if gov.chart else None
            name = u.run_id if by == "run" else agent if by == "agent" else (team or "(no team)")
            groups.setdefault(name, Tally()).add(*gov.budgets.priced(u))
        if not groups:
            _print("no model calls in that period")
            return EXIT_OK
        _print(f"{by:<24} {'calls':>6} {'tokens':>10} {'cost':>12}")
        for name, t in sorted(groups.items(), key=lambda kv: -kv[1].cost):
            _print(f"{name:<24} {t.calls:>6} {t.tokens:>10,} {t.cost:>12.6f} {gov.spec.currency}")
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))


# --- kill switches ------------------------------------------------------------------------
_SCOPE = typer.Argument(metavar="SCOPE", help="all, agent:NAME or team:NAME")


def pause(
    ctx: typer.Context,
    scope: Annotated[str, _SCOPE],
    reason: Annotated[str, typer.Option(help="Why (shown on the parked runs).")] = "paused",
) -> None:
    """Pause an agent, a team or everything: running runs park at their next
    syscall, new ones queue, until `orgos unpause`."""
    state = _state(ctx)
    person = require(state, "pause")

    async def go(rt: Runtime, gov: Governance) -> int:
        try:
            done = await gov.switches.pause(scope, reason, person)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        _print(f"{scope} paused" if done else f"{scope} was already paused")
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))


def unpause(ctx: typer.Context, scope: Annotated[str, _SCOPE]) -> None:
    """Lift a pause; the runs it parked go on (a worker picks them up)."""
    state = _state(ctx)
    person = require(state, "unpause")

    async def go(rt: Runtime, gov: Governance) -> int:
        try:
            woke = await gov.switches.unpause(scope, person)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        _print(f"{scope} resumed; {len(woke)} parked run(s) queued again")
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))


# --- secrets ------------------------------------------------------------------------------
@secrets_app.command("set")
def secrets_set(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The secret's name.")]
) -> None:
    """Store a secret, read from standard input (never from the command line)."""
    state = _state(ctx)
    person = require(state, "secrets.set")
    value = sys.stdin.readline().rstrip("\n")
    if not value:
        fail("no value on standard input")

    async def go(rt: Runtime, gov: Governance) -> int:
        await gov.set_secret(name, value, person)
        _print(f"secret {name} stored (encrypted)")
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))


@secrets_app.command("list")
def secrets_list(ctx: typer.Context) -> None:
    """The names of the secrets (never their values)."""
    state = _state(ctx)
    require(state, "secrets.list")

    async def go(rt: Runtime, gov: Governance) -> int:
        for n in await gov.store.governance.secret_names(rt.workspace):
            _print(n)
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))


# --- people -------------------------------------------------------------------------------
@people_app.command("list")
def people_list(ctx: typer.Context) -> None:
    """People of the workspace and their roles."""
    state = _state(ctx)
    require(state, "people.list")

    async def go(rt: Runtime, gov: Governance) -> int:
        people = await gov.store.people.roles(rt.workspace)
        for name, role in people.items():
            _print(f"{name:<24} {role}")
        if not people:
            _print("no people yet: the local user acts as admin")
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))


#: ``--expires``: how long a new token is valid.
Expires = Annotated[
    str | None,
    typer.Option("--expires", help="Valid for this long (30d, 12h, 2w); unset: until revoked."),
]


def _expiry(expires: str | None) -> float | None:
    """The time a token made now with ``--expires`` stops being valid."""
    from orgos.policy.identity import parse_duration

    if expires is None:
        return None
    try:
        return time.time() + parse_duration(expires)
    except ValueError as exc:
        fail(str(exc))


async def _issue(rt: Runtime, gov: Governance, name: str, actor: str, until: float | None) -> None:
    """Make a token for ``name``; print its id and expiry, then the token
    itself on the last line (shown once: only its hash is kept)."""
    from orgos.policy.identity import new_token, token_hash, when

    token = new_token()
    rec = await gov.store.people.add_token(
        token_hash(token), name, rt.workspace, actor, expires_at=until
    )
    _print(f"token {rec.id} for {name} in workspace {rt.workspace}, expires: {when(until)}")
    _print(token)


def _person_name(name: str) -> str:
    from orgos.people import check_person_name

    try:
        return check_person_name(name)
    except ValueError as exc:
        fail(str(exc))


@people_app.command("add")
def people_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The person.")],
    role: Annotated[str, typer.Argument(help="viewer, builder, operator or admin.")],
    expires: Expires = None,
) -> None:
    """Give a person a role in this workspace (or change it), and print a new
    API token for them (shown once), valid in this workspace only. The first
    person added should be an admin: from then on every command needs ORGOS_TOKEN."""
    from orgos.people import check_role

    state = _state(ctx)
    person = require(state, "people.add")
    _person_name(name)
    try:
        check_role(role)
    except ValueError as exc:
        fail(str(exc))
    until = _expiry(expires)

    async def go(rt: Runtime, gov: Governance) -> int:
        await gov.store.people.set_role(rt.workspace, name, role, person)
        _print(f"{name} is {role} in workspace {rt.workspace}")
        await _issue(rt, gov, name, person, until)
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))


@people_app.command("remove")
def people_remove(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Take a person's role away and revoke all their tokens (for good:
    adding the name again makes new tokens, the old ones stay dead)."""
    state = _state(ctx)
    person = require(state, "people.remove")

    async def go(rt: Runtime, gov: Governance) -> int:
        if name not in await gov.store.people.roles(rt.workspace):
            raise CliError(f"{name} has no role in workspace {rt.workspace}")
        await gov.store.people.set_role(rt.workspace, name, None, person)
        _print(f"{name} has no role in workspace {rt.workspace} any more; their tokens are revoked")
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))


@people_app.command("token")
def people_token(
    ctx: typer.Context, name: Annotated[str, typer.Argument()], expires: Expires = None
) -> None:
    """Make another API token for a person, valid in this workspace only; it
    is shown once, only its hash is kept."""
    state = _state(ctx)
    person = require(state, "people.token")
    until = _expiry(expires)

    async def go(rt: Runtime, gov: Governance) -> int:
        if name not in await gov.store.people.roles(rt.workspace):
            raise CliError(f"{name} has no role here; `orgos people add {name} ROLE` first")
        await _issue(rt, gov, name, person, until)
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))


@people_app.command("tokens")
def people_tokens(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this person's.")] = None,
) -> None:
    """The workspace's tokens: id, person, created, expires, state (never the tokens)."""
    from orgos.policy.identity import when

    state = _state(ctx)
    require(state, "people.tokens")

    async def go(rt: Runtime, gov: Governance) -> int:
        now = time.time()
        rows = [t for t in await gov.store.people.tokens(rt.workspace)
                if name is None or t.person == name]  # fmt: skip
        for t in rows:
            _print(f"{t.id:<24} {t.person:<24} {when(t.created_at):<21}"
                   f" {when(t.expires_at):<21} {t.state(now)}")  # fmt: skip
        if not rows:
            _print("no tokens")
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))


@people_app.command("revoke")
def people_revoke(
    ctx: typer.Context, token_id: Annotated[str, typer.Argument(help="A token's id (tk-…).")]
) -> None:
    """Revoke one token (see `orgos people tokens`); the person's others stay valid."""
    state = _state(ctx)
    person = require(state, "people.revoke")

    async def go(rt: Runtime, gov: Governance) -> int:
        if not await gov.store.people.revoke_token(rt.workspace, token_id, person):
            raise CliError(f"no unrevoked token {token_id} in workspace {rt.workspace}")
        _print(f"token {token_id} is revoked")
        return EXIT_OK

    raise typer.Exit(run_async(lambda: _open(state, go)))


def register(app: typer.Typer) -> None:
    from orgos.cli.audit_app import audit_app

    app.add_typer(audit_app, name="audit")
    app.add_typer(policy_app, name="policy")
    app.add_typer(approvals_app, name="approvals")
    app.add_typer(secrets_app, name="secrets")
    app.add_typer(people_app, name="people")
    app.command()(usage)
    app.command()(pause)
    app.command()(unpause)


#: Core commands (orgos.cli.app) and the action each needs.
CORE_ACTIONS = {"run": "run", "runs": "runs", "show": "show", "resume": "resume",
                "cancel": "cancel", "org": "org", "worker": "resume"}  # fmt: skip

"""Delegation: an agent hands sub-tasks to other agents as child runs.

By name (one of the agents the org chart lets it use), or by capability: the
child goes to one of those agents that has it, chosen like a workflow step's
``route`` (least loaded, circuit breakers respected) in a journaled ``route``
syscall. A routed child that fails is reassigned to another capable agent,
as a workflow step with ``on_failure: reassign`` is. A delegation by name to
an agent whose breaker is open is refused by the router's before-hook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orgos.config.specs import AgentSpec
from orgos.config.workflow import RouteSpec
from orgos.kernel.context import RunContext
from orgos.kernel.run_input import RunInput
from orgos.kernel.syscall import Syscall
from orgos.llm.base import ToolCall, ToolDef
from orgos.memory.handoff import HANDOFF_SCHEMA
from orgos.result import Result
from orgos.store.base import RunStatus
from orgos.tools.base import ToolResult

if TYPE_CHECKING:
    from orgos.org.routing import Router

DELEGATE = "delegate"
#: How many more agents a routed delegation that failed is tried on.
REASSIGN = 2


def delegate_tool(
    spec: AgentSpec, agents: list[str] | None = None, capabilities: list[str] | None = None
) -> ToolDef:
    props: dict[str, Any] = {
        "agent": {
            "type": "string",
            "enum": list(spec.delegates or [] if agents is None else agents),
        },
        "task": {"type": "string", "description": "what the agent must do"},
        "context": {"type": "string", "description": "facts it needs from you"},
        "handoff": HANDOFF_SCHEMA,
    }
    required = ["agent", "task"]
    if capabilities:
        props["capability"] = {
            "type": "string",
            "enum": capabilities,
            "description": "instead of agent: any agent with this capability takes it",
        }
        required = ["task"]
    return ToolDef(
        DELEGATE,
        "Hand a sub-task to another agent (by name, or by capability) and get its result."
        " Give it the context it needs.",
        {"type": "object", "properties": props, "required": required},
    )


def check_delegation(spec: AgentSpec, args: dict[str, Any], capabilities: list[str]) -> str | None:
    agent = args.get("agent")
    allowed = spec.delegates or []
    if agent is None and "capability" in args:
        if args["capability"] not in capabilities:
            return (
                f"no agent {spec.name} may delegate to has the capability {args['capability']!r};"
                f" capabilities: {', '.join(capabilities) or 'none'}"
            )
    elif agent not in allowed:
        return (
            f"{spec.name} may not delegate to {agent!r}; it may delegate to: {', '.join(allowed)}"
        )
    if not isinstance(args.get("task"), str) or not args["task"].strip():
        return "delegate needs a non-empty 'task'"
    return None


async def route(
    ctx: RunContext, router: Router, spec: AgentSpec, capability: str, exclude: list[str]
) -> str | ToolResult:
    """The agent for a delegation by capability (a ``route`` syscall), or the
    error why nobody can take it."""
    ws, within = ctx.run.workspace, list(spec.delegates or [])

    async def execute(sc: Syscall) -> Result:
        try:
            (agent,) = await router.choose(
                ws, RouteSpec(capabilities=[capability]), 1, exclude, within=within
            )
        except LookupError as exc:
            return Result.fail(str(exc), code="no_route")
        return Result.of(agent)

    req = {"delegate": capability, "capabilities": [capability], "exclude": exclude}
    res = await ctx.syscall("route", req, execute)
    if not res.ok:
        return Result(False, None, f"cannot delegate {capability!r}: {res.error}", res.denied,
                      res.code, res.tainted)  # fmt: skip
    return str(res.value)


async def run(
    ctx: RunContext, spec: AgentSpec, calls: list[ToolCall], router: Router | None
) -> dict[str, ToolResult]:
    """Start the delegations together, wait for them, and reassign a routed
    one that failed (to an agent not tried yet), each call's result by id."""
    results: dict[str, ToolResult] = {}
    tried: dict[str, list[str]] = {}
    todo = list(calls)
    for _ in range(REASSIGN + 1):
        starts: list[tuple[ToolCall, str]] = []
        for c in todo:
            agent = c.arguments.get("agent")
            if agent is None and router is not None:
                got = await route(ctx, router, spec, str(c.arguments["capability"]),
                                  tried.get(c.id, []))  # fmt: skip
                if isinstance(got, ToolResult):
                    results.setdefault(c.id, got)  # a reassignment keeps the last failure
                    continue
                agent = got
            starts.append((c, str(agent)))
            tried.setdefault(c.id, []).append(str(agent))
        if not starts:
            break
        started = await ctx.spawn([("agent", agent, _input(ctx, spec, c)) for c, agent in starts])
        if not started.ok:  # denied or refused (a breaker, policy): the model reads why
            for c, _agent in starts:
                results[c.id] = started
            break
        outcomes = await ctx.wait_runs(started.value)
        todo = []
        for (c, _agent), out in zip(starts, outcomes, strict=True):
            if out.ok:
                results[c.id] = ToolResult(True, {"agent": out.target, "result": out.output})
                continue
            results[c.id] = ToolResult(
                False, error=f"agent {out.target} {out.status.value}: {out.error}"
            )
            if c.arguments.get("agent") is None and out.status is RunStatus.FAILED:
                todo.append(c)
        if not todo:
            break
    return results


def _input(ctx: RunContext, spec: AgentSpec, c: ToolCall) -> dict[str, Any]:
    a = c.arguments
    parent = ctx.run.input
    return RunInput(
        task=str(a.get("task", "")),
        context=a.get("context"),
        delegated_by=spec.name,
        parent_task=RunInput.read(parent).task if isinstance(parent, dict) else None,
        handoff=a.get("handoff") or None,
        routed=a.get("agent") is None,  # its route syscall took the breaker's trial
    ).to_dict()

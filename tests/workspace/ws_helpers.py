"""Helpers for the workspace tests: an org with two teams, and a program
that runs Python code as an agent's run (the code stands in for the agent
loop, under the agent's permissions; every effect is still a syscall)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from stores import store_for

from orgos import Agent, Runtime
from orgos.config.access import FileAccess
from orgos.config.org import OrgSpec, TeamSpec
from orgos.fs.people import StaticRoles
from orgos.kernel.context import RunContext
from orgos.kernel.registry import AgentRegistry
from orgos.kernel.syscall import Syscall
from orgos.llm.base import Model
from orgos.people import Person
from orgos.result import Result

Code = Callable[[RunContext], Awaitable[Any]]

TEAM_FILES = FileAccess(read=["teams/{team}/**", "shared/**"], write=["teams/{team}/**"])
ORG = OrgSpec(
    teams=[
        TeamSpec(name="sales", files=TEAM_FILES, memory=["team"]),
        TeamSpec(name="support", files=TEAM_FILES, memory=["team"]),
    ]
)
PEOPLE = StaticRoles(
    {
        "ada": Person(role="admin"),
        "otto": Person(role="operator"),
        "bea": Person(role="builder", teams=["sales"]),
        "vic": Person(role="viewer"),
    }
)


class CodeProgram:
    """Agent runs played by Python code instead of the agent loop: the target
    still names the agent, whose permissions apply."""

    def __init__(self, registry: AgentRegistry, code: dict[str, Code]) -> None:
        self.registry = registry
        self.code = code

    async def resolve_version(self, workspace: str, target: str) -> int:
        return await self.registry.latest_version(workspace, target)

    async def __call__(self, ctx: RunContext) -> Any:
        return await self.code[ctx.run.target](ctx)


class Audit:
    """An after-hook that keeps every syscall result, as an audit trail would."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, dict[str, Any], Result]] = []

    def __call__(self, sc: Syscall, result: Result) -> None:
        self.entries.append((sc.run.target, sc.kind, sc.request, result))

    def denied(self) -> list[tuple[str, str, dict[str, Any], Result]]:
        return [e for e in self.entries if e[3].denied]


def runtime(
    tmp: Path,
    code: dict[str, Code] | None = None,
    model: Model | None = None,
    agents: list[Agent] | None = None,
    org: OrgSpec = ORG,
    **kw: Any,
) -> tuple[Runtime, Audit]:
    agents = agents or [
        Agent(name="seller", team="sales"),
        Agent(name="helper", team="support"),
    ]
    from orgos.testing.scripted import ScriptedModel

    rt = Runtime(
        store=store_for(tmp),
        agents=agents,
        models=model or ScriptedModel(),
        org=org,
        people=PEOPLE,
        poll_interval=0.05,
        **kw,
    )
    if code is not None:  # the code plays the agents (kind "agent", their permissions)
        rt.kernel.programs["agent"] = CodeProgram(rt.registry, code)
    audit = Audit()
    rt.kernel.pipeline.after.append(audit)
    return rt, audit


async def run_code(rt: Runtime, agent: str, timeout: float = 30) -> Any:
    rec = await rt.kernel.submit("agent", agent, None)
    done = await rt.kernel.wait(rec.id, timeout=timeout)
    assert done.status.value == "succeeded", done.error
    return done.output


async def submit_parked(rt: Runtime, agent: str, timeout: float = 10) -> str:
    """Start a run and return its id once it has parked (status waiting)."""
    import asyncio

    q = rt.kernel.events.subscribe(None)
    try:
        rec = await rt.kernel.submit("agent", agent, None)
        async with asyncio.timeout(timeout):
            while True:
                ev = await q.get()
                if ev.run_id == rec.id and ev.type == "status":
                    assert ev.data["status"] == "waiting", ev.data
                    return rec.id
    finally:
        rt.kernel.events.unsubscribe(q)

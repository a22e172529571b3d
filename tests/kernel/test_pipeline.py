"""The syscall pipeline's before-hooks: every hook sees the syscalls it is for,
in the order added, and a hook limited to some kinds never sees the others."""

from __future__ import annotations

from pathlib import Path

from orgos import Agent, RunStatus, Runtime, tool
from orgos.kernel.syscall import Syscall, Verdict
from orgos.testing.scripted import ScriptedModel


@tool(idempotent=True)
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_before_hooks_see_the_kinds_they_are_for(tmp_path: Path) -> None:
    seen: dict[str, list[str]] = {"all": [], "tool": [], "fs": [], "none": []}

    def hook(name: str):  # type: ignore[no-untyped-def]
        async def before(sc: Syscall) -> Verdict | None:
            seen[name].append(sc.kind)
            return None

        return before

    model = ScriptedModel([ScriptedModel.call("add", a=1, b=2), ScriptedModel.final("3")])
    rt = Runtime(store=tmp_path / "o.db", agents=[Agent(name="calc", tools=[add])],
                 tools=[add], models=model)  # fmt: skip
    pipeline = rt.kernel.pipeline
    pipeline.add_before(hook("all"))
    pipeline.add_before(hook("tool"), kinds=["tool"])
    pipeline.add_before(hook("fs"), kinds=["fs.*"])
    pipeline.add_before(hook("none"), kinds=["fsx", "delegate"])
    async with rt:
        rec = await rt.run("calc", "1+2?", timeout=10)
    assert rec.status is RunStatus.SUCCEEDED
    assert seen["all"].count("llm") == 2 and seen["all"].count("tool") == 1
    assert seen["tool"] == ["tool"]
    assert seen["fs"] == [] and seen["none"] == []


def test_a_hook_added_later_is_seen_by_kinds_already_looked_up() -> None:
    from orgos.kernel.syscall import Pipeline

    async def deny(sc: Syscall) -> Verdict | None:
        return Verdict.deny("no")

    p = Pipeline()
    assert p.before["fs.read"] == ()
    p.add_before(deny, kinds=["fs.*"])
    assert p.before["fs.read"] == (deny,)
    assert p.before["fs"] == () and p.before["llm"] == ()

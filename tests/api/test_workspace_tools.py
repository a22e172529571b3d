"""The workspace's file and memory tools are Tools like any other: typed,
their arguments validated by their signature, offered from their schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from stores import store_for

from orgos import Agent, ConfigError, Runtime, Tool
from orgos.agents.loop import BUILTIN_TOOLS
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.testing import ScriptedModel


def _model() -> ScriptedModel:
    def respond(req: ModelRequest) -> ModelResponse:
        done = [m for m in req.messages if m.role == "tool"]
        if not done:
            return ScriptedModel.calls(
                ("write_file", {"path": "agents/keeper/note.md", "content": "kept"}),
                ("read_file", {"version": 1}),  # no path
                ("read_file", {"path": "agents/keeper/note.md"}),
                ("remember", {"text": "notes live in agents/keeper", "scope": "agent"}),
            )
        return ScriptedModel.final("done")

    return ScriptedModel(respond)


async def test_workspace_tools_are_tools(tmp_path: Path) -> None:
    keeper = Agent(name="keeper", files={"read": ["agents/keeper/**"],
                                         "write": ["agents/keeper/**"]}, memory=["agent"])  # fmt: skip
    model = _model()
    async with Runtime(store=store_for(tmp_path), agents=[keeper], models=model) as rt:
        offered = rt.kernel.services[BUILTIN_TOOLS].tools(rt.agents["keeper"])
        assert offered and all(isinstance(t, Tool) and t.context for t in offered)
        by_name = {t.name: t for t in offered}
        assert by_name["remember"].parameters["properties"]["scope"]["enum"] == ["agent"]
        run = await rt.run("keeper", "keep a note", timeout=10)
        assert run.status.value == "succeeded", run.error
        with pytest.raises(ConfigError, match="context"):
            rt.add_tool(by_name["read_file"])
    # What the model was shown is each Tool's schema.
    shown = {d.name: d.parameters for d in model.requests[0].tools}
    assert shown == {name: t.parameters for name, t in by_name.items()}
    results = [m.content for m in model.requests[1].messages if m.role == "tool"]
    assert '"version":1' in results[0]
    assert results[1].startswith("ERROR: invalid arguments for read_file: path:")
    assert '"content":"kept"' in results[2] and "remembered" in results[3]

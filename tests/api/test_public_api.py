"""The public API gives back what the user gave it: an ``Answer`` for
``output=Answer``, the tools an agent was given, the store the CLI reads,
and the schema of a tool as it is now."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, field_validator
from stores import store_for
from typer.testing import CliRunner

from orgos import Agent, ConfigError, RunRecord, Runtime, tool
from orgos.cli import app
from orgos.errors import AnswerError
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.testing import FakeOpenAIServer, ScriptedModel

README = Path(__file__).parents[2] / "README.md"


class Answer(BaseModel):
    order_id: str
    refundable: bool


@tool(idempotent=True)
def lookup_order(order_id: str) -> dict[str, Any]:
    """Find an order by its id."""
    return {"order_id": order_id, "item": "kettle", "price": 39.0}


def _clerk_model() -> ScriptedModel:
    return ScriptedModel(
        [
            ScriptedModel.call("lookup_order", order_id="A-1001"),
            ScriptedModel.final({"order_id": "A-1001", "refundable": True}),
        ]
    )


async def test_an_agent_with_a_pydantic_output_answers_with_an_instance(tmp_path: Path) -> None:
    clerk = Agent(name="clerk", tools=[lookup_order], output=Answer)
    async with Runtime(store=store_for(tmp_path), agents=[clerk], models=_clerk_model()) as rt:
        run = await rt.run("clerk", "Can order A-1001 be refunded?", timeout=10)
        assert run.status.value == "succeeded"
        assert run.output == Answer(order_id="A-1001", refundable=True)
        assert await rt.result(run.id) == run.output
        assert isinstance((await rt.wait(run.id)).output, Answer)
        assert isinstance((await rt.get_run(run.id[:12])).output, Answer)
        # The store and the journal keep the JSON.
        stored = await rt.store.get_run(rt.workspace, run.id)
        assert stored is not None and stored.output == {"order_id": "A-1001", "refundable": True}
    # A spec given a JSON Schema (as YAML gives it) answers with JSON.
    plain = Agent(name="clerk", tools=["lookup_order"], output=Answer.model_json_schema())
    async with Runtime(
        store=tmp_path / "p.db", agents=[plain], tools=[lookup_order], models=_clerk_model()
    ) as rt:
        run = await rt.run("clerk", "Can order A-1001 be refunded?", timeout=10)
        assert run.output == {"order_id": "A-1001", "refundable": True}


class Strict(BaseModel):
    order_id: str
    refundable: bool

    @field_validator("order_id")
    @classmethod
    def _known(cls, v: str) -> str:
        if not v.startswith("B-"):
            raise ValueError("orders start with B-")
        return v


async def test_an_answer_its_class_refuses_is_an_error_not_a_dict(tmp_path: Path) -> None:
    clerk = Agent(name="clerk", tools=[lookup_order], output=Strict)
    async with Runtime(store=store_for(tmp_path), agents=[clerk], models=_clerk_model()) as rt:
        rec = await rt.submit("clerk", "Can order A-1001 be refunded?")
        with pytest.raises(AnswerError, match="not a Strict"):
            await rt.wait(rec.id, timeout=10)


async def test_a_tool_given_to_an_agent_is_registered(tmp_path: Path) -> None:
    clerk = Agent(name="clerk", tools=[lookup_order], output=Answer)
    async with Runtime(store=store_for(tmp_path), agents=[clerk], models=_clerk_model()) as rt:
        assert rt.tools["lookup_order"] is lookup_order
        run = await rt.run("clerk", "Can order A-1001 be refunded?", timeout=10)
        assert run.status.value == "succeeded", run.error
    # Given twice, the same tool is one tool; two tools of one name are refused.
    Runtime(store=tmp_path / "t.db", agents=[clerk], tools=[lookup_order])
    other = tool(idempotent=True, name="lookup_order")(lambda order_id: {})
    with pytest.raises(ConfigError, match="other than the one"):
        Runtime(store=tmp_path / "u.db", agents=[clerk], tools=[other])


async def test_a_replaced_tool_is_offered_with_its_new_schema(tmp_path: Path) -> None:
    seen: list[list[str]] = []

    def respond(req: ModelRequest) -> ModelResponse:
        if not any(m.role == "tool" for m in req.messages):
            seen.append(sorted(req.tools[0].parameters["properties"]))
            return ScriptedModel.call("lookup_order", order_id="A-1")
        return ScriptedModel.final("done")

    clerk = Agent(name="clerk", tools=["lookup_order"])
    rt = Runtime(
        store=store_for(tmp_path),
        agents=[clerk],
        tools=[lookup_order],
        models=ScriptedModel(respond),
    )
    async with rt:
        await rt.run("clerk", "first", timeout=10)

        @tool(idempotent=True, name="lookup_order")
        def lookup_v2(order_id: str, region: str = "eu") -> dict[str, Any]:
            """Find an order by its id, in a region."""
            return {"order_id": order_id, "region": region}

        rt.add_tool(lookup_v2)  # same name, same number of tools
        run = await rt.run("clerk", "second", timeout=10)
        journal = await rt.history.journal(run.id)
    assert seen == [["order_id"], ["order_id", "region"]]
    results = [e.payload for e in journal if e.kind == "tool" and e.phase == "result"]
    assert results[0]["ok"] == {"order_id": "A-1", "region": "eu"}  # the new function ran


def _readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    (example,) = [b for b in blocks if "Runtime(" in b and "Answer" in b]
    return example


def test_the_readme_example_returns_its_answer_and_the_cli_lists_its_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = CliRunner()
    folder = tmp_path / "myorg"
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    monkeypatch.chdir(folder)
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ORGOS_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    script = [
        ScriptedModel.call("lookup_order", order_id="A-1001"),
        '{"order_id": "A-1001", "refundable": true}',
    ]
    with FakeOpenAIServer(script) as server:
        monkeypatch.setenv("ORGOS_MODEL_BASE_URL", server.base_url)
        monkeypatch.setenv("ORGOS_MODEL", "fake-model")
        exec(compile(_readme_example(), "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip() == "succeeded True"
    listed = runner.invoke(app, ["runs"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "clerk@1" in listed.output and "succeeded" in listed.output


def test_a_runtime_without_a_store_writes_where_the_cli_of_its_folder_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no orgos.yaml here or above

    async def main() -> RunRecord:
        model = ScriptedModel([ScriptedModel.final("hello")])
        async with Runtime(agents=[Agent(name="greeter")], models=model) as rt:
            return await rt.run("greeter", "say hello", timeout=10)

    run = asyncio.run(main())
    assert (tmp_path / ".orgos" / "orgos.db").is_file()
    listed = CliRunner().invoke(app, ["runs"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert run.id[:8] in listed.output and "greeter@1" in listed.output

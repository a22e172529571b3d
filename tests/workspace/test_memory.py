"""Long-term memory: scopes and permissions, sources, keyword recall quality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ws_helpers import run_code, runtime

from orgos import Agent
from orgos.fs.paths import AccessDenied
from orgos.kernel.context import RunContext
from orgos.memory.quality import evaluate
from orgos.shared import workspace_of
from orgos.store.sqlite_memory import fts_query

RECALL_SET = Path(__file__).parents[2] / "bench" / "data" / "recall_set.json"


@pytest.mark.sqlite_file
async def test_scopes_follow_permissions(tmp_path: Path) -> None:
    async def seller(ctx: RunContext) -> list[str]:
        mem = workspace_of(ctx).memory
        await mem.remember(ctx, "Alpenhof pays on 60-day terms.", "team")
        await mem.remember(ctx, "My own note: call Alpenhof on Monday.", "agent")
        try:
            await mem.remember(ctx, "everyone should know", "org")
        except AccessDenied as exc:
            return [str(exc)]
        return []

    async def colleague(ctx: RunContext) -> list[str]:
        mem = workspace_of(ctx).memory
        return [m.text for m in await mem.recall(ctx, "Alpenhof terms")]

    async def helper(ctx: RunContext) -> list[str]:
        mem = workspace_of(ctx).memory
        found = [m.text for m in await mem.recall(ctx, "Alpenhof terms")]
        try:
            await mem.recall(ctx, "Alpenhof", ["org"])
        except AccessDenied as exc:
            found.append(str(exc))
        return found

    agents = [Agent(name="seller", team="sales"), Agent(name="closer", team="sales"),
              Agent(name="helper", team="support")]  # fmt: skip
    rt, audit = runtime(
        tmp_path, {"seller": seller, "closer": colleague, "helper": helper}, agents=agents
    )
    async with rt:
        denied = await run_code(rt, "seller")
        assert "may not use org memory" in denied[0]
        assert await run_code(rt, "closer") == ["Alpenhof pays on 60-day terms."]  # team, not agent
        out = await run_code(rt, "helper")
        assert out[0].startswith("helper may not use org memory") and len(out) == 1
        row = (
            rt.store._read()
            .execute(  # type: ignore[attr-defined]
                "SELECT scope, author, source_run FROM memories ORDER BY id"
            )
            .fetchall()
        )
    assert [r[:2] for r in row] == [("team:sales", "seller"), ("agent:seller", "seller")]
    assert all(r[2] and r[2].startswith("r-") for r in row)  # every memory names its run
    assert [e[1] for e in audit.denied()] == ["memory.remember", "memory.recall"]


def test_queries_cannot_inject_fts_syntax() -> None:
    assert fts_query('kettle" OR NOT *') == '"kettle" OR "not"'
    assert fts_query("the of and") == '"the" OR "of" OR "and"'
    assert fts_query("!!!") is None


async def test_keyword_recall_quality_on_the_labeled_set(tmp_path: Path) -> None:
    data = json.loads(RECALL_SET.read_text())
    assert len(data["memories"]) >= 50 and len(data["queries"]) >= 20
    rt, _ = runtime(tmp_path)
    async with rt:
        table = rt.store.memory
        ids = {}
        for m in data["memories"]:
            mid = (await table.add("default", "org", m["text"], author="t")).id
            ids[mid] = m["id"]
        found = {q["query"]: [ids[m.id] for m in await table.search("default", ["org"], q["query"], 5)]
                 for q in data["queries"]}  # fmt: skip

        def search(q: str) -> list[int]:
            return found[q]

        quality = evaluate(search, [(q["query"], q["relevant"]) for q in data["queries"]])
    # 27 relevant memories over 20 queries: a perfect ranker scores 0.27 P@5
    assert quality.recall_at_k >= 0.8, quality
    assert quality.mrr >= 0.7, quality
    assert quality.precision_at_k >= 0.2, quality


@pytest.mark.parametrize("scope", ["agent", "team"])
async def test_remember_is_not_repeated_on_replay(tmp_path: Path, scope: str) -> None:
    async def once(ctx: RunContext) -> int:
        ws = workspace_of(ctx)
        mid = await ws.memory.remember(ctx, "a fact worth keeping", scope)
        await ws.bus.wait_event(ctx, "go")
        return mid

    from ws_helpers import submit_parked

    rt, _ = runtime(tmp_path, {"seller": once})
    async with rt:
        rid = await submit_parked(rt, "seller")
        await rt.bus.publish_as("ada", "go")
        done = await rt.wait(rid, timeout=10)
        assert await rt.store.memory.count("default") == 1 and done.output == 1


async def test_agents_remember_and_recall_through_their_tools(tmp_path: Path) -> None:
    from orgos.llm.base import ModelRequest, ModelResponse
    from orgos.testing.scripted import ScriptedModel

    def respond(req: ModelRequest) -> ModelResponse:
        tools = [m for m in req.messages if m.role == "tool"]
        if req.messages[1].content == "learn":
            if not tools:
                return ScriptedModel.call("remember", text="Alpenhof pays in 60 days", scope="team")
            return ScriptedModel.final(tools[0].content)
        if not tools:
            return ScriptedModel.call("recall", query="when does Alpenhof pay?")
        return ScriptedModel.final(tools[0].content)

    agents = [Agent(name="seller", team="sales"), Agent(name="closer", team="sales")]
    rt, _ = runtime(tmp_path, model=ScriptedModel(respond), agents=agents)
    async with rt:
        learned = await rt.run("seller", "learn", timeout=10)
        asked = await rt.run("closer", "ask", timeout=10)
    assert json.loads(learned.output) == {"remembered": 1}
    (item,) = json.loads(asked.output)
    assert item["text"] == "Alpenhof pays in 60 days" and item["scope"] == "team:sales"
    assert item["source_run"] == learned.id

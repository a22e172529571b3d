"""Short-term memory: a long conversation stays within its token budget,
and the final answer still uses a fact from its start. And the structured
handoff a delegation carries."""

from __future__ import annotations

import re
from pathlib import Path

from stores import store_for

from orgos import Agent, Runtime, tool
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.memory.compact import SUMMARY_PROMPT, estimate_tokens
from orgos.testing.scripted import ScriptedModel

BUDGET = 1200
PAGES = 30
FILLER = "The quarterly report repeats itself at length without saying much. " * 9


@tool(idempotent=True)
def fetch_page(n: int) -> str:
    """Read page n of the archive."""
    if n == 0:
        return "FACT: the vault code is 4471. " + FILLER
    return f"Page {n}. " + FILLER


def reader_model() -> ScriptedModel:
    read = 0

    def respond(req: ModelRequest) -> ModelResponse:
        nonlocal read
        if req.messages[0].content == SUMMARY_PROMPT:
            # the fake summarizer keeps the facts, as a model told to would
            facts = sorted(set(re.findall(r"FACT: [^.]*\.", req.messages[1].content)))
            return ScriptedModel.final(" ".join(facts) or "Pages of filler were read.")
        if read < PAGES:
            read += 1
            return ScriptedModel.call("fetch_page", n=read - 1)
        return answer(req)

    return ScriptedModel(respond)


def answer(req: ModelRequest) -> ModelResponse:
    text = " ".join(m.content for m in req.messages)
    code = re.search(r"vault code is (\d+)", text)
    return ScriptedModel.final(f"The vault code is {code.group(1) if code else 'unknown'}.")


async def test_long_conversation_stays_in_budget_and_keeps_the_early_fact(
    tmp_path: Path,
) -> None:
    model = reader_model()
    agent = Agent(name="reader", tools=[fetch_page], max_steps=PAGES + 5, context_budget=BUDGET)
    async with Runtime(store=store_for(tmp_path), agents=[agent], tools=[fetch_page],
                       models=model) as rt:  # fmt: skip
        rec = await rt.run("reader", "Read all pages of the archive, then tell me the code.")
        journal = await rt.history.journal(rec.id)
    assert rec.status.value == "succeeded", rec.error
    assert rec.output == "The vault code is 4471."
    sizes = [estimate_tokens(r.messages, r.tools) for r in model.requests]
    summaries = [r for r in model.requests if r.messages[0].content == SUMMARY_PROMPT]
    assert len(summaries) >= 2  # compacted more than once
    assert max(sizes) <= BUDGET, max(sizes)
    uncompacted = sum(len(FILLER) // 4 for _ in range(PAGES))
    assert uncompacted > 3 * BUDGET  # without compaction it would not have fit
    assert sum(1 for e in journal if e.kind == "llm" and e.phase == "result") == len(
        model.requests
    )  # every summary is a journaled model call


async def test_a_delegation_carries_a_structured_handoff(tmp_path: Path) -> None:
    handoff = {"done": "checked the order A-1", "decided": "refund, not replace",
               "next": "issue the refund of 42 EUR"}  # fmt: skip

    def boss_model(req: ModelRequest) -> ModelResponse:
        if req.messages[0].content.startswith("You are boss"):
            if any(m.role == "tool" for m in req.messages):
                return ScriptedModel.final("done")
            return ScriptedModel.call(
                "delegate", agent="finance", task="refund order A-1", handoff=handoff
            )
        return ScriptedModel.final(req.messages[1].content)

    agents = [Agent(name="boss", delegates=["finance"]), Agent(name="finance")]
    async with Runtime(store=store_for(tmp_path), agents=agents,
                       models=ScriptedModel(boss_model)) as rt:  # fmt: skip
        rec = await rt.run("boss", "handle the return of A-1", timeout=10)
        kids = [r for r in await rt.history.tree(rec.id) if r.parent_id == rec.id]
    assert rec.status.value == "succeeded"
    (child,) = kids
    assert child.input["handoff"] == handoff
    seen = child.output
    assert "Handoff from boss:" in seen
    assert "- Done: checked the order A-1" in seen
    assert "- Decided: refund, not replace" in seen
    assert "- You need: issue the refund of 42 EUR" in seen

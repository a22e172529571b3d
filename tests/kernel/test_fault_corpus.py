"""The fault-injection corpus: bad payloads through the model (scripted, and
over HTTP), tool arguments and tool results, each with 24 innocent runs
working beside it in the same process and, for the scripted ones, in the
same group-commit batch. Each bad payload ends in a clear error in its own
run (or, when storable, is kept exactly); the innocents never notice."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from orgos import Agent, Runtime, tool
from orgos.llm.base import Model, ModelRequest, ModelResponse, ToolCall
from orgos.llm.openai_compat import OpenAICompatModel
from orgos.store.base import RunRecord
from orgos.testing import ScriptedModel
from orgos.testing.fake_openai import FakeOpenAIServer, RawToolCall

INNOCENTS = 24
SURROGATE = "\ud800"


def nested(depth: int, leaf: Any = 1) -> Any:
    v = leaf
    for i in range(depth):
        v = [v] if i % 2 else {"k": v}
    return v


Via = Literal["reply", "call", "result"]


@dataclass(frozen=True)
class Case:
    """One bad payload: how it comes in, and the error its run must show
    (in the run's error, or in what the model is told); ``None``: the
    payload is storable and must come back exactly as it was."""

    id: str
    via: Via
    payload: Any
    error: str | None


CASES = [
    # through the model's reply: its text
    Case("reply text: lone high surrogate", "reply", f"hi {SURROGATE}", "lone surrogate (\\ud800)"),
    Case("reply text: lone low surrogate", "reply", "\udfff", "lone surrogate (\\udfff)"),
    Case("reply text: OSC 52 clipboard escape", "reply", "\x1b]52;c;cm0gLXJmIH4=\x07", None),
    Case("reply text: clear screen and fake approval", "reply", "\x1b[2J\x1b[H✔ approved", None),
    Case("reply text: NUL and C1 controls", "reply", "a\x00b\x9bc\x7f", None),
    Case("reply text: bidi override", "reply", "\u202eevil\u202c", None),
    # through the model's reply: the arguments of its tool calls
    Case("call args: lone surrogate", "call", {"text": SURROGATE}, "lone surrogate (\\ud800)"),
    Case("call args: surrogate as a key", "call", {SURROGATE: 1}, "lone surrogate (\\ud800)"),
    Case("call args: NaN", "call", {"text": math.nan}, "nan is not a JSON number"),
    Case("call args: Infinity", "call", {"text": math.inf}, "inf is not a JSON number"),
    Case("call args: -Infinity", "call", {"text": -math.inf}, "-inf is not a JSON number"),
    Case("call args: nested 255 levels", "call", {"text": nested(255)}, "nested deeper than"),
    Case("call args: nested 150 levels", "call", {"text": nested(150)}, "nested deeper than"),
    Case(
        "call args: an object JSON has not", "call", {"text": object()}, "is not storable as JSON"
    ),
    # through a tool's result
    Case("result: lone surrogate", "result", f"x{SURROGATE}y", "lone surrogate (\\ud800)"),
    Case("result: surrogate deep inside", "result", {"a": [{"b": SURROGATE}]}, "$.ok.a[0].b"),
    Case("result: surrogate as a key", "result", {SURROGATE: "v"}, "lone surrogate (\\ud800)"),
    Case("result: NaN", "result", {"mean": math.nan}, "nan is not a JSON number"),
    Case("result: Infinity", "result", [1.0, math.inf], "inf is not a JSON number"),
    Case("result: nested 255 levels", "result", nested(255), "nested deeper than 128 levels"),
    Case("result: nested 129 levels", "result", nested(129), "nested deeper than 128 levels"),
    Case("result: nested 300 levels", "result", nested(300), "nested deeper than 128 levels"),
    Case("result: bytes not UTF-8", "result", b"\xff\xfe\xfd", "at $: bytes that are not UTF-8"),
    Case("result: an object JSON has not", "result", object(), "a object is not storable"),
    Case("result: huge integer", "result", 10**400, None),
    Case("result: integer past 64 bits", "result", -(2**70), None),
    Case("result: terminal escapes", "result", {"t": "\x1b]0;title\x07\x1b[31m"}, None),
    Case("result: NUL byte", "result", "a\x00b", None),
    Case("result: long float", "result", 1.7976931348623157e308, None),
    Case("result: non-string keys", "result", {1: "one"}, None),
]


@dataclass
class Crowd:
    """The runtime and the scripted model every innocent shares."""

    rt: Runtime
    first_turn: asyncio.Barrier
    bad: Case | None = None


def _task(req: ModelRequest) -> str:
    return next(m.content for m in req.messages if m.role == "user")


def _tool_results(req: ModelRequest) -> list[str]:
    return [m.content for m in req.messages if m.role == "tool"]


def responder(crowd: Crowd) -> Callable[[ModelRequest], Any]:
    async def respond(req: ModelRequest) -> ModelResponse:
        task, results = _task(req), _tool_results(req)
        if results:
            return ScriptedModel.final(f"{task} saw: {results[0]}")
        # Every run's first reply comes in the same tick: one commit batch.
        async with asyncio.timeout(20):
            await crowd.first_turn.wait()
        case = crowd.bad
        if task != "bad" or case is None:
            return ScriptedModel.call("echo", text=task)
        if case.via == "reply":
            return ModelResponse(content=case.payload)
        if case.via == "call":
            return ModelResponse(tool_calls=[ToolCall("c1", "echo", case.payload)])
        return ScriptedModel.call("give", case=case.id)

    return respond


@tool(idempotent=True)
async def echo(text: str) -> str:
    """Say it back."""
    return text


def give_tool(crowd: Crowd) -> Any:
    @tool(idempotent=True)
    async def give(case: str) -> Any:
        """Return the case's payload."""
        assert crowd.bad is not None and crowd.bad.id == case
        return crowd.bad.payload

    return give


@pytest.fixture
async def crowd(tmp_path: Path) -> AsyncIterator[Crowd]:
    c = Crowd(None, asyncio.Barrier(INNOCENTS + 1))  # type: ignore[arg-type]
    model = ScriptedModel(responder(c))
    worker = Agent(name="worker", tools=["echo", "give"], max_steps=4)
    c.rt = Runtime(store=tmp_path / "o.db", agents=[worker],
                   tools=[echo, give_tool(c)], models=model)  # fmt: skip
    async with c.rt:
        yield c


async def run_beside_innocents(rt: Runtime, agent: str, task: str) -> tuple[RunRecord, list[Any]]:
    """The bad run and the innocents, all at once; the innocents' outputs."""
    runs = await asyncio.gather(
        rt.run(agent, task, timeout=30),
        *(rt.run("worker", f"innocent {i}", timeout=30) for i in range(INNOCENTS)),
    )
    bad, innocents = runs[0], runs[1:]
    assert [r.status.value for r in innocents] == ["succeeded"] * INNOCENTS
    assert [r.output for r in innocents] == [
        f"innocent {i} saw: innocent {i}" for i in range(INNOCENTS)
    ]
    assert rt.kernel.journal.error is None  # no batch failed
    return bad, innocents


def shown(rec: RunRecord) -> str:
    """Where a run's clear error shows: its error, or what its model read."""
    return f"{rec.error} {rec.output}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_a_bad_payload_ends_in_a_clear_error_in_its_own_run(crowd: Crowd, case: Case) -> None:
    crowd.bad = case
    bad, _ = await run_beside_innocents(crowd.rt, "worker", "bad")
    if case.error is None:  # storable: kept exactly, in the run and in its journal
        assert bad.status.value == "succeeded", bad.error
        journal = await crowd.rt.journal(bad.id)
        stored = [e.payload for e in journal if e.phase == "result" and e.kind in ("llm", "tool")]
        if case.via == "reply":
            assert bad.output == case.payload
            assert stored[0]["ok"]["content"] == case.payload
        else:
            expected = {str(k): v for k, v in case.payload.items()} if isinstance(
                case.payload, dict) else case.payload  # fmt: skip
            assert stored[1] == {"ok": expected}
        return
    assert case.error in shown(bad), shown(bad)
    if case.via == "reply":  # the reply cannot be kept: the run fails, alone
        assert bad.status.value == "failed"
        assert "llm result refused" in str(bad.error)
    else:  # the model is told, and answers
        assert bad.status.value == "succeeded", bad.error
        assert bad.output.startswith("bad saw: ERROR: ")


async def test_a_payload_that_cannot_be_stored_fails_alone_not_its_commit_batch(
    crowd: Crowd,
) -> None:
    """50 runs' tool results share a commit; one holds a lone surrogate."""
    crowd.bad = Case("surrogate", "result", SURROGATE, "lone surrogate")
    batches = crowd.rt.kernel.journal.batches
    bad, _ = await run_beside_innocents(crowd.rt, "worker", "bad")
    assert bad.output == (
        "bad saw: ERROR: tool result refused: at $.ok: a lone surrogate (\\ud800)"
        " is not valid Unicode"
    )
    # the replies came in one tick: far fewer batches than the runs' writes
    assert crowd.rt.kernel.journal.batches - batches < 4 * (INNOCENTS + 1)


# --- over HTTP: the reply as a real OpenAI-compatible server sends it ----------

WIRE = [
    ("wire: escaped lone surrogate in the text", ModelResponse(content=SURROGATE),
     "lone surrogate (\\ud800)"),
    ("wire: escaped lone surrogate in arguments", ModelResponse(tool_calls=[
        RawToolCall("c1", "echo", {}, raw_arguments='{"text": "\\ud800"}')]),
     "lone surrogate (\\ud800)"),
    ("wire: NaN in arguments", ModelResponse(tool_calls=[
        RawToolCall("c1", "echo", {}, raw_arguments='{"text": NaN}')]), "not a JSON number"),
    ("wire: Infinity in arguments", ModelResponse(tool_calls=[
        RawToolCall("c1", "echo", {}, raw_arguments='{"text": -Infinity}')]),
     "not a JSON number"),
    ("wire: 300 levels of arguments", ModelResponse(tool_calls=[
        RawToolCall("c1", "echo", {}, raw_arguments='{"text": ' + "[" * 300 + "]" * 300 + "}")]),
     "nested deeper than"),
]  # fmt: skip


@pytest.mark.parametrize(("reply", "error"), [w[1:] for w in WIRE], ids=[w[0] for w in WIRE])
async def test_a_bad_reply_over_http_ends_in_a_clear_error_in_its_own_run(
    tmp_path: Path, reply: ModelResponse, error: str
) -> None:
    def answer(body: dict[str, Any]) -> ModelResponse | str:
        told = [m for m in body["messages"] if m["role"] == "tool"]
        return f"told: {told[0]['content']}" if told else reply

    async with FakeOpenAIServer(answer) as server:
        wire: Model = OpenAICompatModel("gpt-test", base_url=server.base_url, api_key="k")
        crowd = Crowd(None, asyncio.Barrier(INNOCENTS))  # type: ignore[arg-type]
        agents = [Agent(name="worker", tools=["echo"], max_steps=4),
                  Agent(name="outsider", tools=["echo"], model="wire", max_steps=4)]  # fmt: skip
        crowd.rt = Runtime(store=tmp_path / "o.db", agents=agents, tools=[echo],
                           models={"default": ScriptedModel(responder(crowd)), "wire": wire},
                           model_retries=0)  # fmt: skip
        async with crowd.rt:
            bad, _ = await run_beside_innocents(crowd.rt, "outsider", "bad")
    assert error in shown(bad), shown(bad)


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) + len(WIRE) >= 30
    assert {c.via for c in CASES} == {"reply", "call", "result"}

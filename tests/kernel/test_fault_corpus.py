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
from stores import store_for

from orgos import Agent, Runtime, tool
from orgos.config.limits import Limits
from orgos.config.workflow import WorkflowSpec
from orgos.llm.base import Model, ModelRequest, ModelResponse, ToolCall, Usage
from orgos.llm.openai_compat import OpenAICompatModel
from orgos.policy.spec import Budgets, Limit, PolicySpec
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


#: How a test's own agents answer: (task, tool results so far) -> reply.
Script = Callable[[str, list[str]], ModelResponse]


@dataclass
class Crowd:
    """The runtime and the scripted model every innocent shares."""

    rt: Runtime
    first_turn: asyncio.Barrier | None
    bad: Case | None = None
    script: Script | None = None


def _task(req: ModelRequest) -> str:
    """The task's first line (a delegated task goes on with who delegated it)."""
    return next(m.content for m in req.messages if m.role == "user").split("\n")[0]


def _tool_results(req: ModelRequest) -> list[str]:
    return [m.content for m in req.messages if m.role == "tool"]


def responder(crowd: Crowd) -> Callable[[ModelRequest], Any]:
    async def respond(req: ModelRequest) -> ModelResponse:
        task, results = _task(req), _tool_results(req)
        if crowd.script is not None and not task.startswith("innocent"):
            return crowd.script(task, results)
        if results:
            return ScriptedModel.final(f"{task} saw: {results[0]}")
        if crowd.first_turn is not None:
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
    c.rt = Runtime(store=store_for(tmp_path), agents=[worker],
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
        journal = await crowd.rt.history.journal(bad.id)
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
        crowd = Crowd(None, None)  # type: ignore[arg-type]
        agents = [Agent(name="worker", tools=["echo"], max_steps=4),
                  Agent(name="outsider", tools=["echo"], model="wire", max_steps=4)]  # fmt: skip
        crowd.rt = Runtime(store=store_for(tmp_path), agents=agents, tools=[echo],
                           models={"default": ScriptedModel(responder(crowd)), "wire": wire},
                           model_retries=0)  # fmt: skip
        async with crowd.rt:
            bad, _ = await run_beside_innocents(crowd.rt, "outsider", "bad")
    assert error in shown(bad), shown(bad)


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) + len(WIRE) >= 30
    assert {c.via for c in CASES} == {"reply", "call", "result"}


# --- the resource limits ---------------------------------------------------------


async def limited(
    tmp_path: Path, script: Script, agents: list[Agent], **kw: Any
) -> AsyncIterator[Crowd]:
    crowd = Crowd(None, None, script=script)  # type: ignore[arg-type]
    worker = Agent(name="worker", tools=["echo", "big"], max_steps=4)
    crowd.rt = Runtime(store=store_for(tmp_path), agents=[worker, *agents], tools=[echo, big],
                       models=ScriptedModel(responder(crowd)), **kw)  # fmt: skip
    async with crowd.rt:
        yield crowd


@tool(idempotent=True)
async def big(kb: int) -> str:
    """A long text."""
    return "".join(f"line {i:06d} of the report\n" for i in range(kb * 1024 // 26))


def delegate(agent: str, task: str) -> tuple[str, dict[str, Any]]:
    return ("delegate", {"agent": agent, "task": task})


async def tree_of(rt: Runtime, rec: RunRecord) -> list[RunRecord]:
    return await rt.history.tree(rec.id)


async def test_self_delegation_stops_at_the_depth_limit(tmp_path: Path) -> None:
    def script(task: str, results: list[str]) -> ModelResponse:
        if results:
            return ScriptedModel.final(f"below me: {results[0]}")
        return ScriptedModel.calls(delegate("looper", "again"))

    looper = Agent(name="looper", delegates=["looper"], max_steps=4)
    async for crowd in limited(tmp_path, script, [looper], limits=Limits(delegation_depth=3)):
        bad, _ = await run_beside_innocents(crowd.rt, "looper", "again")
        tree = await tree_of(crowd.rt, bad)
    assert len(tree) == 4  # depths 0 to 3
    assert bad.status.value == "succeeded"
    assert "ERROR: delegation depth limit 3 reached" in str(bad.output)


async def test_a_fan_out_tree_stops_at_its_runs_limit(tmp_path: Path) -> None:
    def script(task: str, results: list[str]) -> ModelResponse:
        if results:
            return ScriptedModel.final(" / ".join(results))
        level = int(task.split()[-1])
        if level >= 2:
            return ScriptedModel.final("leaf")
        return ScriptedModel.calls(*(delegate("fan", f"fan {level + 1}") for _ in range(5)))

    fan = Agent(name="fan", delegates=["fan"], max_steps=4)
    async for crowd in limited(tmp_path, script, [fan], limits=Limits(runs_per_tree=12)):
        bad, _ = await run_beside_innocents(crowd.rt, "fan", "fan 0")
        tree = await tree_of(crowd.rt, bad)
    assert len(tree) <= 12
    assert "runs per tree limit 12 reached" in str(bad.output)


async def test_tool_calls_past_the_limit_of_one_reply_are_not_run(tmp_path: Path) -> None:
    def script(task: str, results: list[str]) -> ModelResponse:
        if results:
            return ScriptedModel.final(f"{results.count('x')} ran; " + results[-1])
        return ScriptedModel.calls(*(("echo", {"text": "x"}) for _ in range(70)))

    async for crowd in limited(tmp_path, script, []):
        bad, _ = await run_beside_innocents(crowd.rt, "worker", "many")
    assert bad.output == (
        "64 ran; ERROR: not run: one reply may make at most 64 tool calls and this one made 70"
        " (limits.tool_calls_per_reply); make fewer at once"
    )


async def test_a_model_answer_over_the_size_limit_fails_its_run(tmp_path: Path) -> None:
    def script(task: str, results: list[str]) -> ModelResponse:
        return ScriptedModel.final("y" * 2_000_000)

    async for crowd in limited(tmp_path, script, []):
        bad, _ = await run_beside_innocents(crowd.rt, "worker", "ramble")
    assert bad.status.value == "failed"
    assert "model answer of 2,000,1" in str(bad.error)
    assert "bytes is over the limit of 1,000,000 (limits.answer_bytes)" in str(bad.error)


async def test_a_large_tool_result_goes_to_a_blob_and_the_model_reads_its_start(
    tmp_path: Path,
) -> None:
    def script(task: str, results: list[str]) -> ModelResponse:
        if results:
            return ScriptedModel.final(results[0])
        return ScriptedModel.call("big", kb=500)

    async for crowd in limited(tmp_path, script, []):
        bad, _ = await run_beside_innocents(crowd.rt, "worker", "read it")
        journal = await crowd.rt.history.journal(bad.id)
        stored = next(e.payload for e in journal if e.phase == "result" and e.kind == "tool")
        assert crowd.rt.shared is not None
        whole = await crowd.rt.shared.blobs.get(stored["full"]["blob"])
    seen = str(bad.output)
    assert seen.startswith("line 000000 of the report\n")
    assert len(seen.encode()) <= 100_000
    assert "over the limit of 100,000 (limits.tool_result_bytes)" in seen
    assert f"kept whole in blob {stored['full']['blob']}" in seen
    assert stored["full"]["bytes"] == len(whole) > 500_000
    assert whole.decode().startswith('{"ok":"line 000000')


async def test_a_for_each_over_the_limit_fails_its_step(tmp_path: Path) -> None:
    def script(task: str, results: list[str]) -> ModelResponse:
        return ScriptedModel.final("done")

    spec = WorkflowSpec.model_validate({"name": "wide", "steps": [
        {"id": "each", "agent": "worker", "task": "do {{ item }}", "for_each": "input.items"}]})  # fmt: skip
    async for crowd in limited(tmp_path, script, [], limits=Limits(for_each=10)):
        bad_run, _ = await asyncio.gather(
            crowd.rt.run_workflow(spec, {"items": list(range(11))}, timeout=30),
            run_beside_innocents(crowd.rt, "worker", "innocent x"),
        )
    assert bad_run.status.value == "failed"
    assert "gave 11 items, over the limit of 10 (limits.for_each)" in str(bad_run.error)


async def test_a_run_budget_covers_the_runs_it_starts(tmp_path: Path) -> None:
    def script(task: str, results: list[str]) -> ModelResponse:
        if task == "spend":  # a child: one costly answer
            return ModelResponse(content="spent", usage=Usage(150, 150), model="m")
        if results:
            return ModelResponse(content="after", usage=Usage(5, 5), model="m")
        return ModelResponse(tool_calls=[ToolCall(f"d{i}", *delegate("spender", "spend"))
                                         for i in range(3)], usage=Usage(5, 5), model="m")  # fmt: skip

    boss = Agent(name="boss", delegates=["spender"], max_steps=4)
    spender = Agent(name="spender", max_steps=4)
    policy = PolicySpec(budgets=Budgets(run=Limit(tokens=200)))
    async for crowd in limited(tmp_path, script, [boss, spender], governance=policy):
        bad, _ = await run_beside_innocents(crowd.rt, "boss", "delegate")
    assert bad.status.value == "failed"  # its children spent 900 of its 200 tokens
    assert f"budget exhausted: run {bad.id} used 910 tokens of its 200" in str(bad.error)

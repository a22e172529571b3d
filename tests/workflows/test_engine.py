"""The workflow engine, construct by construct, on a scripted model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from stores import store_for
from wf_helpers import agents_model, context_of

from orgos import Agent, RunStatus, Runtime
from orgos.config.workflow import WorkflowSpec
from orgos.llm.base import ModelError
from orgos.store import RunFilter
from orgos.store.waiting import WaitRuns

AGENTS = [Agent(name=n) for n in ("a", "b", "c", "d", "undo")]


def wf(**kw: Any) -> WorkflowSpec:
    return WorkflowSpec.model_validate({"name": "t", **kw})


async def children(rt: Runtime, run_id: str) -> list[Any]:
    return await rt.store.list_runs(RunFilter(rt.workspace, parent_id=run_id, limit=100_000))


async def test_dependencies_parallel_and_context(tmp_path: Path) -> None:
    both = asyncio.Barrier(2)  # b and c must be in flight at once

    async def parallel(task: str) -> str:
        async with asyncio.timeout(5):
            await both.wait()
        return "B" if "left" in task else "C"

    seen: list[tuple[str, str]] = []
    model = agents_model({"a": lambda t: {"n": 3}, "b": parallel, "c": parallel,
                          "d": lambda t: "joined"}, seen)  # fmt: skip
    spec = wf(
        inputs=["x"],
        steps=[
            {"id": "first", "agent": "a", "task": "start with {{ input.x }}"},
            {
                "id": "left",
                "agent": "b",
                "task": "left of {{ steps.first.output.n }}",
                "needs": ["first"],
            },
            {"id": "right", "agent": "c", "task": "right", "needs": ["first"]},
            {"id": "join", "agent": "d", "task": "join", "needs": ["left", "right"]},
        ],
        output={"l": "steps.left.output", "r": "steps.right.output", "j": "steps.join.output"},
    )
    async with Runtime(store=store_for(tmp_path), agents=AGENTS, models=model) as rt:
        rec = await rt.run_workflow(spec, {"x": "xyz"}, timeout=20)
        kids = await children(rt, rec.id)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output == {"l": "B", "r": "C", "j": "joined"}
    assert ("a", "start with xyz") in seen
    assert any(t.startswith("left of 3") for _, t in seen)
    join_task = next(t for agent, t in seen if agent == "d")
    ctx = context_of(join_task)
    assert ctx["left"] == {
        "status": "succeeded",
        "summary": 'b found "B"',
        "confidence": 0.8,
        "data": "B",
    }
    assert ctx["right"]["data"] == "C"
    assert sorted(k.input["step"]["step"] for k in kids) == ["first", "join", "left", "right"]


async def test_fan_out_over_a_list_computed_at_run_time_then_fan_in(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    model = agents_model(
        {"a": lambda t: ["x", "y", "z"], "b": lambda t: t.split(": ")[1].strip().upper(),
         "c": lambda t: "all in"}, seen)  # fmt: skip
    spec = wf(
        steps=[
            {"id": "list", "agent": "a", "task": "list items"},
            {"id": "each", "agent": "b", "task": "shout: {{ item }}", "for_each": "steps.list.output",
             "needs": ["list"]},
            {"id": "fanin", "agent": "c", "task": "sum up {{ len(steps.each.output) }}", "needs": ["each"]},
        ],
        output="steps.each.output",
    )  # fmt: skip
    async with Runtime(store=store_for(tmp_path), agents=AGENTS, models=model) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert [x.split("\n")[0] for x in rec.output] == ["X", "Y", "Z"]
    fanin = next(t for agent, t in seen if agent == "c")
    assert fanin.startswith("sum up 3")
    assert context_of(fanin)["each"]["branches"] == 3


async def test_a_thousand_branch_fan_out(tmp_path: Path) -> None:
    model = agents_model({"a": lambda t: list(range(1000)), "b": lambda t: len(t),
                          "c": lambda t: "ok"})  # fmt: skip
    spec = wf(
        steps=[
            {"id": "list", "agent": "a", "task": "n"},
            {"id": "each", "agent": "b", "task": "{{ item }}", "for_each": "steps.list.output",
             "needs": ["list"]},
            {"id": "fanin", "agent": "c", "task": "done?", "needs": ["each"]},
        ],
        output={"n": "len(steps.each.output)", "failed": "steps.each.failed"},
    )  # fmt: skip
    async with Runtime(store=store_for(tmp_path), agents=AGENTS, models=model) as rt:
        rec = await rt.run_workflow(spec, timeout=120)
        kids = await children(rt, rec.id)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output == {"n": 1000, "failed": 0}
    branches = sorted(k.input["step"]["branch"] for k in kids if k.input["step"]["step"] == "each")
    assert branches == list(range(1000))  # each branch ran exactly once
    assert all(k.status is RunStatus.SUCCEEDED for k in kids)


async def test_conditional_branches_and_join(tmp_path: Path) -> None:
    model = agents_model({"a": lambda t: {"amount": 250}, "b": lambda t: "big",
                          "c": lambda t: "small", "d": lambda t: "joined"})  # fmt: skip
    spec = wf(
        steps=[
            {"id": "look", "agent": "a"},
            {"id": "big", "agent": "b", "needs": ["look"], "when": "steps.look.output.amount > 100"},
            {"id": "small", "agent": "c", "needs": ["look"], "when": "not (steps.look.output.amount > 100)"},
            {"id": "after_small", "agent": "c", "needs": ["small"]},
            {"id": "join", "agent": "d", "needs": ["big", "small"]},
        ],
    )  # fmt: skip
    async with Runtime(store=store_for(tmp_path), agents=AGENTS, models=model) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
        kids = await children(rt, rec.id)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert set(rec.output) == {"look", "big", "join"}
    assert sorted(k.input["step"]["step"] for k in kids) == ["big", "join", "look"]


async def test_bounded_loop_until_a_condition(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    counter = iter(range(1, 100))
    model = agents_model({"a": lambda t: {"score": next(counter)}}, seen)
    spec = wf(
        steps=[
            {"id": "draft", "agent": "a", "task": "draft #{{ loop.iteration }}",
             "loop": {"until": "steps.draft.output.score >= 3", "max_iterations": 5}},
            {"id": "capped", "agent": "a", "task": "capped",
             "loop": {"until": "false", "max_iterations": 2}, "needs": ["draft"]},
        ],
        output={"draft": "steps.draft.output.score", "n": "steps.draft.iterations",
                "capped": "steps.capped.iterations"},
    )  # fmt: skip
    async with Runtime(store=store_for(tmp_path), agents=AGENTS, models=model) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output == {"draft": 3, "n": 3, "capped": 2}
    drafts = [t for _, t in seen if t.startswith("draft")]
    assert [d.split("\n")[0] for d in drafts] == ["draft #1", "draft #2", "draft #3"]
    assert context_of(drafts[1])["previous_iteration"]["data"] == {"score": 1}


async def test_retry_then_success(tmp_path: Path) -> None:
    failures = iter([True, True, False])

    def flaky(task: str) -> str:
        if next(failures):
            raise ModelError("injected failure")
        return "finally"

    model = agents_model({"a": flaky})
    spec = wf(steps=[{"id": "s", "agent": "a", "retry": {"max_attempts": 3}}])
    async with Runtime(
        store=store_for(tmp_path), agents=AGENTS, models=model, model_retries=0
    ) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
        kids = await children(rt, rec.id)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output == {"s": "finally"}
    assert sorted(k.status.value for k in kids) == ["failed", "failed", "succeeded"]


async def test_retries_run_out_and_the_workflow_fails(tmp_path: Path) -> None:
    def broken(task: str) -> str:
        raise ModelError("always broken")

    model = agents_model({"a": broken, "b": lambda t: "never"})
    spec = wf(steps=[{"id": "s", "agent": "a", "retry": {"max_attempts": 2}},
                     {"id": "after", "agent": "b", "needs": ["s"]}])  # fmt: skip
    async with Runtime(
        store=store_for(tmp_path), agents=AGENTS, models=model, model_retries=0
    ) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
        kids = await children(rt, rec.id)
    assert rec.status is RunStatus.FAILED
    assert "step s failed" in (rec.error or "") and "always broken" in (rec.error or "")
    assert len(kids) == 2 and all(k.target == "a" for k in kids)


async def test_timeout_cancels_the_attempt_and_retries(tmp_path: Path) -> None:
    hang = asyncio.Event()
    attempts: list[int] = []

    async def slow_then_fast(task: str) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            await hang.wait()  # never set: only the timeout ends this attempt
        return "fast"

    model = agents_model({"a": slow_then_fast})
    spec = wf(steps=[{"id": "s", "agent": "a", "timeout": 0.3, "retry": {"max_attempts": 2}}])
    async with Runtime(store=store_for(tmp_path), agents=AGENTS, models=model) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
        kids = await children(rt, rec.id)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output == {"s": "fast"}
    assert sorted(k.status.value for k in kids) == ["cancelled", "succeeded"]


async def test_continue_past_a_failed_step(tmp_path: Path) -> None:
    def broken(task: str) -> str:
        raise ModelError("no luck")

    seen: list[tuple[str, str]] = []
    model = agents_model({"a": broken, "b": lambda t: "went on"}, seen)
    spec = wf(
        steps=[{"id": "opt", "agent": "a", "on_failure": "continue"},
               {"id": "next", "agent": "b", "needs": ["opt"]}],
        output={"opt": "steps.opt.status", "next": "steps.next.output"},
    )  # fmt: skip
    async with Runtime(
        store=store_for(tmp_path), agents=AGENTS, models=model, model_retries=0
    ) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output == {"opt": "failed", "next": "went on"}
    ctx = context_of(next(t for a, t in seen if a == "b"))
    assert ctx["opt"]["status"] == "failed" and "no luck" in ctx["opt"]["error"]


async def test_compensate_undoes_finished_steps_in_reverse(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    def broken(task: str) -> str:
        raise ModelError("payment declined")

    model = agents_model({"a": lambda t: "reserved", "b": lambda t: "shipped", "c": broken,
                          "undo": lambda t: "undone"}, seen)  # fmt: skip
    spec = wf(
        steps=[
            {"id": "reserve", "agent": "a", "compensate": {"agent": "undo", "task": "release reservation"}},
            {"id": "ship", "agent": "b", "needs": ["reserve"],
             "compensate": {"agent": "undo", "task": "recall shipment {{ step.output }}"}},
            {"id": "pay", "agent": "c", "needs": ["ship"], "on_failure": "compensate"},
        ],
    )  # fmt: skip
    async with Runtime(
        store=store_for(tmp_path), agents=AGENTS, models=model, model_retries=0
    ) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
    assert rec.status is RunStatus.FAILED
    assert "payment declined" in (rec.error or "")
    undos = [t.split("\n")[0] for a, t in seen if a == "undo"]
    assert undos == ["recall shipment shipped", "release reservation"]


async def test_sub_workflow(tmp_path: Path) -> None:
    model = agents_model({"a": lambda t: "inner " + t.split("\n")[0], "b": lambda t: "outer"})
    inner = WorkflowSpec.model_validate(
        {"name": "inner", "inputs": ["what"],
         "steps": [{"id": "do", "agent": "a", "task": "do {{ input.what }}"}],
         "output": "steps.do.output"})  # fmt: skip
    outer = wf(
        steps=[{"id": "sub", "workflow": "inner", "input": {"what": "{{ input.thing }}"}},
               {"id": "end", "agent": "b", "needs": ["sub"]}],
        output={"sub": "steps.sub.output", "end": "steps.end.output"},
    )  # fmt: skip
    async with Runtime(
        store=store_for(tmp_path), agents=AGENTS, models=model, workflows=[inner]
    ) as rt:
        rec = await rt.run_workflow(outer, {"thing": "laundry"}, timeout=20)
        kids = await children(rt, rec.id)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output == {"sub": "inner do laundry", "end": "outer"}
    assert sorted((k.kind, k.target) for k in kids) == [("agent", "b"), ("workflow", "inner")]


async def test_missing_input_is_refused(tmp_path: Path) -> None:
    import pytest

    from orgos.errors import ConfigError

    spec = wf(
        inputs=["order_id"], steps=[{"id": "s", "agent": "a", "task": "{{ input.order_id }}"}]
    )
    async with Runtime(store=store_for(tmp_path), agents=AGENTS, models=agents_model({})) as rt:
        with pytest.raises(ConfigError, match="needs inputs: order_id"):
            await rt.submit_workflow(spec, {})


async def test_a_backoff_timer_survives_a_restart(tmp_path: Path) -> None:
    """The workflow parks with a deadline (a retry's backoff); the worker
    stops; a new worker re-arms the timer and the retry happens."""
    calls: list[str] = []

    def flaky(task: str) -> str:
        calls.append(task)
        if len(calls) == 1:
            raise ModelError("first attempt fails")
        return "second time lucky"

    spec = wf(steps=[{"id": "s", "agent": "a", "retry": {"max_attempts": 2, "backoff": 0.5}}])
    db = store_for(tmp_path)
    async with Runtime(
        store=db, agents=AGENTS, models=agents_model({"a": flaky}), model_retries=0
    ) as rt:
        events = rt.kernel.events.subscribe(None)
        rec = await rt.submit_workflow(spec)
        async with asyncio.timeout(10):  # until the engine parks on the backoff's deadline
            while True:
                ev = await events.get()
                if ev.run_id == rec.id and ev.data.get("status") == "waiting":
                    now = await rt.get_run(rec.id)
                    w = now.waiting_on
                    if isinstance(w, WaitRuns) and w.until:
                        break
        assert isinstance(now.waiting_on, WaitRuns) and now.waiting_on.runs == ()
    assert len(calls) == 1
    async with Runtime(store=db, agents=AGENTS, models=agents_model({"a": flaky}), model_retries=0,
                       workflows=[spec]) as rt:  # fmt: skip
        done = await rt.wait(rec.id, timeout=20)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert done.output == {"s": "second time lucky"} and len(calls) == 2

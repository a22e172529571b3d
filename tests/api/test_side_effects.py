"""Creating and running a Runtime changes nothing of the host process: not
its collector, not the ``random`` module, not another runtime's logs, not
asyncio's default thread pool."""

from __future__ import annotations

import gc
import logging
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from stores import store_for

from orgos import Agent, Runtime, Tool, tool
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.policy import Governance, PolicySpec
from orgos.testing import ScriptedModel
from orgos.tools.threads import DEFAULT_LIMIT


@pytest.fixture
def python_gc() -> Iterator[tuple[int, int, int]]:
    """Python's default thresholds for the test, the process's own after it."""
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield (700, 10, 10)
    finally:
        gc.set_threshold(*saved)


def _runtime(db: Path | str, **kw: object) -> Runtime:
    model = ScriptedModel(lambda req: ScriptedModel.final("ok"))
    return Runtime(store=db, agents=[Agent(name="a")], models=model, **kw)  # type: ignore[arg-type]


async def test_the_collector_is_left_alone_unless_asked(
    tmp_path: Path, python_gc: tuple[int, int, int]
) -> None:
    async with _runtime(store_for(tmp_path)) as rt:
        await rt.run("a", "go", timeout=10)
        assert gc.get_threshold() == python_gc
    async with _runtime(store_for(tmp_path), tune_gc=True):
        assert gc.get_threshold()[0] > python_gc[0]  # opted in


async def test_a_users_random_seed_does_not_make_run_ids_collide(tmp_path: Path) -> None:
    async with _runtime(tmp_path / "a.db") as one, _runtime(tmp_path / "b.db") as two:
        random.seed(1234)
        first = await one.submit("a", "go")
        random.seed(1234)
        second = await two.submit("a", "go")
        random.seed(1234)
        third = await one.submit("a", "go")
        # The last 10 characters are the random part (the first ones are time).
        tails = {first.id[-10:], second.id[-10:], third.id[-10:]}
        assert len(tails) == 3
        for rec in (first, third):
            await one.wait(rec.id, timeout=10)
        await two.wait(second.id, timeout=10)


def _logging_tool(name: str) -> Tool:
    def fn(customer: str) -> str:
        logging.getLogger(f"orgos.tools.{name}").warning("%s looked up %s", name, customer)
        return "ok"

    return Tool(fn, name=name, idempotent=True)


def _governed(db: Path, tool_name: str, patterns: dict[str, str]) -> Runtime:
    policy = PolicySpec.model_validate({"redaction": {"patterns": patterns}})
    gov = Governance(policy, vault_key=Fernet.generate_key(), reload_interval=0.0)
    model = ScriptedModel(
        lambda req: (
            ScriptedModel.final("done")
            if any(m.role == "tool" for m in req.messages)
            else ScriptedModel.call(tool_name, customer="CUST-123456")
        )
    )
    t = _logging_tool(tool_name)
    return Runtime(store=db, agents=[Agent(name="a", tools=[t])], models=model, governance=gov)


async def test_one_runtimes_patterns_do_not_redact_another_runtimes_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    customers = {"customer": r"CUST-\d{6}"}
    async with (
        _governed(tmp_path / "a.db", "hides", customers) as hides,
        _governed(tmp_path / "b.db", "shows", {}) as shows,
        Runtime(store=tmp_path / "c.db", agents=[Agent(name="a", tools=[_logging_tool("plain")])],
                models=ScriptedModel(lambda req: ScriptedModel.final("done") if any(
                    m.role == "tool" for m in req.messages) else ScriptedModel.call(
                    "plain", customer="CUST-123456"))) as plain,
    ):  # fmt: skip
        for rt in (hides, shows, plain, hides):
            run = await rt.run("a", "look the customer up", timeout=10)
            assert run.status.value == "succeeded", run.error
        logging.getLogger("orgos.test").warning("the caller saw CUST-654321")
    lines = sorted({r.getMessage() for r in caplog.records if "looked up" in r.getMessage()})
    assert lines == [
        "hides looked up [customer]",
        "plain looked up CUST-123456",  # ungoverned: nobody's patterns
        "shows looked up CUST-123456",
    ]
    # The code of the task that started them is the last one's (ungoverned).
    assert "the caller saw CUST-654321" in caplog.text
    assert not [h for h in logging.getLogger("orgos").handlers if type(h).__name__ == "LogScrub"]


async def test_a_hung_sync_tool_times_out_alone_on_the_runtimes_own_threads(
    tmp_path: Path,
) -> None:
    release = threading.Event()
    hung = DEFAULT_LIMIT + 2  # more than any pool of the default size has threads
    ran_on: list[str] = []

    @tool(idempotent=True, timeout=0.1)
    def hang(n: int) -> str:
        release.wait(60)  # hangs until the test ends
        return "late"

    @tool(idempotent=True, timeout=5.0)
    def quick() -> str:
        ran_on.append(threading.current_thread().name)
        return "quick"

    def respond(req: ModelRequest) -> ModelResponse:
        done = sum(m.role == "tool" for m in req.messages)
        if done == 0:
            return ScriptedModel.calls(*[("hang", {"n": i}) for i in range(hung)])
        if done == hung:
            return ScriptedModel.call("quick")
        return ScriptedModel.final("done")

    agent = Agent(name="a", tools=[hang, quick], max_steps=4)
    try:
        rt = Runtime(store=store_for(tmp_path), agents=[agent], models=ScriptedModel(respond))
        async with rt:
            run = await rt.run("a", "go", timeout=30)
            journal = await rt.history.journal(run.id)
            pool = rt.kernel.threads
        results = [e.payload for e in journal if e.kind == "tool" and e.phase == "result"]
        assert [r.get("error") for r in results[:hung]] == ["hang timed out after 0.1 s"] * hung
        assert results[hung]["ok"] == "quick" and run.status.value == "succeeded"
        assert ran_on and ran_on[0].startswith("orgos-tool-")  # not asyncio's default pool
        assert pool.closed  # shut down on stop
    finally:
        release.set()
    for t in threading.enumerate():
        if t.name.startswith("orgos-tool-"):
            t.join(10)  # each ends once its tool returns
            assert not t.is_alive(), t.name

"""The parts of a Runtime are reached from it: its org chart once started
(docs/org.md), the operator's control and the run history."""

from __future__ import annotations

from pathlib import Path

from orgos import Agent, Runtime
from orgos.config.org import OrgSpec, TeamSpec
from orgos.testing import ScriptedModel


async def test_a_started_runtime_answers_org_questions_and_reaches_its_parts(
    tmp_path: Path,
) -> None:
    org = OrgSpec(teams=[TeamSpec(name="support", lead="lead")])
    agents = [Agent(name="lead", team="support"), Agent(name="clerk", team="support")]
    rt = Runtime(store=tmp_path / "o.db", agents=agents, org=org, models=ScriptedModel(["hi"]))
    assert rt.chart is None  # built at start
    async with rt:
        assert rt.chart is not None
        assert rt.chart.supervisor("clerk") == "lead"
        assert rt.chart.reports("lead") == ["clerk"]
        run = await rt.run("clerk", "hello", timeout=30)
        assert [r.id for r in await rt.history.runs()] == [run.id]
        assert await rt.control.cancel(run.id) == []  # it ended: nothing to stop

"""`orgos run WORKFLOW`, `orgos show` drawing the graph, `orgos org`."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from orgos.cli import app

MODEL = """
import json, re
from orgos.testing import ScriptedModel

def respond(req):
    agent = re.match(r"You are ([a-z_-]+)", req.messages[0].content).group(1)
    task = req.messages[1].content.split("\\n")[0]
    if agent == "lister":
        data = ["a", "b", "c"]
    else:
        data = f"{agent}: {task}"
    return ScriptedModel.final({"data": data, "summary": f"{agent} did {task}", "confidence": 0.7})

model = ScriptedModel(respond)
"""

ORG = """
name: acme
teams:
  - name: ops
    owner: dana@example.com
    lead: boss
    description: Operations
  - name: field
    parent: ops
    lead: chief
    may_use: [helper]
"""

FLOW = """
name: flow
inputs: [topic]
steps:
  - id: list
    agent: lister
    task: "list {{ input.topic }}"
  - id: each
    agent: worker
    for_each: steps.list.output
    task: "work on {{ item }}"
    needs: [list]
  - id: skipped
    agent: worker
    when: "false"
    needs: [list]
  - id: final
    agent: boss
    task: "wrap up"
    needs: [each]
output: steps.final.output
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ORGOS_MODEL_BASE_URL", "ORGOS_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "agents").mkdir()
    (tmp_path / "workflows").mkdir()
    (tmp_path / "orgos.yaml").write_text("name: p\ntools: []\n")
    agents = {"boss": "team: ops\ncapabilities: [planning]", "chief": "team: field",
              "lister": "team: field", "worker": "team: field\ncapabilities: [work]",
              "helper": "capabilities: [help]"}  # fmt: skip
    for name, extra in agents.items():
        (tmp_path / "agents" / f"{name}.yaml").write_text(f"name: {name}\n{extra}\n")
    (tmp_path / "org.yaml").write_text(textwrap.dedent(ORG))
    (tmp_path / "workflows" / "flow.yaml").write_text(textwrap.dedent(FLOW))
    (tmp_path / "model.py").write_text(MODEL)
    return tmp_path


def orgos(project: Path, *args: str) -> Result:
    env = {"ORGOS_MODEL_SCRIPT": str(project / "model.py")}
    return CliRunner().invoke(app, ["-p", str(project), *args], env=env)


def test_run_a_workflow_and_show_its_graph(project: Path) -> None:
    result = orgos(project, "run", "flow", '{"topic": "fruit"}', "--json")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)
    assert outcome["status"] == "succeeded"
    assert outcome["output"] == "boss: wrap up"

    shown = orgos(project, "show", outcome["id"]).output
    assert re.search(r"workflow flow@1 r-\w+ succeeded", shown)
    lines = {line.split()[1] if line[0].isdigit() else line.split()[0]: line
             for line in shown.splitlines()[2:] if line.strip() and not line.startswith(("total", "output"))}  # fmt: skip
    assert "✓ succeeded" in lines["list"] and "1/1 run(s)" in lines["list"]
    assert "3/3 branches" in lines["each"] and "← list" in lines["each"]
    assert "↷ skipped" in lines["skipped"]
    assert "← each" in lines["final"] and "boss did wrap up" in lines["final"]
    assert "total: 6 run(s)" in shown


def test_run_a_workflow_with_missing_inputs(project: Path) -> None:
    result = orgos(project, "run", "flow")
    assert result.exit_code == 2
    assert "workflow 'flow' needs inputs: topic" in result.output


def test_run_an_unknown_name(project: Path) -> None:
    result = orgos(project, "run", "nope", "x")
    assert result.exit_code == 2
    assert "no agent named 'nope'" in result.output and "workflows: flow" in result.output


def test_a_bad_workflow_file_is_refused_with_its_line(project: Path) -> None:
    (project / "workflows" / "bad.yaml").write_text(
        "name: bad\nsteps:\n  - id: a\n    agent: ghost\n"
    )
    result = orgos(project, "run", "flow", '{"topic": "x"}')
    assert result.exit_code == 2
    assert "bad.yaml:4: step 'a' names unknown agent 'ghost'" in result.output


def test_org_prints_the_chart_as_a_tree(project: Path) -> None:
    result = orgos(project, "org")
    assert result.exit_code == 0, result.output
    out = result.output
    firsts = [line.strip("│├└─ ").split(" ")[0] for line in out.splitlines()]
    assert firsts.index("ops") < firsts.index("field") < firsts.index("chief")
    assert "owner dana@example.com" in out and "lead boss" in out
    assert re.search(r"chief .*reports to boss", out)
    assert re.search(r"worker .*reports to chief.*capabilities: work", out)
    assert "may use: helper" in out
    assert "helper" in out.split("no team")[1]  # agents outside any team
    assert re.search(r"chief .*may delegate to: lister, worker, helper", out)


def test_show_full_draws_every_run_of_a_workflow(project: Path) -> None:
    result = orgos(project, "run", "flow", '{"topic": "fruit"}', "--json")
    run_id = json.loads(result.output)["id"]
    shown = orgos(project, "show", run_id, "--full")
    assert shown.exit_code == 0, shown.output
    out = shown.output
    assert f"flow@1 {run_id} ✓ succeeded" in out
    for agent in ("lister", "worker", "boss"):
        assert re.search(rf"{agent}@1 r-\w+ ✓ succeeded", out), agent
    assert out.count("worker@1 ") == 3  # a run per branch of the fan-out
    assert "wait for any of 3 run(s)" in out and "steps list succeeded, each running" in out
    assert "total: 6 run(s)" in out

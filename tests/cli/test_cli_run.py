"""`orgos run`, `orgos runs` and `orgos show`."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

from cli_helpers import HANG, WORD_COUNT, run_id_of
from conftest import Cli, ModelFile

from orgos.runtime import Runtime
from orgos.store.base import RunStatus

DELEGATING = """
from orgos.llm.base import ModelResponse

def respond(request):
    system = request.messages[0].content
    tool_results = [m for m in request.messages if m.role == "tool"]
    if system.startswith("You are boss"):
        if not tool_results:
            return ScriptedModel.call("delegate", agent="assistant", task="count the words of 'a b c'")
        return ScriptedModel.final("the assistant says: " + tool_results[0].content)
    if not tool_results:
        return ScriptedModel.call("word_count", text="a b c")
    return ScriptedModel.final("3 words")

model = ScriptedModel(respond)
"""


def add_boss(project: Path) -> None:
    (project / "agents" / "boss.yaml").write_text(
        "name: boss\ninstructions: Delegate the counting.\ndelegates: [assistant]\n"
    )


def test_run_prints_progress_tree_and_outcome(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    result = cli("-p", project, "run", "assistant", "How many words?", model=model_file(WORD_COUNT))
    assert result.exit_code == 0, result.output
    out = result.output
    run_id = run_id_of(out)
    # live progress: each syscall as it completes
    assert f"▶ assistant {run_id}: How many words?" in out
    assert "model 0.0 s, " in out and '→ word_count(text="to be or not to be")' in out
    assert 'tool word_count(text="to be or not to be") → 6' in out
    # then the tree, then the outcome
    assert f"assistant@1 {run_id} ✓ succeeded" in out
    assert "#1 model scripted" in out and "#2 tool word_count" in out
    assert "total: 1 run(s), 2 model call(s), 1 tool call(s)" in out
    assert out.rstrip().endswith("It has 6 words.")
    assert out.index("▶") < out.index("total:") < out.rindex(f"assistant {run_id} ✓ succeeded in")


def test_run_json(project: Path, cli: Cli, model_file: ModelFile) -> None:
    result = cli("-p", project, "run", "assistant", "hi", "--json", model=model_file(WORD_COUNT))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["status"] == "succeeded"
    assert doc["output"] == "It has 6 words."
    assert doc["tokens"]["input"] > 0 and doc["tokens"]["output"] > 0


def test_run_with_delegation_shows_children(project: Path, cli: Cli, model_file: ModelFile) -> None:
    add_boss(project)
    result = cli("-p", project, "run", "boss", "go", model=model_file(DELEGATING))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "boss delegates to assistant" in out
    assert "  ▶ assistant r-" in out  # the child starts, indented
    assert "  assistant tool word_count" in out
    assert "boss ⏸ waiting for 1 run(s)" in out
    assert "total: 2 run(s)" in out
    assert 'the assistant says: {"agent":"assistant","result":"3 words"}' in out


def test_failed_run_exits_1(project: Path, cli: Cli, model_file: ModelFile) -> None:
    model = model_file(
        "from orgos.llm.base import ModelError\n"
        "model = ScriptedModel([ModelError('the model is down')])\n"
    )
    result = cli("-p", project, "run", "assistant", "hi", model=model)
    assert result.exit_code == 1, result.output
    assert "✗ failed" in result.output
    assert "the model is down" in result.output


def test_timeout_leaves_the_run_resumable(project: Path, cli: Cli, model_file: ModelFile) -> None:
    result = cli(
        "-p", project, "run", "assistant", "hi", "--timeout", "0.2", model=model_file(HANG)
    )
    assert result.exit_code == 124, result.output
    run_id = run_id_of(result.output)
    assert f"orgos resume {run_id}" in result.output
    resumed = cli("-p", project, "resume", run_id, model=model_file(WORD_COUNT))
    assert resumed.exit_code == 0, resumed.output
    assert "It has 6 words." in resumed.output


def test_runs_lists_runs(project: Path, cli: Cli, model_file: ModelFile) -> None:
    assert "no runs yet" in cli("-p", project, "runs").output
    ok = run_id_of(cli("-p", project, "run", "assistant", "a", model=model_file(WORD_COUNT)).output)
    bad_model = model_file("model = ScriptedModel([])")  # no answer: the run fails
    bad = run_id_of(cli("-p", project, "run", "assistant", "b", model=bad_model).output)
    result = cli("-p", project, "runs")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["run", "agent", "status", "created", "duration", "tokens"]
    assert lines[1].startswith(bad) and lines[2].startswith(ok)  # newest first
    assert "assistant@1" in lines[2] and "✓ succeeded" in lines[2]
    assert int(lines[2].split()[-1]) > 0  # tokens
    assert "✗ failed" in lines[1]
    failed = cli("-p", project, "runs", "--status", "failed").output
    assert bad in failed and ok not in failed
    assert ok not in cli("-p", project, "runs", "--limit", "1").output


def test_runs_all_includes_children(project: Path, cli: Cli, model_file: ModelFile) -> None:
    add_boss(project)
    cli("-p", project, "run", "boss", "go", model=model_file(DELEGATING))
    assert "assistant@1" not in cli("-p", project, "runs").output
    assert "assistant@1" in cli("-p", project, "runs", "--all").output


def test_show_steps_tools_and_tokens(project: Path, cli: Cli, model_file: ModelFile) -> None:
    add_boss(project)
    run_id = run_id_of(cli("-p", project, "run", "boss", "go", model=model_file(DELEGATING)).output)
    result = cli("-p", project, "show", run_id[:16])  # a unique prefix is enough
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"boss@1 {run_id} ✓ succeeded" in out
    assert "#1 model scripted" in out and "in /" in out and "out tok" in out
    assert '→ delegate(agent="assistant"' in out
    assert "#2 delegate → assistant" in out
    assert "assistant@1 r-" in out and '#2 tool word_count(text="a b c")' in out
    assert "→ 3" in out
    assert "#3 wait for 1 run(s)" in out
    assert "total: 2 run(s), 4 model call(s), 1 tool call(s)" in out
    # the child is drawn under the delegate step that started it
    assert out.index("#2 delegate") < out.index("assistant@1") < out.index("#3 wait")

    doc = json.loads(cli("-p", project, "show", run_id, "--json").output)
    assert doc["id"] == run_id and doc["status"] == "succeeded"
    assert [c["agent"] for c in doc["children"]] == ["assistant"]
    phases = {(e["phase"], e["kind"]) for e in doc["journal"]}
    assert ("result", "llm") in phases and ("result", "delegate") in phases
    assert doc["children"][0]["tokens"]["input"] > 0


def test_show_shortens_unless_full(project: Path, cli: Cli, model_file: ModelFile) -> None:
    long = "x" * 500
    model = model_file(f'model = ScriptedModel([ScriptedModel.final("{long}")])')
    run_id = run_id_of(cli("-p", project, "run", "assistant", "hi", model=model).output)
    # the answer appears twice: in the model step and as the output
    assert cli("-p", project, "show", run_id).output.count("x") < 700
    assert cli("-p", project, "show", run_id, "--full").output.count("x") >= 1000


def test_detach_runs_in_a_background_worker(project: Path, cli: Cli, model_file: ModelFile) -> None:
    result = cli("-p", project, "run", "assistant", "hi", "--detach", "--json",
                 model=model_file(WORD_COUNT))  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["status"] == "queued"

    async def wait() -> RunStatus:
        rt = Runtime.from_project(project, models={}, recover=False)  # only watches
        async with rt:
            return (await rt.wait(doc["id"], timeout=60)).status

    assert asyncio.run(wait()) is RunStatus.SUCCEEDED
    reaper = threading.Thread(target=os.waitpid, args=(doc["worker_pid"], 0), daemon=True)
    reaper.start()
    reaper.join(timeout=60)  # the worker leaves once no run is left
    assert not reaper.is_alive()
    assert "no unfinished runs left" in Path(doc["log"]).read_text()


def test_show_keeps_the_tool_call_of_an_approved_step_and_counts_it(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    (project / "policy.yaml").write_text(
        "rules:\n  - name: counts\n    when: {tool: word_count}\n    decide: approve\n"
        "    reason: every count is checked\n"
    )
    result = cli("-p", project, "run", "assistant", "How many words?", "--auto-approve",
                 model=model_file(WORD_COUNT))  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = cli("-p", project, "show", run_id_of(result.output)).output
    step = shown[shown.index("#2 ") : shown.index("#3 ")]
    assert 'tool word_count(text="to be or not to be")' in step
    assert "decided: approved by local" in step and "auto-approved from the command line" in step
    assert "→ 6" in step
    assert "total: 1 run(s), 2 model call(s), 1 tool call(s)" in shown

"""`orgos --help`, `orgos init`, finding the project, and error messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import WORD_COUNT
from conftest import Cli, ModelFile


def test_help_lists_the_commands(cli: Cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("init", "run", "runs", "show", "resume", "cancel"):
        assert command in result.output
    assert "--project" in result.output


def test_help_imports_nothing_heavy() -> None:
    """`orgos --help` stays fast: no runtime, SDK or model is imported."""
    code = (
        "import sys\n"
        "from orgos.cli import main\n"
        "sys.argv = ['orgos', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('orgos.runtime', 'orgos.kernel', 'openai', 'anthropic', 'llama_cpp', 'httpx')\n"
        "print('HEAVY', sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "HEAVY []" in out


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.output.startswith("orgos ")


def test_init_creates_a_runnable_project(tmp_path: Path, cli: Cli, model_file: ModelFile) -> None:
    folder = tmp_path / "new"
    result = cli("init", folder)
    assert result.exit_code == 0, result.output
    for rel in ("orgos.yaml", "agents/assistant.yaml", "tools.py", ".gitignore"):
        assert (folder / rel).is_file(), rel
    assert ".orgos/" in (folder / ".gitignore").read_text()
    assert "orgos run assistant" in result.output  # next steps

    run = cli("-p", folder, "run", "assistant", "How many words?", model=model_file(WORD_COUNT))
    assert run.exit_code == 0, run.output
    assert "It has 6 words." in run.output
    assert (folder / ".orgos" / "orgos.db").is_file()


def test_init_project_does_not_take_a_tool_call_written_as_text_for_its_answer(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    """What the embedded model did once word_count was used up: it wrote one
    more call as its reply. That is no answer; the agent is told, and answers."""
    as_text = '{"tool": "word_count", "arguments": {"text": "to be or not to be"}}'
    model = model_file(f"""
        model = ScriptedModel([
            ScriptedModel.call("word_count", text="to be or not to be"),
            ScriptedModel.final({as_text!r}),
            ScriptedModel.final("It has 6 words."),
        ])
    """)
    run = cli("-p", project, "run", "assistant", "How many words?", "--json", model=model)
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["output"] == "It has 6 words."

    only_json = model_file(
        f"model = ScriptedModel(lambda request: ScriptedModel.final({as_text!r}))"
    )
    run = cli("-p", project, "run", "assistant", "How many words?", "--json", model=only_json)
    assert run.exit_code == 1, run.output  # not marked succeeded with tool-call JSON
    assert json.loads(run.output)["status"] == "failed"


def test_init_refuses_to_overwrite(project: Path, cli: Cli) -> None:
    before = (project / "tools.py").read_text()
    (project / "tools.py").write_text(before + "\n# mine\n")
    result = cli("init", project)
    assert result.exit_code == 2
    assert "not overwriting" in result.output
    assert "# mine" in (project / "tools.py").read_text()


def test_project_is_found_upward_and_from_env(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sub = project / "agents"
    monkeypatch.chdir(sub)
    assert cli("runs").exit_code == 0
    monkeypatch.chdir(tmp_path)
    assert cli("runs").exit_code == 2  # no orgos.yaml at or above tmp_path
    assert cli("runs", env={"ORGOS_PROJECT": str(project)}).exit_code == 0


def test_malformed_yaml_names_file_and_line(project: Path, cli: Cli) -> None:
    agent = project / "agents" / "assistant.yaml"
    agent.write_text("name: assistant\ntools: [word_count\nrole: x\n")
    result = cli("-p", project, "runs")
    assert result.exit_code == 2
    assert f"{agent}:" in result.output
    assert "invalid YAML" in result.output
    assert "Traceback" not in result.output


def test_invalid_field_names_file_and_line(project: Path, cli: Cli) -> None:
    agent = project / "agents" / "assistant.yaml"
    agent.write_text("name: assistant\nmax_steps: lots\n")
    result = cli("-p", project, "runs")
    assert result.exit_code == 2
    assert f"{agent}:2: max_steps" in result.output


def test_errors_are_one_red_line(
    project: Path, cli: Cli, tmp_path: Path, model_file: ModelFile
) -> None:
    model = model_file(WORD_COUNT)
    cases = [
        (("-p", project, "run", "nobody", "hi"), "no agent named 'nobody'"),
        (("-p", project, "show", "r-nothing"), "no run matching 'r-nothing'"),
        (("-p", project, "cancel", "r-nothing"), "no run matching 'r-nothing'"),
        (("-p", project, "runs", "--status", "sleeping"), "unknown status 'sleeping'"),
        (("-p", tmp_path, "runs"), "orgos.yaml: not found"),
        (("-p", tmp_path / "nope", "runs"), "no such project folder"),
        (("-p", project, "resume", "r-x", "--decide", "maybe"), "--decide must be"),
        (("-p", project, "resume", "r-x", "--decide", "done", "--value", "{"), "not valid JSON"),
    ]
    for args, message in cases:
        result = cli(*args, model=model)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error: "), result.output
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_unknown_tool_in_project_is_reported(project: Path, cli: Cli) -> None:
    (project / "agents" / "assistant.yaml").write_text("name: assistant\ntools: [nope]\n")
    result = cli("-p", project, "runs")
    assert result.exit_code == 2
    assert "unknown tool 'nope'" in result.output


def test_secrets_from_the_environment_are_never_printed(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    secret = "sk-test-5b2c1d0e9f8a7b6c"
    model = model_file(
        'model = ScriptedModel([ScriptedModel.call("word_count", text="' + secret + '"),'
        ' ScriptedModel.final("done")])'
    )
    result = cli(
        "-p", project, "run", "assistant", f"my key is {secret}", model=model,
        env={"OPENAI_API_KEY": secret},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert secret not in result.output
    assert "***" in result.output
    shown = cli("-p", project, "show", "r-", "--full", env={"OPENAI_API_KEY": secret})
    assert secret not in shown.output

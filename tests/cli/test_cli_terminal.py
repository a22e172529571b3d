"""The CLI at a real terminal (a pty): the approval prompt of `orgos run`
shows its answer letters, and while it waits for the person, the other runs
of the process keep working; `orgos fs cat` shows a file's escapes inert."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import Cli, ModelFile

from orgos.runtime import Runtime
from orgos.store.base import RunStatus

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")

TWO_CHILDREN = """
from pathlib import Path

FLAG = Path({flag!r})

async def respond(request):
    system = request.messages[0].content
    task = request.messages[1].content
    done = [m for m in request.messages if m.role == "tool"]
    if system.startswith("You are boss"):
        if not done:
            return ScriptedModel.calls(
                ("delegate", {{"agent": "assistant", "task": "count what needs a person"}}),
                ("delegate", {{"agent": "assistant", "task": "go on meanwhile"}}),
            )
        return ScriptedModel.final("both done")
    if "needs a person" in task:
        if not done:
            return ScriptedModel.call("word_count", text="needs a person")
        return ScriptedModel.final("counted")
    # This run works only once the prompt is open (the test makes the flag).
    while not FLAG.exists():
        await asyncio.sleep(0.01)
    return ScriptedModel.final("went on")

model = ScriptedModel(respond)
"""


class Terminal:
    """A process on a pty; what it prints, with colours and cursor moves taken out."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        self.text = ""
        self.raw = b""  # as the terminal got it
        self.ended = False  # all it printed is read
        self.changed = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # the process closed the terminal
                chunk = b""
            with self.changed:
                self.raw += chunk
                self.text += ANSI.sub("", chunk.decode("utf-8", errors="replace"))
                self.ended = not chunk
                self.changed.notify_all()
            if not chunk:
                return

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while (m := re.search(pattern, self.text)) is None:
                left = deadline - time.monotonic()
                assert left > 0 and not self.ended, f"no {pattern!r} in:\n{self.text}"
                self.changed.wait(left)
        return m

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        os.close(self.master)


async def wait_for_run(project: Path, run_id: str) -> RunStatus:
    rt = Runtime.from_project(project, models={}, max_active=0, recover=False)  # only watches
    async with rt:
        return (await rt.wait(run_id, timeout=60)).status


def test_approval_prompt_leaves_the_other_runs_working(
    project: Path, cli: Cli, model_file: ModelFile, tmp_path: Path
) -> None:
    (project / "agents" / "boss.yaml").write_text(
        "name: boss\ninstructions: Delegate.\ndelegates: [assistant]\n"
    )
    (project / "policy.yaml").write_text(
        "rules:\n  - name: counts\n    when: {tool: word_count}\n    decide: approve\n"
        "    reason: every count is checked\n"
    )
    flag = tmp_path / "prompt-is-open"
    model = model_file(TWO_CHILDREN.format(flag=str(flag)))
    env = {**os.environ, "ORGOS_MODEL_SCRIPT": str(model), "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("ORGOS_PROJECT", None)
    term = Terminal([sys.executable, "-m", "orgos.cli", "-p", str(project), "run", "boss", "go"],
                    env)  # fmt: skip
    try:
        other = term.wait_for(r"▶ assistant (r-\w+): go on meanwhile")[1]
        term.wait_for(re.escape("approve? [y]es / [n]o / [e]dit arguments: "))
        flag.touch()
        # The person has not answered yet; the other run finishes all the same.
        assert asyncio.run(wait_for_run(project, other)) is RunStatus.SUCCEEDED
        assert term.proc.poll() is None and "approved by" not in term.text
        term.type("y\n")
        term.wait_for(r"boss r-\w+ ✓ succeeded in")
        assert term.proc.wait(timeout=60) == 0
    finally:
        term.close()
    assert "✔ ap-" in term.text and "both done" in term.text
    assert "Traceback" not in term.text


def test_fs_cat_on_a_terminal_is_inert_and_into_a_pipe_gives_the_bytes(
    project: Path, cli: Cli, tmp_path: Path
) -> None:
    content = b"line one\n\x1b]52;c;ZXZpbA==\x07\x1b[2Jtwo\tcols\r\xe2\x80\xaeend\n"
    local = tmp_path / "hostile.txt"
    local.write_bytes(content)
    assert cli("-p", project, "fs", "put", local, "shared/hostile.txt").exit_code == 0
    args = [
        sys.executable,
        "-m",
        "orgos.cli",
        "-p",
        str(project),
        "fs",
        "cat",
        "shared/hostile.txt",
    ]
    env = {k: v for k, v in os.environ.items() if k != "ORGOS_PROJECT"}
    term = Terminal(args, env)
    try:
        term.wait_for("end")
        assert term.proc.wait(timeout=60) == 0
    finally:
        term.close()
    shown = term.raw.decode().replace("\r\n", "\n")  # the pty's own line ends aside
    assert "line one" in shown and "\\x1b]52;c;ZXZpbA==\\x07\\x1b[2Jtwo\tcols\\r\\u202eend" in shown
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", shown)
    piped = subprocess.run(args, env=env, capture_output=True, timeout=60, check=True)
    assert piped.stdout == content


COUNT_THEN_ANSWER = """
def respond(request):
    results = [m.content for m in request.messages if m.role == "tool"]
    if not results:
        return ScriptedModel.call("word_count", text="to be or not to be")
    return ScriptedModel.final(f"It has {results[0]} words.")

model = ScriptedModel(respond)
"""


def test_approval_prompt_edits_the_arguments_once_they_are_a_json_object(
    project: Path, model_file: ModelFile
) -> None:
    (project / "policy.yaml").write_text(
        "rules:\n  - name: counts\n    when: {tool: word_count}\n    decide: approve\n"
    )
    env = {**os.environ, "ORGOS_MODEL_SCRIPT": str(model_file(COUNT_THEN_ANSWER)),
           "COLUMNS": "200", "NO_COLOR": "1"}  # fmt: skip
    env.pop("ORGOS_PROJECT", None)
    term = Terminal([sys.executable, "-m", "orgos.cli", "-p", str(project), "run", "assistant",
                     "count"], env)  # fmt: skip
    try:
        term.wait_for(re.escape("[e]dit arguments: "))
        term.type("e\n")
        term.wait_for(re.escape("arguments (JSON): "))
        term.type('["a", "b"]\n')
        term.wait_for("the arguments are a JSON object")
        term.type('e\n{"text": "a b c"}\n')
        term.wait_for(r"assistant r-\w+ ✓ succeeded in")
        assert term.proc.wait(timeout=60) == 0
    finally:
        term.close()
    assert "It has 3 words." in term.text and "approved by local" in term.text

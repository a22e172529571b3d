"""`orgos fs`: people read and write the workspace as their role allows."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Cli, ModelFile
from typer.testing import CliRunner

from orgos.cli import app

PEOPLE = """\
people:
  ada: {role: admin}
  bea: {role: builder, teams: [sales]}
  vic: {role: viewer}
"""


def test_fs_commands_follow_roles(project: Path, cli: Cli, tmp_path: Path) -> None:
    (project / "people.yaml").write_text(PEOPLE)
    local = tmp_path / "plan.md"
    local.write_text("one\ntwo\n")

    def fs(*args: str | Path) -> tuple[int, str]:
        r = cli("-p", project, "fs", *args)
        return r.exit_code, r.output

    assert fs("put", "--as", "bea", local, "teams/sales/plan.md")[0] == 0
    local.write_text("one\nthree\n")
    code, out = fs("put", "--as", "bea", local, "teams/sales/plan.md")
    assert code == 0 and "version 2" in out

    code, out = fs("put", "--as", "bea", local, "teams/support/plan.md")
    assert code == 2 and "bea (builder) may not write" in out
    code, out = fs("put", "--as", "vic", local, "shared/x.md")
    assert code == 2 and "vic (viewer) may not write" in out
    code, out = fs("put", "--as", "ada", local, "teams/sales/../support/x.md")
    assert code == 2 and "path segments are not allowed" in out
    code, out = fs("ls", "--as", "mallory")
    assert code == 2 and "not a person" in out

    code, out = fs("cat", "--as", "vic", "teams/sales/plan.md")
    assert code == 0 and out == "one\nthree\n"
    code, out = fs("cat", "--as", "vic", "teams/sales/plan.md", "--version", "1")
    assert code == 0 and out == "one\ntwo\n"
    code, out = fs("ls", "--as", "vic", "teams")
    assert code == 0 and "teams/sales/plan.md" in out and "bea (person)" in out
    code, out = fs("log", "--as", "vic", "teams/sales/plan.md")
    assert code == 0 and "v1" in out and "v2" in out and "bea (person)" in out
    code, out = fs("diff", "--as", "vic", "teams/sales/plan.md")
    assert code == 0 and "-two" in out and "+three" in out and "@v1" in out
    code, out = fs("cat", "--as", "vic", "teams/sales/nothing.md")
    assert code == 2 and "no file" in out


def test_fs_works_in_a_fresh_project_as_the_local_user(project: Path, cli: Cli) -> None:
    r = cli("-p", project, "fs", "ls")
    assert r.exit_code == 0, r.output
    assert "no files" in r.output
    put = CliRunner().invoke(app, ["-p", str(project), "fs", "put", "-", "shared/notes.md"],
                             input="hello\n")  # fmt: skip
    assert put.exit_code == 0, put.output
    assert "shared/notes.md version 1" in put.output and "by local" in put.output
    r = cli("-p", project, "fs", "ls")
    assert r.exit_code == 0 and "shared/notes.md" in r.output and "local (person)" in r.output
    assert cli("-p", project, "fs", "cat", "shared/notes.md").output == "hello\n"


def test_fs_without_a_person_names_the_people_to_choose_from(project: Path, cli: Cli) -> None:
    (project / "people.yaml").write_text(PEOPLE)
    r = cli("-p", project, "fs", "ls")
    assert r.exit_code == 2
    assert "--as PERSON" in r.output and "people.yaml lists ada, bea, vic" in r.output


def test_retention_command(project: Path, cli: Cli) -> None:
    r = cli("-p", project, "retention")
    assert r.exit_code == 2 and "no retention policy" in r.output
    (project / "people.yaml").write_text(PEOPLE)
    assert (
        cli("-p", project, "fs", "put", "--as", "ada", project / "orgos.yaml", "a.txt").exit_code
        == 0
    )
    r = cli("-p", project, "retention", "--event-days", "0", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["dry_run"] is True and report["events"] >= 1
    r = cli("-p", project, "retention", "--event-days", "0")
    assert r.exit_code == 0 and "freed" in r.output and "events" in r.output


def test_people_yaml_errors_name_the_line(project: Path, cli: Cli) -> None:
    (project / "people.yaml").write_text("people:\n  ada: {role: admin}\n  bob: {role: boss}\n")
    r = cli("-p", project, "fs", "ls", "--as", "ada")
    assert r.exit_code == 2 and "people.yaml:3" in r.output and "role" in r.output
    (project / "people.yaml").write_text("people:\n  '*': {role: builder}\n")
    r = cli("-p", project, "fs", "ls", "--as", "ada")
    assert r.exit_code == 2 and "a person's name" in r.output


def test_a_run_writes_files_and_show_lists_the_steps(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    (project / "org.yaml").write_text(
        "teams:\n  - name: desk\n    files: {read: ['teams/desk/**'], write: ['teams/desk/**']}\n"
    )
    agent = project / "agents" / "assistant.yaml"
    agent.write_text(agent.read_text() + "team: desk\n")
    model = model_file(
        """
        def respond(req):
            done = [m for m in req.messages if m.role == "tool"]
            if not done:
                return ScriptedModel.call("write_file", path="teams/desk/note.md", content="hi")
            if len(done) == 1:
                return ScriptedModel.call("read_file", path="teams/desk/note.md")
            return ScriptedModel.final("read back: " + done[-1].content)

        model = ScriptedModel(respond)
        """
    )
    r = cli("-p", project, "run", "assistant", "note it", "--json", model=model)
    assert r.exit_code == 0, r.output
    run_id = json.loads(r.output)["id"]
    assert '\\"content\\":\\"hi\\"' in r.output
    r = cli("-p", project, "show", run_id)
    assert r.exit_code == 0, r.output
    assert "fs.write" in r.output and "fs.read" in r.output
    (project / "people.yaml").write_text(PEOPLE)
    r = cli("-p", project, "fs", "log", "--as", "ada", "teams/desk/note.md")
    assert r.exit_code == 0 and "assistant (agent)" in r.output and run_id in r.output

"""Every role x every CLI action: allowed or denied as designed. People act
through ORGOS_TOKEN; only hashes of tokens are stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from orgos.cli import app

#: action -> the command line that takes it ({run} is a run id).
COMMANDS: dict[str, list[str]] = {
    "run": ["run", "assistant", "hello"],
    "runs": ["runs"],
    "show": ["show", "{run}"],
    "org": ["org"],
    "fs ls": ["fs", "ls"],
    "fs cat": ["fs", "cat", "shared/none.txt"],
    "fs log": ["fs", "log", "shared/none.txt"],
    "fs diff": ["fs", "diff", "shared/none.txt"],
    "fs put": ["fs", "put", "-", "shared/none.txt"],
    "retention": ["retention", "--dry-run"],
    "resume": ["resume", "{run}"],
    # Refused after the access check (which comes first): a worker would run until stopped.
    "worker": ["worker", "--max-active", "0"],
    "cancel": ["cancel", "{run}"],
    "audit verify": ["audit", "verify"],
    "audit log": ["audit", "log"],
    "audit head": ["audit", "head"],
    "policy check": ["policy", "check", "assistant"],
    "approvals": ["approvals"],
    "approvals approve": ["approvals", "approve", "ap-none", "--no-follow"],
    "approvals deny": ["approvals", "deny", "ap-none", "--no-follow"],
    "usage": ["usage"],
    "pause": ["pause", "agent:nobody"],
    "unpause": ["unpause", "agent:nobody"],
    "secrets set": ["secrets", "set", "k"],
    "secrets list": ["secrets", "list"],
    "people list": ["people", "list"],
    "people add": ["people", "add", "newcomer", "viewer"],
    "people remove": ["people", "remove", "newcomer"],
    "people token": ["people", "token", "nobody"],
    "people tokens": ["people", "tokens"],
    "people revoke": ["people", "revoke", "tk-none"],
}

READ = {"runs", "show", "org", "fs ls", "fs cat", "fs log", "fs diff", "audit verify", "audit log", "audit head", "policy check", "approvals", "usage",
        "secrets list", "people list"}  # fmt: skip
RUN = {"run", "resume", "cancel", "fs put", "worker"}
OPERATE = {"approvals approve", "approvals deny", "pause", "unpause"}
ADMIN = {"secrets set", "people add", "people remove", "people token", "people tokens",
         "people revoke", "retention"}  # fmt: skip

#: The design, written out (not derived from the code it checks).
EXPECTED: dict[str, set[str]] = {
    "viewer": READ,
    "builder": READ | RUN,
    "operator": READ | RUN | OPERATE,
    "admin": READ | RUN | OPERATE | ADMIN,
}


def cli(proj: Path, args: list[str], token: str | None, model: Path, stdin: str = "") -> Result:
    env = {"ORGOS_MODEL_SCRIPT": str(model), "COLUMNS": "200"}
    if token is not None:
        env["ORGOS_TOKEN"] = token
    return CliRunner().invoke(app, ["-p", str(proj), *args], env=env, input=stdin)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str, Path]:
    tmp = tmp_path_factory.mktemp("rbac")
    proj = tmp / "p"
    model = tmp / "m.py"
    model.write_text(
        "from orgos.testing import ScriptedModel\nmodel = ScriptedModel(lambda r: ScriptedModel.final('hi'))\n"
    )
    assert CliRunner().invoke(app, ["init", str(proj)]).exit_code == 0
    first = cli(proj, ["run", "assistant", "hello"], None, model)
    assert first.exit_code == 0, first.output
    run_id = next(w for w in first.output.split() if w.startswith("r-"))
    # the local user is admin until the first person exists
    out = cli(proj, ["people", "add", "root", "admin"], None, model)
    assert out.exit_code == 0, out.output
    tokens = {"admin": out.output.strip().splitlines()[-1]}
    for role in ("viewer", "builder", "operator"):
        out = cli(proj, ["people", "add", role + "-person", role], tokens["admin"], model)
        assert out.exit_code == 0, out.output
        tokens[role] = out.output.strip().splitlines()[-1]
    return proj, tokens, run_id, model


def test_every_cli_command_is_in_the_table() -> None:
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    for g in app.registered_groups:
        assert g.typer_instance is not None
        names.add(str(g.name))
        names |= {f"{g.name} {c.name}" for c in g.typer_instance.registered_commands}
    names -= {"init"}  # needs no project, so no role: anyone may create one
    groups = {str(g.name) for g in app.registered_groups} - {"approvals"}  # the inbox is a command
    assert names - groups == set(COMMANDS)


@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize("action", sorted(COMMANDS))
def test_role_x_action(org: tuple[Path, dict[str, str], str, Path], role: str, action: str) -> None:
    proj, tokens, run_id, model = org
    args = [a.replace("{run}", run_id) for a in COMMANDS[action]]
    result = cli(proj, args, tokens[role], model, stdin="value\n")
    denied = result.exit_code == 4
    if action in EXPECTED[role]:
        assert not denied, result.output
        assert "permission denied" not in result.output
    else:
        assert denied, (result.exit_code, result.output)
        assert (
            f"permission denied: {role}" in result.output
            or "permission denied: root" in result.output
        )


@pytest.mark.parametrize("token", [None, "orgos_not-a-real-token"])
def test_no_or_bad_token_is_denied(
    org: tuple[Path, dict[str, str], str, Path], token: str | None
) -> None:
    proj, _, _, model = org
    for args in (["runs"], ["audit", "verify"], ["approvals"]):
        result = cli(proj, args, token, model)
        assert result.exit_code == 4, result.output
        assert "ORGOS_TOKEN" in result.output


def test_tokens_are_stored_hashed(org: tuple[Path, dict[str, str], str, Path]) -> None:
    proj, tokens, _, _ = org
    data = b"".join(p.read_bytes() for p in (proj / ".orgos").glob("orgos.db*"))
    for t in tokens.values():
        assert t.encode() not in data
    conn = sqlite3.connect(proj / ".orgos" / "orgos.db")
    assert conn.execute("SELECT COUNT(*) FROM tokens").fetchone()[0] >= 4


def test_signed_in_people_cannot_act_as_someone_else_in_fs(
    org: tuple[Path, dict[str, str], str, Path],
) -> None:
    proj, tokens, _, model = org
    # a builder may write, but only as themselves: --as another person is refused
    forged = cli(proj, ["fs", "put", "--as", "root", "-", "shared/x.txt"], tokens["builder"],
                 model, stdin="hello")  # fmt: skip
    assert forged.exit_code == 4, forged.output
    assert "signed in as builder-person" in forged.output
    own = cli(proj, ["fs", "put", "-", "shared/x.txt"], tokens["builder"], model, stdin="hello")
    assert own.exit_code == 0, own.output
    log = cli(proj, ["fs", "log", "shared/x.txt"], tokens["viewer"], model)
    assert log.exit_code == 0, log.output
    assert "builder-person" in log.output  # the version names who wrote it

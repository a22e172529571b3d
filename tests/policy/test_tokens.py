"""API tokens: bound to one workspace, expiring, revocable one by one, and
dead for good once their person is removed. Through the CLI, on real store
files; two projects share one store file as two workspaces of one org."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from orgos.cli import app
from orgos.cli.access import Denied, identify
from orgos.cli.common import State

DAY = 86400.0


def cli(proj: Path, *args: str, token: str | None = None) -> Result:
    env = {"COLUMNS": "200", "ORGOS_TOKEN": token or ""}
    return CliRunner().invoke(app, ["-p", str(proj), *args], env=env)


def project(tmp: Path, name: str, workspace: str, store: Path) -> Path:
    proj = tmp / name
    assert CliRunner().invoke(app, ["init", str(proj)]).exit_code == 0
    spec = proj / "orgos.yaml"
    text = spec.read_text().replace("sqlite:///.orgos/orgos.db", f"sqlite:///{store}")
    spec.write_text(text + f"workspace: {workspace}\n")
    return proj


def issued(result: Result) -> str:
    """The token a people add / people token printed (its last line)."""
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def token_id(result: Result) -> str:
    return next(w for w in result.output.split() if w.startswith("tk-"))


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path, str]:
    """Workspaces a and b on one store; ``root`` is admin of a (its token returned)."""
    store = tmp_path / "shared.db"
    a = project(tmp_path, "a", "a", store)
    b = project(tmp_path, "b", "b", store)
    return a, b, issued(cli(a, "people", "add", "root", "admin"))


def test_a_token_issued_in_another_workspace_is_refused(two: tuple[Path, Path, str]) -> None:
    a, b, _ = two
    # In b (no people yet: the local user is its admin) someone makes "root" too.
    from_b = issued(cli(b, "people", "add", "root", "viewer"))
    refused = cli(a, "people", "list", token=from_b)
    assert refused.exit_code == 4, refused.output
    assert "not valid in workspace 'a'" in refused.output
    assert cli(b, "people", "list", token=from_b).exit_code == 0


def test_a_removed_persons_tokens_stay_dead_when_the_name_is_added_again(
    two: tuple[Path, Path, str],
) -> None:
    a, _, root = two
    old = issued(cli(a, "people", "add", "ana", "operator", token=root))
    assert cli(a, "runs", token=old).exit_code == 0
    assert cli(a, "people", "remove", "ana", token=root).exit_code == 0
    new = issued(cli(a, "people", "add", "ana", "operator", token=root))
    again = cli(a, "runs", token=old)
    assert again.exit_code == 4 and "revoked" in again.output
    assert cli(a, "runs", token=new).exit_code == 0
    listing = cli(a, "people", "tokens", "ana", token=root).output.splitlines()
    assert [line.split()[-1] for line in listing] == ["revoked", "active"]


def test_revoking_one_of_two_tokens_leaves_the_other_valid(two: tuple[Path, Path, str]) -> None:
    a, _, root = two
    first = cli(a, "people", "add", "ana", "builder", token=root)
    second = cli(a, "people", "token", "ana", token=root)
    assert cli(a, "people", "revoke", token_id(first), token=root).exit_code == 0
    denied = cli(a, "runs", token=issued(first))
    assert denied.exit_code == 4 and f"token {token_id(first)} was revoked" in denied.output
    assert cli(a, "runs", token=issued(second)).exit_code == 0
    twice = cli(a, "people", "revoke", token_id(first), token=root)
    assert twice.exit_code != 0 and "no unrevoked token" in twice.output


def test_a_token_from_b_cannot_be_revoked_from_a(two: tuple[Path, Path, str]) -> None:
    a, b, root = two
    from_b = cli(b, "people", "add", "bo", "admin")
    refused = cli(a, "people", "revoke", token_id(from_b), token=root)
    assert refused.exit_code != 0 and "no unrevoked token" in refused.output
    assert cli(b, "people", "list", token=issued(from_b)).exit_code == 0


def test_a_token_expires_at_its_time(
    two: tuple[Path, Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _, root = two
    made = time.time()
    token = issued(cli(a, "people", "add", "ana", "viewer", "--expires", "30d", token=root))
    monkeypatch.setenv("ORGOS_TOKEN", token)
    assert identify(State(a), "runs", now=made + 29 * DAY) == ("ana", "viewer")
    with pytest.raises(Denied, match="expired"):
        identify(State(a), "runs", now=made + 31 * DAY)
    bad = cli(a, "people", "token", "ana", "--expires", "soon", token=root)
    assert bad.exit_code != 0 and "not a duration" in bad.output


@pytest.mark.parametrize("name", ["*", "a*", "../x", "ana bob", "ana\n", "ana\x1b[2J", ""])
def test_people_add_refuses_names_that_are_not_names(
    two: tuple[Path, Path, str], name: str
) -> None:
    a, _, root = two
    result = cli(a, "people", "add", name, "admin", token=root)
    assert result.exit_code != 0
    assert "not a valid name: a person's name is" in result.output
    assert "\x1b[2J" not in result.output
    assert cli(a, "people", "list", token=root).output.split()[::2] == ["root"]

"""Who is at the command line, and may they do this? The person comes from
ORGOS_TOKEN; their role in the project's workspace decides. Read straight
from the store file (read-only), so a check costs one small query."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from orgos.cli.common import CliError, State

TOKEN_ENV = "ORGOS_TOKEN"
EXIT_DENIED = 4  # the person may not do this


class Denied(CliError):
    """The person (or the lack of one) may not take this action."""


def _store_file(root: Path) -> tuple[Path | None, str]:
    from orgos.config.loader import load_file
    from orgos.config.project import PROJECT_FILE, Project
    from orgos.config.specs import ProjectSpec

    spec = load_file(ProjectSpec, root / PROJECT_FILE)
    url = Project(root, spec).store_url()
    path = Path(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else None
    return path, spec.workspace


def identify(state: State, action: str) -> tuple[str, str | None]:
    """The person taking ``action`` and their role (None before the project
    has people: the local user); raises Denied if they may not."""
    from orgos.errors import ConfigError
    from orgos.policy.identity import LOCAL, allowed, token_hash

    try:
        path, workspace = _store_file(state.root())
    except (ConfigError, CliError):
        return LOCAL, None  # no (valid) project: the command reports that itself
    if path is None or not path.is_file():
        return LOCAL, None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        try:
            people = dict(
                conn.execute("SELECT name, role FROM people WHERE workspace=?", (workspace,))
            )
        except sqlite3.OperationalError:  # a store from before governance
            return LOCAL, None
        if not people:
            return LOCAL, None
        token = os.environ.get(TOKEN_ENV, "")
        if not token:
            raise Denied(f"this project has people: set {TOKEN_ENV} to your token")
        row = conn.execute("SELECT person FROM tokens WHERE hash=?", (token_hash(token),))
        found = row.fetchone()
    finally:
        conn.close()
    if found is None:
        raise Denied(f"{TOKEN_ENV} is not a valid token of this project")
    person = str(found[0])
    role = people.get(person)
    if role is None:
        raise Denied(f"{person} has no role in workspace {workspace!r}")
    if not allowed(role, action):
        raise Denied(f"permission denied: {person} ({role}) may not {action.replace('.', ' ')}")
    return person, role


def whoami(state: State, action: str) -> str:
    """The person taking ``action``; raises Denied if they may not."""
    return identify(state, action)[0]


def require(state: State, action: str) -> str:
    """``whoami``, reporting a denial in red with exit code 4."""
    return require_identity(state, action)[0]


def require_identity(state: State, action: str) -> tuple[str, str | None]:
    """``identify``, reporting a denial in red with exit code 4."""
    import typer

    from orgos.cli.common import console, error_line

    try:
        return identify(state, action)
    except Denied as exc:
        console(stderr=True).print(error_line(str(exc)))
        raise typer.Exit(EXIT_DENIED) from None

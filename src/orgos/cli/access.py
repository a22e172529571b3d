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


def whoami(state: State, action: str) -> str:
    """The person taking ``action``; raises Denied if they may not."""
    from orgos.errors import ConfigError
    from orgos.policy.identity import LOCAL, allowed, token_hash

    try:
        path, workspace = _store_file(state.root())
    except (ConfigError, CliError):
        return LOCAL  # no (valid) project: the command reports that itself
    if path is None or not path.is_file():
        return LOCAL
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        try:
            people = dict(
                conn.execute("SELECT name, role FROM people WHERE workspace=?", (workspace,))
            )
        except sqlite3.OperationalError:  # a store from before governance
            return LOCAL
        if not people:
            return LOCAL
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
    return person


def role_of(state: State, person: str) -> str | None:
    """The person's role in the project's workspace (None: not a person of it)."""
    try:
        path, workspace = _store_file(state.root())
    except CliError:
        return None
    if path is None or not path.is_file():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute(
            "SELECT role FROM people WHERE workspace=? AND name=?", (workspace, person)
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return None if row is None else str(row[0])


def require(state: State, action: str) -> str:
    """``whoami``, reporting a denial in red with exit code 4."""
    import typer

    from orgos.cli.common import console, redact

    try:
        return whoami(state, action)
    except Denied as exc:
        from rich.markup import escape

        console(stderr=True).print(f"[bold red]error:[/] {escape(redact(str(exc)))}")
        raise typer.Exit(EXIT_DENIED) from None

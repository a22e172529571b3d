"""Who is at the command line, and may they do this? The person comes from
ORGOS_TOKEN; their role in the project's workspace decides. Read straight
from the store file (read-only), so a check costs one small query."""

from __future__ import annotations

import os
import time
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


def identify(state: State, action: str, *, now: float | None = None) -> tuple[str, str | None]:
    """The person taking ``action`` and their role (None before the project
    has people: the local user); raises Denied if they may not. ``now``: the
    time a token's expiry is checked against (the clock, unless a test says)."""
    from orgos.errors import ConfigError
    from orgos.policy.identity import LOCAL, TokenRefused, allowed, authenticate, token_hash
    from orgos.store.people import read_access

    try:
        path, workspace = _store_file(state.root())
    except (ConfigError, CliError):
        return LOCAL, None  # no (valid) project: the command reports that itself
    if path is None:
        return LOCAL, None
    token = os.environ.get(TOKEN_ENV, "")
    seen = read_access(path, workspace, token_hash(token) if token else None)
    if not seen.people:
        return LOCAL, None
    if not token:
        raise Denied(f"this project has people: set {TOKEN_ENV} to your token")
    try:
        person, role = authenticate(
            seen.token, seen.people, workspace, time.time() if now is None else now
        )
    except TokenRefused as exc:
        raise Denied(f"{TOKEN_ENV}: {exc}") from None
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

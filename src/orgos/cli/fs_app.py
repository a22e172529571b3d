"""``orgos fs``: people's door to the shared workspace filesystem.

Every command acts as a person (``--as`` or ORGOS_PERSON), whose role in
people.yaml decides what they may read and write. The work is in
orgos.cli.fs_commands, imported when a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orgos.cli.common import State, run_async

if TYPE_CHECKING:
    from orgos.cli.fs_commands import Actor

fs_app = typer.Typer(
    name="fs",
    help="The shared workspace filesystem: list, read, write, history, differences.",
    no_args_is_help=True,
)

AsPerson = Annotated[
    str,
    typer.Option(
        "--as", envvar="ORGOS_PERSON", help="Who you are (a person of people.yaml),"
        " while the project has no signed-in people (ORGOS_TOKEN) yet. In a project"
        " with no people at all, the local user acts as its admin.",
        show_default=False,
    ),
]  # fmt: skip


def _allow(ctx: typer.Context, action: str, person: str) -> Actor:
    """Who acts. The command needs a role (ORGOS_TOKEN, as every command
    does); once the project has people, that signed-in person is who acts,
    with their role: ``--as`` may only repeat their name. Before, ``--as``
    names a person of people.yaml. Which paths they may touch is their grant."""
    from orgos.cli.access import EXIT_DENIED, require_identity
    from orgos.cli.common import console, error_line

    state = _state(ctx)
    me, role = require_identity(state, action)
    if role is None:
        return (person, None) if person else _local(state)
    if person and person != me:
        console(stderr=True).print(
            error_line(f"you are signed in as {me}; --as {person} is someone else")
        )
        raise typer.Exit(EXIT_DENIED)
    return me, role


def _local(state: State) -> Actor:
    """Nobody named: in a project without people yet (no people.yaml, nobody
    signed in), the local user acts as its admin, as for every command;
    once people.yaml lists people, one of them must be named."""
    from orgos.cli.common import fail, reported_errors
    from orgos.fs.people import StaticRoles
    from orgos.people import PEOPLE_FILE
    from orgos.policy.identity import LOCAL

    with reported_errors():
        people = sorted(StaticRoles.from_project(state.root()).people)
    if not people:
        return LOCAL, "admin"
    fail(
        f"say who you are: --as PERSON (or set ORGOS_PERSON); {PEOPLE_FILE} lists"
        f" {', '.join(people)}"
    )


def _state(ctx: typer.Context) -> State:
    state = ctx.find_root().obj
    return state if isinstance(state, State) else State()


@fs_app.command("ls")
def ls(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="A folder (default: everything).")] = "",
    person: AsPerson = "",
) -> None:
    """List the files you may read: path, version, size, author, time."""
    actor = _allow(ctx, "fs.read", person)
    from orgos.cli import fs_commands

    raise typer.Exit(run_async(lambda: fs_commands.ls(_state(ctx), actor, prefix)))


@fs_app.command("cat")
def cat(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The file.")],
    version: Annotated[int | None, typer.Option(help="An older version.")] = None,
    person: AsPerson = "",
) -> None:
    """Print a file (the latest version, or --version N)."""
    actor = _allow(ctx, "fs.read", person)
    from orgos.cli import fs_commands

    raise typer.Exit(run_async(lambda: fs_commands.cat(_state(ctx), actor, path, version)))


@fs_app.command("put")
def put(
    ctx: typer.Context,
    local: Annotated[Path, typer.Argument(help="A local file, or - for standard input.")],
    path: Annotated[str, typer.Argument(help="Where it goes in the workspace.")],
    person: AsPerson = "",
) -> None:
    """Write a file into the workspace: a new version, authored by you."""
    actor = _allow(ctx, "fs.write", person)
    from orgos.cli import fs_commands

    raise typer.Exit(run_async(lambda: fs_commands.put(_state(ctx), actor, local, path)))


@fs_app.command("log")
def log(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The file.")],
    person: AsPerson = "",
) -> None:
    """Every version of a file: author, run, time, and what that run had read."""
    actor = _allow(ctx, "fs.read", person)
    from orgos.cli import fs_commands

    raise typer.Exit(run_async(lambda: fs_commands.log(_state(ctx), actor, path)))


@fs_app.command("diff")
def diff(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The file.")],
    old: Annotated[int | None, typer.Argument(help="Version (default: new - 1).")] = None,
    new: Annotated[int | None, typer.Argument(help="Version (default: the latest).")] = None,
    person: AsPerson = "",
) -> None:
    """The differences between two versions of a file (unified diff)."""
    actor = _allow(ctx, "fs.read", person)
    from orgos.cli import fs_commands

    raise typer.Exit(run_async(lambda: fs_commands.diff(_state(ctx), actor, path, old, new)))

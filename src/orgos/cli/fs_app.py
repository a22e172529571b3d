"""``orgos fs``: people's door to the shared workspace filesystem.

Every command acts as a person (``--as`` or ORGOS_PERSON), whose role in
people.yaml decides what they may read and write. The work is in
orgos.cli.fs_commands, imported when a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orgos.cli.common import State, run_async

fs_app = typer.Typer(
    name="fs",
    help="The shared workspace filesystem: list, read, write, history, differences.",
    no_args_is_help=True,
)

AsPerson = Annotated[
    str,
    typer.Option(
        "--as", envvar="ORGOS_PERSON", help="Who you are (a person of people.yaml),"
        " while the project has no signed-in people (ORGOS_TOKEN) yet.",
        show_default=False,
    ),
]  # fmt: skip


def _allow(ctx: typer.Context, action: str, person: str) -> str:
    """Who acts. The command needs a role (ORGOS_TOKEN, as every command
    does); once the project has people, that signed-in person is who acts:
    ``--as`` may only repeat their name. Before, ``--as`` names a person of
    people.yaml. Which paths they may touch is their grant."""
    from orgos.cli.access import EXIT_DENIED, require
    from orgos.cli.common import console
    from orgos.policy.identity import LOCAL

    me = require(_state(ctx), action)
    if me == LOCAL:
        return person
    if person and person != me:
        console(stderr=True).print(
            f"[bold red]error:[/] you are signed in as {me}; --as {person} is someone else"
        )
        raise typer.Exit(EXIT_DENIED)
    return me


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
    person = _allow(ctx, "fs.read", person)
    from orgos.cli import fs_commands

    raise typer.Exit(run_async(lambda: fs_commands.ls(_state(ctx), person, prefix)))


@fs_app.command("cat")
def cat(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The file.")],
    version: Annotated[int | None, typer.Option(help="An older version.")] = None,
    person: AsPerson = "",
) -> None:
    """Print a file (the latest version, or --version N)."""
    person = _allow(ctx, "fs.read", person)
    from orgos.cli import fs_commands

    raise typer.Exit(run_async(lambda: fs_commands.cat(_state(ctx), person, path, version)))


@fs_app.command("put")
def put(
    ctx: typer.Context,
    local: Annotated[Path, typer.Argument(help="A local file, or - for standard input.")],
    path: Annotated[str, typer.Argument(help="Where it goes in the workspace.")],
    person: AsPerson = "",
) -> None:
    """Write a file into the workspace: a new version, authored by you."""
    person = _allow(ctx, "fs.write", person)
    from orgos.cli import fs_commands

    raise typer.Exit(run_async(lambda: fs_commands.put(_state(ctx), person, local, path)))


@fs_app.command("log")
def log(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The file.")],
    person: AsPerson = "",
) -> None:
    """Every version of a file: author, run, time, and what that run had read."""
    person = _allow(ctx, "fs.read", person)
    from orgos.cli import fs_commands

    raise typer.Exit(run_async(lambda: fs_commands.log(_state(ctx), person, path)))


@fs_app.command("diff")
def diff(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The file.")],
    old: Annotated[int | None, typer.Argument(help="Version (default: new - 1).")] = None,
    new: Annotated[int | None, typer.Argument(help="Version (default: the latest).")] = None,
    person: AsPerson = "",
) -> None:
    """The differences between two versions of a file (unified diff)."""
    person = _allow(ctx, "fs.read", person)
    from orgos.cli import fs_commands

    raise typer.Exit(run_async(lambda: fs_commands.diff(_state(ctx), person, path, old, new)))

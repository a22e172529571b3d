"""What the ``orgos fs`` commands do."""

from __future__ import annotations

import asyncio
import difflib
import sys
import time
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from orgos.cli.common import EXIT_OK, CliError, State, console, open_runtime
from orgos.cli.safe import inert, safe
from orgos.runtime import Runtime

#: Who acts, and their governance role when they signed in (ORGOS_TOKEN).
Actor = tuple[str, str | None]


def _open(state: State, actor: Actor) -> Runtime:
    # this process runs nothing: no model, no claiming of runs
    from orgos.fs.people import GovernedRoles, StaticRoles

    extra: dict[str, Any] = {}
    name, role = actor
    if role is not None:  # signed in: governance's role is theirs
        extra["people"] = GovernedRoles(StaticRoles.from_project(state.root()), {name: role})
    return open_runtime(state, models_needed=False, max_active=0, recover=False, **extra)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _who(person: str) -> str:
    if not person:
        raise CliError("say who you are: --as PERSON (or set ORGOS_PERSON)")
    return person


async def ls(state: State, actor: Actor, prefix: str) -> int:
    async with _open(state, actor) as rt:
        found = await rt.files.list_as(_who(actor[0]), prefix)
    table = Table(box=None, pad_edge=False)
    for col in ("path", "version", "size", "author", "written"):
        table.add_column(col, justify="right" if col in ("version", "size") else "left")
    for v in found:
        table.add_row(safe(v.path), str(v.version), _size(v.size),
                      safe(f"{v.author} ({v.author_kind})"), _when(v.ts))  # fmt: skip
    con = console()
    con.print(table if found else Text("no files"))
    return EXIT_OK


async def cat(state: State, actor: Actor, path: str, version: int | None) -> int:
    async with _open(state, actor) as rt:
        _, data = await rt.files.read_as(_who(actor[0]), path, version)
    _write_out(data)
    return EXIT_OK


def _write_out(data: bytes) -> None:
    """Into a pipe or a file, the bytes as they are; on a terminal, the text
    with its escapes made inert (newlines and tabs kept): a file an agent
    wrote must not drive the terminal."""
    if sys.stdout.isatty():
        sys.stdout.write(inert(data.decode("utf-8", errors="replace"), lines=True))
    else:
        sys.stdout.buffer.write(data)
    sys.stdout.flush()


async def put(state: State, actor: Actor, local: Path, path: str) -> int:
    if str(local) == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = await asyncio.to_thread(local.read_bytes)
        except OSError as exc:
            raise CliError(f"{local}: cannot read: {exc.strerror}") from None
    async with _open(state, actor) as rt:
        v = await rt.files.put_as(_who(actor[0]), path, data)
    console().print(safe(f"{v.path} version {v.version} ({_size(v.size)}) by {v.author}"))
    return EXIT_OK


async def log(state: State, actor: Actor, path: str) -> int:
    con = console()
    async with _open(state, actor) as rt:
        who = _who(actor[0])
        versions = await rt.files.log_as(who, path)
        for v in versions:
            what = "deleted" if v.blob is None else _size(v.size)
            line = safe(f"v{v.version}  {_when(v.ts)}  {v.author} ({v.author_kind})  {what}")
            if v.run_id:
                line.append(inert(f"  run {v.run_id}"), style="cyan")
            con.print(line)
            if v.run_id:
                lin = await rt.files.lineage_as(who, path, v.version)
                for r in lin["read"]:
                    con.print(safe(f"      read {r['path']} v{r['version']}", "dim"))
    return EXIT_OK


async def diff(state: State, actor: Actor, path: str, old: int | None, new: int | None) -> int:
    async with _open(state, actor) as rt:
        who = _who(actor[0])
        versions = await rt.files.log_as(who, path)
        new_v = new if new is not None else versions[-1].version
        old_v = old if old is not None else new_v - 1
        if old_v < 1:
            raise CliError(f"{path} has only version {new_v}; nothing to compare")
        _, a = await rt.files.read_as(who, path, old_v)
        _, b = await rt.files.read_as(who, path, new_v)
    lines = difflib.unified_diff(
        a.decode("utf-8", errors="replace").splitlines(keepends=True),
        b.decode("utf-8", errors="replace").splitlines(keepends=True),
        fromfile=f"{path}@v{old_v}", tofile=f"{path}@v{new_v}",
    )  # fmt: skip
    _write_out("".join(lines).encode())
    return EXIT_OK

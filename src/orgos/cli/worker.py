"""``orgos worker``: a worker on the project's store, until it is stopped.

Any number of them, on any number of hosts, may share one store (a SQLite
file on one host, or ``store: postgresql://...``): each claims runnable runs
(new, woken, or left by a worker that died: its lease ran out) and executes
them. SIGTERM or Ctrl-C stops it cleanly (``Kernel.stop``: calls that must
not be cut short finish, the rest goes back to the queue for the others);
a second Ctrl-C interrupts for real. One line per run started and ended."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from orgos.cli.common import EXIT_OK, State, run_async

if TYPE_CHECKING:
    from rich.text import Text

    from orgos.store.base import RunRecord


def worker(
    ctx: typer.Context,
    workspace: Annotated[
        list[str] | None,
        typer.Option(
            "--workspace",
            "-w",
            help="A workspace whose runs it works on; repeat for several (default: the project's).",
            show_default=False,
        ),
    ] = None,
    max_active: Annotated[
        int | None,
        typer.Option(
            min=1, help="Runs it executes at once (default: max_active_runs of orgos.yaml)."
        ),
    ] = None,
    lease_ttl: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Seconds its lease lasts unrenewed: if it dies, its runs move to another"
            " worker after this (default: 10).",
        ),
    ] = None,
) -> None:
    """Run a worker on the project's store until SIGTERM or Ctrl-C: it claims
    and executes runnable runs, its own and those of workers that died."""
    state = ctx.find_root().obj
    state = state if isinstance(state, State) else State()
    overrides: dict[str, Any] = {"recover": True, "tune_gc": True}
    if workspace:
        overrides["workspace"], overrides["workspaces"] = workspace[0], workspace[1:]
    if max_active is not None:
        overrides["max_active"] = max_active
    if lease_ttl is not None:
        overrides["lease_ttl"] = lease_ttl
    raise typer.Exit(run_async(lambda: work(state, overrides)))


async def work(state: State, overrides: dict[str, Any]) -> int:
    from rich.text import Text

    from orgos.cli import common
    from orgos.cli.safe import safe

    con = common.console()
    with common.interrupt_event() as stop:
        rt = common.open_runtime(state, **overrides)
        async with rt:
            kernel = rt.kernel
            kernel.on_run_start.append(lambda rec: con.print(_started(rec)))
            kernel.on_run_end.append(lambda rec: con.print(_ended(rec)))
            spaces = ", ".join(sorted(kernel.workspaces))
            at_once = f"{kernel.max_active} run(s) at once"
            con.print(safe(f"worker {kernel.worker_id} working on workspace(s) {spaces},"
                           f" {at_once}; SIGTERM or Ctrl-C stops it"))  # fmt: skip
            await stop.wait()
            con.print(Text("stopping: unfinished runs go back to the queue", style="yellow"))
    con.print(safe(f"worker {kernel.worker_id} stopped"))
    return EXIT_OK


def _started(rec: RunRecord) -> Text:
    from orgos.cli.safe import safe

    return safe(f"▶ {rec.id} {rec.kind} {rec.target} started")


def _ended(rec: RunRecord) -> Text:
    from orgos.cli.common import short
    from orgos.cli.render import status_text
    from orgos.cli.safe import safe

    line = safe(f"■ {rec.id} {rec.kind} {rec.target} ")
    line.append_text(status_text(rec.status.value))
    if rec.error:
        line.append(f": {short(rec.error)}", style="red")
    return line

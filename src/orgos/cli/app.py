"""The ``orgos`` command: options and help. The work is in orgos.cli.commands,
imported by each command when it runs, so ``orgos --help`` stays fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orgos.cli.common import EXIT_OK, State, run_async

app = typer.Typer(
    name="orgos",
    help="orgos: an operating system for AI agents. Runs are durable: they survive"
    " crashes and Ctrl-C, and `orgos resume` takes them on from where they stopped.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold API keys
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from orgos import __version__

        typer.echo(f"orgos {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _options(
    ctx: typer.Context,
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            "-p",
            envvar="ORGOS_PROJECT",
            help="The project folder (default: the nearest folder at or above the"
            " working directory holding orgos.yaml).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = State(project)
    from orgos.cli.common import log_to_stderr

    log_to_stderr()  # the runtime's warnings, inert like the rest of the output
    from orgos.cli.governance import CORE_ACTIONS  # who may do this (ORGOS_TOKEN)

    if ctx.invoked_subcommand in CORE_ACTIONS:
        from orgos.cli.access import require

        require(ctx.obj, CORE_ACTIONS[ctx.invoked_subcommand])


def _state(ctx: typer.Context) -> State:
    state = ctx.find_root().obj
    return state if isinstance(state, State) else State()


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path("."),
) -> None:
    """Create a project that runs as it is: orgos.yaml, an agent, a tool."""
    from orgos.cli.common import console, reported_errors
    from orgos.cli.scaffold import scaffold

    with reported_errors():
        files = scaffold(folder)
    from orgos.cli.safe import inert

    con = console()
    con.print(inert(f"Created an orgos project in {folder.resolve()}:"))
    for f in files:
        con.print(inert(f"  {f.relative_to(folder)}"))
    cd = "" if folder.resolve() == Path.cwd().resolve() else inert(f"cd {folder} && ")
    con.print("Next:")
    con.print(f"  {cd}orgos run assistant \"How many words are in 'to be or not to be'?\"")
    con.print("  orgos runs                 # the runs so far")
    con.print("  orgos show <RUN>           # every step of a run")
    con.print("With no API key set, the embedded model answers; set OPENAI_API_KEY (or")
    con.print("ANTHROPIC_API_KEY, or ORGOS_MODEL_BASE_URL and ORGOS_MODEL) to use another.")


@app.command()
def run(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(metavar="AGENT|WORKFLOW", help="What to run.")],
    task: Annotated[
        str,
        typer.Argument(
            help="The task, in words; for a workflow, its input as a JSON object"
            ' (or words, given as {"task": ...}).'
        ),
    ] = "",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the outcome, as JSON.")
    ] = False,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Start it in a background worker and return.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(help="Stop waiting after this many seconds (the run stays resumable)."),
    ] = None,
    auto_approve: Annotated[
        bool,
        typer.Option(
            "--auto-approve",
            help="Approve every call policy parks for approval, as you (non-interactive use).",
        ),
    ] = False,
) -> None:
    """Run an agent on a task, or a workflow on its input, and follow it live.

    A call that policy parks for approval is asked about here when the terminal
    is interactive (or approved with --auto-approve).

    Exit code: 0 succeeded, 1 failed or cancelled, 2 bad input, 3 waiting for a
    decision (`orgos resume RUN --decide ...`) or an approval (`orgos approvals`),
    4 permission denied, 124 timeout, 130 Ctrl-C."""
    from orgos.cli import commands

    state = _state(ctx)
    if detach:
        code = commands.detach(state, agent, task, as_json=as_json)
    else:
        code = run_async(
            lambda: commands.run(
                state, agent, task, as_json=as_json, timeout=timeout, auto_approve=auto_approve
            )
        )
    raise typer.Exit(code)


@app.command()
def runs(
    ctx: typer.Context,
    all_runs: Annotated[bool, typer.Option("--all", "-a", help="Child runs too.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 20,
    status: Annotated[
        str | None,
        typer.Option(help="Only runs in this status: queued, running, waiting, succeeded,"
                     " failed, cancelled."),
    ] = None,
) -> None:  # fmt: skip
    """List the latest runs: id, agent@version, status, created, duration, tokens."""
    from orgos.cli import commands

    state = _state(ctx)
    raise typer.Exit(
        run_async(lambda: commands.runs(state, all_runs=all_runs, limit=limit, status=status))
    )


@app.command()
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run id, or its first chars.")],
    full: Annotated[bool, typer.Option("--full", help="Do not shorten texts.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="The tree and every journal, as JSON.")
    ] = False,
) -> None:
    """Show a run tree: every step of every run, with tokens and times."""
    from orgos.cli import commands

    state = _state(ctx)
    raise typer.Exit(run_async(lambda: commands.show(state, run_id, full=full, as_json=as_json)))


@app.command()
def resume(
    ctx: typer.Context,
    run_id: Annotated[
        str | None,
        typer.Argument(metavar="[RUN]", help="The run to resume (default: every unfinished run)."),
    ] = None,
    decide: Annotated[
        str | None,
        typer.Option(
            help="For a run waiting for a decision about a call that was in flight at a crash:"
            " retry (run it again), done (it took effect; --value is its result) or not-done.",
        ),
    ] = None,
    value: Annotated[
        str | None, typer.Option(help="With --decide done: the call's result, as JSON.")
    ] = None,
) -> None:
    """Resume runs: without RUN, work until every unfinished run ends; with
    RUN, requeue it (failed, waiting) or answer its decision, and follow it."""
    from orgos.cli import commands
    from orgos.cli.common import CliError, parse_json_option, reported_errors

    state = _state(ctx)
    with reported_errors():
        if decide is not None and decide not in ("retry", "done", "not-done"):
            raise CliError(f"--decide must be retry, done or not-done, not {decide!r}")
        if value is not None and decide != "done":
            raise CliError("--value goes with --decide done")
        parsed = parse_json_option(value, "--value")
    by = "local"
    if decide is not None:  # answering for a call in doubt is an approver's act
        from orgos.cli.access import require

        by = require(state, "approvals.decide")
    raise typer.Exit(run_async(lambda: commands.resume(state, run_id, decide, parsed, by=by)))


@app.command()
def cancel(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run id, or its first chars.")],
) -> None:
    """Cancel a run and all its descendants."""
    from orgos.cli import commands

    state = _state(ctx)
    raise typer.Exit(run_async(lambda: commands.cancel(state, run_id)))


@app.command()
def org(ctx: typer.Context) -> None:
    """Print the org chart: teams, members, supervisors, capabilities, delegation."""
    from orgos.cli.common import reported_errors
    from orgos.cli.org import show_org

    with reported_errors():
        code = show_org(_state(ctx))
    raise typer.Exit(code)


from orgos.cli.governance import register as _register_governance  # noqa: E402

_register_governance(app)

from orgos.cli.fs_app import fs_app  # noqa: E402
from orgos.cli.retention_app import retention  # noqa: E402
from orgos.cli.worker import worker  # noqa: E402

app.add_typer(fs_app, name="fs")
app.command()(retention)
app.command()(worker)


def main() -> None:
    app()

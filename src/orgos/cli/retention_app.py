"""``orgos retention``: apply the project's retention policy and report what
it freed. Options override the policy of orgos.yaml for this once."""

from __future__ import annotations

from typing import Annotated

import typer

from orgos.cli.common import State, run_async


def retention(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would go; remove nothing.")
    ] = False,
    journal_days: Annotated[
        float | None, typer.Option(help="Journals of run trees that ended this many days ago.")
    ] = None,
    event_days: Annotated[float | None, typer.Option(help="Events older than this.")] = None,
    file_versions: Annotated[
        int | None, typer.Option(help="Keep this many versions of each file.")
    ] = None,
    file_version_days: Annotated[
        float | None, typer.Option(help="Old file versions older than this.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """Remove old journals, events and file versions (and blobs no version
    uses) as the `retention:` policy of orgos.yaml says; report what was freed."""
    state = ctx.find_root().obj
    state = state if isinstance(state, State) else State()
    from orgos.cli.access import require

    require(state, "retention")  # it deletes history: admins only
    overrides = {
        "journal_days": journal_days,
        "event_days": event_days,
        "file_versions": file_versions,
        "file_version_days": file_version_days,
    }

    async def go() -> int:
        import json

        from rich.text import Text

        from orgos.cli.common import CliError, console, open_runtime
        from orgos.retention import apply_retention

        rt = open_runtime(state, models_needed=False, max_active=0, recover=False)
        root = rt.project_root or state.root()
        from orgos.config.project import load_project

        policy = load_project(root).spec.retention.model_copy(
            update={k: v for k, v in overrides.items() if v is not None}
        )
        if all(getattr(policy, k) is None for k in overrides):
            raise CliError(
                "no retention policy: set `retention:` in orgos.yaml or pass --journal-days,"
                " --event-days, --file-versions or --file-version-days"
            )
        async with rt:
            rep = await apply_retention(rt.store, rt.store.blobs, policy, dry_run=dry_run)
        con = console()
        if as_json:
            con.print(Text(json.dumps(rep.to_dict(), indent=2)))
            return 0
        verb = "would free" if dry_run else "freed"
        con.print(Text(
            f"{verb} {rep.freed_bytes:,} bytes: {rep.runs} runs ({rep.journal_entries} journal"
            f" entries), {rep.events} events, {rep.file_versions} file versions,"
            f" {rep.blobs} blobs ({rep.blob_bytes:,} bytes)"
        ))  # fmt: skip
        return 0

    raise typer.Exit(run_async(go))

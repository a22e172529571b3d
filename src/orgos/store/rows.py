"""How a run row and a JSON column are read and written (SQLite): shared by
the store and the modules that query runs next to it (claims, children)."""

from __future__ import annotations

from typing import Any

import pydantic_core

from orgos.store.base import RunRecord, RunStatus
from orgos.store.records import Approval
from orgos.store.waiting import from_stored

_RUN_COLS = (
    "id, workspace, kind, target, target_version, input, parent_id, root_id, status, output,"
    " error, waiting_on, owner, fence, priority, created_at, updated_at, cancel_requested,"
    " tainted"
)
#: One placeholder per column of ``_RUN_COLS`` (an insert of a whole row).
_RUN_MARKS = ",".join("?" * (_RUN_COLS.count(",") + 1))
_TERMINAL_SQL = "('succeeded','failed','cancelled')"


def _dumps(value: Any) -> str | None:
    return None if value is None else pydantic_core.to_json(value).decode()


def _loads(text: str | bytes | None) -> Any:
    return None if text is None else pydantic_core.from_json(text)


def _run_from_row(r: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        id=r[0],
        workspace=r[1],
        kind=r[2],
        target=r[3],
        target_version=r[4],
        input=_loads(r[5]),
        parent_id=r[6],
        root_id=r[7],
        status=RunStatus(r[8]),
        output=_loads(r[9]),
        error=r[10],
        waiting_on=None if r[11] is None else from_stored(_loads(r[11])),
        owner=r[12],
        fence=r[13],
        priority=r[14],
        created_at=r[15],
        updated_at=r[16],
        cancel_requested=bool(r[17]),
        tainted=bool(r[18]),
    )


#: The approvals table's columns, in the order ``approval_of`` reads them
#: (both backends select them so).
APPROVAL_COLS = (
    "id, workspace, run_id, step, agent, kind, request, rule, reason, status, assignee,"
    " escalations, due_at, created_at, decided_by, decided_at, note, arguments"
)


def approval_of(r: tuple[Any, ...]) -> Approval:
    """An approval from a row of ``APPROVAL_COLS``."""
    return Approval(r[0], r[1], r[2], r[3], r[4], r[5], _loads(r[6]), r[7], r[8], r[9], r[10],
                    r[11], r[12], r[13], r[14], r[15], r[16], _loads(r[17]))  # fmt: skip

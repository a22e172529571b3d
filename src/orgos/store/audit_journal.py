"""The audit chain vouches for the journal: each syscall's record holds the
sha256 of its journaled request and result, and every decision a person took
in the journal has a record saying who took it. Checking it here means an
edit of a journal row (a tool's arguments, a model's answer) or a forged
decision is found by ``orgos audit verify``, not only an edit of the log.

Journals that retention removed are named in its ``retention.pruned``
records, so they are not reported missing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from itertools import groupby

from orgos.store.audit import digest

#: Audit actions that record a person's decision written into a run's journal.
DECISION_ACTIONS = ("approval.approved", "approval.denied")
DECISION_PREFIX = "decision."

_VOUCHED = (
    "SELECT run_id, step, seq, request_sha, result_sha FROM audit WHERE run_id IS NOT NULL"
    " AND step IS NOT NULL AND (request_sha IS NOT NULL OR result_sha IS NOT NULL)"
    " ORDER BY run_id, step, seq"
)


def journal_problems(conn: sqlite3.Connection, limit: int) -> list[str]:
    """Journal rows that do not match the audit records vouching for them."""
    problems: list[str] = []
    pruned = pruned_runs(conn)
    for (run, step), group in groupby(conn.execute(_VOUCHED), key=lambda r: (r[0], r[1])):
        rows = list(group)
        intents, results = _stored(conn, run, step)
        if not intents and not results and run in pruned:
            continue
        for what, col, have in (("request", 3, intents), ("result", 4, results)):
            want = {r[col]: r[2] for r in reversed(rows) if r[col] is not None}
            if not want or set(want) == have:
                continue
            first = min(want.values())
            if not have:
                problems.append(f"run {run} step {step}: its journaled {what} is missing"
                                f" (deleted); audit record {first} vouches for it")  # fmt: skip
            else:
                problems.append(f"run {run} step {step}: its journaled {what} does not match"
                                f" audit record {first} (edited)")  # fmt: skip
            if len(problems) >= limit:
                return problems
    problems.extend(_decision_problems(conn, limit - len(problems)))
    return problems[:limit]


def _stored(conn: sqlite3.Connection, run: str, step: int) -> tuple[set[str], set[str]]:
    """The digests of the intent and result rows journaled for one syscall."""
    intents: set[str] = set()
    results: set[str] = set()
    for phase, payload, inline in conn.execute(
        "SELECT phase, payload, result FROM journal WHERE run_id=? AND seq=?"
        " AND phase IN ('intent', 'result')",
        (run, step),
    ):
        if phase == "intent":
            intents.add(digest(payload) or "")
            if inline is not None:
                results.add(digest(inline) or "")
        else:
            results.add(digest(payload) or "")
    return intents, results


def _decision_problems(conn: sqlite3.Connection, limit: int) -> Iterator[str]:
    """A decision in a journal with no record of who took it was forged; one
    whose person or answer differs from its record was edited."""
    if limit <= 0:
        return
    recorded: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for run, step, actor, action in conn.execute(
        "SELECT run_id, step, actor, action FROM audit WHERE run_id IS NOT NULL AND"
        " (action LIKE 'decision.%' OR action IN (?, ?))",
        DECISION_ACTIONS,
    ):
        answer = action.split(".", 1)[1]
        recorded.setdefault((run, step), []).append((actor, answer))
    for run, step, payload in conn.execute(
        "SELECT run_id, seq, payload FROM journal WHERE phase='decision' ORDER BY run_id, seq"
    ):
        doc = _object(payload)
        said = (str(doc.get("by", "")), str(doc.get("action") or doc.get("decision") or ""))
        records = recorded.get((run, step), [])
        if not records:
            yield (f"run {run} step {step}: a decision in the journal has no audit record"
                   " (inserted)")  # fmt: skip
        elif said not in records:
            yield (f"run {run} step {step}: the journal's decision ({said[1]} by {said[0]})"
                   " differs from its audit record (edited)")  # fmt: skip
        else:
            continue
        limit -= 1
        if limit <= 0:
            return


def pruned_runs(conn: sqlite3.Connection) -> set[str]:
    """Runs whose journals retention removed (named in its audit records)."""
    out: set[str] = set()
    for (data,) in conn.execute("SELECT data FROM audit WHERE action='retention.pruned'"):
        runs = _object(data).get("runs")
        if isinstance(runs, list):
            out.update(str(r) for r in runs)
    return out


def _object(text: str | None) -> dict[str, object]:
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}

"""The audit chain in SQL: each record's hash covers the previous record's
hash and its own stored columns, so an edit, an insertion, a deletion or a
reordering breaks the chain where it happened.

The chain is computed inside the write transaction (the previous hash is read
under the write lock), so several worker processes on one store extend one
chain. ``seq`` is AUTOINCREMENT: SQLite keeps the highest seq ever used, which
exposes a deletion at the tail too.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

GENESIS = "0" * 64

_COLS = "seq, ts, workspace, actor, action, run_id, step, data, request_sha, result_sha, prev, hash"


@dataclass(slots=True)
class AuditRow:
    seq: int
    ts: float
    workspace: str
    actor: str
    action: str
    run_id: str | None
    step: int | None
    data: str | None
    request_sha: str | None
    result_sha: str | None
    prev: str
    hash: str


def canonical(
    ts: float,
    workspace: str,
    actor: str,
    action: str,
    run_id: str | None,
    step: int | None,
    data: str | None,
    request_sha: str | None,
    result_sha: str | None,
) -> str:
    """The record as hashed: its stored columns, unit-separated."""
    return "\x1f".join(
        (
            repr(ts),
            workspace,
            actor,
            action,
            run_id or "",
            "" if step is None else str(step),
            data or "",
            request_sha or "",
            result_sha or "",
        )
    )


def chain_hash(prev: str, seq: int, record: str) -> str:
    return hashlib.sha256(f"{prev}\x1e{seq}\x1e{record}".encode()).hexdigest()


def digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


#: (ts, workspace, actor, action, run_id, step, data, request_sha, result_sha)
Pending = tuple[float, str, str, str, str | None, int | None, str | None, str | None, str | None]


def append(conn: sqlite3.Connection, rows: list[Pending]) -> None:
    """Extend the chain; call inside a write transaction."""
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    top = conn.execute("SELECT seq FROM sqlite_sequence WHERE name='audit'").fetchone()
    seq = max(last[0] if last else 0, top[0] if top else 0)
    prev = last[1] if last else GENESIS
    out = []
    for r in rows:
        seq += 1
        h = chain_hash(prev, seq, canonical(*r))
        out.append((seq, *r, prev, h))
        prev = h
    conn.executemany(f"INSERT INTO audit ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", out)


def rows(conn: sqlite3.Connection, *, after: int = 0) -> Iterator[AuditRow]:
    for r in conn.execute(f"SELECT {_COLS} FROM audit WHERE seq > ? ORDER BY seq", (after,)):
        yield AuditRow(*r)


def highest_seq(conn: sqlite3.Connection) -> int:
    """The highest seq SQLite ever handed out (survives deleting the tail)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name='audit'").fetchone()
    return int(row[0]) if row else 0


@dataclass(slots=True)
class Verdict:
    ok: bool
    records: int
    head: str
    problems: list[str]


def verify(conn: sqlite3.Connection, *, limit: int = 20) -> Verdict:
    """Walk the whole chain; report the first ``limit`` problems."""
    problems: list[str] = []
    prev, expect, n = GENESIS, 1, 0
    for r in rows(conn):
        n += 1
        if r.seq != expect:
            problems.append(f"record {expect}..{r.seq - 1} missing (deleted)")
        if r.prev != prev:
            problems.append(f"record {r.seq}: does not follow record {r.seq - 1} (inserted,"
                            " reordered, or its predecessor was changed)")  # fmt: skip
        want = chain_hash(
            r.prev,
            r.seq,
            canonical(r.ts, r.workspace, r.actor, r.action, r.run_id, r.step, r.data,
                      r.request_sha, r.result_sha),
        )  # fmt: skip
        if want != r.hash:
            problems.append(f"record {r.seq}: its content does not match its hash (edited)")
        prev, expect = r.hash, r.seq + 1
        if len(problems) >= limit:
            break
    top = highest_seq(conn)
    if len(problems) < limit and top >= expect:
        problems.append(f"record {expect}..{top} missing at the end (deleted)")
    return Verdict(not problems, n, prev, problems[:limit])

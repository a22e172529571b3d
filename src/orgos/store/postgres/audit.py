"""The audit chain on PostgreSQL (``orgos.store.audit`` has the why).

Writers extend one chain: ``audit_top`` holds the highest seq ever written
and its row is locked ``FOR UPDATE`` by the transaction that appends, so
concurrent batches append one after another, and a deletion at the tail is
exposed as SQLite's AUTOINCREMENT exposes it.
"""

from __future__ import annotations

from typing import Any

import psycopg

from orgos.store.audit import _COLS, _EARLIER, GENESIS, Pending, chained, digest


async def fill_earlier(cur: psycopg.AsyncCursor[Any], audits: list[Any]) -> list[Any]:
    """The request digests of records whose intent an earlier batch wrote."""
    out = []
    for r in audits:
        if r[7] is _EARLIER:
            await cur.execute(
                "SELECT payload FROM journal WHERE run_id=%s AND seq=%s AND phase='intent'"
                " ORDER BY id DESC LIMIT 1",
                (r[4], r[5]),
            )
            row = await cur.fetchone()
            r = (*r[:7], digest(row[0]) if row else None, r[8])
        out.append(r)
    return out


async def append(
    cur: psycopg.AsyncCursor[Any], rows: list[Pending], key: bytes | None = None
) -> None:
    """Extend the chain; call inside a write transaction."""
    await cur.execute("SELECT seq FROM audit_top FOR UPDATE")
    top = await cur.fetchone()
    await cur.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
    last = await cur.fetchone()
    seq = max(last[0] if last else 0, top[0] if top else 0)
    out = chained(rows, seq, last[1] if last else GENESIS, key)
    marks = ",".join(["%s"] * 13)
    await cur.executemany(f"INSERT INTO audit ({_COLS}, mac) VALUES ({marks})", out)
    await cur.execute("UPDATE audit_top SET seq=%s", (out[-1][0] if out else seq,))

"""The audit chain in SQL: each record's hash covers the previous record's
hash and its own stored columns, so an edit, an insertion, a deletion or a
reordering breaks the chain where it happened.

The chain is computed inside the write transaction (the previous hash is read
under the write lock), so several worker processes on one store extend one
chain. ``seq`` is AUTOINCREMENT: SQLite keeps the highest seq ever used, which
exposes a deletion at the tail too (unless ``sqlite_sequence`` is edited as
well: only a head kept elsewhere, ``verify(head=...)``, catches that).

Anyone able to write the file can rebuild a keyless chain. With a key (the
policy's ``audit:`` section) every record also carries an HMAC of its hash;
since each hash covers all earlier records, a valid MAC vouches for the chain
up to it, and only the key's holder can extend a chain that verifies.

The chain vouches for the journal too: a syscall's record holds the sha256 of
its journaled request and result, and ``verify`` recomputes them from the
journal rows (``orgos.store.audit_journal``).
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections.abc import Iterator
from typing import Any

from orgos.store import codec
from orgos.store.base import Audit, Op
from orgos.store.records import AuditRow, Verdict

GENESIS = "0" * 64

_COLS = "seq, ts, workspace, actor, action, run_id, step, data, request_sha, result_sha, prev, hash"


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


def mac(key: bytes, record_hash: str) -> str:
    """The keyed seal of a record: an HMAC-SHA256 of its chain hash."""
    return hmac.new(key, record_hash.encode(), hashlib.sha256).hexdigest()


#: (ts, workspace, actor, action, run_id, step, data, request_sha, result_sha)
Pending = tuple[float, str, str, str, str | None, int | None, str | None, str | None, str | None]


def batch_rows(ops: list[Op], entries: list[tuple[Any, ...]], now: float) -> list[Any]:
    """Audit records of a batch, bound to the stored bytes of the journal
    entries (intent and result) of the syscall each is about."""
    audits = [op for op in ops if type(op) is Audit]
    if not audits:
        return []
    stored: dict[tuple[str, int, str], str | None] = {}
    for e in entries:
        stored[(e[0], e[1], e[2])] = e[4]
        if e[2] == "intent" and e[7] is not None:
            stored[(e[0], e[1], "result")] = e[7]
    out = []
    for a in audits:
        req = res = None
        if a.run_id is not None and a.seq is not None:
            intent = stored.get((a.run_id, a.seq, "intent"), _EARLIER)
            req = _EARLIER if intent is _EARLIER else digest(intent)
            res = digest(stored.get((a.run_id, a.seq, "result")))
        data = (a.encoded or codec.prepare(a))[0]
        out.append((a.ts or now, a.workspace, a.actor, a.action, a.run_id, a.seq,
                    data, req, res))  # fmt: skip
    return out


#: An audit record whose syscall's intent was committed in an earlier batch
#: (a call not safe to repeat is journaled before it runs): read it back.
_EARLIER = "\x00earlier"


def fill_earlier(conn: sqlite3.Connection, audits: list[Any]) -> list[Any]:
    """Fill in the request digests of ``_EARLIER`` records from the journal,
    inside the write transaction that commits them."""
    out = []
    for r in audits:
        if r[7] is _EARLIER:
            row = conn.execute(
                "SELECT payload FROM journal WHERE run_id=? AND seq=? AND phase='intent'"
                " ORDER BY rowid DESC LIMIT 1",
                (r[4], r[5]),
            ).fetchone()
            r = (*r[:7], digest(row[0]) if row else None, r[8])
        out.append(r)
    return out


def append(conn: sqlite3.Connection, rows: list[Pending], key: bytes | None = None) -> None:
    """Extend the chain; call inside a write transaction. With ``key`` each
    record is sealed with its MAC."""
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    top = conn.execute("SELECT seq FROM sqlite_sequence WHERE name='audit'").fetchone()
    seq = max(last[0] if last else 0, top[0] if top else 0)
    out = chained(rows, seq, last[1] if last else GENESIS, key)
    conn.executemany(f"INSERT INTO audit ({_COLS}, mac) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", out)


def chained(rows: list[Pending], seq: int, prev: str, key: bytes | None) -> list[tuple[Any, ...]]:
    """The stored rows (``_COLS`` and mac) of records following record
    ``seq`` whose hash is ``prev``; sealed with ``key`` when given."""
    out = []
    for r in rows:
        seq += 1
        h = chain_hash(prev, seq, canonical(*r))
        out.append((seq, *r, prev, h, None if key is None else mac(key, h)))
        prev = h
    return out


def rows(conn: sqlite3.Connection, *, after: int = 0) -> Iterator[AuditRow]:
    for r in conn.execute(f"SELECT {_COLS} FROM audit WHERE seq > ? ORDER BY seq", (after,)):
        yield AuditRow(*r)


def highest_seq(conn: sqlite3.Connection) -> int:
    """The highest seq SQLite ever handed out (survives deleting the tail)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name='audit'").fetchone()
    return int(row[0]) if row else 0


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` as printed by ``orgos audit head``."""
    seq, sep, h = text.strip().partition(":")
    if not sep or not seq.isdigit() or len(h) != 64 or h.strip("0123456789abcdef"):
        raise ValueError(f"a head is SEQ:HASH (as `orgos audit head` prints it), not {text!r}")
    return int(seq), h


def verify(
    conn: sqlite3.Connection,
    *,
    key: bytes | None = None,
    head: tuple[int, str] | None = None,
    limit: int = 20,
) -> Verdict:
    """Walk the whole chain and the journal entries it vouches for; report
    the first ``limit`` problems. ``key``: every record from the first sealed
    one on must carry a valid MAC. ``head``: a ``(seq, hash)`` kept elsewhere
    that the chain must still reach."""
    from orgos.store.audit_journal import journal_problems

    problems: list[str] = []
    v = _walk(conn, key, head, problems, limit)
    if len(problems) < limit:
        problems.extend(journal_problems(conn, limit - len(problems)))
    v.problems = problems[:limit]
    v.ok = not v.problems
    return v


def _walk(
    conn: sqlite3.Connection,
    key: bytes | None,
    head: tuple[int, str] | None,
    problems: list[str],
    limit: int,
) -> Verdict:
    prev, expect, n, last, sealed, unsealed = GENESIS, 1, 0, 0, 0, 0
    seen_head = head is None
    for r, seal in _sealed_rows(conn):
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
        if key is not None:
            if seal is not None:
                sealed += 1
                if not hmac.compare_digest(seal, mac(key, r.hash)):
                    problems.append(f"record {r.seq}: its MAC is not this key's (forged)")
            elif sealed:
                unsealed += 1
                problems.append(f"record {r.seq}: not sealed with the audit key (forged, or"
                                " written by a process without the key)")  # fmt: skip
        if head is not None and r.seq == head[0]:
            seen_head = True
            if r.hash != head[1]:
                problems.append(f"record {r.seq} is not the head you kept (hash {r.hash[:12]}…,"
                                f" kept {head[1][:12]}…): the chain was rewritten")  # fmt: skip
        prev, expect, last = r.hash, r.seq + 1, r.seq
        if len(problems) >= limit:
            return Verdict(False, n, prev, problems, last, sealed)
    top = highest_seq(conn)
    if top >= expect:
        problems.append(f"record {expect}..{top} missing at the end (deleted)")
    if not seen_head and head is not None:
        problems.append(f"the chain ends at record {last}, before the head you kept (record"
                        f" {head[0]}): records were deleted at the end")  # fmt: skip
    if key is not None and n and not sealed:
        problems.append("no record is sealed with the audit key: the chain cannot be"
                        " authenticated (rewritten without the key?)")  # fmt: skip
    notes = []
    if key is not None and sealed and sealed + unsealed < n:
        notes.append(f"{n - sealed - unsealed} record(s) before the key was configured are"
                     " vouched for by the first sealed record")  # fmt: skip
    return Verdict(not problems, n, prev, problems, last, sealed, notes)


def _sealed_rows(conn: sqlite3.Connection) -> Iterator[tuple[AuditRow, str | None]]:
    for r in conn.execute(f"SELECT {_COLS}, mac FROM audit ORDER BY seq"):
        yield AuditRow(*r[:12]), r[12]


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    """The last record's seq and hash (``0, GENESIS`` for an empty log)."""
    row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)

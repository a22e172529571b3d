"""People and their API tokens, as SQL on a connection (SQLite).

A token is a record of one workspace: its id (to list and revoke it by, the
token itself is shown once and only its sha256 is kept), its person, when it
was made, when it expires (optional) and when it was revoked. A revocation
stays: removing a person revokes their tokens, and adding the name again
does not bring them back. The functions take a connection so that the CLI's
sign-in check can read a store file without opening a Store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from orgos.store.records import Access, Token

__all__ = ["Token", "read_access"]

_TOKEN_COLS = "id, workspace, person, created_at, expires_at, revoked_at"


def _token(r: tuple[str, str, str, float, float | None, float | None]) -> Token:
    return Token(r[0], r[1], r[2], r[3], r[4], r[5])


def read_people(conn: sqlite3.Connection, workspace: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT name, role FROM people WHERE workspace=? ORDER BY name", (workspace,)
    )
    return {r[0]: r[1] for r in rows}


def read_token(conn: sqlite3.Connection, token_hash: str) -> Token | None:
    row = conn.execute(f"SELECT {_TOKEN_COLS} FROM tokens WHERE hash=?", (token_hash,)).fetchone()
    return None if row is None else _token(row)


def read_tokens(conn: sqlite3.Connection, workspace: str) -> list[Token]:
    rows = conn.execute(
        f"SELECT {_TOKEN_COLS} FROM tokens WHERE workspace=? ORDER BY created_at, id",
        (workspace,),
    )
    return [_token(r) for r in rows]


def write_person(
    conn: sqlite3.Connection, workspace: str, name: str, role: str | None, now: float
) -> int:
    """Give ``name`` a role, or (``role`` None) remove them and revoke their
    tokens; returns how many tokens were revoked."""
    if role is not None:
        conn.execute("INSERT OR REPLACE INTO people VALUES (?,?,?)", (workspace, name, role))
        return 0
    conn.execute("DELETE FROM people WHERE workspace=? AND name=?", (workspace, name))
    return revoke(conn, workspace, now, person=name)


def insert_token(conn: sqlite3.Connection, token_hash: str, token: Token) -> None:
    conn.execute(
        f"INSERT INTO tokens (hash, {_TOKEN_COLS}) VALUES (?,?,?,?,?,?,?)",
        (token_hash, token.id, token.workspace, token.person, token.created_at,
         token.expires_at, token.revoked_at),
    )  # fmt: skip


def revoke(
    conn: sqlite3.Connection,
    workspace: str,
    now: float,
    *,
    person: str | None = None,
    token_id: str | None = None,
) -> int:
    """Revoke the unrevoked tokens of ``person``, or the one ``token_id``, in
    ``workspace``; returns how many."""
    if (person is None) == (token_id is None):
        raise ValueError("revoke a person's tokens or one token")
    column, value = ("person", person) if person is not None else ("id", token_id)
    cur = conn.execute(
        f"UPDATE tokens SET revoked_at=? WHERE workspace=? AND {column}=? AND revoked_at IS NULL",
        (now, workspace, value),
    )
    return cur.rowcount


def read_access(path: Path, workspace: str, token_hash: str | None) -> Access:
    """The people of ``workspace`` and the presented token's record, read from
    a store file without opening a Store (the CLI's sign-in check: one small
    query; the schema is brought up to date first, a token's columns change
    with it). No file: nobody, no token."""
    from orgos.store.sqlite_schema import migrate_file

    if not path.is_file():
        return Access({}, None)
    migrate_file(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        people = read_people(conn, workspace)
        found = read_token(conn, token_hash) if people and token_hash is not None else None
    finally:
        conn.close()
    return Access(people, found)

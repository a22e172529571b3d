"""A store made before tokens had a workspace: opening it migrates its
tokens, keeping only those whose workspace is beyond doubt."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from orgos.policy.identity import token_hash
from orgos.store.schema import MIGRATIONS
from orgos.store.sqlite import SQLiteStore

#: The schema version whose tokens table had no workspace (hash, person, created_at).
UNBOUND = 4


def old_store(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for statements in MIGRATIONS[:UNBOUND]:
        for stmt in statements:
            conn.execute(stmt)
    conn.execute(f"PRAGMA user_version={UNBOUND}")
    conn.executemany(
        "INSERT INTO people VALUES (?,?,?)",
        [("a", "ana", "admin"), ("a", "root", "admin"), ("b", "root", "viewer")],
    )
    conn.executemany(
        "INSERT INTO tokens VALUES (?,?,?)",
        [(token_hash(t), p, 1.0) for t, p in
         (("tok-ana", "ana"), ("tok-root", "root"), ("tok-gone", "gone"))],
    )  # fmt: skip
    conn.close()


async def test_old_tokens_are_bound_to_their_persons_only_workspace(tmp_path: Path) -> None:
    old_store(tmp_path / "o.db")
    store = SQLiteStore(tmp_path / "o.db")
    await store.open()
    try:
        g = store.people
        ana = await g.token(token_hash("tok-ana"))
        assert ana is not None and (ana.workspace, ana.person) == ("a", "ana")
        assert ana.id.startswith("tk-") and ana.state(2.0) == "active"
        # root is a person of two workspaces: the token could mean either
        assert await g.token(token_hash("tok-root")) is None
        # gone was removed before: its token must not come back
        assert await g.token(token_hash("tok-gone")) is None
    finally:
        await store.close()

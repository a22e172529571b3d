"""SQL schema, as an append-only list of migrations (``PRAGMA user_version``).

Never edit a released migration; add a new one."""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            workspace TEXT NOT NULL,
            kind TEXT NOT NULL,
            target TEXT NOT NULL,
            target_version INTEGER NOT NULL,
            input TEXT,
            parent_id TEXT,
            root_id TEXT NOT NULL,
            status TEXT NOT NULL,
            output TEXT,
            error TEXT,
            waiting_on TEXT,
            owner TEXT,
            fence INTEGER NOT NULL DEFAULT 0,
            priority INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            cancel_requested INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX runs_claim ON runs (status, owner)",
        "CREATE INDEX runs_parent ON runs (parent_id)",
        "CREATE INDEX runs_root ON runs (root_id)",
        "CREATE INDEX runs_ws_created ON runs (workspace, created_at)",
        """CREATE TABLE journal (
            run_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            phase TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT,
            workspace TEXT NOT NULL,
            ts REAL NOT NULL
        )""",
        "CREATE INDEX journal_run ON journal (run_id, seq)",
        """CREATE TABLE workers (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            lease_until REAL NOT NULL,
            fenced INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE agents (
            workspace TEXT NOT NULL,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            digest TEXT NOT NULL,
            spec TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (workspace, name, version)
        )""",
    ],
    [
        # A syscall whose intent and result commit together is one row: the
        # result rides in these columns. Readers still see two entries.
        "ALTER TABLE journal ADD COLUMN result TEXT",
        "ALTER TABLE journal ADD COLUMN result_ts REAL",
    ],
]

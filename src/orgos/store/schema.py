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
    [
        # Governance: the hash-chained audit log, approvals, kill switches,
        # people and their API tokens, encrypted secrets.
        """CREATE TABLE audit (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            workspace TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            run_id TEXT,
            step INTEGER,
            data TEXT,
            request_sha TEXT,
            result_sha TEXT,
            prev TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
        """CREATE TABLE approvals (
            id TEXT PRIMARY KEY,
            workspace TEXT NOT NULL,
            run_id TEXT NOT NULL,
            step INTEGER NOT NULL,
            agent TEXT NOT NULL,
            kind TEXT NOT NULL,
            request TEXT,
            rule TEXT,
            reason TEXT,
            status TEXT NOT NULL,
            assignee TEXT,
            escalations INTEGER NOT NULL DEFAULT 0,
            due_at REAL,
            created_at REAL NOT NULL,
            decided_by TEXT,
            decided_at REAL,
            note TEXT,
            arguments TEXT,
            UNIQUE (run_id, step)
        )""",
        "CREATE INDEX approvals_ws_status ON approvals (workspace, status)",
        """CREATE TABLE switches (
            workspace TEXT NOT NULL,
            scope TEXT NOT NULL,
            reason TEXT,
            actor TEXT,
            ts REAL NOT NULL,
            PRIMARY KEY (workspace, scope)
        )""",
        """CREATE TABLE people (
            workspace TEXT NOT NULL,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            PRIMARY KEY (workspace, name)
        )""",
        """CREATE TABLE tokens (
            hash TEXT PRIMARY KEY,
            person TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE secrets (
            workspace TEXT NOT NULL,
            name TEXT NOT NULL,
            ciphertext BLOB NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (workspace, name)
        )""",
    ],
]

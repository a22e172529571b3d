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
        # The workspace (issue 4): file versions and reads (lineage), the
        # event bus (events, subscriptions' cursors, runs parked on a topic)
        # and long-term memory with its full-text index. Run lifecycle events
        # are written by triggers, in the same transaction as the status.
        """CREATE TABLE fs_versions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            workspace TEXT NOT NULL,
            path TEXT NOT NULL,
            version INTEGER NOT NULL,
            blob TEXT,
            size INTEGER NOT NULL,
            author_kind TEXT NOT NULL,
            author TEXT NOT NULL,
            run_id TEXT,
            seq INTEGER,
            ts REAL NOT NULL,
            key TEXT,
            UNIQUE (workspace, path, version)
        )""",
        "CREATE UNIQUE INDEX fs_versions_key ON fs_versions (workspace, key) WHERE key IS NOT NULL",
        "CREATE INDEX fs_versions_run ON fs_versions (run_id)",
        """CREATE TABLE fs_reads (
            workspace TEXT NOT NULL,
            run_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            path TEXT NOT NULL,
            version INTEGER NOT NULL,
            ts REAL NOT NULL,
            PRIMARY KEY (run_id, seq, path)
        )""",
        """CREATE TABLE bus_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            workspace TEXT NOT NULL,
            topic TEXT NOT NULL,
            data TEXT,
            source TEXT,
            run_id TEXT,
            key TEXT,
            ts REAL NOT NULL
        )""",
        "CREATE INDEX bus_events_topic ON bus_events (workspace, topic, id)",
        "CREATE UNIQUE INDEX bus_events_key ON bus_events (workspace, topic, key)"
        " WHERE key IS NOT NULL",
        """CREATE TABLE bus_cursors (
            workspace TEXT NOT NULL,
            subscriber TEXT NOT NULL,
            topic TEXT NOT NULL,
            acked INTEGER NOT NULL,
            PRIMARY KEY (workspace, subscriber, topic)
        )""",
        """CREATE TABLE bus_waits (
            run_id TEXT PRIMARY KEY,
            workspace TEXT NOT NULL,
            topic TEXT NOT NULL,
            after INTEGER NOT NULL
        )""",
        "CREATE INDEX bus_waits_topic ON bus_waits (workspace, topic)",
        """CREATE TRIGGER bus_run_created AFTER INSERT ON runs BEGIN
            INSERT INTO bus_events (workspace, topic, data, source, run_id, ts)
            VALUES (NEW.workspace, 'run.created', json_object('run_id', NEW.id, 'kind', NEW.kind,
                    'target', NEW.target, 'parent_id', NEW.parent_id, 'root_id', NEW.root_id),
                    'system', NEW.id, NEW.created_at);
        END""",
        """CREATE TRIGGER bus_run_ended AFTER UPDATE OF status ON runs
        WHEN NEW.status IN ('succeeded', 'failed', 'cancelled') AND NEW.status != OLD.status
        BEGIN
            INSERT INTO bus_events (workspace, topic, data, source, run_id, ts)
            VALUES (NEW.workspace, 'run.' || NEW.status, json_object('run_id', NEW.id,
                    'kind', NEW.kind, 'target', NEW.target, 'parent_id', NEW.parent_id,
                    'root_id', NEW.root_id, 'error', NEW.error), 'system', NEW.id,
                    NEW.updated_at);
        END""",
        """CREATE TABLE memories (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            workspace TEXT NOT NULL,
            scope TEXT NOT NULL,
            text TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '',
            source_run TEXT,
            author TEXT NOT NULL,
            key TEXT,
            ts REAL NOT NULL
        )""",
        "CREATE INDEX memories_scope ON memories (workspace, scope)",
        "CREATE UNIQUE INDEX memories_key ON memories (workspace, key) WHERE key IS NOT NULL",
        """CREATE VIRTUAL TABLE memories_fts USING fts5(
            text, tags, content='memories', content_rowid='id', tokenize='porter unicode61'
        )""",
        """CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
            INSERT INTO memories_fts (rowid, text, tags) VALUES (NEW.id, NEW.text, NEW.tags);
        END""",
        """CREATE TABLE memory_vectors (
            memory_id INTEGER PRIMARY KEY,
            workspace TEXT NOT NULL,
            model TEXT NOT NULL,
            vec BLOB NOT NULL
        )""",
        """CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
            DELETE FROM memory_vectors WHERE memory_id = OLD.id;
            INSERT INTO memories_fts (memories_fts, rowid, text, tags)
            VALUES ('delete', OLD.id, OLD.text, OLD.tags);
        END""",
    ],
    # Run lifecycle events are written by the store next to the change
    # (store/lifecycle.py): with these triggers a run insert cost 4-5x more,
    # because SQLite then runs the trigger program once per row.
    [
        "DROP TRIGGER IF EXISTS bus_run_created",
        "DROP TRIGGER IF EXISTS bus_run_ended",
    ],
    # Tokens are records of one workspace: an id to list and revoke them by,
    # an optional expiry, and a revocation that stays (removing a person
    # revokes theirs; adding the name again does not bring them back). A
    # token from before is kept only where its person is in exactly one
    # workspace (it was valid wherever the name was: no telling which).
    [
        """CREATE TABLE tokens_v2 (
            id TEXT PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            workspace TEXT NOT NULL,
            person TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL,
            revoked_at REAL
        )""",
        """INSERT INTO tokens_v2 (id, hash, workspace, person, created_at)
        SELECT 'tk-' || lower(hex(randomblob(8))), t.hash, p.workspace, t.person, t.created_at
        FROM tokens t JOIN people p ON p.name = t.person
        WHERE (SELECT COUNT(*) FROM people q WHERE q.name = t.person) = 1""",
        "DROP TABLE tokens",
        "ALTER TABLE tokens_v2 RENAME TO tokens",
        "CREATE INDEX tokens_person ON tokens (workspace, person)",
    ],
    # Taint travels with data (docs/governance.md): a run that read untrusted
    # content, and each file version, memory and event such a run wrote.
    [
        "ALTER TABLE runs ADD COLUMN tainted INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE fs_versions ADD COLUMN tainted INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE memories ADD COLUMN tainted INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE bus_events ADD COLUMN tainted INTEGER NOT NULL DEFAULT 0",
    ],
    # A keyed audit log: each record sealed with an HMAC of its hash
    # (store/audit.py); NULL for records written without a key.
    [
        "ALTER TABLE audit ADD COLUMN mac TEXT",
    ],
]

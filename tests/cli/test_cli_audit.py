"""`orgos audit verify` and `orgos audit head` against a store file the
attacker edits with plain SQL: journal rewrites, hidden truncations and
rebuilt chains are reported with exit code 1."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from cli_helpers import WORD_COUNT
from conftest import Cli, ModelFile
from typer.testing import CliRunner

from orgos.cli import app
from orgos.store import audit as audit_sql


def db_of(project: Path) -> Path:
    return project / ".orgos" / "orgos.db"


def sql(project: Path, *statements: str) -> None:
    conn = sqlite3.connect(db_of(project), isolation_level=None)
    try:
        for s in statements:
            conn.execute(s)
    finally:
        conn.close()


def a_run(project: Path, cli: Cli, model: Path) -> None:
    result = cli("-p", project, "run", "assistant", "How many words?", model=model)
    assert result.exit_code == 0, result.output


def test_verify_fails_when_a_tool_call_in_the_journal_is_rewritten(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    a_run(project, cli, model_file(WORD_COUNT))
    ok = cli("-p", project, "audit", "verify")
    assert ok.exit_code == 0 and "audit chain intact" in ok.output, ok.output
    sql(project, "UPDATE journal SET payload = replace(payload, 'to be or not', 'to be')"
                 " WHERE kind='tool' AND phase='intent'")  # fmt: skip
    broken = cli("-p", project, "audit", "verify")
    assert broken.exit_code == 1, broken.output
    assert "audit chain BROKEN" in broken.output
    assert re.search(r"step \d+: its journaled request does not match audit record \d+ \(edited\)",
                     broken.output), broken.output  # fmt: skip


def test_verify_with_the_kept_head_catches_a_hidden_truncation(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    model = model_file(WORD_COUNT)
    a_run(project, cli, model)
    head = cli("-p", project, "audit", "head")
    assert head.exit_code == 0, head.output
    kept = head.output.strip()
    assert re.fullmatch(r"\d+:[0-9a-f]{64}", kept), kept
    assert cli("-p", project, "audit", "verify", "--head", kept).exit_code == 0
    a_run(project, cli, model)  # the log goes on past the kept head
    seq = int(kept.split(":")[0])
    sql(
        project,
        f"DELETE FROM audit WHERE seq >= {seq - 1}",
        "UPDATE sqlite_sequence SET seq = (SELECT MAX(seq) FROM audit) WHERE name='audit'",
    )
    alone = cli("-p", project, "audit", "verify")
    assert alone.exit_code == 0, alone.output  # the chain alone cannot tell
    checked = cli("-p", project, "audit", "verify", "--head", kept)
    assert checked.exit_code == 1, checked.output
    assert f"before the head you kept (record {seq})" in checked.output
    bad = cli("-p", project, "audit", "verify", "--head", "12:abc")
    assert bad.exit_code == 2 and "a head is SEQ:HASH" in bad.output


def test_a_keyed_log_from_the_policy_catches_a_rebuilt_chain(
    project: Path, cli: Cli, model_file: ModelFile
) -> None:
    stored = CliRunner().invoke(app, ["-p", str(project), "secrets", "set", "audit_key"],
                                input="k3y-kept-in-the-vault\n")  # fmt: skip
    assert stored.exit_code == 0, stored.output
    (project / "policy.yaml").write_text("audit:\n  key_secret: audit_key\n")
    a_run(project, cli, model_file(WORD_COUNT))
    ok = cli("-p", project, "audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert re.search(r"intact: (\d+) record\(s\), (\d+) sealed", ok.output), ok.output
    # the attacker edits a record and recomputes the whole chain: without the key
    conn = sqlite3.connect(db_of(project), isolation_level=None)
    prev = audit_sql.GENESIS
    cols = "ts, workspace, actor, action, run_id, step, data, request_sha, result_sha"
    for seq, *rec in conn.execute(f"SELECT seq, {cols} FROM audit ORDER BY seq").fetchall():
        rec[2] = "someone-else" if rec[3] == "secret.set" else rec[2]
        h = audit_sql.chain_hash(prev, seq, audit_sql.canonical(*rec))
        conn.execute("UPDATE audit SET actor=?, prev=?, hash=?, mac=NULL WHERE seq=?",
                     (rec[2], prev, h, seq))  # fmt: skip
        prev = h
    conn.close()
    broken = cli("-p", project, "audit", "verify")
    assert broken.exit_code == 1, broken.output
    assert "no record is sealed with the audit key" in broken.output

"""Several processes opening one new SQLite store at the same moment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

OPEN = """
import asyncio, sys
from orgos.store.sqlite import SQLiteStore
async def main():
    sys.stdin.readline()  # start together
    s = SQLiteStore(sys.argv[1])
    await s.open()
    await s.close()
asyncio.run(main())
"""


def test_processes_migrate_a_new_store_once(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    procs = [
        subprocess.Popen([sys.executable, "-c", OPEN, str(db)], stdin=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]  # fmt: skip
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, "\n".join(errors)

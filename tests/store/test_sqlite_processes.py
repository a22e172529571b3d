"""Several processes opening one new SQLite store at the same moment: the
race to switch the file to WAL and to migrate it must not fail any of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

OPEN = """
import asyncio, sys
from orgos.store.sqlite import SQLiteStore
async def main():
    sys.stdin.readline()  # start together
    s = SQLiteStore(sys.argv[1], sys.argv[2])
    await s.open()
    await s.close()
asyncio.run(main())
"""


@pytest.mark.parametrize("durability", ["kill-safe", "power-safe"])
def test_processes_open_and_migrate_a_new_store_together(tmp_path: Path, durability: str) -> None:
    # 4 new files, 3 processes each, all released at once.
    procs = [
        subprocess.Popen([sys.executable, "-c", OPEN, str(tmp_path / f"new{i}.db"), durability],
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(4)
        for _ in range(3)
    ]  # fmt: skip
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), "\n".join(errors)


def test_two_stores_opening_a_new_file_at_once_both_succeed(tmp_path: Path) -> None:
    # Two connections racing to switch a new file to WAL: SQLite tells the
    # loser "database is locked" without waiting; before it was retried this
    # failed a few times in a hundred.
    import asyncio
    import threading

    from orgos.store.sqlite import SQLiteStore

    for i in range(150):
        db = tmp_path / f"race{i}.db"
        gate = threading.Barrier(2, timeout=30)
        errors: list[BaseException] = []

        def open_close(
            db: Path = db, gate: threading.Barrier = gate, errors: list[BaseException] = errors
        ) -> None:
            async def main() -> None:
                store = SQLiteStore(db, "power-safe")
                gate.wait()
                await store.open()
                await store.close()

            try:
                asyncio.run(main())
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=open_close) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, f"round {i}: {errors[0]!r}"

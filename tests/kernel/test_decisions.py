"""A person's decision about an in-doubt call covers one attempt: a retried
attempt that is in doubt again (a second crash during it) parks for a new
decision; it is never run a third time unasked. Real kill -9 of a worker."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from lines import LineReader

WORKER = Path(__file__).with_name("decision_worker.py")


class Worker(LineReader):
    def __init__(self, tmp: Path, mode: str, *extra: str):
        args = [sys.executable, str(WORKER), str(tmp / "o.db"), str(tmp / "ledger"), mode, *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self._start_reading()

    def expect(self, prefix: str) -> str:
        while (line := self.next_line()) is not None:
            if line.startswith(prefix):
                return line
        raise AssertionError(f"worker ended before {prefix!r} (exit {self.proc.wait()})")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def finish(self) -> list[str]:
        rest = []
        while (line := self.next_line()) is not None:
            rest.append(line)
        assert self.proc.wait(timeout=30) == 0
        return rest


def charges(tmp: Path) -> int:
    return (tmp / "ledger").read_text().count("charge:A-1")


def test_a_retried_call_in_doubt_again_parks_for_a_new_decision(tmp_path: Path) -> None:
    w = Worker(tmp_path, "start", "--block")
    w.expect("CHARGED")
    w.kill()  # the first attempt: its effect happened, its result was never journaled
    assert charges(tmp_path) == 1

    w = Worker(tmp_path, "recover", "--block", "--decide", "retry")
    _, run_id, seq, attempt = w.expect("PARKED").split()
    w.expect("CHARGED")  # the operator said retry: the second attempt
    w.kill()  # ... and it is in doubt too
    assert charges(tmp_path) == 2

    w = Worker(tmp_path, "recover")
    parked = w.expect("PARKED").split()
    w.finish()
    assert parked[1:3] == [run_id, seq]  # the same call, asked about again
    assert parked[3] != attempt  # about the attempt now in doubt, not the first one
    assert charges(tmp_path) == 2  # not run a third time unasked

    w = Worker(tmp_path, "recover", "--decide", "done")  # the careful person saw two charges
    assert "END succeeded" in w.finish()
    assert charges(tmp_path) == 2

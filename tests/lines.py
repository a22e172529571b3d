"""A subprocess's output, line by line, for tests that drive worker processes
(crash tests): lines are read on a thread, so a test waits for the next one
with a bound instead of sleeping or blocking forever."""

from __future__ import annotations

import queue
import subprocess
import threading


class LineReader:
    proc: subprocess.Popen[str]

    def _start_reading(self) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)  # the process ended

    def next_line(self, timeout: float = 60.0) -> str | None:
        """The next line, or None once the process has ended."""
        return self.lines.get(timeout=timeout)

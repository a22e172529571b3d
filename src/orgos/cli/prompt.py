"""Asking the person at the terminal without stopping the event loop.

``orgos run`` works on its runs in the same event loop that asks about an
approval. ``input()`` there would freeze every run of the process, and the
worker's lease would lapse (another worker takes its runs over after 10 s)
while the person thinks. So the answer is read as the loop's other work goes
on: the loop watches standard input and reads a line when one is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from typing import TYPE_CHECKING, Any

from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console


class LineReader:
    """Lines of standard input, read when the loop sees them arrive; what
    was typed ahead waits in a buffer for the next question."""

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self._buffer = b""
        self._eof = False

    async def readline(self, stop: asyncio.Event | None = None) -> str | None:
        """The next line, without its newline; None at end of input or when
        ``stop`` is set (Ctrl-C)."""
        while b"\n" not in self._buffer and not self._eof:
            chunk = await self._read(stop)
            if chunk is None:
                return None
            if not chunk:
                self._eof = True
            self._buffer += chunk
        if not self._buffer:
            return None
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8", errors="replace").rstrip("\r")

    async def _read(self, stop: asyncio.Event | None) -> bytes | None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def on_readable() -> None:
            if not ready.done():
                ready.set_result(None)

        try:
            loop.add_reader(self.fd, on_readable)
        except (NotImplementedError, OSError, ValueError):
            # No watching this input (a regular file, or a loop without
            # readers): a thread reads it, the loop still goes on.
            return await asyncio.to_thread(os.read, self.fd, 4096)
        stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
        try:
            waits: set[asyncio.Future[Any]] = {ready}
            if stopper is not None:
                waits.add(stopper)
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(self.fd)
            if stopper is not None:
                stopper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stopper
        if not ready.done():
            return None  # stopped
        try:
            return os.read(self.fd, 4096)
        except BlockingIOError:  # woken, but another reader took it: wait again
            return await self._read(stop)


async def ask(
    con: Console, question: str, reader: LineReader, stop: asyncio.Event | None = None
) -> str | None:
    """Print ``question`` (as it is: ``[y]`` is no markup) and read the answer."""
    con.print(Text(question), end="")
    answer = await reader.readline(stop)
    if answer is None:
        con.print()
    return answer

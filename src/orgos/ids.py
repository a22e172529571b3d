"""Identifiers: short, unique and sortable by creation time."""

from __future__ import annotations

import os
import random
import time
import weakref

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
#: Every 10-bit value as two characters of the alphabet (a constant table).
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


class IdSource:
    """Makes ids from its own generator, seeded from the OS: not the
    ``random`` module's, so a user's ``random.seed`` cannot make two
    runtimes' ids collide. Ids must be unique, not secret: a Mersenne
    Twister seeded with 128 bits from the OS, no system call per id. A
    forked child reseeds (``os.register_at_fork``), like ``random`` does."""

    __slots__ = ("__weakref__", "_bits")

    def __init__(self) -> None:
        rng = random.Random(int.from_bytes(os.urandom(16), "big"))
        self._bits = rng.getrandbits
        _LIVE.add(self)

    def reseed(self) -> None:
        self._bits = random.Random(int.from_bytes(os.urandom(16), "big")).getrandbits

    def __call__(self, prefix: str = "") -> str:
        """A 20-character id: 10 characters of milliseconds, 10 of randomness.

        Sortable like a ULID, so listing runs by id lists them by age."""
        v = (time.time_ns() // 1_000_000) << 50 | self._bits(50)
        p = _PAIRS
        return prefix + "".join(
            (p[v >> 90 & 1023], p[v >> 80 & 1023], p[v >> 70 & 1023], p[v >> 60 & 1023],
             p[v >> 50 & 1023], p[v >> 40 & 1023], p[v >> 30 & 1023], p[v >> 20 & 1023],
             p[v >> 10 & 1023], p[v & 1023])
        )  # fmt: skip


_LIVE: weakref.WeakSet[IdSource] = weakref.WeakSet()


def _reseed_all() -> None:
    for source in list(_LIVE):
        source.reseed()


os.register_at_fork(after_in_child=_reseed_all)

#: Ids of records made outside a kernel (approvals, tokens): this module's
#: own source, never the global ``random``.
new_id = IdSource()

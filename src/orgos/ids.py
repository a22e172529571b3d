"""Identifiers: short, unique and sortable by creation time."""

from __future__ import annotations

import random
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
#: Every 10-bit value as two characters of the alphabet (a constant table).
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def new_id(prefix: str = "") -> str:
    """A 20-character id: 10 characters of milliseconds, 10 of randomness.

    Sortable like a ULID, so listing runs by id lists them by age. The random
    part comes from ``random`` (seeded from the OS at start): ids must be
    unique, not secret, and there is no system call per id."""
    v = (time.time_ns() // 1_000_000) << 50 | random.getrandbits(50)
    p = _PAIRS
    return prefix + "".join(
        (p[v >> 90 & 1023], p[v >> 80 & 1023], p[v >> 70 & 1023], p[v >> 60 & 1023],
         p[v >> 50 & 1023], p[v >> 40 & 1023], p[v >> 30 & 1023], p[v >> 20 & 1023],
         p[v >> 10 & 1023], p[v & 1023])
    )  # fmt: skip

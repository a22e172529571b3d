"""Identifiers: short, unique and sortable by creation time."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str = "") -> str:
    """A 20-character id: 10 characters of milliseconds, 10 of randomness.

    Sortable like a ULID, so listing runs by id lists them by age."""
    ms = int(time.time() * 1000)
    rnd = int.from_bytes(os.urandom(7), "big")
    out = []
    for _ in range(10):
        out.append(_ALPHABET[rnd & 31])
        rnd >>= 5
    ts = []
    for _ in range(10):
        ts.append(_ALPHABET[ms & 31])
        ms >>= 5
    return prefix + "".join(reversed(ts)) + "".join(out)

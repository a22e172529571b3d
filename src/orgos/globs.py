"""Path globs, shared by the workspace's file grants (fs) and the bus's topic
patterns: ``*`` within a segment, ``?`` one character, ``**`` whole segments.

A foundation module of its own: fs publishes to the bus, so the bus cannot
import fs for its patterns."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    out, sep = "", False
    segs = pattern.split("/")
    for i, seg in enumerate(segs):
        if seg == "**":
            if i == len(segs) - 1:
                out += "(?:/.*)?" if sep else ".*"
            else:
                out += "/(?:[^/]+/)*" if sep else "(?:[^/]+/)*"
                sep = False
            continue
        if sep:
            out += "/"
        out += "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in seg)
        sep = True
    return re.compile(out)


def glob_match(pattern: str, path: str) -> bool:
    """``*`` matches within a segment, ``?`` one character, ``**`` any number
    of whole segments (``teams/a/**`` matches ``teams/a`` and all below)."""
    return _compile(pattern).fullmatch(path) is not None


__all__ = ["glob_match"]

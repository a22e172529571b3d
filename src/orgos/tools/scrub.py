"""Secret values out of what leaves a tool: its result (the values and the
keys of every mapping), its error, and the orgos loggers' records. A value is
caught as it is and in the encodings a tool may hand it back in: base64
(standard and URL-safe, with and without padding), hex (lower and upper
case) and URL-encoding (``quote``, ``quote_plus``; upper- or lower-case
escapes). An encoding of a value inside a longer encoded text (base64 of
``user:secret``) is not: the text no longer holds the value's own encoding."""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

MASK = "***"
#: Shorter values are not scrubbed: "1" or "ab" would mask half of any text.
MIN_LENGTH = 4
_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def encodings(secret: str) -> set[str]:
    """The forms of ``secret`` that are scrubbed (itself included)."""
    raw = secret.encode()
    std = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode()
    forms = {secret, std, std.rstrip("="), url, url.rstrip("="), raw.hex(), raw.hex().upper()}
    quote = urllib.parse.quote
    for q in (quote(secret, safe=""), quote(secret), urllib.parse.quote_plus(secret)):
        forms.add(q)
        forms.add(_ESCAPE.sub(lambda m: m.group().lower(), q))
    return {f for f in forms if len(f) >= MIN_LENGTH}


class Scrubber:
    """Replaces known secret values (and their encodings) with ``***``. One
    compiled pattern for all of them; adding a value recompiles it (values
    are added rarely: when the vault hands one out or stores one)."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        new = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_LENGTH}
        if new <= self._secrets:
            return
        self._secrets |= new
        forms = set().union(*(encodings(s) for s in self._secrets))
        longest_first = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(f) for f in longest_first))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        p = self._pattern
        return text if p is None else p.sub(MASK, text)

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string scrubbed, mapping keys too."""
        p = self._pattern
        return value if p is None else _scrub(value, p)


def _scrub(v: Any, p: re.Pattern[str]) -> Any:
    if isinstance(v, str):
        return p.sub(MASK, v)
    if isinstance(v, dict):
        out: dict[Any, Any] = {}
        for k, x in v.items():
            if isinstance(k, str):
                k = p.sub(MASK, k)
                while k in out:  # two keys masked alike: both stay
                    k += "*"
            out[k] = _scrub(x, p)
        return out
    if isinstance(v, list | tuple):
        return [_scrub(x, p) for x in v]
    return v

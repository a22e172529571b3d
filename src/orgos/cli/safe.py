"""Text from runs, tools, models, files and people, made inert for a terminal.

What a model wrote or a tool returned may hold terminal escapes: OSC 52
writes the clipboard, OSC 0 sets the window title, CSI clears the screen or
moves the cursor up to overwrite what orgos printed, a carriage return or
backspaces do the same, and bidi overrides reorder a line. Every CLI command
prints such text through ``inert`` (or ``safe``, a rich Text of it): each
control character is shown as a visible escape (``\\x1b``, ``\\r``,
``\\u202e``) instead of reaching the terminal. Rich markup is never read
from text: the CLI's consoles have markup off; styles come from Text spans.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich.text import Text

# C0 and C1 controls, DEL, bidi marks, embeddings, overrides and isolates, the
# line and paragraph separators, and lone surrogates (which no terminal can show
# and which make writing to a UTF-8 stream fail).
_CONTROLS = "\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff"
_UNSAFE = re.compile(f"[\x00-\x1f{_CONTROLS}]")
_UNSAFE_BUT_LINES = re.compile(f"[\x00-\x08\x0b-\x1f{_CONTROLS}]")
#: What ``json.dumps(..., ensure_ascii=False)`` leaves raw (it escapes C0 itself).
_UNSAFE_IN_JSON = re.compile(f"[{_CONTROLS}]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\x1b"}


def _visible(m: re.Match[str]) -> str:
    ch = m.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: str, *, lines: bool = False) -> str:
    """``text`` with every control character written as a visible escape.
    With ``lines``, newlines and tabs stay (multi-line text, laid out as is)."""
    pattern = _UNSAFE_BUT_LINES if lines else _UNSAFE
    return pattern.sub(_visible, text) if pattern.search(text) else text


def safe(value: object, style: str = "", *, lines: bool = False) -> Text:
    """A rich Text of ``value`` (its ``str``), inert, in ``style``."""
    return Text(inert(value if isinstance(value, str) else str(value), lines=lines), style=style)


def inert_json(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with the
    controls it leaves raw written as ``\\uXXXX``: still valid JSON, same value."""
    if not _UNSAFE_IN_JSON.search(text):
        return text
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def safe_json(doc: Any) -> Text:
    """A document as indented JSON, inert, for printing."""
    return Text(inert_json(json.dumps(doc, indent=2, ensure_ascii=False, default=str)))

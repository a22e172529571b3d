"""How values become stored JSON, checked one op at a time.

A value the store could not write back faithfully (a lone surrogate, NaN,
nesting the reader refuses, an unknown type) is refused here, with where it
sits and why, before it joins a group-commit batch: one run's bad payload
fails that run's write alone, never the batch its neighbours share. The
encoded text is kept on the op, so the batch writes it without a second
serialization.
"""

from __future__ import annotations

import math
from typing import Any

import pydantic_core

from orgos.errors import PayloadError
from orgos.store.base import Append, Audit, InsertRun, Op, UpdateRun
from orgos.store.waiting import to_stored

#: Deepest nesting a stored document may have. The JSON reader refuses more
#: than 200 levels, so a deeper document would be written and never read back.
MAX_DEPTH = 128


def encode(value: Any) -> str | None:
    """The stored JSON text of ``value`` (None for None); raises PayloadError."""
    if value is None:
        return None
    try:
        raw = pydantic_core.to_json(value)
    except (pydantic_core.PydanticSerializationError, ValueError, TypeError) as exc:
        raise PayloadError(explain(value) or f"not storable as JSON: {exc}") from None
    text = raw.decode()
    # Each check is a pass in C over the text (str's search is a third of
    # bytes'); the slow walk runs only when a document could hold a
    # non-finite number or be too deep (which takes more than MAX_DEPTH
    # opening and as many closing brackets).
    if (
        "NaN" in text
        or "Infinity" in text
        or (len(text) > 2 * MAX_DEPTH and text.count("[") + text.count("{") > MAX_DEPTH)
    ):
        why = explain(value)
        if why is not None:
            raise PayloadError(why)
    return text


def safe_text(text: str) -> str:
    """``text`` as valid Unicode (a lone surrogate is written as its escape):
    for error messages, which are stored whatever they say."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def prepare(op: Op) -> tuple[Any, ...]:
    """Encode what ``op`` stores as JSON, keep it on the op and return it."""
    t = type(op)
    enc: tuple[Any, ...]
    if t is Append:
        enc = (encode(op.entry.payload),)  # type: ignore[union-attr]
    elif t is UpdateRun:
        u: UpdateRun = op  # type: ignore[assignment]
        err = None if u.error is None else safe_text(u.error)
        enc = (encode(u.output), encode(to_stored(u.waiting_on)), err)
    elif t is InsertRun:
        r = op.run  # type: ignore[union-attr]
        enc = (encode(r.input), encode(r.output), encode(to_stored(r.waiting_on)))
    elif t is Audit:
        enc = (encode(op.data),)  # type: ignore[union-attr]
    else:  # pragma: no cover - Op is closed
        raise TypeError(f"not a store op: {op!r}")
    op.encoded = enc
    return enc


def explain(value: Any) -> str | None:
    """Where ``value`` is not storable and why, or None when it is."""
    return _walk(value, "$", 1)


def _walk(v: Any, path: str, depth: int) -> str | None:
    if depth > MAX_DEPTH:
        return f"at {path}: nested deeper than {MAX_DEPTH} levels"
    t = type(v)
    if t is str:
        return _check_str(v, path)
    if t is float or isinstance(v, float):
        if not math.isfinite(v):
            return f"at {path}: {v!r} is not a JSON number"
        return None
    if v is None or t is bool or isinstance(v, int):
        return None
    if isinstance(v, dict):
        for k, item in v.items():
            key = str(k)
            why = _check_str(key, f"{path} (a key)") or _walk(
                item, f"{path}.{_short(key)}", depth + 1
            )
            if why is not None:
                return why
        return None
    if isinstance(v, list | tuple | set | frozenset):
        for i, item in enumerate(v):
            why = _walk(item, f"{path}[{i}]", depth + 1)
            if why is not None:
                return why
        return None
    if isinstance(v, bytes | bytearray):
        try:
            bytes(v).decode()
        except UnicodeDecodeError:
            return f"at {path}: bytes that are not UTF-8"
        return None
    try:
        pydantic_core.to_json(v)
    except Exception:
        return f"at {path}: a {t.__name__} is not storable as JSON"
    return None


def _check_str(s: str, path: str) -> str | None:
    try:
        s.encode()
    except UnicodeEncodeError as exc:
        bad = s[exc.start : exc.end].encode("utf-8", "backslashreplace").decode()
        return f"at {path}: a lone surrogate ({bad}) is not valid Unicode"
    return None


def _short(key: str) -> str:
    return key if len(key) <= 40 else key[:37] + "..."

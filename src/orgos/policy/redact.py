"""PII redaction for what leaves a process to be watched: the orgos loggers'
records and the live events (traces) a watcher receives. Not the journal: it
is the truth, readable by who the roles allow (and secrets never enter it).

Built in: e-mail addresses, phone numbers, payment card numbers (only those
passing the Luhn check) and IBANs (only those passing the mod-97 check), so
order numbers and amounts are left alone; plus patterns of the policy.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
#: International (+CC ...), or national with separators: "(555) 123-4567", "030 1234 5678".
PHONE = re.compile(
    r"(?<![\w+:.-])(?:\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,6}"
    r"|\(?\d{2,5}\)?[ -]\d{2,5}[ -]\d{2,5}(?:[ -]\d{2,5})?)(?![\w:-])"
)

BUILTINS = ("email", "phone", "card", "iban")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group())
    return "[card]" if 13 <= len(digits) <= 19 and luhn_ok(digits) else m.group()


def _iban(m: re.Match[str]) -> str:
    """The longest prefix (in space-separated groups) that is a valid IBAN:
    a greedy match may have run into the next word."""
    parts = m.group().split(" ")
    for k in range(len(parts), 0, -1):
        if iban_ok("".join(parts[:k])):
            rest = " ".join(parts[k:])
            return "[iban]" + (" " + rest if rest else "")
    return m.group()


def _phone(m: re.Match[str]) -> str:
    n = sum(c.isdigit() for c in m.group())
    least = 8 if m.group().startswith("+") else 9
    return "[phone]" if least <= n <= 15 else m.group()


class Redactor:
    """Replaces PII in text (and in the strings of JSON-like values) with
    ``[email]``, ``[phone]``, ``[card]``, ``[iban]`` or ``[NAME]`` of a pattern."""

    def __init__(self, pii: Iterable[str] = BUILTINS, patterns: Mapping[str, str] | None = None):
        subs: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = []
        kinds = set(pii)
        unknown = kinds - set(BUILTINS)
        if unknown:
            raise ValueError(f"unknown PII kind {sorted(unknown)[0]!r}; use {', '.join(BUILTINS)}")
        # Cards and IBANs first: a phone pattern would take their digit groups.
        if "card" in kinds:
            subs.append((CARD, _card))
        if "iban" in kinds:
            subs.append((IBAN, _iban))
        if "email" in kinds:
            subs.append((EMAIL, "[email]"))
        if "phone" in kinds:
            subs.append((PHONE, _phone))
        for name, p in (patterns or {}).items():
            subs.append((re.compile(p), f"[{name}]"))
        self._subs = subs

    def __bool__(self) -> bool:
        return bool(self._subs)

    def text(self, s: str) -> str:
        for pattern, repl in self._subs:
            s = pattern.sub(repl, s)
        return s

    def value(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [self.value(x) for x in v]
        return v


class LogScrub(logging.Handler):
    """A Runtime's scrub of the ``orgos`` loggers' records, while it is open.

    It is put first on the ``orgos`` logger, so every record of an orgos
    logger (tools' ``orgos.tools.NAME`` too) passes it before the handlers
    above it (the root's, the CLI's, pytest's), and it rewrites the record in
    place: message, arguments, traceback and stack. It writes nothing; when
    no other handler would see the record it hands it to logging's last
    resort, as if it were not there. Nothing process-wide is replaced (the
    record factory stays logging's), and each runtime removes its own."""

    def __init__(self, scrub: Callable[[str], str]):
        super().__init__(logging.NOTSET)
        self.scrub = scrub

    def handle(self, record: logging.LogRecord) -> bool:
        scrub = self.scrub
        record.msg, record.args = scrub(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        last = logging.lastResort
        if last is not None and record.levelno >= last.level and not _heard(record):
            last.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() is used
        pass


def _heard(record: logging.LogRecord) -> bool:
    """Whether a handler other than a LogScrub will see ``record``."""
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        if any(not isinstance(h, LogScrub) for h in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


def attach_log_scrub(scrub: Callable[[str], str]) -> Callable[[], None]:
    """Scrub the orgos loggers' records with ``scrub``; returns the undo."""
    logger = logging.getLogger("orgos")
    handler = LogScrub(scrub)
    logger.handlers.insert(0, handler)  # before any handler already on "orgos"

    def detach() -> None:
        logger.removeHandler(handler)

    return detach

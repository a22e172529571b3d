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


class LogRedaction:
    """logging's record factory while any runtime redacts: the message of
    every record of an ``orgos`` logger (tools' too: ``orgos.tools.NAME``) is
    formatted and redacted when the record is made, so every handler, of
    every library, sees it redacted. A logger filter would not do: it does
    not see the records of child loggers."""

    def __init__(self, previous: Callable[..., logging.LogRecord]):
        self.previous = previous
        self.sources: list[Callable[[str], str]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        name = record.name
        if self.sources and (name == "orgos" or name.startswith("orgos.")):
            msg = record.getMessage()
            for redact in self.sources:
                msg = redact(msg)
            record.msg, record.args = msg, None
            if record.exc_info and not record.exc_text:
                text = logging.Formatter().formatException(record.exc_info)
                for redact in self.sources:
                    text = redact(text)
                record.exc_text = text
        return record


def install_log_redaction(redact: Callable[[str], str]) -> Callable[[], None]:
    """Redact the orgos loggers' records with ``redact``; returns the undo."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, LogRedaction):
        factory = LogRedaction(factory)
        logging.setLogRecordFactory(factory)
    factory.sources.append(redact)
    installed = factory

    def uninstall() -> None:
        if redact in installed.sources:
            installed.sources.remove(redact)
        if not installed.sources and logging.getLogRecordFactory() is installed:
            logging.setLogRecordFactory(installed.previous)

    return uninstall

"""What leaves a process, without secrets or PII: the one place for redaction.

Secrets: known values (the vault's, a provider's API key, the environment's
keys and tokens) are replaced by ``***`` wherever they show: in a tool's
result (the values and the keys of every mapping), its error, model
provider errors, the orgos loggers' records and the CLI's output. A vault
value is caught as it is and in the encodings a tool may hand it back in:
base64 (standard and URL-safe, with and without padding), hex (lower and
upper case) and URL-encoding (``quote``, ``quote_plus``; upper- or
lower-case escapes). An encoding of a value inside a longer encoded text
(base64 of ``user:secret``) is not: the text no longer holds the value's
own encoding.

PII, for what leaves a process to be watched: the orgos loggers' records and
the live events (traces) a watcher receives. Not the journal: it is the
truth, readable by who the roles allow (and secrets never enter it). Built
in: e-mail addresses, phone numbers, payment card numbers (only those
passing the Luhn check) and IBANs (only those passing the mod-97 check), so
order numbers and amounts are left alone; plus patterns of the policy.

A foundation module (standard library only): the model adapters, tools, the
kernel, governance and the CLI all use it.
"""

from __future__ import annotations

import base64
import contextvars
import logging
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# --- secrets ------------------------------------------------------------------------
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


def redact_key(text: str, secret: str | None) -> str:
    """Remove a model provider's API key (and any long prefix of it) from error text."""
    if secret and len(secret) >= MIN_LENGTH:
        text = text.replace(secret, MASK)
        # Providers often echo a truncated key ("sk-abc12***wxyz").
        if len(secret) >= 16:
            text = text.replace(secret[:8], MASK)
    return text


#: Environment variables whose values the CLI never prints.
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.IGNORECASE)


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables that look like secrets (API keys...)."""
    env = os.environ if env is None else env
    return sorted(
        (v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= 8),
        key=len,
        reverse=True,
    )


def redact_env(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every secret from the environment replaced by ``***``."""
    for value in secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text


# --- PII ----------------------------------------------------------------------------
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


class LogScope:
    """A runtime's say over the orgos loggers' records made in its context.

    A runtime opens one when it starts: in the code of the task that starts
    it (until it closes), in every task its kernel runs and in the threads
    of its tools (contexts are inherited), the records of orgos loggers are
    scrubbed by its own ``scrub``, and only by it: another runtime's
    patterns never touch them. A runtime without a scrub opens one too,
    so that it does not inherit the scrub of a runtime started around it."""

    __slots__ = ("_handler", "open", "parent", "scrub")

    def __init__(self, scrub: Callable[[str], str] | None, parent: LogScope | None) -> None:
        self.scrub = scrub
        self.parent = parent
        self.open = True
        self._handler: LogScrub | None = None

    def close(self) -> None:
        """Records made in this runtime's context are its no more: they fall
        to the scope it was opened in (if that is still open)."""
        self.open = False
        if self._handler is not None:
            logging.getLogger("orgos").removeHandler(self._handler)
            self._handler = None


_SCOPE: contextvars.ContextVar[LogScope | None] = contextvars.ContextVar(
    "orgos_log_scope", default=None
)


def current_scope() -> LogScope | None:
    """The open scope of the runtime whose context this code runs in."""
    scope = _SCOPE.get()
    while scope is not None and not scope.open:
        scope = scope.parent
    return scope


def open_log_scope(scrub: Callable[[str], str] | None) -> LogScope:
    """Open a runtime's scope in the current context (see LogScope); the
    runtime closes it when it stops."""
    scope = LogScope(scrub, current_scope())
    if scrub is not None:
        scope._handler = LogScrub(scope)
        logging.getLogger("orgos").handlers.insert(0, scope._handler)  # before any other
    _SCOPE.set(scope)
    return scope


class LogScrub(logging.Handler):
    """The scrub of one runtime's scope on the ``orgos`` logger, while it is open.

    It is put first on the ``orgos`` logger, so every record of an orgos
    logger (tools' ``orgos.tools.NAME`` too) passes it before the handlers
    above it (the root's, the CLI's, pytest's); a record made in its
    runtime's context it rewrites in place (message, arguments, traceback and
    stack), any other it leaves alone. It writes nothing; when no other
    handler would see the record it hands it to logging's last resort, as if
    it were not there (one scrub does so for a record of no runtime's).
    Nothing process-wide is replaced (the record factory stays logging's),
    and each runtime removes its own."""

    def __init__(self, scope: LogScope):
        super().__init__(logging.NOTSET)
        self.scope = scope

    def handle(self, record: logging.LogRecord) -> bool:
        current = current_scope()
        if current is self.scope:
            assert self.scope.scrub is not None
            _scrub_record(record, self.scope.scrub)
        elif current is not None and current._handler is not None:
            return True  # its own scope's handler sees to it
        elif _first_scrub(record) is not self:
            return True
        last = logging.lastResort
        if last is not None and record.levelno >= last.level and not _heard(record):
            last.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() is used
        pass


def _scrub_record(record: logging.LogRecord, scrub: Callable[[str], str]) -> None:
    record.msg, record.args = scrub(record.getMessage()), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


def _first_scrub(record: logging.LogRecord) -> LogScrub | None:
    """The first LogScrub a record meets (the one to speak for a record no
    runtime's scope claims)."""
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        for h in logger.handlers:
            if isinstance(h, LogScrub):
                return h
        logger = logger.parent if logger.propagate else None
    return None


def _heard(record: logging.LogRecord) -> bool:
    """Whether a handler other than a LogScrub will see ``record``."""
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        if any(not isinstance(h, LogScrub) for h in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False

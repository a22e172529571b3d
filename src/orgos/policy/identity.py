"""People: API tokens (only their sha256 is stored; a token is 256 random
bits, so a plain hash is as strong as a slow one) and a role per workspace.
Every CLI action needs a role that grants it.

A token belongs to one workspace and signs its person in there only; it may
expire, and it can be revoked one by one (or all of a person's at once, by
removing the person).

Until a workspace has its first person, the local user acts as its admin
("local"): a fresh project works without set-up, and adding the first admin
(``orgos people add NAME admin``) closes that door."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping

from orgos.errors import OrgosError
from orgos.store.records import Token

_READ = frozenset(
    {"runs", "show", "org", "fs.read", "audit.verify", "audit.log", "policy.check",
     "approvals.list", "usage", "secrets.list", "people.list"}
)  # fmt: skip
_RUN = frozenset({"run", "resume", "cancel", "fs.write"})
_OPERATE = frozenset({"approvals.decide", "pause", "unpause"})
_ADMIN = frozenset(
    {"secrets.set", "people.add", "people.remove", "people.token", "people.tokens",
     "people.revoke", "retention"}
)  # fmt: skip

#: What each role may do. Builders make and try agents; operators run the
#: work and answer approvals; admins manage people, secrets and everything.
GRANTS: dict[str, frozenset[str]] = {
    "viewer": _READ,
    "builder": _READ | _RUN,
    "operator": _READ | _RUN | _OPERATE,
    "admin": _READ | _RUN | _OPERATE | _ADMIN,
}

#: Every action the CLI checks (``init`` needs no project, so no role).
ACTIONS = sorted(GRANTS["admin"])

LOCAL = "local"


def new_token() -> str:
    return "orgos_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def allowed(role: str, action: str) -> bool:
    return action in GRANTS.get(role, frozenset())


class TokenRefused(OrgosError):
    """A token that signs nobody in here: unknown, of another workspace,
    expired, revoked, or its person has no role any more."""


def authenticate(
    token: Token | None, people: Mapping[str, str], workspace: str, now: float
) -> tuple[str, str]:
    """The person ``token`` signs in to ``workspace``, and their role there."""
    if token is None:
        raise TokenRefused("not a valid token of this project")
    if token.workspace != workspace:
        raise TokenRefused(f"this token is not valid in workspace {workspace!r}")
    state = token.state(now)
    if state == "revoked":
        raise TokenRefused(f"token {token.id} was revoked")
    if state == "expired":
        raise TokenRefused(f"token {token.id} expired at {when(token.expires_at)}")
    role = people.get(token.person)
    if role is None:
        raise TokenRefused(f"{token.person} has no role in workspace {workspace!r}")
    return token.person, role


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*\Z")


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``90m``, ``2w`` or ``45s`` (for ``--expires``)."""
    m = _DURATION.match(text)
    seconds = float(m.group(1)) * _UNITS[m.group(2)] if m else 0.0
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a duration: use e.g. 30d, 12h, 90m, 2w")
    return seconds


def when(ts: float | None) -> str:
    """A time as people read it in messages and listings (UTC, to the minute)."""
    return "never" if ts is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))

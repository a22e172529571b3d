"""People: API tokens (only their sha256 is stored; a token is 256 random
bits, so a plain hash is as strong as a slow one) and a role per workspace.
Every CLI action needs a role that grants it.

Until a workspace has its first person, the local user acts as its admin
("local"): a fresh project works without set-up, and adding the first admin
(``orgos people add NAME admin``) closes that door."""

from __future__ import annotations

import hashlib
import secrets

ROLES = ("viewer", "builder", "operator", "admin")

_READ = frozenset(
    {"runs", "show", "org", "fs.read", "audit.verify", "audit.log", "policy.check",
     "approvals.list", "usage", "secrets.list", "people.list"}
)  # fmt: skip
_RUN = frozenset({"run", "resume", "cancel", "fs.write"})
_OPERATE = frozenset({"approvals.decide", "pause", "unpause"})
_ADMIN = frozenset({"secrets.set", "people.add", "people.remove", "people.token", "retention"})

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


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return role

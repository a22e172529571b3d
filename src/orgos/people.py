"""People and their roles: the one definition, shared by the store (which
keeps people and tokens), governance (what a role may do, tokens), the
workspace (what a role may read and write) and the CLI.

A foundation module: the store checks a name before it writes one, so this
module imports nothing of orgos (pydantic only). What each role may do is
governance's (``orgos.policy.identity.GRANTS``); what it may read and write,
the workspace's (``orgos.fs.people.person_grant``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: A person's name: it goes into path globs (``people/<name>/**``), audit
#: records and terminals, so no wildcard, separator or control character.
PERSON_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}\Z")


def check_person_name(name: str) -> str:
    """``name`` if it is a valid person's name, else ValueError saying why."""
    if not PERSON_NAME.match(name):
        raise ValueError(
            f"{name!r} is not a valid name: a person's name is letters, digits and . _ @ -,"
            " starting with a letter or digit, at most 100 characters"
        )
    return name


#: The roles, least first.
ROLES = ("viewer", "builder", "operator", "admin")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return role


#: A role, as a type (people.yaml is checked against it).
Role = Literal["admin", "operator", "builder", "viewer"]

#: The project file that names people (their roles and teams) for ``orgos fs``.
PEOPLE_FILE = "people.yaml"


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    teams: list[str] = Field(default_factory=list)


class PeopleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people: dict[str, Person] = Field(default_factory=dict)

    @field_validator("people")
    @classmethod
    def _names(cls, v: dict[str, Person]) -> dict[str, Person]:
        for name in v:  # a name goes into path globs (people/<name>/**)
            check_person_name(name)
        return v


__all__ = [
    "PEOPLE_FILE",
    "PERSON_NAME",
    "ROLES",
    "PeopleSpec",
    "Person",
    "Role",
    "check_person_name",
    "check_role",
]

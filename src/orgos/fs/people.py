"""Role lookups for the ``orgos fs`` commands, and what a role may read and
write (who a person is and the roles: ``orgos.people``).

A deliberately small stand-in: governance (a separate part of orgos) owns
identities and roles. Everything here sits behind the ``RoleLookup``
protocol, so swapping in governance's identities changes one constructor.
Roles come from ``people.yaml`` in the project folder::

    people:
      alice: {role: admin}
      bob: {role: builder, teams: [support]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from orgos.config.loader import load_file
from orgos.errors import NotFound
from orgos.fs.permissions import Grant
from orgos.people import PEOPLE_FILE, PeopleSpec, Person


class RoleLookup(Protocol):
    def person(self, name: str) -> Person:
        """The person's role and teams; NotFound for a stranger."""
        ...


class StaticRoles:
    def __init__(self, people: dict[str, Person]) -> None:
        self.people = people

    @classmethod
    def from_project(cls, root: Path) -> StaticRoles:
        path = root / PEOPLE_FILE
        if not path.is_file():
            return cls({})
        return cls(load_file(PeopleSpec, path).people)

    def person(self, name: str) -> Person:
        p = self.people.get(name)
        if p is None:
            raise NotFound(
                f"{name!r} is not a person of this org (people.yaml lists:"
                f" {', '.join(sorted(self.people)) or 'nobody'})"
            )
        return p


class GovernedRoles:
    """Roles from governance's people (who signed in with a token), teams
    from people.yaml: one source of truth for what a person's role is."""

    def __init__(self, base: StaticRoles, roles: dict[str, str]) -> None:
        self.base = base
        self.roles = roles

    def person(self, name: str) -> Person:
        role = self.roles.get(name)
        if role is None:
            return self.base.person(name)
        known = self.base.people.get(name)
        return Person.model_validate({"role": role, "teams": known.teams if known else []})


def person_grant(name: str, person: Person) -> Grant:
    """admin, operator: everything. builder: read everything, write their
    teams' folders, ``shared/`` and ``people/<name>/``. viewer: read only."""
    if person.role in ("admin", "operator"):
        return Grant(("**",), ("**",))
    if person.role == "builder":
        write = (*(f"teams/{t}/**" for t in person.teams), "shared/**", f"people/{name}/**")
        return Grant(("**",), write)
    return Grant(("**",), ())

"""Where a PostgreSQL store lives: its URL, the schema inside the database,
and the connections to it.

``postgresql://user:password@host:port/database?schema=name``: every table
of the store is in schema ``name`` (``public`` by default), created when
missing; the other query parameters are libpq's. A URL is never shown with
its password (``redact``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from orgos.errors import ConfigError, StoreError

SCHEMES = ("postgresql", "postgres")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed store URL."""

    #: What libpq is given (the URL without ``schema``).
    conninfo: str
    #: The URL as it may be shown: without its password.
    shown: str
    schema: str
    #: ``?blobs=``: the folder of file contents (see ``blob_dir``).
    blobs: str | None = None

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel of this store's changes (the schema's)."""
        return f"orgos_{self.schema}"


def redact(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def parse(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ConfigError(f"not a PostgreSQL URL: {redact(url)}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = "public"
    blobs = None
    rest = []
    for k, v in query:
        if k == "schema":
            schema = v
        elif k == "blobs":
            blobs = v
        else:
            rest.append((k, v))
    if not _IDENT.match(schema):
        raise ConfigError(
            f"schema {schema!r} in {redact(url)}: use lower-case letters, digits and _"
        )
    conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
    return Target(conninfo, redact(url), schema, blobs)


def blob_dir(target: Target, given: str | Path | None = None) -> Path:
    """Where a store keeps file contents: ``given``, else the URL's
    ``?blobs=``, else ``$XDG_DATA_HOME/orgos/blobs/HOST-PORT-DB-SCHEMA``."""
    if given is not None:
        return Path(given)
    if target.blobs:
        return Path(target.blobs).expanduser()
    parts = urlsplit(target.conninfo)
    name = f"{parts.hostname or 'local'}-{parts.port or 5432}-{parts.path.strip('/') or 'db'}"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "orgos" / "blobs" / f"{name}-{target.schema}"


def unreachable(target: Target, exc: BaseException) -> StoreError:
    """The error for a server that cannot be reached, naming the URL (not
    its password) and what libpq said."""
    why = str(exc).strip() or type(exc).__name__
    password = urlsplit(target.conninfo).password
    if password:
        why = why.replace(password, "***")
    return StoreError(f"cannot connect to the PostgreSQL store at {target.shown}: {why}")


async def connect(target: Target, *, timeout: float = 10.0) -> psycopg.AsyncConnection[object]:
    """One autocommit connection whose search path is the store's schema."""
    try:
        return await psycopg.AsyncConnection.connect(
            target.conninfo,
            autocommit=True,
            connect_timeout=max(1, int(timeout)),
            options=f"-c search_path={target.schema}",
        )
    except psycopg.OperationalError as exc:
        raise unreachable(target, exc) from None

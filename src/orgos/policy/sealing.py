"""The key that seals audit records (``audit:`` in the policy): a secret of
the vault or a file, read once per policy that names it. Kept apart from the
store on purpose: someone with the store file alone cannot seal a record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from orgos.errors import ConfigError
from orgos.policy.spec import AuditSettings

if TYPE_CHECKING:
    from orgos.policy.vault import Vault


class AuditKey:
    def __init__(self, given: bytes | None, vault: Callable[[], Vault], base: Path | None):
        """``given``: a key from Python (wins over the policy); ``vault``: the
        vault, opened on first need; ``base``: the folder of relative key files."""
        self._given, self._vault, self._base = given, vault, base
        self._cached: tuple[tuple[str | None, str | None], bytes | None] | None = None

    async def load(self, spec: AuditSettings) -> None:
        """Look the key up for ``spec`` (in the vault, which the store keeps):
        ``get`` answers from what was loaded."""
        where = (spec.key_secret, spec.key_file)
        if (
            self._given is not None
            or spec.key_secret is None
            or (self._cached is not None and self._cached[0] == where)
        ):
            return
        vault = self._vault()
        if spec.key_secret not in await vault.names():
            raise ConfigError(f"the audit key {spec.key_secret!r} is not in the vault; set"
                              f" it with `orgos secrets set {spec.key_secret}`")  # fmt: skip
        self._cached = (where, (await vault.get(spec.key_secret)).encode())

    def get(self, spec: AuditSettings) -> bytes | None:
        """The key in force; looked up again only when ``spec`` names another
        (a vault secret: after ``load``)."""
        where = (spec.key_secret, spec.key_file)
        if self._cached is not None and self._cached[0] == where:
            return self._cached[1]
        key = self._given
        if key is None and spec.key_secret is not None:
            raise ConfigError(f"the audit key {spec.key_secret!r} was not loaded from the vault")
        elif key is None and spec.key_file is not None:
            key = _read(Path(spec.key_file), self._base)
        self._cached = (where, key)
        return key

    def learn(self, spec: AuditSettings, name: str, value: str) -> None:
        """A secret is being stored: when it is the audit key, it seals
        records from now on (the record of its own storing too)."""
        if name == spec.key_secret and self._given is None:
            self._cached = ((spec.key_secret, spec.key_file), value.encode())


def _read(path: Path, base: Path | None) -> bytes:
    if not path.is_absolute() and base is not None:
        path = base / path
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"audit key file {path}: {exc.strerror}") from None
    if not key:
        raise ConfigError(f"audit key file {path} is empty")
    return key

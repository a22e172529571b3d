"""The secrets vault: values encrypted at rest (Fernet: AES-128-CBC with an
HMAC, from ``cryptography``), referenced by name in tool definitions and
decrypted only when a tool executes. The key comes from ORGOS_VAULT_KEY, or a
key file beside the store created on first use (mode 0600)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from orgos.errors import ConfigError, NotFound
from orgos.redact import Scrubber
from orgos.store.repos import GovernanceRepo

KEY_ENV = "ORGOS_VAULT_KEY"


def vault_key(key_file: Path | None, env: Mapping[str, str] | None = None) -> bytes:
    env = os.environ if env is None else env
    if env.get(KEY_ENV):
        return env[KEY_ENV].encode()
    if key_file is None:
        raise ConfigError(f"no vault key: set {KEY_ENV} (make one with `orgos secrets keygen`)")
    if key_file.is_file():
        return key_file.read_bytes().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


class Vault:
    """``scrubber`` learns every value that goes in or out, so results and
    logs are scrubbed of it (orgos.redact)."""

    def __init__(
        self, store: GovernanceRepo, workspace: str, key: bytes, scrubber: Scrubber | None = None
    ):
        self.scrubber = scrubber if scrubber is not None else Scrubber()
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(f"the vault key is not a valid Fernet key ({KEY_ENV})") from None
        self._store = store
        self.workspace = workspace

    async def set(self, name: str, value: str, actor: str) -> None:
        self.scrubber.add(value)
        token = self._fernet.encrypt(value.encode())
        await self._store.put_secret(self.workspace, name, token, actor)

    async def get(self, name: str) -> str:
        """The clear value; only tools get it, at execution."""
        token = await self._store.secret(self.workspace, name)
        if token is None:
            raise NotFound(f"no secret named {name!r} in the vault")
        try:
            value = self._fernet.decrypt(token).decode()
        except InvalidToken:
            raise ConfigError(f"secret {name!r} cannot be decrypted with this vault key") from None
        self.scrubber.add(value)  # stored since start, perhaps by another process
        return value

    async def learn_all(self) -> None:
        """Teach the scrubber every value in the vault."""
        for name in await self.names():
            await self.get(name)

    async def names(self) -> list[str]:
        return await self._store.secret_names(self.workspace)

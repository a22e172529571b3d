"""Where the policy comes from: a spec given in Python, or ``policy.yaml``
re-read when it changes (hot reload). The file is stat-ed at most every
``interval`` seconds, from the calling syscall: no watcher thread. A file
that no longer validates keeps the last good policy in force."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

from orgos.config.loader import read_yaml, validate
from orgos.errors import ConfigError
from orgos.policy.rules import RuleSet
from orgos.policy.spec import PolicySpec

log = logging.getLogger("orgos.policy")


def load_policy(path: Path) -> PolicySpec:
    """Read and validate a policy file; errors name file:line."""
    data, node = read_yaml(path)
    if data is None:
        return PolicySpec()
    return validate(PolicySpec, data, path=path, node=node)


class PolicySource:
    def __init__(
        self, spec: PolicySpec | None = None, path: Path | None = None, interval: float = 1.0
    ):
        self.path = path
        self.interval = interval
        self._stamp: tuple[int, int] | None = None
        self._next_check = 0.0
        #: The last reload error (file:line), or None while the file is good.
        self.error: str | None = None
        #: Bumped on every (re)load; lets callers see a reload happened.
        self.generation = 0
        if path is not None and spec is None:
            self._stamp = self._stat()
            spec = load_policy(path) if self._stamp is not None else PolicySpec()
        self.rules = RuleSet(spec or PolicySpec())
        self.digest = _digest(self.rules.spec)

    @property
    def spec(self) -> PolicySpec:
        return self.rules.spec

    def _stat(self) -> tuple[int, int] | None:
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def current(self) -> RuleSet:
        """The rules in force; re-reads the file if it changed."""
        if self.path is not None:
            now = time.monotonic()
            if now >= self._next_check:
                self._next_check = now + self.interval
                self.reload_if_changed()
        return self.rules

    def reload_if_changed(self) -> bool:
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            spec = load_policy(self.path) if stamp is not None else PolicySpec()  # type: ignore[arg-type]
        except ConfigError as exc:
            self.error = str(exc)
            log.error("policy not reloaded, the previous one stays in force: %s", exc)
            return False
        self.error = None
        self.rules = RuleSet(spec)
        self.digest = _digest(spec)
        self.generation += 1
        log.info("policy reloaded from %s (%s)", self.path, self.digest)
        return True


def _digest(spec: PolicySpec) -> str:
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:16]

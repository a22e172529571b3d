"""Result: what every syscall returns, in one shape.

A syscall ends in a value, an error, or a denial. The caller (the model, the
workflow engine, a service) gets the same typed record whatever the kind, and
acts on it: a denied delegation is something a model can read and work
around, not an exception that fails its run. The journal holds the record's
payload, so a replay returns exactly what the run saw the first time.

Payload format (the journal's JSON): ``{"ok": value}`` for a value,
``{"error": text}`` for a failure, with ``"denied": true`` when policy
refused the call, ``"code"`` for a machine-readable kind of failure and
``"tainted": true`` when the value carries untrusted content.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic_core

from orgos.errors import OrgosError


class SyscallError(OrgosError):
    """A syscall failed; ``code`` tells what kind of failure when it is known."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


class Denied(SyscallError):
    """Policy (a rule, a budget, a limit) refused the syscall."""


@dataclass(slots=True)
class Result:
    """A syscall's outcome. ``ok`` with a ``value``, or an ``error``."""

    ok: bool
    value: Any = None
    error: str | None = None
    #: Policy refused the call (it never ran).
    denied: bool = False
    #: A machine-readable kind of failure (``not_found``, ``quota`` ...).
    code: str | None = None
    #: The value (or error text) carries content from an untrusted source.
    #: The one field a result hook may set (governance marks an untrusted
    #: tool's result) before the result is journaled.
    tainted: bool = False

    # --- building ---------------------------------------------------------------
    @classmethod
    def of(cls, value: Any, *, tainted: bool = False) -> Result:
        return cls(True, value, None, False, None, tainted)

    @classmethod
    def fail(cls, error: str, *, code: str | None = None, tainted: bool = False) -> Result:
        return cls(False, None, error, code=code, tainted=tainted)

    @classmethod
    def deny(cls, reason: str) -> Result:
        return cls(False, None, reason, denied=True, code="denied")

    # --- reading ----------------------------------------------------------------
    def unwrap(self) -> Any:
        """The value; raises Denied or SyscallError for a call that did not succeed."""
        if self.ok:
            return self.value
        if self.denied:
            raise Denied(str(self.error), "denied")
        raise SyscallError(str(self.error), self.code)

    def for_model(self) -> str:
        """The text a model reads."""
        if not self.ok:
            return f"ERROR: {self.error}"
        v = self.value
        return v if isinstance(v, str) else pydantic_core.to_json(v).decode()

    # --- the journal's payload ----------------------------------------------------
    def to_payload(self) -> dict[str, Any]:
        if self.ok and not self.tainted:  # most results: nothing else to say
            return {"ok": self.value}
        d: dict[str, Any] = {"ok": self.value} if self.ok else {"error": self.error}
        if self.denied:
            d["denied"] = True
        if self.code is not None and not self.denied:
            d["code"] = self.code
        if self.tainted:
            d["tainted"] = True
        return d

    @classmethod
    def from_payload(cls, d: Mapping[str, Any]) -> Result:
        tainted = bool(d.get("tainted"))
        if "error" in d and "ok" not in d:
            if d.get("denied"):
                return cls(False, None, str(d["error"]), True, "denied", tainted)
            code = d.get("code")
            return cls(False, None, str(d["error"]), code=code, tainted=tainted)
        if "value" in d or (d.get("ok") is False and "error" in d):
            # Written before results had one shape: tools journaled
            # {"ok": true, "value": v} or {"ok": false, "error": e}.
            if d.get("ok") is False:
                return cls(False, None, str(d.get("error")), tainted=tainted)
            return cls(True, d.get("value"), tainted=tainted)
        return cls(True, d.get("ok"), tainted=tainted)

    # The names tools used for the same thing.
    to_dict = to_payload
    from_dict = from_payload

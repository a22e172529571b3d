"""``policy.yaml`` as pydantic models: rules, budgets, prices, rate limits,
approvals, breaker, guardrails and the workspace boundary. YAML and Python
build the same models."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Action = Literal["allow", "deny", "approve"]
Names = str | list[str] | None

_OPS = frozenset(
    {"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "matches", "exists"}
)
_HOURS = re.compile(r"^([01]?\d|2[0-3])-([01]?\d|2[0-4])$")


def _check_condition(path: str, cond: Any) -> None:
    if isinstance(cond, dict):
        bad = sorted(set(cond) - _OPS)
        if bad:
            raise ValueError(
                f"{path}: unknown comparison {', '.join(bad)}; use {', '.join(sorted(_OPS))}"
            )
        if "matches" in cond:
            re.compile(str(cond["matches"]))


class When(BaseModel):
    """What a call must look like for a rule to decide it. Every field that is
    set must hold. Names accept shell-style patterns (``refund_*``)."""

    model_config = ConfigDict(extra="forbid")

    agent: Names = None
    team: Names = None
    #: syscall kind: llm, tool, delegate
    kind: Names = None
    tool: Names = None
    #: Argument paths (``amount``, ``customer.country``) to a value (equality)
    #: or a comparison: ``{gt: 500}``, ``{in: [a, b]}``, ``{matches: "^x"}``.
    args: dict[str, Any] = Field(default_factory=dict)
    #: Like ``args``, on the facts a tool derives from its arguments (what the
    #: call will really do, e.g. the amount a refund pays).
    facts: dict[str, Any] = Field(default_factory=dict)
    #: The tool's risk: low, medium, high.
    risk: Names = None
    #: True: the run has read content from outside (untrusted tools).
    untrusted: bool | None = None
    #: The run's cost so far (in the price table's currency) is above this.
    cost_over: float | None = None
    tokens_over: int | None = None
    #: UTC hours, half-open, may wrap midnight: "22-6".
    hours: str | None = None

    @field_validator("args", "facts")
    @classmethod
    def _conds(cls, v: dict[str, Any]) -> dict[str, Any]:
        for path, cond in v.items():
            _check_condition(path, cond)
        return v

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: str | None) -> str | None:
        if v is not None and not _HOURS.match(v):
            raise ValueError(f"hours must look like '9-17' or '22-6', not {v!r}")
        return v


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    when: When = Field(default_factory=When)
    decide: Action
    #: Told to the model on deny; shown to the approver on approve.
    reason: str = ""
    #: Who is asked first on approve (a person, or a role); else ``approvals.approver``.
    approver: str | None = None


class Limit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: int | None = Field(default=None, ge=0)
    cost: float | None = Field(default=None, ge=0)


class Budgets(BaseModel):
    """Per run, and per UTC day for the workspace, each agent, each team."""

    model_config = ConfigDict(extra="forbid")

    run: Limit | None = None
    day: Limit | None = None
    agents: dict[str, Limit] = Field(default_factory=dict)
    teams: dict[str, Limit] = Field(default_factory=dict)


class Price(BaseModel):
    """Per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)


class Approvals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Seconds before a pending approval escalates to the next in line.
    timeout: float = Field(default=86_400.0, gt=0)
    #: Who is asked first when a rule names nobody.
    approver: str = "operator"
    #: How often a worker looks for approvals to escalate.
    check_every: float = Field(default=5.0, gt=0)


class Breaker(BaseModel):
    """Pause an agent automatically when it fails or spends too much, too fast."""

    model_config = ConfigDict(extra="forbid")

    window: float = Field(default=60.0, gt=0)
    max_errors: int | None = Field(default=None, ge=1)
    max_cost: float | None = Field(default=None, gt=0)


class Boundary(BaseModel):
    """What the workspace admin allows; no agent may be given more."""

    model_config = ConfigDict(extra="forbid")

    tools: list[str] | None = None
    models: list[str] | None = None
    delegates: bool = True


Pii = Literal["email", "phone", "card", "iban"]
_ALL_PII: tuple[Pii, ...] = ("email", "phone", "card", "iban")


class Redaction(BaseModel):
    """PII redaction in the orgos loggers' records and in live events
    (what watchers of runs receive). The journal is never redacted."""

    model_config = ConfigDict(extra="forbid")

    #: Built-in detectors: email, phone, card (Luhn-checked), iban (mod-97-checked).
    pii: list[Pii] = Field(default_factory=lambda: list(_ALL_PII))
    #: More: name -> regular expression; a match is replaced by ``[name]``.
    patterns: dict[str, str] = Field(default_factory=dict)
    logs: bool = True
    events: bool = True

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, v: dict[str, str]) -> dict[str, str]:
        for name, p in v.items():
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"pattern {name}: not a valid regular expression: {exc}") from None
        return v


class AuditSettings(BaseModel):
    """A keyed audit log: every record is sealed with an HMAC, so only the
    key's holder can write a chain that verifies. The key is a secret of the
    vault (``key_secret``, set with ``orgos secrets set``) or a file
    (``key_file``, relative to the policy file), kept away from the store."""

    model_config = ConfigDict(extra="forbid")

    key_secret: str | None = None
    key_file: str | None = None

    @model_validator(mode="after")
    def _one_key(self) -> AuditSettings:
        if self.key_secret is not None and self.key_file is not None:
            raise ValueError("audit: give key_secret or key_file, not both")
        return self


class PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Checked in order; the first that matches decides.
    rules: list[Rule] = Field(default_factory=list)
    #: When no rule matches.
    default: Action = "allow"
    budgets: Budgets = Field(default_factory=Budgets)
    #: Model name (or a key of the project's models) -> price; "default" for the rest.
    prices: dict[str, Price] = Field(default_factory=dict)
    currency: str = "USD"
    #: Model key of the project (or "default") -> limit.
    rate_limits: dict[str, RateLimit] = Field(default_factory=dict)
    approvals: Approvals = Field(default_factory=Approvals)
    breaker: Breaker = Field(default_factory=Breaker)
    #: Tools whose results come from outside (web, MCP, files others wrote).
    untrusted_tools: list[str] = Field(default_factory=list)
    #: Risk of tools, overriding what the tool says: ``{issue_refund: high}``.
    risk: dict[str, Literal["low", "medium", "high"]] = Field(default_factory=dict)
    boundary: Boundary | None = None
    redaction: Redaction = Field(default_factory=Redaction)
    audit: AuditSettings = Field(default_factory=AuditSettings)

    @field_validator("rules")
    @classmethod
    def _unique(cls, v: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for r in v:
            if r.name in seen:
                raise ValueError(f"rule {r.name!r} is defined twice")
            seen.add(r.name)
        return v


#: Built-in prices per million tokens; a policy file's ``prices`` override them.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(input=2.5, output=10.0),
    "gpt-4o-mini": Price(input=0.15, output=0.6),
    "gpt-4.1": Price(input=2.0, output=8.0),
    "gpt-4.1-mini": Price(input=0.4, output=1.6),
    "claude-3-5-sonnet-latest": Price(input=3.0, output=15.0),
    "claude-3-5-haiku-latest": Price(input=0.8, output=4.0),
    "default": Price(input=0.0, output=0.0),
}

"""An agent's guardrails as data: checks on its input (the task) and on its
final answer, criteria the answer is evaluated against (deterministic, or by
a judge model), and what happens when the answer fails them."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Check(BaseModel):
    """One validator. Every field that is set must hold:

    ``{max_length: 4000}``, ``{deny_patterns: ["(?i)ignore previous"]}``,
    ``{validator: no_competitors, args: {names: [...]}}``."""

    model_config = ConfigDict(extra="forbid")

    #: At most this many characters.
    max_length: int | None = Field(default=None, ge=1)
    min_length: int | None = Field(default=None, ge=0)
    #: Regular expressions (Python syntax) none of which may match.
    deny_patterns: list[str] = Field(default_factory=list)
    #: Regular expressions each of which must match somewhere.
    require_patterns: list[str] = Field(default_factory=list)
    #: A custom validator registered with the runtime (``@validator``).
    validator: str | None = None
    #: Keyword arguments for the custom validator.
    args: dict[str, Any] = Field(default_factory=dict)
    #: Said instead of the built-in reason when the check fails.
    message: str | None = None

    @field_validator("deny_patterns", "require_patterns")
    @classmethod
    def _compiles(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"{p!r} is not a valid regular expression: {exc}") from None
        return v


class Criterion(Check):
    """A criterion the final answer is evaluated against: the deterministic
    fields of a Check, and/or ``judge``, a statement a model decides on."""

    name: str = Field(min_length=1)
    #: A statement about the answer that a judge model says holds or not
    #: ("The answer quotes the order id and the refunded amount").
    judge: str | None = None
    #: The model key of the judge (default: the agent's own model).
    model: str | None = None


class Guardrails(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Checks on the task (its text and context); a failure refuses the run.
    input: list[Check] = Field(default_factory=list)
    #: Checks on the final answer.
    output: list[Check] = Field(default_factory=list)
    #: Evaluations of the final answer, after the output checks pass.
    criteria: list[Criterion] = Field(default_factory=list)
    #: How many times a failing answer is sent back to the model, with the reasons.
    retries: int = Field(default=2, ge=0, le=20)
    #: Then: fail the run, or park it until a person accepts, corrects or rejects the answer.
    on_failure: Literal["fail", "escalate"] = "fail"
    #: Who is asked on escalation (default: the policy's ``approvals.approver``).
    approver: str | None = None

    @field_validator("criteria")
    @classmethod
    def _unique(cls, v: list[Criterion]) -> list[Criterion]:
        return unique_criteria(v)

    def validators(self) -> set[str]:
        """Names of the custom validators these guardrails use."""
        return {c.validator for c in (*self.input, *self.output, *self.criteria) if c.validator}


def unique_criteria(v: list[Criterion]) -> list[Criterion]:
    """``v``, or ValueError naming a criterion defined twice (guardrails and gates)."""
    names = [c.name for c in v]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"criterion {dup[0]!r} is defined twice")
    return v


def checked_schema(v: dict[str, Any] | None, what: str) -> dict[str, Any] | None:
    """``v``, or ValueError when it is not a valid JSON Schema (an agent's
    output, a gate's schema)."""
    if v is not None:
        import jsonschema

        try:
            jsonschema.Draft202012Validator.check_schema(v)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"{what} is not a valid JSON Schema: {exc.message}") from None
    return v

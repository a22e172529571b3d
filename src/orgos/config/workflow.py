"""Workflow specs: a declarative graph of steps.

A step is done by an agent (named, or chosen by a routing rule), by a
sub-workflow, or by a planner agent whose plan becomes a sub-workflow. Steps
wait for their ``needs``; ``for_each`` fans a step out over a list computed at
run time; ``when`` makes it conditional; ``loop`` repeats it, always with a
bound. Conditions and lists are expressions (orgos.config.expr), never code.

YAML and Python build the same models; orgos.config.workflow_check validates the
graph (cycles, unknown agents, missing inputs) before anything runs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orgos.config.guardrails import Criterion, checked_schema, unique_criteria
from orgos.config.specs import NAME_PATTERN

STEP_ID = r"^[a-z][a-z0-9_]{0,62}$"

OnFailure = Literal["fail", "retry", "reassign", "escalate", "compensate", "continue"]


class RetrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Attempts in all (1: no retry).
    max_attempts: int = Field(default=1, ge=1, le=100)
    #: Seconds to wait before each new attempt (a durable timer, not a sleep).
    backoff: float = Field(default=0.0, ge=0, le=86_400)


class LoopSpec(BaseModel):
    """Repeat the step until ``until`` holds, at most ``max_iterations`` times.
    The bound is required: a loop without one is refused at load time."""

    model_config = ConfigDict(extra="forbid")

    until: str
    max_iterations: int = Field(ge=1, le=10_000)

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("max_iterations") is None:
            raise ValueError("a loop needs max_iterations: unbounded loops are refused")
        return data


class RouteSpec(BaseModel):
    """Choose the agent at run time, among those with every capability."""

    model_config = ConfigDict(extra="forbid")

    capabilities: list[str] = Field(min_length=1)
    #: least_loaded: fewest active runs, under their concurrency limit.
    #: supervisor: a supervisor agent picks (its answer is schema-constrained).
    strategy: Literal["least_loaded", "supervisor"] = "least_loaded"
    supervisor: str | None = None


class ActionSpec(BaseModel):
    """A compensating action: an agent and the task it gets."""

    model_config = ConfigDict(extra="forbid")

    agent: str
    task: str


class GateSpec(BaseModel):
    """What a step's output must meet before its dependents see it: a JSON
    Schema, rules (expressions that must hold) and criteria (the agents'
    guardrail criteria: patterns, validators, statements a judge model
    decides). A failing output goes back to the step's agent with the
    reasons, ``retries`` times; then the step's ``on_failure`` applies."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    #: A JSON Schema the step's output (its data) must match.
    output_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    #: Expressions that must hold: ``output.amount <= 500``. They read
    #: ``output``, ``summary``, ``confidence``, ``agent``, ``input``, the
    #: step's needs (``steps.X``) and, in a fan-out, ``item`` and ``index``.
    rules: list[str] = Field(default_factory=list)
    #: Criteria of the output, as in an agent's guardrails.
    criteria: list[Criterion] = Field(default_factory=list)
    #: How many times a failing output sends the step back to its agent.
    retries: int = Field(default=1, ge=0, le=10)

    @field_validator("output_schema")
    @classmethod
    def _valid_schema(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return checked_schema(v, "schema")

    @field_validator("criteria")
    @classmethod
    def _unique(cls, v: list[Criterion]) -> list[Criterion]:
        return unique_criteria(v)

    @model_validator(mode="after")
    def _something(self) -> GateSpec:
        if self.output_schema is None and not self.rules and not self.criteria:
            raise ValueError("a gate needs a schema, rules or criteria")
        return self


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=STEP_ID)
    description: str = ""
    # --- who does it: exactly one of these --------------------------------------
    agent: str | None = None
    route: RouteSpec | None = None
    workflow: str | None = None
    #: A planner agent decomposes ``task`` into a graph that runs as a sub-workflow.
    planner: str | None = None
    # --- what it gets -------------------------------------------------------------
    #: The task in words; ``{{ expr }}`` inserts values (``{{ input.order_id }}``).
    task: str = ""
    #: Data for the step: values may be ``{{ expr }}`` templates; for a
    #: sub-workflow this is its input.
    input: dict[str, Any] = Field(default_factory=dict)
    needs: list[str] = Field(default_factory=list)
    # --- shape -------------------------------------------------------------------
    when: str | None = None
    #: An expression yielding a list: one branch per item (``item``, ``index``).
    for_each: str | None = None
    loop: LoopSpec | None = None
    # --- failures ----------------------------------------------------------------
    retry: RetrySpec = Field(default_factory=RetrySpec)
    #: Seconds an attempt may take before it is cancelled and counts as failed.
    timeout: float | None = Field(default=None, gt=0)
    on_failure: OnFailure = "fail"
    #: Undoes the step when a later failure compensates the workflow.
    compensate: ActionSpec | None = None
    #: Who gets an escalation (default: the end of the agent's escalation chain).
    escalate_to: str | None = None
    #: Checks of the step's output before its dependents see it.
    gate: GateSpec | None = None

    @model_validator(mode="after")
    def _one_doer(self) -> StepSpec:
        doers = [k for k in ("agent", "route", "workflow", "planner") if getattr(self, k)]
        if len(doers) != 1:
            got = " and ".join(doers) if doers else "none"
            raise ValueError(
                f"step {self.id!r} needs exactly one of agent, route, workflow, planner (got {got})"
            )
        if self.on_failure == "retry" and self.retry.max_attempts == 1:
            self.retry = RetrySpec(max_attempts=3, backoff=self.retry.backoff)
        return self

    @property
    def doer(self) -> str:
        """A short description of who does the step."""
        if self.agent:
            return self.agent
        if self.route:
            return f"route({','.join(self.route.capabilities)})"
        if self.workflow:
            return f"workflow {self.workflow}"
        return f"planner {self.planner}"


class WorkflowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    #: Bump it when the workflow changes meaning; runs keep the spec they started with.
    version: int = Field(default=1, ge=1)
    #: Keys the input must have.
    inputs: list[str] = Field(default_factory=list)
    steps: list[StepSpec] = Field(min_length=1)
    #: What the workflow returns: an expression, or a mapping of them.
    #: Default: every step's output, by id.
    output: str | dict[str, str] | None = None
    #: Ask agents for a summary and a confidence with their data (dependent
    #: steps get both as context).
    reports: bool = True

    def step(self, step_id: str) -> StepSpec:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def digest(self) -> str:
        canon = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:16]


class PlanStep(BaseModel):
    """One sub-task of a planner's plan (a small, model-friendly StepSpec)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=STEP_ID)
    agent: str
    task: str = Field(min_length=1, max_length=2000)
    needs: list[str] = Field(default_factory=list, max_length=20)


class Plan(BaseModel):
    """What a planner agent answers: a graph of sub-tasks."""

    model_config = ConfigDict(extra="forbid")

    steps: list[PlanStep] = Field(min_length=1, max_length=50)


__all__ = [
    "ActionSpec",
    "GateSpec",
    "LoopSpec",
    "OnFailure",
    "Plan",
    "PlanStep",
    "RetrySpec",
    "RouteSpec",
    "StepSpec",
    "WorkflowSpec",
]

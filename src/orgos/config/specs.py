"""Specs: configuration as data. YAML files and Python code build the same
pydantic models, so everything a file can say, code can say, and back."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from orgos.config.access import (
    FileAccess,
    FilesSettings,
    MemoryScope,
    MemorySettings,
    RetentionSpec,
)
from orgos.config.guardrails import Guardrails, checked_schema
from orgos.config.limits import Limits
from orgos.llm.select import ModelConfig
from orgos.tools.base import Tool

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"


class AgentSpec(BaseModel):
    """A versioned agent definition. Any change to it makes a new version;
    runs keep the version they started with."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    role: str = ""
    description: str = ""
    capabilities: list[str] = Field(default_factory=list)
    owner: str | None = None
    #: The team this agent belongs to (see ``org.yaml``).
    team: str | None = None
    #: The agent that supervises this one; defaults to the team's lead.
    reports_to: str | None = None
    #: A key of the project's ``models`` table; "default" unless set.
    model: str = "default"
    instructions: str = ""
    #: Tool names (in Python, Tool objects are accepted too).
    tools: list[str] = Field(default_factory=list)
    #: Agents this one may hand sub-tasks to. When unset, the org chart
    #: decides (down one's line, and the agents one's team may use); ``[]``:
    #: nobody.
    delegates: list[str] | None = None
    #: JSON Schema of the final answer (in Python, a pydantic model class).
    output: dict[str, Any] | None = None
    #: Tools whose effect the run is for: it cannot succeed unless each of
    #: them succeeded; a denied or failed one fails the run, saying why.
    requires: list[str] = Field(default_factory=list)
    #: Answer fields that can only be a value a tool returned in this run:
    #: ``{"refund_id": "issue_refund.refund_id"}``. An answer with any other
    #: value is sent back to the model, then fails the run.
    bind: dict[str, str] = Field(default_factory=dict)
    max_steps: int = Field(default=10, ge=1, le=100_000)
    #: How often each tool may be called in one run: ``{"issue_refund": 1}``.
    #: Keys may also be ``delegate`` or ``delegate:AGENT``. A tool that used
    #: up its calls is no longer offered to the model.
    tool_limits: dict[str, int] = Field(default_factory=dict)
    #: "required": the model must call a tool while one is offered, and answers
    #: once ``tool_limits`` used them all up (keeps small models on the path).
    tool_choice: Literal["auto", "required"] = "auto"
    temperature: float | None = Field(default=None, ge=0, le=2)
    #: Checks on the task and the final answer, and criteria the answer is
    #: evaluated against (see docs/governance.md).
    guardrails: Guardrails | None = None
    #: Routing sends this agent at most this many runs at once, while another
    #: capable agent has room (None: no limit).
    max_concurrent: int | None = Field(default=None, ge=1)
    #: Workspace paths this agent may read and write, on top of its team's.
    #: Unset (and unset on the team): its own folder ``agents/{agent}/**``, its
    #: team's ``teams/{team}/**``, and ``shared/**`` to read.
    files: FileAccess | None = None
    #: Memory scopes it may remember into and recall from; unset: agent, team.
    memory: list[MemoryScope] | None = None
    #: Tokens the conversation may take before older turns are summarized
    #: (short-term memory); unset: never compacted.
    context_budget: int | None = Field(default=None, ge=256)

    #: In Python: the pydantic class ``output`` was given as (answers of this
    #: agent's runs come back as instances of it), and the Tool objects
    #: ``tools`` was given (a runtime given the agent registers them).
    #: Not part of the spec's data: YAML cannot say them, versions ignore them.
    _output_type: type[BaseModel] | None = PrivateAttr(default=None)
    _tool_objects: tuple[Tool, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _keep_python_objects(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        spec = handler(data)
        if isinstance(data, dict) and isinstance(spec, AgentSpec):
            out = data.get("output")
            if isinstance(out, type) and issubclass(out, BaseModel):
                spec._output_type = out
            tools = data.get("tools")
            if isinstance(tools, list | tuple):
                spec._tool_objects = tuple(t for t in tools if isinstance(t, Tool))
        return spec

    @property
    def output_type(self) -> type[BaseModel] | None:
        """The pydantic class of the answer, when ``output`` was given as one."""
        return self._output_type

    @property
    def tool_objects(self) -> tuple[Tool, ...]:
        """The Tool objects ``tools`` was given (names given as strings are not here)."""
        return self._tool_objects

    @field_validator("tools", mode="before")
    @classmethod
    def _tool_names(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [getattr(t, "name", t) for t in v]
        return v

    @field_validator("output", mode="before")
    @classmethod
    def _output_schema(cls, v: Any) -> Any:
        if isinstance(v, type) and issubclass(v, BaseModel):
            return v.model_json_schema()
        return v

    @field_validator("output")
    @classmethod
    def _valid_schema(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return checked_schema(v, "output")

    @field_validator("requires")
    @classmethod
    def _required_tools(cls, v: list[str], info: ValidationInfo) -> list[str]:
        tools = info.data.get("tools")
        for name in v:
            if tools is not None and name not in tools:
                raise ValueError(
                    f"requires {name!r}, which is not among the agent's tools"
                    f" ({', '.join(tools) or 'none'})"
                )
        return v

    @field_validator("bind")
    @classmethod
    def _bindings(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if v and info.data.get("output") is None:
            raise ValueError("bind needs an output schema: it binds fields of a JSON answer")
        tools = info.data.get("tools")
        props = (info.data.get("output") or {}).get("properties")
        for fld, source in v.items():
            tool, _, path = source.partition(".")
            if not _DOTTED.match(fld) or not tool or not _DOTTED.match(path):
                raise ValueError(
                    f"bind {fld}: {source!r} is not FIELD: TOOL.FIELD"
                    " (refund_id: issue_refund.refund_id)"
                )
            if tools is not None and tool not in tools:
                raise ValueError(
                    f"bind {fld}: {tool!r} is not among the agent's tools"
                    f" ({', '.join(tools) or 'none'})"
                )
            if isinstance(props, dict) and fld.split(".")[0] not in props:
                raise ValueError(
                    f"bind {fld}: the output schema has no property {fld.split('.')[0]!r}"
                )
        return v

    def digest(self) -> str:
        canon = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:16]


#: A dotted path of names: ``refund_id``, ``refund.id``.
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")


class ProjectSpec(BaseModel):
    """``orgos.yaml``: what a project folder holds and how it runs."""

    model_config = ConfigDict(extra="forbid")

    name: str = "orgos-project"
    workspace: str = Field(default="default", pattern=NAME_PATTERN)
    #: A store URL; relative sqlite paths are relative to the project folder.
    store: str = "sqlite:///.orgos/orgos.db"
    durability: str = Field(default="kill-safe", pattern="^(kill-safe|power-safe)$")
    models: dict[str, ModelConfig] = Field(default_factory=lambda: {"default": ModelConfig()})
    #: Python files (relative to the project) whose @tool functions are loaded.
    tools: list[str] = Field(default_factory=lambda: ["tools.py"])
    #: The org chart file (teams); optional.
    org: str = "org.yaml"
    #: The policy file (rules, budgets, approvals...); optional, hot-reloaded.
    policy: str = "policy.yaml"
    #: Folders (or files) of agent YAML.
    agents: list[str] = Field(default_factory=lambda: ["agents"])
    #: Folders (or files) of workflow YAML (missing ones are skipped).
    workflows: list[str] = Field(default_factory=lambda: ["workflows"])
    max_active_runs: int = Field(default=1000, ge=1)
    model_timeout: float = Field(default=120.0, gt=0)
    #: Limits of the shared workspace filesystem.
    files: FilesSettings = Field(default_factory=FilesSettings)
    #: How recall searches: keyword, semantic or hybrid, and the embeddings.
    memory: MemorySettings = Field(default_factory=MemorySettings)
    #: What ``orgos retention`` removes.
    retention: RetentionSpec = Field(default_factory=RetentionSpec)
    #: Bounds on delegation, runs per tree, tool calls, answer and result sizes.
    limits: Limits = Field(default_factory=Limits)


class SchemaValidator:
    """A JSON Schema (2020-12) check. The yes-or-no comes from jsonschema-rs
    when it is installed (the ``fast`` extra; about 50x quicker, and every
    agent answer and workflow step is checked); the explanation of a failure
    always comes from jsonschema, so messages do not depend on the extra."""

    __slots__ = ("_fast", "_full")

    def __init__(self, schema: dict[str, Any]):
        import jsonschema

        self._full = jsonschema.Draft202012Validator(schema)
        self._fast: Any = None
        try:
            import jsonschema_rs
        except ImportError:
            return
        try:
            self._fast = jsonschema_rs.Draft202012Validator(schema, validate_formats=False)
        except Exception:  # a schema it cannot compile: jsonschema alone decides
            self._fast = None

    def iter_errors(self, value: Any) -> Iterator[Any]:
        """jsonschema's errors for ``value`` (none when it is valid)."""
        if self._fast is not None and self._fast.is_valid(value):
            return iter(())
        return iter(self._full.iter_errors(value))


def json_schema_validator(schema: dict[str, Any]) -> SchemaValidator:
    return SchemaValidator(schema)


__all__ = ["AgentSpec", "Limits", "ModelConfig", "ProjectSpec", "json_schema_validator"]

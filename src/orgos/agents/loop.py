"""The agent loop: model and tools, in turn, until a valid final answer.

It runs inside a RunContext, so every model call, tool call and delegation is
a syscall: journaled, replayable, governed. The loop itself holds no state the
journal cannot rebuild.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pydantic_core

from orgos.agents import delegation
from orgos.agents import guardrails as guard
from orgos.agents.delegation import DELEGATE, check_delegation, delegate_tool
from orgos.agents.effects import Effects
from orgos.agents.guardrails import GuardrailError
from orgos.config.specs import AgentSpec, SchemaValidator, json_schema_validator
from orgos.errors import OrgosError
from orgos.kernel.context import RunContext
from orgos.kernel.registry import AgentRegistry
from orgos.kernel.run_input import RunInput
from orgos.llm.base import Message, ModelRequest, ModelResponse, ToolCall, ToolDef
from orgos.memory.compact import compact
from orgos.memory.handoff import Handoff
from orgos.tools.base import Tool, ToolResult
from orgos.tools.validators import Validator

if TYPE_CHECKING:
    from orgos.org.routing import Router

#: The key of ``Kernel.services`` under which a service offers built-in tools.
BUILTIN_TOOLS = "builtin_tools"


class BuiltinTools(Protocol):
    """Tools a service gives agents on its own (the workspace's file and
    memory tools): context tools (``Tool(context=True)``), called with
    ``call_in``; their calls are the service's syscalls, not ``tool``."""

    def tools(self, spec: AgentSpec) -> list[Tool]: ...


class StepLimitReached(OrgosError):
    """An agent used up its ``max_steps`` without a valid final answer."""


def render_task(task: RunInput) -> str:
    """The first user message: the task, and the context it came with."""
    text = task.task or ""
    parts = [text] if text else []
    ctx = task.context
    if ctx:
        ctx_text = ctx if isinstance(ctx, str) else json.dumps(ctx, ensure_ascii=False)
        parts.append(f"Context:\n{ctx_text}")
    handoff = Handoff.parse(task.handoff)
    sender = task.delegated_by
    if handoff is not None and (text := handoff.render(sender)):
        parts.append(text)
    if sender:
        about = task.parent_task
        parts.append(
            f"(Delegated by agent {sender}, who is working on: {about})"
            if about
            else f"(Delegated by agent {sender}.)"
        )
    return "\n\n".join(parts) or json.dumps(task.to_dict())


def system_prompt(spec: AgentSpec) -> str:
    lines = [f"You are {spec.name}" + (f", the {spec.role}." if spec.role else ".")]
    if spec.description:
        lines.append(spec.description)
    if spec.instructions:
        lines.append(spec.instructions.strip())
    if spec.output is not None:
        lines.append(
            "When you are done, reply with only a JSON document matching this schema:\n"
            + json.dumps(spec.output)
        )
    return "\n\n".join(lines)


def report_schema(output: dict[str, Any] | None) -> dict[str, Any]:
    """The answer of an agent asked for a report (a workflow step): its data,
    a short summary of what it found, and how confident it is."""
    return {
        "type": "object",
        "properties": {
            "data": output if output is not None else {},
            "summary": {"type": "string", "maxLength": 200},
            # not bounded here: small models write 90 for 0.9; the workflow
            # engine reads percents and clamps to 0..1
            "confidence": {"type": "number", "description": "how sure you are, from 0 to 1"},
        },
        "required": ["data", "summary", "confidence"],
    }


@dataclass(slots=True)
class _ToolKit:
    """An agent's tools as its runs see them."""

    all_defs: list[ToolDef]
    #: The built-in tools (a service's), by name.
    own: dict[str, Tool]
    #: What is offered before any call.
    first: list[ToolDef]
    allowed: frozenset[str]


@dataclass(slots=True)
class _Prepared:
    """An agent spec as its runs use it, built once: delegates from the org
    chart, the report schema when asked, its validator, its system prompt,
    and (once a kernel asks) its tools."""

    #: The registry's spec this was made from (the cache is keyed by its id).
    source: AgentSpec
    spec: AgentSpec
    validator: SchemaValidator | None
    prompt: str
    #: The capabilities of the agents it may delegate to (delegation by capability).
    caps: list[str] = field(default_factory=list)
    tools: _ToolKit | None = None
    #: Which kernel tools and built-in tools ``tools`` was built from.
    tools_key: tuple[int, int, int] = (0, 0, 0)


#: Who an agent may delegate to, given its spec (the org chart decides when
#: the spec does not say).
DelegatesOf = Callable[[AgentSpec], list[str]]


class AgentProgram:
    """The "agent" run kind."""

    def __init__(
        self,
        registry: AgentRegistry,
        validators: dict[str, Validator] | None = None,
        delegates_of: DelegatesOf | None = None,
        router: Router | None = None,
    ):
        self.registry = registry
        #: Custom guardrail validators by name (the runtime's; it may add more).
        self.validators: dict[str, Validator] = {} if validators is None else validators
        self.delegates_of: DelegatesOf = delegates_of or (lambda spec: list(spec.delegates or []))
        #: Routes delegations by capability and holds the agents' breakers.
        self.router = router
        #: (registry spec, delegates, report) -> the spec as its runs use it
        self._prepared: dict[tuple[Any, ...], _Prepared] = {}

    def prepare(self, spec: AgentSpec, report: bool) -> _Prepared:
        """The spec as this run uses it (delegates from the org chart, the
        report schema when asked), its validator and system prompt; built once."""
        delegates = self.delegates_of(spec)
        key = (id(spec), tuple(delegates), report)
        hit = self._prepared.get(key)
        if hit is not None and hit.source is spec:
            return hit
        original = spec
        if delegates != spec.delegates:
            spec = spec.model_copy(update={"delegates": delegates})
        if report:
            spec = spec.model_copy(update={"output": report_schema(spec.output)})
        validator = json_schema_validator(spec.output) if spec.output is not None else None
        if len(self._prepared) > 1000:
            self._prepared.clear()
        caps = self._capabilities(delegates)
        prep = _Prepared(original, spec, validator, system_prompt(spec), caps)
        self._prepared[key] = prep
        return prep

    def _capabilities(self, delegates: list[str]) -> list[str]:
        if self.router is None or not delegates:
            return []
        return self.router.capabilities_of(delegates)

    @staticmethod
    def _tools(ctx: RunContext, prep: _Prepared) -> _ToolKit:
        """The tools a prepared agent's runs are offered; built once per set
        of registered tools, not once per run."""
        tools_by_name = ctx.kernel.tools
        builtin: BuiltinTools | None = ctx.kernel.services.get(BUILTIN_TOOLS)
        # The registry's version moves with every change: a tool replaced
        # under its name is offered with its new schema.
        key = (id(tools_by_name), tools_by_name.version, id(builtin))
        if prep.tools is not None and prep.tools_key == key:
            return prep.tools
        spec = prep.spec
        all_defs = [
            ToolDef(t.name, t.description, t.parameters)
            for name in spec.tools
            if (t := tools_by_name.get(name)) is not None
        ]
        own = {t.name: t for t in builtin.tools(spec)} if builtin is not None else {}
        all_defs += [ToolDef(t.name, t.description, t.parameters) for t in own.values()]
        first = offered_tools(spec, all_defs, {}, prep.caps)
        kit = _ToolKit(all_defs, own, first, frozenset(spec.tools))
        prep.tools, prep.tools_key = kit, key
        return kit

    async def resolve_version(self, workspace: str, target: str) -> int:
        return await self.registry.latest_version(workspace, target)

    async def __call__(self, ctx: RunContext) -> Any:
        run = ctx.run
        spec = await self.registry.get(run.workspace, run.target, run.target_version)
        given = RunInput.read(run.input)
        report = given.report
        prep = self.prepare(spec, report)
        spec, validator, system = prep.spec, prep.validator, prep.prompt
        kit = self._tools(ctx, prep)
        all_defs, own = kit.all_defs, kit.own
        ctx.allowed_tools = kit.allowed
        task = render_task(given)
        await guard.check_input(ctx, spec, task, self.validators)
        messages = [Message("system", system), Message("user", task)]
        failures = 0
        used: dict[str, int] = {}
        defs = kit.first
        effects = Effects.of(spec)
        for _ in range(spec.max_steps):
            if spec.context_budget is not None:
                messages = await compact(
                    ctx, messages, spec.context_budget, model=spec.model, tools=defs
                )
            req = ModelRequest(
                messages, defs, spec.output, spec.temperature, tool_choice=spec.tool_choice
            )
            resp = await ctx.llm(req, spec.model)
            messages.append(Message("assistant", resp.content, list(resp.tool_calls)))
            if resp.tool_calls:
                results = await self._act(ctx, prep, resp.tool_calls, used, own)
                if effects is not None:
                    for call in resp.tool_calls:
                        effects.record(call.name, results[call.id])
                if spec.tool_limits:
                    defs = offered_tools(spec, all_defs, used, prep.caps)
                for call in resp.tool_calls:
                    messages.append(
                        Message("tool", results[call.id].for_model(), tool_call_id=call.id,
                                name=call.name)
                    )  # fmt: skip
                continue
            answer, problem = parse_final(resp, validator)
            if problem is None and effects is not None:
                problem = effects.problem(answer, report)
            if problem is None:
                if not guard.needs_review(spec.guardrails):
                    return answer
                problems = await guard.review_answer(ctx, spec, answer, task, self.validators)
                if not problems:
                    return answer
                failures += 1
                g = spec.guardrails
                assert g is not None
                if failures > g.retries:
                    if g.on_failure == "escalate":
                        return await guard.escalate(ctx, spec, answer, problems)
                    raise GuardrailError(
                        f"{spec.name}'s answer failed its checks {failures} time(s): "
                        + "; ".join(problems)
                    )
                problem = "; ".join(problems)
            messages.append(Message("user", f"Your answer is not valid: {problem}. Answer again."))
        raise StepLimitReached(
            f"agent {spec.name} reached its step limit ({spec.max_steps}) without a final answer"
        )

    async def _act(
        self,
        ctx: RunContext,
        prep: _Prepared,
        calls: list[ToolCall],
        used: dict[str, int],
        builtin: dict[str, Tool] | None = None,
    ) -> dict[str, ToolResult]:
        """Run the tool calls in order; delegations start together, in parallel."""
        spec = prep.spec
        results: dict[str, ToolResult] = {}
        delegations: list[ToolCall] = []
        limits = spec.tool_limits
        cap = ctx.kernel.limits.tool_calls_per_reply
        if len(calls) > cap:  # the first ones run; the model is told about the rest
            why = (f"not run: one reply may make at most {cap} tool calls and this one made"
                   f" {len(calls)} (limits.tool_calls_per_reply); make fewer at once")  # fmt: skip
            for call in calls[cap:]:
                results[call.id] = ToolResult(False, error=why)
            calls = calls[:cap]
        for call in calls:
            key = call.name
            if limits:
                if call.name == DELEGATE:
                    key = f"{DELEGATE}:{call.arguments.get('agent')}"
                over = _over_limit(spec, used, call.name, key)
                if over is not None:
                    results[call.id] = ToolResult(False, error=over)
                    continue
            # Only a call that is carried out uses up its limit: a malformed
            # one (bad JSON, unknown tool, invalid arguments) or a denied one
            # costs nothing.
            ran = False
            if call.arguments_error is not None:
                results[call.id] = ToolResult(
                    False, error=f"arguments are not valid JSON: {call.arguments_error}"
                )
            elif call.name == DELEGATE and spec.delegates:
                problem = check_delegation(spec, call.arguments, prep.caps)
                if problem:
                    results[call.id] = ToolResult(False, error=problem)
                else:
                    delegations.append(call)
                    ran = True
            elif builtin and (own := builtin.get(call.name)) is not None:
                results[call.id] = await own.call_in(ctx, call.arguments)
                ran = True
            else:
                ran = not limits or ctx.tool_problem(call.name, call.arguments) is None
                results[call.id] = await ctx.tool(call.name, call.arguments)
                ran = ran and not results[call.id].denied  # a denied call never ran
            if limits and ran:
                used[call.name] = used.get(call.name, 0) + 1
                if key != call.name:
                    used[key] = used.get(key, 0) + 1
        if delegations:
            results.update(await delegation.run(ctx, spec, delegations, self.router))
        return results


def offered_tools(
    spec: AgentSpec, defs: list[ToolDef], used: dict[str, int], caps: list[str] | None = None
) -> list[ToolDef]:
    """The tools still offered to the model, given the calls made so far."""
    limits = spec.tool_limits
    out = [d for d in defs if used.get(d.name, 0) < limits.get(d.name, 1 << 30)]
    if spec.delegates and used.get(DELEGATE, 0) < limits.get(DELEGATE, 1 << 30):
        agents = [
            a
            for a in spec.delegates
            if used.get(f"{DELEGATE}:{a}", 0) < limits.get(f"{DELEGATE}:{a}", 1 << 30)
        ]
        if agents:
            out.append(delegate_tool(spec, agents, caps))
    return out


def _over_limit(spec: AgentSpec, used: dict[str, int], name: str, key: str) -> str | None:
    for k in {name, key}:
        limit = spec.tool_limits.get(k)
        if limit is not None and used.get(k, 0) >= limit:
            return f"{k} may be called at most {limit} time(s) in one run; it was used up"
    return None


def parse_final(resp: ModelResponse, validator: Any) -> tuple[Any, str | None]:
    """The final answer, or why it is not acceptable."""
    text = resp.content.strip()
    if validator is None:
        name = tool_call_in_text(text)
        if name is not None:
            return None, (
                f"it is a call to {name} written as text, not an answer; answer the user in"
                " plain words (tools are called through the tool interface)"
            )
        return text, None
    try:
        value = pydantic_core.from_json(_strip_fence(text))
    except ValueError as exc:
        return None, f"it is not JSON ({exc})"
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.path) or "the document"
        return None, f"{where}: {e.message}"
    return value, None


def tool_call_in_text(text: str) -> str | None:
    """The tool named when a reply is a tool call written as JSON text
    (``{"tool": ..., "arguments": ...}`` and the like), which a model writes
    when its tools are used up or it loses track: it answers nothing."""
    body = _strip_fence(text)
    if not body.startswith(("{", "[")):
        return None
    try:
        value = pydantic_core.from_json(body)
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        value = value["tool_calls"]
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict):
            return None
        if isinstance(item.get("function"), dict):  # {"type": "function", "function": {...}}
            item = item["function"]
        name = item.get("tool") or item.get("name")
        if isinstance(name, str) and ("arguments" in item or "parameters" in item):
            return name
    return None


def _strip_fence(text: str) -> str:
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else text[3:]
        text = text.rsplit("```", 1)[0]
    return text.strip()

"""Typed tools: a Python function becomes a tool with a JSON Schema.

The schema comes from the type hints (through pydantic), the description from
the docstring. Arguments from a model are validated before the function runs;
any failure becomes a ToolResult error the model can read, never a crash: a
tool raising ``SystemExit``, ``KeyboardInterrupt`` or any ``BaseException``
fails its own call, not the worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, overload

import pydantic
import pydantic_core

from orgos.errors import ConfigError, OrgosError
from orgos.redact import Scrubber
from orgos.result import Result
from orgos.store.codec import explain
from orgos.tools.threads import ToolThreads

_PLAIN = frozenset({str, int, float, bool, type(None)})

#: A tool that takes a parameter with this name is "keyed": the kernel passes a
#: key unique to the call (stable across retries), so the tool can make a
#: non-idempotent effect safe to retry after a crash.
IDEMPOTENCY_KEY = "idempotency_key"


#: A tool call's outcome is a syscall's: one typed result for every kind.
ToolResult = Result


class Tool:
    """A callable with a name, a description, an argument model and a policy
    for retries. Build one with ``@tool``.

    ``context=True`` makes a service's tool (the workspace's file and memory
    tools): its function takes the calling run's context first, is called
    with ``call_in`` and not as a ``tool`` syscall (what it does is made of
    the service's own syscalls), and is not the model's to see in its
    schema. ``parameters``: the schema the model is shown, when it should
    say more than the signature does (the arguments are still validated
    against the signature)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        idempotent: bool = False,
        timeout: float = 30.0,
        risk: str = "low",
        secrets: Mapping[str, str] | None = None,
        facts: Callable[..., Mapping[str, Any]] | None = None,
        context: bool = False,
        parameters: Mapping[str, Any] | None = None,
    ):
        self.fn = fn
        self.context = context
        #: Parameter -> vault secret name. Hidden from the model; the value is
        #: passed in only when the tool executes, and scrubbed from its result.
        self.secrets = dict(secrets or {})
        #: What a call will really do, derived from its arguments (e.g. the
        #: amount a refund pays), for policy rules to judge.
        self.facts = facts
        self.name = name or fn.__name__
        doc = inspect.getdoc(fn) or ""
        self.description = description or doc.split("\n\n")[0].replace("\n", " ").strip()
        self.idempotent = idempotent
        self.timeout = timeout
        self.risk = risk
        self.is_async = inspect.iscoroutinefunction(fn)
        self.keyed = False
        fields: dict[str, Any] = {}
        hints = _hints(fn)
        params = list(inspect.signature(fn).parameters.items())
        for pname, param in params[1:] if context else params:
            if pname == IDEMPOTENCY_KEY:
                self.keyed = True
                continue
            if pname in self.secrets:
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ConfigError(f"tool {self.name}: *args/**kwargs are not supported")
            ann = hints.get(pname, Any)
            default = ... if param.default is param.empty else param.default
            fields[pname] = (ann, default)
        try:
            self.args_model: type[pydantic.BaseModel] = pydantic.create_model(
                f"{self.name}_args",
                __config__=pydantic.ConfigDict(extra="forbid"),
                **fields,
            )
            schema = self.args_model.model_json_schema()
        except Exception as exc:  # an unsupported annotation
            raise ConfigError(f"tool {self.name}: cannot build a schema: {exc}") from exc
        schema.pop("title", None)
        self.parameters: dict[str, Any] = dict(parameters) if parameters is not None else schema
        self._validator = self.args_model.__pydantic_validator__

    @property
    def safe_to_retry(self) -> bool:
        return self.idempotent or self.keyed

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Check and coerce arguments; raises ValueError with a message for the model."""
        try:
            model = self._validator.validate_python(arguments)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ValueError(f"invalid arguments for {self.name}: {problems}") from None
        return dict(model.__dict__)

    async def call_in(self, context: Any, arguments: Mapping[str, Any]) -> ToolResult:
        """A context tool's call: the arguments validated, then
        ``fn(context, **arguments)``. Invalid arguments, and an ``OrgosError``
        it raises (a denial, a missing file), are the call's error result;
        anything else is not the model's business and propagates. No thread
        and no timeout of its own: its syscalls have theirs."""
        try:
            kwargs = self.validate(arguments)
        except ValueError as exc:
            return ToolResult(False, error=str(exc))
        try:
            value = await self.fn(context, **kwargs)
        except OrgosError as exc:
            return ToolResult(False, error=str(exc))
        return value if isinstance(value, Result) else ToolResult(True, value)

    def invoke(
        self,
        arguments: Mapping[str, Any],
        idempotency_key: str,
        *,
        timer: Callable[[float], AbstractAsyncContextManager[Any]] = asyncio.timeout,
        secrets: Callable[[str], Awaitable[str]] | None = None,
        valid: dict[str, Any] | None = None,
        scrub: Scrubber | None = None,
        threads: ToolThreads | None = None,
    ) -> Awaitable[ToolResult]:
        """Validate, call with a timeout, and turn every failure into a result.

        ``timer`` makes the timeout; the kernel passes its cheaper wheel.
        ``secrets`` gives the value of a vault secret by name; ``scrub``
        knows every value of the vault: they (and their encodings) are masked
        in the result, the tool's own secrets always. ``valid``: the
        arguments as ``validate`` already returned them (checked once, not
        twice). ``threads``: where a sync tool runs (its kernel's own pool;
        asyncio's default one without). Returns the call's coroutine (not a
        coroutine itself: one frame less per call)."""
        if valid is not None:
            kwargs = dict(valid)
        else:
            try:
                kwargs = self.validate(arguments)
            except ValueError as exc:
                return _ready(ToolResult(False, error=str(exc)))
        if self.keyed:
            kwargs[IDEMPOTENCY_KEY] = idempotency_key
        if self.secrets or scrub:
            return self._call_with_secrets(kwargs, timer, secrets, scrub, threads)
        return self._call(kwargs, timer, threads)

    async def _call_with_secrets(
        self,
        kwargs: dict[str, Any],
        timer: Callable[[float], AbstractAsyncContextManager[Any]],
        secrets: Callable[[str], Awaitable[str]] | None,
        scrub: Scrubber | None,
        threads: ToolThreads | None,
    ) -> ToolResult:
        try:
            clear = {p: await _secret(secrets, n) for p, n in self.secrets.items()}
        except Exception as exc:
            return ToolResult(False, error=f"{self.name}: {exc}")
        result = await self._call(kwargs | clear, timer, threads)
        own = Scrubber(clear.values())
        for s in (own, scrub):
            if s:
                error = None if result.error is None else s.text(result.error)
                result = dataclasses.replace(result, value=s.value(result.value), error=error)
        return result

    async def _call(
        self,
        kwargs: dict[str, Any],
        timer: Callable[[float], AbstractAsyncContextManager[Any]],
        threads: ToolThreads | None = None,
    ) -> ToolResult:
        try:
            async with timer(self.timeout):
                if self.is_async:
                    value = await self.fn(**kwargs)
                elif threads is not None:
                    # A hanging sync tool's thread cannot be killed; the run
                    # moves on after the timeout, the pool starts another
                    # thread for the calls behind it, and the thread ends
                    # when it may.
                    value = await threads.run(self.fn, **kwargs)
                else:
                    value = await asyncio.to_thread(self.fn, **kwargs)
        except TimeoutError:
            return ToolResult(False, error=f"{self.name} timed out after {self.timeout:g} s")
        except asyncio.CancelledError:
            raise  # the run is being stopped: not the tool's failure
        except BaseException as exc:  # SystemExit and the like too: the call's error
            return ToolResult(False, error=f"{self.name} failed: {type(exc).__name__}: {exc}")
        if type(value) not in _PLAIN:
            try:
                value = pydantic_core.to_jsonable_python(value)
            except Exception as exc:
                why = explain(value) or str(exc)
                return ToolResult(
                    False, error=f"{self.name} returned a value that is not JSON: {why}"
                )
        return ToolResult(True, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Tool {self.name}>"


def _ready(result: ToolResult) -> asyncio.Future[ToolResult]:
    fut: asyncio.Future[ToolResult] = asyncio.get_running_loop().create_future()
    fut.set_result(result)
    return fut


async def _secret(source: Callable[[str], Awaitable[str]] | None, name: str) -> str:
    if source is None:
        raise LookupError(f"secret {name!r} is needed but no vault is configured")
    return await source(name)


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        import typing

        return typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise ConfigError(f"tool {fn.__name__}: cannot resolve type hints: {exc}") from exc


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    idempotent: bool = False,
    timeout: float = 30.0,
    risk: str = "low",
    secrets: Mapping[str, str] | None = None,
    facts: Callable[..., Mapping[str, Any]] | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    idempotent: bool = False,
    timeout: float = 30.0,
    risk: str = "low",
    secrets: Mapping[str, str] | None = None,
    facts: Callable[..., Mapping[str, Any]] | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a typed function a tool.

    ``idempotent``: calling it twice has the effect of calling it once; the
    kernel may repeat it after a crash. A non-idempotent tool should accept an
    ``idempotency_key`` parameter; if it does not, a call that was in flight
    at a crash is surfaced for a decision instead of being repeated.

    ``secrets``: ``{parameter: vault secret name}``, passed at execution only.
    ``facts``: called with the tool's arguments, returns what the call will
    really do (``{"amount": 249.0}``) for policy rules to judge."""

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool(
            f, name=name, description=description, idempotent=idempotent,
            timeout=timeout, risk=risk, secrets=secrets, facts=facts,
        )  # fmt: skip

    return wrap(fn) if fn is not None else wrap

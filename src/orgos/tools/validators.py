"""Custom guardrail validators: a Python function registered with the runtime
like a tool, named in an agent's ``guardrails`` (``{validator: NAME}``).

It is called with ``text`` (the task, or the final answer as text) and, if it
declares them, ``value`` (the answer as parsed, e.g. a JSON document),
``task`` (the task's text) and the check's ``args``. It returns None or True
when the content passes, else False or a string: the reason, which the model
reads when its answer is sent back. It must be a pure function of what it is
given (its verdict is journaled, but it should not have effects: that is
what tools are for)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, overload

_OPTIONAL = ("value", "task")


class Validator:
    def __init__(self, fn: Callable[..., Any], *, name: str | None = None):
        self.fn = fn
        self.name = name or fn.__name__
        self.is_async = inspect.iscoroutinefunction(fn)
        params = inspect.signature(fn).parameters
        if "text" not in params:
            raise TypeError(f"validator {self.name}: its first parameter must be named 'text'")
        self._extra = tuple(p for p in _OPTIONAL if p in params)

    async def __call__(self, text: str, value: Any, task: str, args: dict[str, Any]) -> str | None:
        """The reason the content fails, or None."""
        given = {"value": value, "task": task}
        kwargs = {**args, **{p: given[p] for p in self._extra}}
        try:
            out = self.fn(text, **kwargs)
            if self.is_async:
                out = await out
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # SystemExit too: the check fails, not the worker
            return f"validator {self.name} failed: {type(exc).__name__}: {exc}"
        if out is None or out is True:
            return None
        if out is False:
            return f"it does not pass {self.name}"
        return str(out)

    def __repr__(self) -> str:
        return f"<Validator {self.name}>"


@overload
def validator(fn: Callable[..., Any], /) -> Validator: ...


@overload
def validator(*, name: str | None = None) -> Callable[[Callable[..., Any]], Validator]: ...


def validator(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> Validator | Callable[[Callable[..., Any]], Validator]:
    """Make a function a guardrail validator (see the module's docstring)."""

    def wrap(f: Callable[..., Any | Awaitable[Any]]) -> Validator:
        return Validator(f, name=name)

    return wrap(fn) if fn is not None else wrap

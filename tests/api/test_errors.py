"""Every error a user can catch derives from one ``OrgosError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import orgos
from orgos import OrgosError
from orgos.kernel.syscall import Park, Stopping

#: Control flow, not errors: a run unwinding to park or to stop. They are
#: BaseExceptions so that code catching ``Exception`` cannot swallow them.
CONTROL_FLOW = {Park, Stopping}


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(orgos.__path__, "orgos."):
        if info.name.startswith("orgos.testing.") or ".__" in info.name:
            continue
        names.append(info.name)
    return names


def test_every_public_exception_is_an_orgos_error() -> None:
    strays = []
    for name in _modules():
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == name
                and not attr.startswith("_")
                and obj not in CONTROL_FLOW
                and not issubclass(obj, OrgosError)
            ):
                strays.append(f"{name}.{attr}")
    assert strays == []


def test_the_named_ones() -> None:
    from orgos.agents.loop import StepLimitReached
    from orgos.testing.scripted import ScriptExhausted
    from orgos.workflows.engine import WorkflowFailed

    for cls in (orgos.ModelError, StepLimitReached, WorkflowFailed, ScriptExhausted):
        assert issubclass(cls, OrgosError), cls


async def test_a_model_failure_is_caught_as_an_orgos_error() -> None:
    from orgos.llm.base import Message, ModelRequest
    from orgos.testing import ScriptedModel

    model = ScriptedModel([])
    try:
        await model.complete(ModelRequest([Message("user", "hi")]))
    except OrgosError as exc:
        assert isinstance(exc, orgos.ModelError)
    else:  # pragma: no cover - the script is empty
        raise AssertionError("an empty script answered")

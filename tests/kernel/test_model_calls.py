"""Every model call is a syscall: no code in orgos reaches a Model except
``RunContext.llm`` (through the kernel's caller). A structural check over the
source, so a new service cannot quietly call a model around the pipeline."""

from __future__ import annotations

import ast
from pathlib import Path

import orgos

SRC = Path(orgos.__file__).parent

#: Where a model's ``complete`` may be called: the retry loop that wraps it,
#: the kernel that offers it, and the run context whose ``llm`` syscall uses it.
ALLOWED = {"llm/retry.py", "llm/fallback.py", "kernel/kernel.py", "kernel/context.py"}


def calls_of(path: Path, names: set[str]) -> list[int]:
    tree = ast.parse(path.read_text(), str(path))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute) and n.func.attr in names]  # fmt: skip


def test_only_the_run_context_calls_a_model() -> None:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in ALLOWED or rel.startswith("testing/"):
            continue
        lines = calls_of(path, {"complete", "model"})
        if lines:
            found[rel] = lines
    assert found == {}, f"model calls outside RunContext.llm: {found}"


def test_routing_holds_no_kernel_and_no_model() -> None:
    from orgos.org.routing import Router

    params = Router.__init__.__code__.co_varnames
    assert "kernel" not in params and "model" not in params

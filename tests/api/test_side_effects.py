"""Creating and running a Runtime changes nothing of the host process: not
its collector, not the ``random`` module, not another runtime's logs, not
asyncio's default thread pool."""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from orgos import Agent, Runtime
from orgos.testing import ScriptedModel


@pytest.fixture
def python_gc() -> Iterator[tuple[int, int, int]]:
    """Python's default thresholds for the test, the process's own after it."""
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield (700, 10, 10)
    finally:
        gc.set_threshold(*saved)


def _runtime(db: Path, **kw: object) -> Runtime:
    model = ScriptedModel(lambda req: ScriptedModel.final("ok"))
    return Runtime(store=db, agents=[Agent(name="a")], models=model, **kw)  # type: ignore[arg-type]


async def test_the_collector_is_left_alone_unless_asked(
    tmp_path: Path, python_gc: tuple[int, int, int]
) -> None:
    async with _runtime(tmp_path / "o.db") as rt:
        await rt.run("a", "go", timeout=10)
        assert gc.get_threshold() == python_gc
    async with _runtime(tmp_path / "o.db", tune_gc=True):
        assert gc.get_threshold()[0] > python_gc[0]  # opted in


async def test_a_users_random_seed_does_not_make_run_ids_collide(tmp_path: Path) -> None:
    async with _runtime(tmp_path / "a.db") as one, _runtime(tmp_path / "b.db") as two:
        random.seed(1234)
        first = await one.submit("a", "go")
        random.seed(1234)
        second = await two.submit("a", "go")
        random.seed(1234)
        third = await one.submit("a", "go")
        # The last 10 characters are the random part (the first ones are time).
        tails = {first.id[-10:], second.id[-10:], third.id[-10:]}
        assert len(tails) == 3
        for rec in (first, third):
            await one.wait(rec.id, timeout=10)
        await two.wait(second.id, timeout=10)

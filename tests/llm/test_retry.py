"""complete_with_retry: per-attempt timeouts, backoff with full jitter, retry_after."""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest

from orgos.llm import (
    Message,
    ModelError,
    ModelRequest,
    ModelResponse,
    RetriesExhausted,
    TokenSink,
    complete_with_retry,
)
from orgos.llm.base import Serial
from orgos.llm.local import LocalModel
from orgos.llm.retry import backoff_delay
from orgos.testing import ScriptedModel

pytestmark = pytest.mark.timeout(30)

REQ = ModelRequest([Message("user", "hi")])


class Sleeps:
    """Records the delays instead of sleeping them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def test_retryable_errors_are_retried() -> None:
    model = ScriptedModel(
        [ModelError("busy", retryable=True), ModelError("busy", retryable=True), "ok"]
    )
    sleeps = Sleeps()
    r = await complete_with_retry(model, REQ, timeout=5, rng=random.Random(0), sleep=sleeps)
    assert r.content == "ok"
    assert model.call_count == 3 and len(sleeps.delays) == 2


async def test_non_retryable_error_is_raised_at_once() -> None:
    error = ModelError("bad request")
    model = ScriptedModel([error, "unused"])
    with pytest.raises(ModelError) as info:
        await complete_with_retry(model, REQ, timeout=5, sleep=Sleeps())
    assert info.value is error and model.call_count == 1


async def test_exhausted_retries_say_how_many_attempts() -> None:
    model = ScriptedModel([ModelError("busy", retryable=True, retry_after=1.0)] * 3)
    with pytest.raises(RetriesExhausted) as info:
        await complete_with_retry(model, REQ, timeout=5, max_retries=2, sleep=Sleeps())
    e = info.value
    assert e.attempts == 3 and "failed after 3 attempts" in str(e) and "busy" in str(e)
    assert e.retryable and e.retry_after == 1.0 and e.last_error.args == ("busy",)


async def test_backoff_is_full_jitter_and_deterministic_with_a_seeded_rng() -> None:
    def run() -> list[float]:
        rng = random.Random(42)
        return [
            backoff_delay(a, backoff=0.5, max_backoff=4.0, retry_after=None, rng=rng)
            for a in range(6)
        ]

    first = run()
    assert first == run()
    for attempt, delay in enumerate(first):
        assert 0 <= delay <= min(4.0, 0.5 * 2**attempt)


async def test_retry_after_is_a_floor_capped_by_max_backoff() -> None:
    rng = random.Random(0)
    assert backoff_delay(0, backoff=0.01, max_backoff=5, retry_after=2.0, rng=rng) == 2.0
    assert backoff_delay(0, backoff=0.01, max_backoff=5, retry_after=60, rng=rng) == 5
    model = ScriptedModel([ModelError("slow down", retryable=True, retry_after=0.75), "ok"])
    sleeps = Sleeps()
    await complete_with_retry(model, REQ, timeout=5, backoff=0.001, sleep=sleeps)
    assert sleeps.delays == [0.75]


class HangsFirst:
    """Never answers its first call; answers the next ones at once."""

    name = "hangs-first"

    def __init__(self) -> None:
        self.calls = 0
        self.never = asyncio.Event()

    async def complete(
        self, request: ModelRequest, on_token: TokenSink | None = None
    ) -> ModelResponse:
        self.calls += 1
        if self.calls == 1:
            await self.never.wait()
        return ModelResponse(content="second")


async def test_timeouts_are_per_attempt_and_retried() -> None:
    model = HangsFirst()
    r = await complete_with_retry(model, REQ, timeout=0.05, backoff=0.001)
    assert r.content == "second" and model.calls == 2


async def test_a_model_that_always_hangs_fails_within_the_bound() -> None:
    model = ScriptedModel(lambda r: ModelResponse(content="late"), latency=10)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RetriesExhausted) as info:
        await complete_with_retry(model, REQ, timeout=0.05, max_retries=2, backoff=0.001)
    assert loop.time() - started < 2
    assert info.value.attempts == 3 and "within 0.05s" in str(info.value)


async def test_other_exceptions_are_not_swallowed() -> None:
    model = ScriptedModel([ValueError("a bug")])
    with pytest.raises(ValueError):
        await complete_with_retry(model, REQ, timeout=5)


async def test_negative_max_retries_is_rejected() -> None:
    with pytest.raises(ValueError):
        await complete_with_retry(ScriptedModel(["x"]), REQ, timeout=1, max_retries=-1)


class OneAtATime:
    """A fake model that answers one caller at a time, like the embedded one:
    each answer waits for ``go``."""

    name = "one-at-a-time"

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.go = asyncio.Event()
        self.answering = asyncio.Event()

    def turn(self) -> asyncio.Lock:
        return self.lock

    async def complete(
        self, request: ModelRequest, on_token: TokenSink | None = None
    ) -> ModelResponse:
        self.answering.set()
        await self.go.wait()
        return ModelResponse(str(request.messages[0].content))


async def test_a_serial_models_timeout_starts_when_its_turn_comes() -> None:
    """Four parallel steps on the embedded model timed out queued behind each
    other on a slow machine: an attempt's clock starts once it has the model."""
    model = OneAtATime()
    started: list[str] = []

    def timer(name: str):  # type: ignore[no-untyped-def]
        @contextlib.asynccontextmanager
        async def clock(timeout: float):  # type: ignore[no-untyped-def]
            started.append(name)
            async with asyncio.timeout(timeout):
                yield

        return clock

    first = asyncio.create_task(
        complete_with_retry(
            model, ModelRequest([Message("user", "a")]), timeout=30, timer=timer("a")
        )
    )
    second = asyncio.create_task(
        complete_with_retry(
            model, ModelRequest([Message("user", "b")]), timeout=30, timer=timer("b")
        )
    )
    async with asyncio.timeout(30):
        await model.answering.wait()
    for _ in range(20):  # let the second caller reach the queue
        await asyncio.sleep(0)
    assert started == ["a"]  # the second one's clock has not started while it waits
    model.go.set()
    assert [(await first).content, (await second).content] == ["a", "b"]
    assert started == ["a", "b"]


async def test_the_embedded_model_takes_its_turn_once_per_caller() -> None:
    """The retry loop holds the turn while ``complete`` takes it again: no deadlock,
    and another task still waits."""
    model = LocalModel()  # not loaded: a turn needs no weights
    assert isinstance(model, Serial)
    other_got_it = asyncio.Event()

    async def other() -> None:
        async with model.turn():
            other_got_it.set()

    async with model.turn(), asyncio.timeout(5), model.turn():
        waiting = asyncio.create_task(other())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not other_got_it.is_set()
    async with asyncio.timeout(30):
        await waiting
    assert other_got_it.is_set()

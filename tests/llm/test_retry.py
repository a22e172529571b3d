"""complete_with_retry: per-attempt timeouts, backoff with full jitter, retry_after."""

from __future__ import annotations

import asyncio
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

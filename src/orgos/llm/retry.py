"""Timeouts and retries for model calls, in one place, so adapters stay dumb
and every retry is visible to the caller that journals it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from orgos.llm.base import Model, ModelError, ModelRequest, ModelResponse, Serial, TokenSink


class RetriesExhausted(ModelError):
    """Every attempt failed with a retryable error. ``last_error`` is the last
    one; ``retryable`` and ``retry_after`` are copied from it."""

    def __init__(self, message: str, *, attempts: int, last_error: ModelError) -> None:
        super().__init__(
            message, retryable=last_error.retryable, retry_after=last_error.retry_after
        )
        self.attempts = attempts
        self.last_error = last_error


def backoff_delay(
    attempt: int,
    *,
    backoff: float,
    max_backoff: float,
    retry_after: float | None,
    rng: random.Random,
) -> float:
    """Full jitter: uniform in [0, min(max_backoff, backoff * 2**attempt)],
    but never sooner than the server asked (capped at ``max_backoff``)."""
    delay = rng.uniform(0.0, min(max_backoff, backoff * (2**attempt)))
    if retry_after is not None:
        delay = max(delay, min(retry_after, max_backoff))
    return delay


async def complete_with_retry(
    model: Model,
    request: ModelRequest,
    on_token: TokenSink | None = None,
    *,
    timeout: float,
    max_retries: int = 4,
    backoff: float = 0.5,
    max_backoff: float = 20.0,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    timer: Callable[[float], AbstractAsyncContextManager[Any]] = asyncio.timeout,
) -> ModelResponse:
    """Call ``model.complete`` with a per-attempt ``timeout`` (seconds),
    retrying retryable ``ModelError``s and timeouts up to ``max_retries``
    times. Non-retryable errors propagate at once; when retries run out,
    ``RetriesExhausted`` says how many attempts were made.

    A retried attempt streams its tokens again from the start: a token sink
    that must not see duplicates should reset on each new attempt. A ``Serial``
    model's turn is taken before the timeout starts: waiting for it is not a
    model that does not answer.
    """
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    error: ModelError | None = None
    attempts = max_retries + 1
    # A Serial model has turn(); looked up once (an isinstance check against a
    # runtime-checkable protocol costs more than the rest of this call).
    serial: Serial | None = model if callable(getattr(model, "turn", None)) else None  # type: ignore[assignment]
    for attempt in range(attempts):
        try:
            if serial is None:
                async with timer(timeout):
                    return await model.complete(request, on_token)
            async with serial.turn(), timer(timeout):
                return await model.complete(request, on_token)
        except TimeoutError:
            error = ModelError(
                f"model {model.name!r} did not answer within {timeout:g}s", retryable=True
            )
        except ModelError as e:
            if not e.retryable:
                raise
            error = e
        if attempt + 1 < attempts:
            if rng is None:  # seeded from the OS only when a retry needs it
                rng = random.Random()
            delay = backoff_delay(
                attempt,
                backoff=backoff,
                max_backoff=max_backoff,
                retry_after=error.retry_after,
                rng=rng,
            )
            await sleep(delay)
    assert error is not None
    raise RetriesExhausted(
        f"model {model.name!r} failed after {attempts} attempt{'s' if attempts != 1 else ''}: "
        f"{error}",
        attempts=attempts,
        last_error=error,
    )

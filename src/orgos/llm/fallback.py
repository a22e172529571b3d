"""How a named model is called: its own retries, then the models it falls
back on, each with its retries (``fallback: [local]`` in ``orgos.yaml``: the
embedded model when the API is down).

The chain lives here, below the kernel, so the one caller that journals model
calls (``RunContext.llm``) gets it whole: which model answered is in the
response it journals (``ModelResponse.model``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from orgos.errors import ConfigError
from orgos.llm.base import Model, ModelError, ModelRequest, ModelResponse, TokenSink
from orgos.llm.retry import complete_with_retry

log = logging.getLogger("orgos.llm")


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """What a project's model entry says about calling it."""

    #: Retries of a retryable failure (None: the kernel's ``model_retries``).
    max_retries: int | None = None
    #: Model keys tried in order once this one has failed, after its retries.
    fallback: tuple[str, ...] = ()


def check_fallbacks(models: Mapping[str, Any], options: Mapping[str, ModelOptions]) -> None:
    """Every fallback names a configured model, and none falls back on itself."""
    for key, opt in options.items():
        for f in opt.fallback:
            if f == key:
                raise ConfigError(f"model {key!r} falls back on itself")
            if f not in models:
                raise ConfigError(
                    f"model {key!r} falls back on {f!r}, which is not configured;"
                    f" models: {', '.join(sorted(models))}"
                )


@dataclass(slots=True)
class Caller:
    """Calls models by key: retries, per-attempt timeouts, fallbacks."""

    models: Mapping[str, Model]
    options: Mapping[str, ModelOptions]
    timeout: float
    retries: int
    backoff: float
    timer: Callable[[float], AbstractAsyncContextManager[Any]]

    def model(self, key: str) -> Model:
        m = self.models.get(key)
        if m is None:
            raise ModelError(f"no model named {key!r}; configured: {', '.join(self.models)}")
        return m

    def complete(
        self, key: str, request: ModelRequest, on_token: TokenSink | None
    ) -> Awaitable[ModelResponse]:
        # Not a coroutine itself when there is no chain: one frame less per call.
        opt = self.options.get(key)
        if opt is None or not opt.fallback:
            return self._one(key, opt, request, on_token)
        return self._chain(key, opt.fallback, request, on_token)

    def _one(
        self, key: str, opt: ModelOptions | None, request: ModelRequest, on_token: TokenSink | None
    ) -> Awaitable[ModelResponse]:
        retries = self.retries if opt is None or opt.max_retries is None else opt.max_retries
        model = self.models.get(key)
        if model is None:
            model = self.model(key)  # raises, naming the configured ones
        return complete_with_retry(
            model, request, on_token, timeout=self.timeout, max_retries=retries,
            backoff=self.backoff, timer=self.timer,
        )  # fmt: skip

    async def _chain(
        self,
        key: str,
        fallback: tuple[str, ...],
        request: ModelRequest,
        on_token: TokenSink | None,
    ) -> ModelResponse:
        errors: list[str] = []
        for k in dict.fromkeys((key, *fallback)):
            try:
                return await self._one(k, self.options.get(k), request, on_token)
            except ModelError as exc:
                errors.append(f"{k}: {exc}")
                log.warning("model %s failed (%s); trying the next in its fallback chain", k, exc)
        raise ModelError("every model in the fallback chain failed: " + "; ".join(errors))

"""Choosing a model from configuration and the environment.

Keys never live in config: ``api_key_env`` names the variable that holds one.
The environment is passed in, never read from ``os.environ`` here, so a test
(or a second Runtime) can build models from any environment it likes.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orgos.errors import ConfigError
from orgos.llm.base import Model, ModelRequest, ModelResponse
from orgos.llm.fallback import ModelOptions

Provider = Literal["auto", "openai", "anthropic", "local", "scripted"]

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
# claude-3-5-haiku-latest reached end of life in February 2026.
DEFAULT_ANTHROPIC_MODEL = "claude-haiku-4-5"
# Passed explicitly so the SDKs never fall back to reading os.environ.
OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_URL = "https://api.anthropic.com"


class ModelConfig(BaseModel):
    """Which model an agent uses. With ``provider="auto"`` the environment
    decides: an OpenAI-compatible base URL, then an OpenAI key, then an
    Anthropic key, and otherwise the embedded local model. For
    ``provider="local"``, ``model`` is the path of a GGUF file (optional)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    provider: Provider = "auto"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    timeout: float = 60
    #: Retries of a retryable failure (rate limit, 5xx, timeout, dropped connection).
    max_retries: int = Field(default=4, ge=0)
    #: Models (keys of the project's ``models``) tried in order when this one
    #: still fails after its retries; each with its own retries.
    fallback: list[str] = Field(default_factory=list)


def model_options(
    configs: Mapping[str, ModelConfig], present: Container[str]
) -> dict[str, ModelOptions]:
    """What the kernel needs to call each configured model: its retries and
    the fallbacks among the models ``present``."""
    return {
        key: ModelOptions(cfg.max_retries, tuple(f for f in cfg.fallback if f in present))
        for key, cfg in configs.items()
    }


def build_model(config: ModelConfig | None, env: Mapping[str, str]) -> Model:
    """Build the model ``config`` describes, taking keys and defaults from ``env``.

    An explicit provider uses ``config.model`` first, then ``ORGOS_MODEL``;
    under ``auto`` the environment picked the provider, so ``ORGOS_MODEL``
    comes first.
    """
    cfg = config or ModelConfig()
    key: str | None = None
    if cfg.api_key_env:
        key = env.get(cfg.api_key_env)
        if not key:
            raise ConfigError(
                f"model config names api_key_env={cfg.api_key_env!r}, "
                "but that environment variable is not set"
            )
    provider = cfg.provider
    if provider == "auto":
        return _auto(cfg, env, key)
    model = cfg.model or env.get("ORGOS_MODEL")
    if provider == "openai":
        base_url = cfg.base_url or env.get("ORGOS_MODEL_BASE_URL") or env.get("OPENAI_BASE_URL")
        return _openai(
            model or DEFAULT_OPENAI_MODEL, base_url, key or env.get("OPENAI_API_KEY"), cfg
        )
    if provider == "anthropic":
        return _anthropic(model, cfg.base_url or env.get("ANTHROPIC_BASE_URL"), key, cfg, env)
    if provider == "local":
        from orgos.llm.local import LocalModel

        return LocalModel(cfg.model or env.get("ORGOS_LOCAL_MODEL_PATH"))
    return _echo_model(model or "scripted")


def _auto(cfg: ModelConfig, env: Mapping[str, str], key: str | None) -> Model:
    model = env.get("ORGOS_MODEL") or cfg.model
    base_url = cfg.base_url or env.get("ORGOS_MODEL_BASE_URL") or env.get("OPENAI_BASE_URL")
    if base_url:
        if not model:
            raise ConfigError(
                f"an OpenAI-compatible server is configured ({base_url}) but no model "
                "name: set ORGOS_MODEL or `model:` in the agent's model config"
            )
        api_key = key or env.get("OPENAI_API_KEY") or "not-needed"
        return _openai(model, base_url, api_key, cfg)
    if env.get("OPENAI_API_KEY"):
        return _openai(model or DEFAULT_OPENAI_MODEL, None, key or env["OPENAI_API_KEY"], cfg)
    if env.get("ANTHROPIC_API_KEY"):
        return _anthropic(model, env.get("ANTHROPIC_BASE_URL"), key, cfg, env)
    from orgos.llm.local import LocalModel

    return LocalModel(env.get("ORGOS_LOCAL_MODEL_PATH"))


def _openai(model: str, base_url: str | None, key: str | None, cfg: ModelConfig) -> Model:
    from orgos.llm.openai_compat import OpenAICompatModel

    if not key and not base_url:
        raise ConfigError(
            "the OpenAI provider needs an API key: set OPENAI_API_KEY "
            "(or name another variable with api_key_env)"
        )
    return OpenAICompatModel(
        model, base_url=base_url or OPENAI_URL, api_key=key, timeout=cfg.timeout
    )


def _anthropic(
    model: str | None,
    base_url: str | None,
    key: str | None,
    cfg: ModelConfig,
    env: Mapping[str, str],
) -> Model:
    from orgos.llm.anthropic import AnthropicModel

    api_key = key or env.get("ANTHROPIC_API_KEY")
    if not api_key:
        raise ConfigError(
            "the Anthropic provider needs an API key: set ANTHROPIC_API_KEY "
            "(or name another variable with api_key_env)"
        )
    return AnthropicModel(
        model or DEFAULT_ANTHROPIC_MODEL,
        api_key=api_key,
        base_url=base_url or ANTHROPIC_URL,
        timeout=cfg.timeout,
    )


def _echo_model(name: str) -> Model:
    """``provider: scripted`` from config: answers by echoing the last user message."""
    from orgos.llm.scripted import ScriptedModel

    def echo(request: ModelRequest) -> ModelResponse:
        last = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        return ScriptedModel.final(last)

    return ScriptedModel(echo, name=name, record=False)

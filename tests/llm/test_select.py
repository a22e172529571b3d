"""build_model: an explicit provider wins; "auto" reads the environment it is given."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from orgos.errors import ConfigError
from orgos.llm import (
    AnthropicModel,
    LocalModel,
    Message,
    Model,
    ModelConfig,
    ModelRequest,
    OpenAICompatModel,
    build_model,
)
from orgos.testing import FakeOpenAIServer, ScriptedModel

pytestmark = pytest.mark.timeout(30)

HI = ModelRequest([Message("user", "hi")])


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer(lambda body: "ok") as s:
        yield s


async def test_auto_with_base_url_is_openai_compatible(server: FakeOpenAIServer) -> None:
    env = {"ORGOS_MODEL_BASE_URL": server.base_url, "ORGOS_MODEL": "qwen"}
    m = build_model(None, env)
    assert isinstance(m, OpenAICompatModel) and m.name == "qwen"
    await m.complete(HI)
    sent = server.requests[-1]
    assert sent.body["model"] == "qwen"
    assert sent.headers["authorization"] == "Bearer not-needed"


async def test_auto_with_openai_base_url_uses_the_openai_key(server: FakeOpenAIServer) -> None:
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-1"}
    m = build_model(ModelConfig(model="llama3"), env)
    assert isinstance(m, OpenAICompatModel) and m.name == "llama3"
    await m.complete(HI)
    assert server.requests[-1].headers["authorization"] == "Bearer sk-1"


def test_auto_env_model_overrides_config_model() -> None:
    env = {"ORGOS_MODEL_BASE_URL": "http://gw/v1", "ORGOS_MODEL": "from-env"}
    assert build_model(ModelConfig(model="from-config"), env).name == "from-env"


def test_auto_base_url_without_a_model_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ORGOS_MODEL"):
        build_model(None, {"ORGOS_MODEL_BASE_URL": "http://gw/v1"})


def test_auto_with_openai_key() -> None:
    m = build_model(None, {"OPENAI_API_KEY": "sk-1", "ANTHROPIC_API_KEY": "a-1"})
    assert isinstance(m, OpenAICompatModel) and m.name == "gpt-4o-mini"
    assert m.base_url.startswith("https://api.openai.com/v1")


def test_auto_with_anthropic_key() -> None:
    m = build_model(None, {"ANTHROPIC_API_KEY": "a-1"})
    assert isinstance(m, AnthropicModel) and m.name == "claude-haiku-4-5"
    assert m.base_url.startswith("https://api.anthropic.com")


def test_auto_with_nothing_is_the_embedded_model() -> None:
    m = build_model(None, {})
    assert isinstance(m, LocalModel) and isinstance(m, Model)


def test_explicit_provider_wins_over_environment() -> None:
    env = {"OPENAI_API_KEY": "sk-1", "ANTHROPIC_API_KEY": "a-1", "ORGOS_MODEL": "env-model"}
    a = build_model(ModelConfig(provider="anthropic", model="claude-x"), env)
    assert isinstance(a, AnthropicModel) and a.name == "claude-x"
    assert isinstance(build_model(ModelConfig(provider="local"), env), LocalModel)
    o = build_model(ModelConfig(provider="openai"), env)
    assert isinstance(o, OpenAICompatModel) and o.name == "env-model"


async def test_api_key_env_names_the_variable(server: FakeOpenAIServer) -> None:
    env = {"MY_KEY": "sk-mine", "OPENAI_API_KEY": "sk-default"}
    cfg = ModelConfig(provider="openai", base_url=server.base_url, api_key_env="MY_KEY", timeout=5)
    m = build_model(cfg, env)
    assert isinstance(m, OpenAICompatModel) and m.timeout == 5
    await m.complete(HI)
    assert server.requests[-1].headers["authorization"] == "Bearer sk-mine"
    with pytest.raises(ConfigError, match="MISSING"):
        build_model(ModelConfig(provider="openai", api_key_env="MISSING"), env)


async def test_anthropic_key_reaches_the_server(server: FakeOpenAIServer) -> None:
    env = {"ANTHROPIC_API_KEY": "a-1", "ANTHROPIC_BASE_URL": server.anthropic_base_url}
    m = build_model(None, env)
    assert isinstance(m, AnthropicModel)
    await m.complete(HI)
    headers = server.requests[-1].headers
    assert (headers.get("x-api-key") or headers["authorization"]).endswith("a-1")


def test_missing_keys_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_model(ModelConfig(provider="openai"), {})
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        build_model(ModelConfig(provider="anthropic"), {})


def test_config_is_data_and_holds_no_keys() -> None:
    cfg = ModelConfig.model_validate({"provider": "openai", "model": "m", "api_key_env": "K"})
    assert cfg.model_dump()["api_key_env"] == "K"
    with pytest.raises(ValueError):
        ModelConfig.model_validate({"api_key": "sk-inline"})
    with pytest.raises(ValueError):
        ModelConfig.model_validate({"provider": "nope"})


async def test_scripted_provider_echoes() -> None:
    m = build_model(ModelConfig(provider="scripted"), {})
    assert isinstance(m, ScriptedModel)
    r = await m.complete(ModelRequest([Message("user", "ping")]))
    assert r.content == "ping"

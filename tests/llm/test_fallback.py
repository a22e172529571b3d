"""A project's model entries: each model's own ``max_retries``, and the
``fallback`` chain tried when a model still fails after its retries (an
OpenAI-compatible API down, a scripted stand-in answering instead)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orgos import Runtime
from orgos.errors import ConfigError
from orgos.testing import FakeOpenAIServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer(lambda body: "from the api") as s:
        yield s


def project(tmp_path: Path, models: str, agent_model: str = "default") -> Path:
    (tmp_path / "orgos.yaml").write_text(f"name: t\nmodels:\n{models}")
    (tmp_path / "tools.py").write_text("")
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "a.yaml").write_text(f"name: a\nmodel: {agent_model}\n")
    return tmp_path


def api(server: FakeOpenAIServer, extra: str = "") -> str:
    return (f"    provider: openai\n    base_url: {server.base_url}\n    model: fake-model\n"
            f"{extra}")  # fmt: skip


async def test_a_models_max_retries_is_honoured(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, "  default:\n" + api(server, "    max_retries: 1\n"))
    server.fail_next(503, times=10)
    async with Runtime.from_project(root, env={}, retry_backoff=0.001) as rt:
        rec = await rt.run("a", "hello", timeout=30)
    assert rec.status.value == "failed"
    assert "after 2 attempts" in (rec.error or "")
    assert len(server.requests) == 2  # one try and its one retry, not the kernel's 4 retries


async def test_a_model_that_is_down_falls_back_after_its_retries(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    models = ("  default:\n" + api(server, "    max_retries: 2\n    fallback: [backup]\n")
              + "  backup:\n    provider: scripted\n")  # fmt: skip
    root = project(tmp_path, models)
    server.fail_next(503, times=10)
    async with Runtime.from_project(root, env={}, retry_backoff=0.001) as rt:
        rec = await rt.run("a", "echo me", timeout=30)
        journal = await rt.history.journal(rec.id)
    assert rec.status.value == "succeeded", rec.error
    assert rec.output == "echo me"  # the scripted stand-in answered
    assert len(server.requests) == 3  # the api had its own three attempts first
    llm = next(e for e in journal if e.kind == "llm" and e.phase == "result")
    assert llm.payload["ok"]["model"] == "scripted"  # the journal says who answered


async def test_the_api_answers_while_it_is_up(tmp_path: Path, server: FakeOpenAIServer) -> None:
    models = ("  default:\n" + api(server, "    fallback: [backup]\n")
              + "  backup:\n    provider: scripted\n")  # fmt: skip
    async with Runtime.from_project(project(tmp_path, models), env={}) as rt:
        rec = await rt.run("a", "echo me", timeout=30)
    assert rec.output == "from the api"


def test_a_fallback_must_name_a_configured_model(tmp_path: Path) -> None:
    root = project(tmp_path, "  default:\n    provider: scripted\n    fallback: [ghost]\n")
    with pytest.raises(ConfigError, match="falls back on 'ghost', which is not configured"):
        Runtime.from_project(root, env={})

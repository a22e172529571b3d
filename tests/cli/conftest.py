"""Fixtures for the command line tests: a project made by `orgos init`, real
SQLite files in tmp_path, and scripted models handed to the CLI through
ORGOS_MODEL_SCRIPT (the only fake is the LLM)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from orgos.cli import app

#: Variables that would change which model the CLI builds, or which project it reads.
ENV_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "OPENAI_BASE_URL",
    "ORGOS_MODEL_BASE_URL",
    "ORGOS_MODEL",
    "ORGOS_PROJECT",
    "ORGOS_MODEL_SCRIPT",
)

Cli = Callable[..., Result]
ModelFile = Callable[[str], Path]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # no wrapping in what the tests read


@pytest.fixture
def cli() -> Cli:
    """Invoke ``orgos`` in-process: ``cli("-p", dir, "runs", model=path)``."""

    def invoke(
        *args: str | Path, model: Path | None = None, env: dict[str, str] | None = None
    ) -> Result:
        full_env = dict(env or {})
        if model is not None:
            full_env["ORGOS_MODEL_SCRIPT"] = str(model)
        return CliRunner().invoke(app, [str(a) for a in args], env=full_env)

    return invoke


@pytest.fixture
def model_file(tmp_path: Path) -> ModelFile:
    """Write a Python file defining ``model`` (ScriptedModel is imported)."""
    count = 0

    def write(body: str) -> Path:
        nonlocal count
        count += 1
        path = tmp_path / f"model_{count}.py"
        path.write_text(
            "import asyncio\nfrom orgos.testing import ScriptedModel\n\n" + textwrap.dedent(body)
        )
        return path

    return write


@pytest.fixture
def project(tmp_path: Path, cli: Cli) -> Path:
    """A project made by `orgos init`."""
    folder = tmp_path / "proj"
    result = cli("init", folder)
    assert result.exit_code == 0, result.output
    return folder

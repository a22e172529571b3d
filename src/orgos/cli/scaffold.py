"""``orgos init``: a small project that runs as it is."""

from __future__ import annotations

from pathlib import Path

from orgos.cli.common import CliError

ORGOS_YAML = """\
# An orgos project: agents in agents/, tools in tools.py, runs in .orgos/.
name: {name}
store: sqlite:///.orgos/orgos.db
models:
  default:
    # auto: ORGOS_MODEL_BASE_URL (an OpenAI-compatible server), OPENAI_API_KEY
    # or ANTHROPIC_API_KEY from the environment; else the embedded model.
    provider: auto
tools: [tools.py]
agents: [agents]
"""

ASSISTANT_YAML = """\
name: assistant
role: helpful assistant
description: Answers questions; counts words with a tool.
instructions: |
  Answer the user's question in one or two sentences.
  When asked how many words a text has, call word_count.
tools: [word_count]
tool_limits:
  word_count: 2
max_steps: 5
"""

TOOLS_PY = '''\
"""Tools of this project: typed Python functions the agents may call.

The JSON Schema the model sees comes from the type hints, the description
from the docstring. Mark a tool ``idempotent=True`` when calling it twice does
no harm; a tool with an effect that must happen once takes an
``idempotency_key`` parameter (the kernel passes one, stable across retries).
"""

from orgos import tool


@tool(idempotent=True)
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())
'''

GITIGNORE = ".orgos/\n"


def scaffold(folder: Path) -> list[Path]:
    """Write the project files into ``folder``; refuses to overwrite any."""
    files = {
        folder / "orgos.yaml": ORGOS_YAML.format(name=_name(folder)),
        folder / "agents" / "assistant.yaml": ASSISTANT_YAML,
        folder / "tools.py": TOOLS_PY,
        folder / ".gitignore": GITIGNORE,
    }
    existing = [str(p) for p in files if p.exists()]
    if existing:
        raise CliError(f"not overwriting existing files: {', '.join(existing)}")
    if folder.exists() and not folder.is_dir():
        raise CliError(f"{folder} exists and is not a folder")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


def _name(folder: Path) -> str:
    name = folder.resolve().name or "orgos-project"
    return name if name.replace("-", "").replace("_", "").isalnum() else "orgos-project"

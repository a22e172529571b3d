"""Model scripts and helpers shared by the CLI tests."""

from __future__ import annotations

import re

WORD_COUNT = """
model = ScriptedModel([
    ScriptedModel.call("word_count", text="to be or not to be"),
    ScriptedModel.final("It has 6 words."),
])
"""

HANG = """
async def hang(request):
    await asyncio.Event().wait()  # never answers: the run stays in flight

model = ScriptedModel(hang)
"""


def run_id_of(output: str) -> str:
    """The first run id printed."""
    m = re.search(r"\br-[0-9a-z]{20}\b", output)
    assert m, output
    return m.group(0)

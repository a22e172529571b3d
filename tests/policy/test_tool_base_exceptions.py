"""A tool that raises SystemExit, KeyboardInterrupt or any BaseException
fails its own call: the model reads the error (with the vault's secret
scrubbed from it), the worker and every other run go on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from gov_helpers import plan, runtime

from orgos import tool
from orgos.tools.base import Tool

SECRET = "sk_live_Zq81mWv0RtY5Lp"


class Custom(BaseException):
    """Not an Exception: agent code catching Exception cannot see it."""


RAISES: dict[str, type[BaseException]] = {
    "SystemExit": SystemExit,
    "KeyboardInterrupt": KeyboardInterrupt,
    "BaseException": BaseException,
    "custom BaseException": Custom,
}


def bad_tools(exc: type[BaseException], threaded: bool) -> list[Tool]:
    if threaded:

        @tool(secrets={"api_key": "k"}, idempotent=True)
        def leave(api_key: str) -> str:
            """Leaves, in a thread."""
            raise exc(f"cannot go on with key {api_key}")

        bad = leave
    else:

        @tool(secrets={"api_key": "k"}, idempotent=True, name="leave")
        async def leave_async(api_key: str) -> str:
            """Leaves, on the loop."""
            await asyncio.sleep(0)
            raise exc(f"cannot go on with key {api_key}")

        bad = leave_async

    @tool(idempotent=True)
    def ping() -> str:
        """Answers."""
        return "pong"

    return [bad, ping]


@pytest.mark.parametrize("threaded", [True, False], ids=["sync tool", "async tool"])
@pytest.mark.parametrize("name", sorted(RAISES))
async def test_a_tool_raising_a_base_exception_fails_its_call_not_the_worker(
    tmp_path: Path, name: str, threaded: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    model = plan(("leave", {}), final=lambda results: " | ".join(results))
    rt = runtime(tmp_path, {}, model, bad_tools(RAISES[name], threaded))
    async with rt:
        assert rt.governance is not None
        await rt.governance.vault.set("k", SECRET, "olga")
        bad, *others = await asyncio.gather(
            rt.run("clerk", "leave", timeout=10),
            *(rt.run("clerk", "leave too", timeout=10) for _ in range(3)),
        )
        after = await rt.run("clerk", "still here?", timeout=10)  # the worker lives
    for rec in (bad, *others, after):
        assert rec.status.value == "succeeded", rec.error
        kind = RAISES[name].__name__
        assert rec.output == f"ERROR: leave failed: {kind}: cannot go on with key ***"
    out, err = capfd.readouterr()
    assert SECRET not in out + err

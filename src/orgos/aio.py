"""The event loop orgos runs on.

uvloop (the ``fast`` extra: ``pip install 'orgos[fast]'``) when it is
installed, the standard asyncio loop otherwise. With thousands of runs in
flight, uvloop's timers and callbacks in C save about a tenth of the CPU.
``ORGOS_LOOP=asyncio`` keeps the standard loop even when uvloop is there.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: the loop ``run`` will use."""
    if os.environ.get("ORGOS_LOOP", "").strip().lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new event loop (like ``asyncio.run``)."""
    if loop_name() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)

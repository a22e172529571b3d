"""What the kernel asks of its host process: the collector's pace, whether a pid lives."""

from __future__ import annotations

import gc
import os

#: Collect young objects every 400k allocations instead of 700. Thousands of
#: runs in flight keep a large, changing live heap; with Python's defaults the
#: collector walks it so often that 10,000 concurrent runs cost 2-3x the CPU.
GC_THRESHOLDS = (400_000, 50, 1000)


def tune_collector() -> None:
    """Raise the collector's thresholds (never lower them)."""
    current = gc.get_threshold()
    if current[0] < GC_THRESHOLDS[0]:
        gc.set_threshold(*GC_THRESHOLDS)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""The kernel: runs, the syscall pipeline, the journal, workers and recovery."""

from orgos.kernel.context import RunContext
from orgos.kernel.kernel import Kernel
from orgos.kernel.program import Program
from orgos.kernel.syscall import AfterHook, BeforeHook, Park, Pipeline, Syscall, Verdict

__all__ = [
    "AfterHook",
    "BeforeHook",
    "Kernel",
    "Park",
    "Pipeline",
    "Program",
    "RunContext",
    "Syscall",
    "Verdict",
]

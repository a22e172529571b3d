"""Memory: short-term (a run's conversation, compacted before it outgrows the
model's context) and long-term (conclusions remembered and recalled by scope)."""

from orgos.store.records import MemoryItem

__all__ = ["MemoryItem"]

"""Memory: short-term (a run's conversation, compacted before it outgrows the
model's context) and long-term (conclusions remembered and recalled by scope)."""

from orgos.memory.table import MemoryItem, MemoryTable

__all__ = ["MemoryItem", "MemoryTable"]

"""The message bus: durable topics, at-least-once delivery with event ids,
and runs parked until an event arrives."""

from orgos.bus.service import Bus
from orgos.store.records import BusEvent

__all__ = ["Bus", "BusEvent"]

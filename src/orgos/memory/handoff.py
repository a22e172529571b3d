"""The structured handoff a delegation carries: what was done, what was
decided, and what the next agent needs. It travels in the child run's task
(so it is journaled with the run) and is rendered into its first message."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Handoff(BaseModel):
    model_config = ConfigDict(extra="ignore")

    done: str = ""
    decided: str = ""
    next: str = Field(default="", description="what the next agent needs to know or do")

    def render(self, sender: str | None = None) -> str:
        lines = [f"Handoff from {sender}:" if sender else "Handoff:"]
        for label, value in (("Done", self.done), ("Decided", self.decided),
                             ("You need", self.next)):  # fmt: skip
            if value.strip():
                lines.append(f"- {label}: {value.strip()}")
        return "\n".join(lines) if len(lines) > 1 else ""

    @classmethod
    def parse(cls, value: Any) -> Handoff | None:
        if isinstance(value, dict):
            return cls.model_validate(value)
        if isinstance(value, str) and value.strip():
            return cls(next=value)
        return None


#: The JSON Schema the delegate tool offers for it.
HANDOFF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "what you did, what you decided, and what the next agent needs",
    "properties": {
        "done": {"type": "string"},
        "decided": {"type": "string"},
        "next": {"type": "string"},
    },
}

"""What ``orgos run WORKFLOW`` takes as input."""

from __future__ import annotations

import json
from typing import Any

from orgos.cli.common import CliError


def workflow_input(text: str) -> dict[str, Any]:
    """A JSON object as it is; words as ``{"task": words}``; nothing as ``{}``."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CliError(f"the input is not valid JSON: {exc.msg} (column {exc.colno})") from None
        if isinstance(value, dict):
            return value
    return {"task": text}

"""Helpers shared by the remote adapters: token delivery, argument parsing,
and turning HTTP failures into ``ModelError`` without leaking secrets."""

from __future__ import annotations

import email.utils
import inspect
import json
import time
from collections.abc import Mapping
from typing import Any

from orgos.llm.base import ModelError, ToolCall
from orgos.redact import redact_key

#: Statuses worth retrying: timeouts, conflicts, rate limits, and every 5xx.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


async def emit(on_token: Any, text: str) -> None:
    """Hand one fragment to a sync or async token sink."""
    result = on_token(text)
    if inspect.isawaitable(result):
        await result


def parse_tool_call(call_id: str, name: str, raw: str) -> ToolCall:
    """Parse a tool call's JSON arguments; bad JSON becomes ``arguments_error``."""
    if not raw.strip():
        return ToolCall(call_id, name, {})
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        return ToolCall(call_id, name, {}, f"arguments are not valid JSON: {e}")
    if not isinstance(value, dict):
        return ToolCall(call_id, name, {}, "arguments must be a JSON object")
    return ToolCall(call_id, name, value)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The server's retry hint in seconds, from ``retry-after-ms`` or ``retry-after``."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def status_error(
    provider: str,
    status: int,
    message: str,
    headers: Mapping[str, str] | None,
    secret: str | None,
) -> ModelError:
    retryable = status in RETRYABLE_STATUSES or status >= 500
    hint = retry_after(headers) if retryable else None
    text = redact_key(f"{provider} returned HTTP {status}: {message}", secret)
    return ModelError(text, retryable=retryable, retry_after=hint)


def transport_error(provider: str, what: str, secret: str | None) -> ModelError:
    return ModelError(redact_key(f"{provider}: {what}", secret), retryable=True)

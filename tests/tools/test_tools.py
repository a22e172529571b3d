"""@tool: schemas from type hints, validation, failures as results."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

import pytest
from pydantic import BaseModel

from orgos import tool
from orgos.errors import ConfigError


class Address(BaseModel):
    city: str
    zip: str


@tool(idempotent=True)
def ship(order_id: str, speed: Literal["standard", "express"], to: Address, boxes: int = 1) -> dict:
    """Ship an order.

    Longer text that is not part of the description."""
    return {"order": order_id, "speed": speed, "city": to.city, "boxes": boxes}


def test_schema_from_type_hints() -> None:
    assert ship.name == "ship"
    assert ship.description == "Ship an order."
    p = ship.parameters
    assert p["required"] == ["order_id", "speed", "to"]
    assert p["properties"]["speed"]["enum"] == ["standard", "express"]
    assert p["properties"]["boxes"]["default"] == 1
    assert "Address" in str(p["$defs"]) or "city" in str(p)
    assert ship.idempotent and ship.safe_to_retry


async def test_valid_call_returns_json() -> None:
    r = await ship.invoke(
        {"order_id": "A1", "speed": "express", "to": {"city": "Oslo", "zip": "1"}}, "k"
    )
    assert r.ok and r.value == {"order": "A1", "speed": "express", "city": "Oslo", "boxes": 1}
    assert r.for_model() == '{"order":"A1","speed":"express","city":"Oslo","boxes":1}'


async def test_invalid_arguments_are_explained() -> None:
    r = await ship.invoke({"order_id": "A1", "speed": "teleport", "extra": 1}, "k")
    assert not r.ok
    assert r.error is not None
    assert "speed" in r.error and "to: Field required" in r.error and "extra" in r.error


async def test_exceptions_and_timeouts_become_results() -> None:
    @tool(timeout=0.05)
    async def slow() -> str:
        """Hangs."""
        await asyncio.Event().wait()
        return ""

    @tool
    def boom() -> str:
        """Raises."""
        raise KeyError("missing")

    @tool
    def not_json() -> object:
        """Returns something that is not JSON."""
        return object()

    t = time.monotonic()
    r = await slow.invoke({}, "k")
    assert r.error == "slow timed out after 0.05 s"
    assert time.monotonic() - t < 2
    assert (await boom.invoke({}, "k")).error == "boom failed: KeyError: 'missing'"
    r = await not_json.invoke({}, "k")
    assert r.error is not None and "not JSON" in r.error


async def test_idempotency_key_is_passed_but_not_shown() -> None:
    seen: list[str] = []

    @tool
    def refund(amount: float, idempotency_key: str) -> str:
        """Refund."""
        seen.append(idempotency_key)
        return "ok"

    assert "idempotency_key" not in refund.parameters["properties"]
    assert refund.keyed and refund.safe_to_retry and not refund.idempotent
    assert (await refund.invoke({"amount": 3}, "run-1:4")).ok
    assert seen == ["run-1:4"]
    r = await refund.invoke({"amount": 3, "idempotency_key": "forged"}, "run-1:5")
    assert not r.ok  # the model cannot choose the key


def test_unsupported_signatures_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"\*args/\*\*kwargs"):

        @tool
        def bad(*items: str) -> None:
            """No."""

"""Schema checks give the same verdicts and messages with or without the
``fast`` extra's jsonschema-rs (which only answers yes or no)."""

from __future__ import annotations

from typing import Any

import pytest

from orgos.config.specs import json_schema_validator

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "refund_id": {"type": "string", "pattern": "^RF-[0-9]+$"},
        "amount": {"type": "number", "minimum": 0},
        "items": {"type": "array", "prefixItems": [{"type": "string"}]},
    },
    "required": ["refund_id", "amount"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "doc",
    [
        {"refund_id": "RF-1001", "amount": 79.5},
        {"refund_id": "RF-1", "amount": 0, "items": ["shoes", 3]},
    ],
)
def test_valid_documents_have_no_errors(doc: dict[str, Any]) -> None:
    assert list(json_schema_validator(SCHEMA).iter_errors(doc)) == []


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"refund_id": "RF-1001"}, "'amount' is a required property"),
        ({"refund_id": "1001", "amount": 1}, "'1001' does not match '^RF-[0-9]+$'"),
        ({"refund_id": "RF-1", "amount": -1}, "-1 is less than the minimum of 0"),
        ({"refund_id": "RF-1", "amount": 1, "items": [3]}, "3 is not of type 'string'"),
        ({"refund_id": "RF-1", "amount": 1, "x": 1}, "Additional properties are not allowed"),
    ],
)
def test_invalid_documents_are_explained(doc: dict[str, Any], message: str) -> None:
    errors = list(json_schema_validator(SCHEMA).iter_errors(doc))
    assert errors and message in errors[0].message

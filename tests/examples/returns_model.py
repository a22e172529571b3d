"""A scripted stand-in for the LLM of the returns example (loaded by the CLI
through ORGOS_MODEL_SCRIPT). Every agent calls its one tool with what its task
says, then answers from the tool's result with the report a workflow step asks
for: the data, a summary and a confidence.

When its tool call failed or was denied, it does what a small model did in
a real run: it makes an answer up (``RF-1002, 249.0 USD``). The agents'
``requires`` and ``bind`` are what stop that from passing as a refund."""

from __future__ import annotations

import json
import re
from typing import Any

from orgos.llm.base import ModelRequest, ModelResponse
from orgos.testing import ScriptedModel

TOOL = {
    "service": "lookup_order",
    "logistics": "schedule_pickup",
    "inventory": "restock",
    "finance": "issue_refund",
    "analytics": "record_return_reason",
    "notices": "send_pickup_notice",
}
KEEP = {
    "service": ("order_id", "item"),
    "logistics": ("pickup_id", "pickup_date"),
    "inventory": ("sku", "quantity"),
    "finance": ("refund_id", "amount", "currency"),
    "analytics": ("category", "returns_with_this_reason"),
    "notices": ("notice_id",),
}

#: What a small model wrote after its tool call failed.
INVENTED = {
    "service": {"order_id": "ORD-1002", "item": "an item"},
    "logistics": {"pickup_id": "PU-00000000", "pickup_date": "2000-01-01"},
    "inventory": {"sku": "SKU-0", "quantity": 1},
    "finance": {"refund_id": "RF-1002", "amount": 249.0, "currency": "USD"},
    "analytics": {"category": "other", "returns_with_this_reason": 1},
    "notices": {"notice_id": "NT-00000000"},
}


def respond(request: ModelRequest) -> ModelResponse:
    m = re.match(r"You are (\w+)", request.messages[0].content)
    agent = m.group(1) if m else "?"
    task = next(msg.content for msg in request.messages if msg.role == "user")
    found = re.search(r"ORD-\d{4}", task)
    order_id = found.group(0) if found else "ORD-0000"
    results: list[str] = [msg.content for msg in request.messages if msg.role == "tool"]
    if not results:
        args: dict[str, Any] = {"order_id": order_id}
        if agent == "analytics":
            args["category"] = "wrong_size"
        if agent == "notices":
            day = re.search(r"\d{4}-\d{2}-\d{2}", task)
            args["pickup_date"] = day.group(0) if day else "2000-01-01"
        return ScriptedModel.call(TOOL[agent], **args)
    if results[0].startswith("ERROR:"):
        data: dict[str, Any] = INVENTED[agent]
    else:
        r = json.loads(results[0])
        data = {k: r[k] for k in KEEP[agent]}
    summary = f"{agent}: " + ", ".join(f"{k} {v}" for k, v in data.items())
    return ScriptedModel.final({"data": data, "summary": summary[:200], "confidence": 0.9})


model = ScriptedModel(respond)

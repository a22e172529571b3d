"""A scripted stand-in for the LLM of the returns example (loaded by the CLI
through ORGOS_MODEL_SCRIPT). Every agent calls its tool, then answers from
the tool's result; the service looks the order up, then delegates to the four
departments at once (parallel child runs), then answers from their results."""

from __future__ import annotations

import json
import re
from typing import Any

from orgos.llm.base import ModelRequest, ModelResponse
from orgos.testing import ScriptedModel

TOOL = {
    "logistics": "schedule_pickup",
    "inventory": "restock",
    "finance": "issue_refund",
    "analytics": "record_return_reason",
}


def respond(request: ModelRequest) -> ModelResponse:
    m = re.match(r"You are (\w+)", request.messages[0].content)
    agent = m.group(1) if m else "?"
    task = next(msg.content for msg in request.messages if msg.role == "user")
    found = re.search(r"ORD-\d{4}", task)
    order_id = found.group(0) if found else "ORD-0000"
    results: list[Any] = [json.loads(msg.content) for msg in request.messages if msg.role == "tool"]
    if agent == "service":
        if not results:
            return ScriptedModel.call("lookup_order", order_id=order_id)
        if len(results) == 1:
            why = task.split(":", 1)[-1].strip()
            return ScriptedModel.calls(
                *[
                    (
                        "delegate",
                        {"agent": a, "task": f"Return of order {order_id}", "context": why},
                    )
                    for a in TOOL
                ]
            )
        by = {r["agent"]: r["result"] for r in results[1:]}
        return ScriptedModel.final(
            {
                "order_id": order_id,
                "refund_id": by["finance"]["refund_id"],
                "refund_amount": by["finance"]["amount"],
                "currency": by["finance"]["currency"],
                "pickup_date": by["logistics"]["pickup_date"],
            }
        )
    if not results:
        args = {"order_id": order_id}
        if agent == "analytics":
            args["category"] = "wrong_size"
        return ScriptedModel.call(TOOL[agent], **args)
    r = results[0]
    if agent == "logistics":
        return ScriptedModel.final({"pickup_id": r["pickup_id"], "pickup_date": r["pickup_date"]})
    if agent == "inventory":
        return ScriptedModel.final({"sku": r["sku"], "quantity": r["quantity"]})
    if agent == "finance":
        return ScriptedModel.final({k: r[k] for k in ("refund_id", "amount", "currency")})
    return ScriptedModel.final({k: r[k] for k in ("category", "returns_with_this_reason")})


model = ScriptedModel(respond)

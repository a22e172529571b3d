"""Shared by the governance tests: a runtime with governance over a SQLite
file, tools with recorded effects, and scripted models (the only fake)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from stores import store_for

from orgos import Agent, Runtime, tool
from orgos.config.org import OrgSpec
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.policy import Governance, PolicySpec
from orgos.store.records import Approval
from orgos.testing import ScriptedModel
from orgos.tools.base import Tool

VAULT_KEY = Fernet.generate_key()


class Ledger:
    """Effects of the tools, in memory: what really happened."""

    def __init__(self) -> None:
        self.refunds: list[dict[str, Any]] = []
        self.fetched: list[str] = []

    def tools(self) -> list[Tool]:
        @tool(risk="high")
        def refund(order_id: str, amount: float, idempotency_key: str) -> dict[str, Any]:
            """Refund a customer."""
            self.refunds.append({"order_id": order_id, "amount": amount})
            return {"refund_id": f"RF-{len(self.refunds)}", "amount": amount}

        @tool(idempotent=True)
        def lookup(order_id: str) -> dict[str, Any]:
            """Look an order up."""
            return {"order_id": order_id, "amount": 120.0}

        @tool(idempotent=True)
        def fetch_page(url: str) -> str:
            """Read a web page."""
            self.fetched.append(url)
            return f"page {url}"

        return [refund, lookup, fetch_page]


def plan(*steps: tuple[str, dict[str, Any]], final: Any = "done") -> ScriptedModel:
    """A model that makes these tool calls one per turn, then answers
    ``final`` (or, if callable, ``final(tool results)``)."""

    def respond(req: ModelRequest) -> ModelResponse:
        results = [m.content for m in req.messages if m.role == "tool"]
        if len(results) < len(steps):
            name, args = steps[len(results)]
            return ScriptedModel.call(name, **args)
        return ScriptedModel.final(final(results) if callable(final) else final)

    return ScriptedModel(respond)


def runtime(
    tmp_path: Path,
    policy: PolicySpec | Path | dict[str, Any] | None,
    model: ScriptedModel,
    tools: list[Tool],
    agents: list[Any] | None = None,
    org: OrgSpec | None = None,
    **kw: Any,
) -> Runtime:
    if isinstance(policy, dict):
        policy = PolicySpec.model_validate(policy)
    gov = Governance(policy, vault_key=VAULT_KEY, reload_interval=0.0, switch_interval=0.0)
    agents = agents or [Agent(name="clerk", tools=[t.name for t in tools], max_steps=8)]
    kw.setdefault("poll_interval", 0.05)
    kw.setdefault("store", store_for(tmp_path))
    return Runtime(agents=agents, tools=tools, models=model,
                   governance=gov, org=org, **kw)  # fmt: skip


async def next_approval(rt: Runtime, timeout: float = 10.0) -> Approval:
    assert rt.governance is not None
    return await asyncio.wait_for(rt.governance.approvals.requested.get(), timeout)


def tool_messages(model: ScriptedModel) -> list[str]:
    return [m.content for r in model.requests for m in r.messages if m.role == "tool"]


def dumps(v: Any) -> str:
    return json.dumps(v, sort_keys=True)

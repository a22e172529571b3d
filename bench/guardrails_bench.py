"""The cost of guardrails and PII redaction.

* redaction: one live event (a tool syscall with a customer record in its
  request and result) through the redactor; one log record of an orgos
  logger, made and formatted, with and without the redacting factory.
* output checks: sequential one-step agent runs (one model call, a final
  answer) with governance, with and without output guardrails (a length
  check, a deny pattern and a require pattern, passing): the difference is
  the cost of the journaled ``guard`` syscall.

    python bench/guardrails_bench.py            # prints JSON, writes its part of
                                                # bench/RESULTS-governance.md
    python bench/guardrails_bench.py --no-write # prints JSON only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import governance_report

from orgos import Agent, Runtime
from orgos.policy import Governance, PolicySpec
from orgos.redact import Redactor, open_log_scope
from orgos.testing.scripted import ScriptedModel

EVENT = {
    "seq": 4,
    "kind": "tool",
    "request": {"tool": "customer", "arguments": {"order_id": "ORD-1001"}},
    "result": {"ok": {
        "order_id": "ORD-1001", "customer": "Dana Reyes", "email": "dana@example.com",
        "phone": "+49 30 1234 5678", "item": "Trail running shoes, size 42", "amount": 89.9,
        "note": "Deliver after 6 pm; card 4111 1111 1111 1111 on file; IBAN DE89 3704 0044 0532"
                " 0130 00", "created": "2026-11-21 15:50:48"}},
}  # fmt: skip


def per_call(fn: Any, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def redaction() -> dict[str, float]:
    r = Redactor()
    event_us = median(per_call(lambda: r.value(EVENT), 2000) for _ in range(5))
    log = logging.getLogger("orgos.bench")
    top = logging.getLogger("orgos")  # where a runtime's LogScrub goes, first
    top.propagate = False
    handler = logging.StreamHandler(open("/dev/null", "w"))  # noqa: SIM115
    top.addHandler(handler)
    log.setLevel(logging.INFO)

    def emit() -> None:
        log.info("refund %s for %s (%s)", "ORD-1001", "dana@example.com", 89.9)

    plain = median(per_call(emit, 5000) for _ in range(5))
    scope = open_log_scope(r.text)  # as a runtime with governance opens it
    try:
        redacted = median(per_call(emit, 5000) for _ in range(5))
    finally:
        scope.close()
    return {"event_us": event_us, "log_plain_us": plain, "log_redacted_us": redacted}


async def runs_us(guarded: bool, n: int) -> float:
    g = {"output": [{"max_length": 2000}, {"deny_patterns": ["(?i)guarantee"]},
                    {"require_patterns": ["RF-\\d+"]}]} if guarded else None  # fmt: skip
    agent = Agent(name="clerk", guardrails=g)
    model = ScriptedModel(lambda req: ScriptedModel.final("Refund RF-1 issued."), record=False)
    with tempfile.TemporaryDirectory() as d:
        rt = Runtime(tune_gc=True, store=Path(d) / "o.db", agents=[agent], models=model,
                     governance=Governance(PolicySpec()))  # fmt: skip
        async with rt:
            for i in range(50):
                await rt.run("clerk", f"w{i}")
            t0 = time.perf_counter()
            for i in range(n):
                await rt.run("clerk", f"t{i}")
            return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--no-write", action="store_true", help="print JSON only")
    args = p.parse_args()
    load, t0 = os.getloadavg()[0], time.perf_counter()
    out: dict[str, Any] = redaction()
    plain, guarded = [], []
    for _ in range(5):
        plain.append(asyncio.run(runs_us(False, 400)))
        guarded.append(asyncio.run(runs_us(True, 400)))
    out["run_us"] = median(plain)
    out["run_guarded_us"] = median(guarded)
    out["guard_syscall_us"] = out["run_guarded_us"] - out["run_us"]
    res = {k: round(v, 1) for k, v in out.items()}
    print(json.dumps(res, indent=1))
    if not args.no_write:
        governance_report.update("guardrails", res, time.perf_counter() - t0, load)
        print(f"wrote {governance_report.RESULTS}")


if __name__ == "__main__":
    main()

"""PII redaction: what the orgos loggers write and what watchers of runs
receive (events, streamed tokens) carry no e-mail, phone, card or IBAN; the
journal, the truth, keeps them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from gov_helpers import runtime

from orgos import Agent, tool
from orgos.kernel.events import Event
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.redact import Redactor, iban_ok, luhn_ok
from orgos.testing import ScriptedModel

EMAIL = "dana.reyes+shop@example.co.uk"
PHONE = "+49 30 1234 5678"
CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"
CUSTOMER = "CUST-448812"
PII = [EMAIL, PHONE, CARD, IBAN, CUSTOMER, "4111111111111111", "DE89370400440532013000"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"mail {EMAIL}, ok", "mail [email], ok"),
        (f"call {PHONE} now", "call [phone] now"),
        ("call (555) 123-4567.", "call [phone]."),
        ("or 030 1234 5678", "or [phone]"),
        (f"card {CARD}", "card [card]"),
        ("card 4111-1111-1111-1111!", "card [card]!"),
        ("card 4111111111111111", "card [card]"),
        (f"pay to {IBAN} THANKS", "pay to [iban] THANKS"),
        ("pay to GB82WEST12345698765432", "pay to [iban]"),
        (f"customer {CUSTOMER}", "customer [customer]"),
    ],
)
def test_redacts(text: str, expected: str) -> None:
    r = Redactor(patterns={"customer": r"CUST-\d{6}"})
    assert r.text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order ORD-1001 refunded 89.90 EUR as RF-3011C858",
        "run r-01m7zcv2bkxn3f5fvbjr at 2026-11-21 15:50:48 (step 12)",
        "card-like but not Luhn: 4111 1111 1111 1112",
        "IBAN-like but wrong check digits: DE00 3704 0044 0532 0130 00",
        "version 1.2.3, 12:30, 10.0.0.1, 2024-01-15, 1234567",
        "tokens 1,234,567 and cost 0.004210 USD",
    ],
)
def test_leaves_the_rest_alone(text: str) -> None:
    assert Redactor().text(text) == text


def test_checks() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB83 WEST 1234 5698 7654 32")
    assert Redactor().value({"a": [f"x {EMAIL}"], "n": 4111111111111111}) == {
        "a": ["x [email]"],
        "n": 4111111111111111,  # numbers are not text
    }


def _tools() -> list[Any]:
    @tool(idempotent=True)
    def customer(order_id: str) -> dict[str, Any]:
        """The customer of an order."""
        log = logging.getLogger("orgos.tools.customer")
        log.info("looked up %s: %s, %s", order_id, EMAIL, PHONE)
        try:
            raise ValueError(f"card {CARD} declined")
        except ValueError:
            log.exception("charging %s failed", CUSTOMER)
        return {"email": EMAIL, "phone": PHONE, "card": CARD, "iban": IBAN, "id": CUSTOMER}

    return [customer]


def _model() -> ScriptedModel:
    def respond(req: ModelRequest) -> ModelResponse:
        results = [m.content for m in req.messages if m.role == "tool"]
        if not results:
            return ScriptedModel.call("customer", order_id="ORD-1")
        return ScriptedModel.final("Dana:\n" + results[0] + f"\nIBAN {IBAN}, card {CARD}")

    # Many small chunks: every value is split across several token events.
    return ScriptedModel(respond, chunks=60)


POLICY = {"redaction": {"patterns": {"customer": r"CUST-\d{6}"}}}


async def test_no_pii_in_logs_or_events(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rt = runtime(tmp_path, POLICY, _model(), _tools())
    events: list[Event] = []
    async with rt:
        queue = rt.kernel.events.subscribe(None)
        run = await rt.run("clerk", f"who is ORD-1? write to {EMAIL}", timeout=10)
        while not queue.empty():
            events.append(queue.get_nowait())
        journal = await rt.history.journal(run.id)
    assert run.status.value == "succeeded"
    logs = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    traces = "\n".join(repr(e) for e in events)
    streamed = "".join(e.data["text"] for e in events if e.type == "token")
    places = {"logs": logs, "events": traces}
    assert [(p, name) for p in PII for name, text in places.items() if p in text] == []
    # What was redacted is still there, marked, and the stream is whole.
    assert "looked up ORD-1: [email], [phone]" in logs and "[card] declined" in logs
    redactor = Redactor(patterns={"customer": r"CUST-\d{6}"})
    assert streamed == redactor.text(str(run.output))
    assert streamed.endswith("IBAN [iban], card [card]")
    assert "[customer]" in traces and "ORD-1" in traces  # an order number is not PII
    # The journal is the truth: it keeps them.
    assert EMAIL in repr(journal) and IBAN in repr(journal)


async def test_redaction_can_be_turned_off_and_ends_with_the_runtime(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    log = logging.getLogger("orgos.test")
    off = {"redaction": {"logs": False}}
    async with runtime(tmp_path, off, _model(), _tools(), agents=[Agent(name="clerk")]):
        log.info("to %s", EMAIL)
    async with runtime(tmp_path, {}, _model(), _tools(), agents=[Agent(name="clerk")]):
        log.info("to %s", EMAIL)
        logging.getLogger("elsewhere").info("to %s", EMAIL)  # not an orgos logger
    log.info("to %s", EMAIL)  # after the runtime closed
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("to ")] == [
        f"to {EMAIL}",
        "to [email]",
        f"to {EMAIL}",
        f"to {EMAIL}",
    ]
    assert logging.getLogRecordFactory() is logging.LogRecord

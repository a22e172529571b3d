"""Tools of the customer-return process.

Every tool with a lasting effect (a pickup, a stock movement, a refund, a
recorded reason, a notice) writes to a small SQLite ledger,
``.orgos/returns.db``, and takes an ``idempotency_key``: the kernel passes a
key unique to the call and stable across retries, and the ledger keeps it
UNIQUE. So when a worker dies after the effect but before its result was
journaled, the retried call finds its own row and returns it.

That key is per run: a second return request for the same order is a new
run, with new keys. What makes it harmless is the business rule, kept here by
order id: an order is picked up, restocked, told and categorized once (a
second request gets the first one's record, marked ``already``), and refunded
once (a second refund is refused: "already refunded RF-1001").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from orgos import tool

HERE = Path(__file__).resolve().parent
ORDERS = HERE / "data" / "orders.json"
LEDGER = HERE / ".orgos" / "returns.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS refunds (
    refund_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    amount REAL NOT NULL,
    currency TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pickups (
    pickup_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    address TEXT NOT NULL,
    pickup_date TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS stock_movements (
    movement_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS notices (
    notice_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    customer TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS return_reasons (
    idempotency_key TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    category TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""

#: An order id as the tools take it: the pattern also guides a small model.
OrderId = Annotated[str, Field(pattern=r"^ORD-[0-9]{4}$", description="ORD- and 4 digits")]

Category = Literal[
    "wrong_size", "defective", "not_as_described", "arrived_late", "changed_mind", "other"
]


@contextmanager
def ledger() -> Iterator[sqlite3.Connection]:
    """One write transaction on the ledger (BEGIN IMMEDIATE: no lost updates)."""
    LEDGER.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(LEDGER, timeout=30, isolation_level=None)
    try:
        conn.executescript(SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()


def _ref(prefix: str, key: str) -> str:
    """An id derived from the idempotency key: a retried call gets the same one."""
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:8].upper()}"


def _done(db: sqlite3.Connection, select: str, order_id: str, key: str) -> Any:
    """The row this call already made (a retry: same key), or else the row an
    earlier request made for the same order; None when there is neither."""
    return db.execute(
        f"{select} WHERE idempotency_key=? OR order_id=? ORDER BY idempotency_key=? DESC LIMIT 1",
        (key, order_id, key),
    ).fetchone()


def _already(made_by: str, key: str, what: str) -> dict[str, Any]:
    """Marks a record an earlier request made: this call did nothing new."""
    return {} if made_by == key else {"already": f"{what} by an earlier request"}


def find_order(order_id: str) -> dict[str, Any]:
    """The order with this id."""
    orders: list[dict[str, Any]] = json.loads(ORDERS.read_text(encoding="utf-8"))
    for order in orders:
        if order["order_id"] == order_id.strip().upper():
            return order
    raise ValueError(f"there is no order {order_id!r}")


@tool(idempotent=True)
def lookup_order(order_id: OrderId) -> dict[str, Any]:
    """Look up an order by its id: customer, item, amount paid, address."""
    return find_order(order_id)


@tool
def schedule_pickup(order_id: OrderId, idempotency_key: str) -> dict[str, Any]:
    """Schedule a carrier pickup of the returned item at the customer's address."""
    order = find_order(order_id)
    with ledger() as db:
        row = _done(db, "SELECT pickup_id, pickup_date, idempotency_key FROM pickups",
                    order["order_id"], idempotency_key)  # fmt: skip
        if row is None:
            day = dt.date.today() + dt.timedelta(days=2)
            row = (_ref("PU", idempotency_key), day.isoformat(), idempotency_key)
            db.execute(
                "INSERT INTO pickups VALUES (?,?,?,?,?,?)",
                (row[0], idempotency_key, order["order_id"], order["address"], row[1], time.time()),
            )
    return {"pickup_id": row[0], "pickup_date": row[1], "address": order["address"],
            **_already(row[2], idempotency_key, "scheduled")}  # fmt: skip


@tool
def restock(order_id: OrderId, idempotency_key: str) -> dict[str, Any]:
    """Book the returned item of an order back into stock."""
    order = find_order(order_id)
    with ledger() as db:
        row = _done(db, "SELECT movement_id, idempotency_key FROM stock_movements",
                    order["order_id"], idempotency_key)  # fmt: skip
        if row is None:
            row = (_ref("SM", idempotency_key), idempotency_key)
            db.execute(
                "INSERT INTO stock_movements VALUES (?,?,?,?,?,?)",
                (row[0], idempotency_key, order["order_id"], order["sku"], order["quantity"],
                 time.time()),
            )  # fmt: skip
        (returned,) = db.execute(
            "SELECT COALESCE(SUM(quantity), 0) FROM stock_movements WHERE sku=?", (order["sku"],)
        ).fetchone()
    return {"sku": order["sku"], "quantity": order["quantity"], "units_returned_so_far": returned,
            **_already(row[1], idempotency_key, "restocked")}  # fmt: skip


def refund_facts(order_id: str) -> dict[str, Any]:
    """What a refund of this order really pays, for the policy to judge (an
    order refunded before pays nothing: the tool refuses it)."""
    order = find_order(order_id)
    before = False
    if LEDGER.exists():
        db = sqlite3.connect(f"file:{LEDGER}?mode=ro", uri=True, timeout=30)
        try:
            row = db.execute("SELECT 1 FROM refunds WHERE order_id=?", (order["order_id"],))
            before = row.fetchone() is not None
        except sqlite3.OperationalError:  # no refunds table yet
            pass
        finally:
            db.close()
    return {"amount": order["amount"], "currency": order["currency"], "refunded_before": before}


@tool(risk="high", facts=refund_facts)
def issue_refund(order_id: OrderId, idempotency_key: str) -> dict[str, Any]:
    """Refund the customer the full amount paid for an order."""
    order = find_order(order_id)
    with ledger() as db:
        row = db.execute(
            "SELECT refund_id, amount, currency FROM refunds WHERE idempotency_key=?",
            (idempotency_key,),
        ).fetchone()
        if row is None:  # not a retry of a call that already took effect
            done = db.execute(
                "SELECT refund_id, amount, currency FROM refunds WHERE order_id=?",
                (order["order_id"],),
            ).fetchone()
            if done is not None:  # a second request: nothing is paid again
                raise ValueError(
                    f"order {order['order_id']} is already refunded {done[0]}"
                    f" ({done[1]} {done[2]}); nothing was paid again"
                )
            # One refund per order, so the order's number names it: a short id
            # a small model copies into its answer without slips.
            row = (f"RF-{order['order_id'].removeprefix('ORD-')}", order["amount"],
                   order["currency"])  # fmt: skip
            db.execute(
                "INSERT INTO refunds VALUES (?,?,?,?,?,?)",
                (row[0], idempotency_key, order["order_id"], row[1], row[2], time.time()),
            )
    return {"refund_id": row[0], "order_id": order["order_id"], "amount": row[1],
            "currency": row[2]}  # fmt: skip


@tool
def record_return_reason(
    order_id: OrderId, category: Category, idempotency_key: str
) -> dict[str, Any]:
    """Record why the item was returned, and how often that reason came up before."""
    order = find_order(order_id)
    with ledger() as db:
        row = _done(db, "SELECT category, idempotency_key FROM return_reasons",
                    order["order_id"], idempotency_key)  # fmt: skip
        if row is None:
            row = (category, idempotency_key)
            db.execute(
                "INSERT INTO return_reasons VALUES (?,?,?,?)",
                (idempotency_key, order["order_id"], category, time.time()),
            )
        (count,) = db.execute(
            "SELECT COUNT(*) FROM return_reasons WHERE category=?", (row[0],)
        ).fetchone()
    return {"order_id": order["order_id"], "category": row[0], "returns_with_this_reason": count,
            **_already(row[1], idempotency_key, "recorded")}  # fmt: skip


@tool
def send_pickup_notice(
    order_id: OrderId,
    pickup_date: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")],
    idempotency_key: str,
) -> dict[str, Any]:
    """Tell the customer of an order when the returned item will be picked up."""
    order = find_order(order_id)
    text = f"Dear {order['customer']}, your {order['item']} will be picked up on {pickup_date}."
    with ledger() as db:
        # the same news is told once; a new pickup date is news
        row = db.execute(
            "SELECT notice_id, idempotency_key FROM notices WHERE idempotency_key=?"
            " OR (order_id=? AND text=?) ORDER BY idempotency_key=? DESC LIMIT 1",
            (idempotency_key, order["order_id"], text, idempotency_key),
        ).fetchone()
        if row is None:
            row = (_ref("NT", idempotency_key), idempotency_key)
            db.execute(
                "INSERT INTO notices VALUES (?,?,?,?,?,?)",
                (row[0], idempotency_key, order["order_id"], order["customer"], text, time.time()),
            )
    return {"notice_id": row[0], "order_id": order["order_id"], "text": text,
            **_already(row[1], idempotency_key, "sent")}  # fmt: skip

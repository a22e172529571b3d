"""A small labeled set for recall quality: 60 memories (conclusions an org's
agents might keep) in 12 subjects, and 20 queries, each with the memories a
person judged relevant. Queries are phrased the way a colleague would ask,
not copied from the memories, so keyword search has to earn its hits.

Run ``python bench/data/recall_set.py`` to write recall_set.json."""

from __future__ import annotations

import json
from pathlib import Path

MEMORIES: dict[str, list[str]] = {
    "refunds": [
        "Refunds above 500 EUR need a second approval from the finance lead.",
        "Customers get a refund within 14 days of the return arriving at the warehouse.",
        "Store credit instead of a refund is offered only when the customer asks for it.",
        "A refund is refused for kettles that were used with descaler not sold by us.",
        "Refund decisions must cite the order id and the reason code in the ticket.",
    ],
    "shipping": [
        "DHL is the default carrier for parcels to Germany and Austria.",
        "UPS Express is used for orders marked urgent; it costs 18 EUR more per parcel.",
        "Parcels over 30 kg go by freight forwarder, never by a parcel carrier.",
        "Return labels are generated with the carrier that delivered the original parcel.",
        "Shipping to the Canary Islands needs a customs declaration (CN23).",
    ],
    "inventory": [
        "The Leipzig warehouse holds kettles, toasters and spare lids.",
        "Stock counts are reconciled every Monday before 10:00.",
        "A returned item in perfect condition goes back to sellable stock the same day.",
        "Damaged returns are moved to the B-stock shelf and sold at 30 percent off.",
        "Reorder kettles when fewer than 200 units are in the Leipzig warehouse.",
    ],
    "pricing": [
        "The spring discount code SPRING15 gives 15 percent off and ends on 30 April.",
        "Prices are never lowered below the cost price plus 8 percent margin.",
        "Bulk orders of 50 units or more get a negotiated price from sales.",
        "Discounts cannot be combined with the loyalty voucher.",
        "The kettle's list price rose from 39 EUR to 42 EUR in March.",
    ],
    "vip": [
        "Hotel chain Alpenhof is a VIP account; their tickets are answered within one hour.",
        "VIP accounts have a named account manager: Mara handles Alpenhof and Seeblick.",
        "Seeblick Resorts pays on 60-day terms, agreed in their framework contract.",
        "VIP customers get free return shipping on every order.",
        "Escalations for VIP accounts go to the head of sales, not the support lead.",
    ],
    "incidents": [
        "The checkout outage on 3 June was caused by an expired TLS certificate.",
        "The payment provider had a 40-minute outage on 12 June; orders were queued.",
        "After the June outages we added monitoring of certificate expiry dates.",
        "Incident reviews are written within two working days and shared in shared/postmortems.",
        "The on-call engineer must acknowledge a page within 15 minutes.",
    ],
    "hiring": [
        "New support agents shadow a senior colleague for their first two weeks.",
        "Onboarding includes a one-hour training on the returns policy.",
        "The support team is hiring two people for the Spanish-speaking queue.",
        "Interview loops for engineers have four sessions including a pairing exercise.",
        "Laptops for new hires are ordered ten days before their first day.",
    ],
    "security": [
        "API keys are rotated every 90 days and stored only in the vault.",
        "Passwords are never sent by email; use the password manager's sharing link.",
        "Two-factor authentication is mandatory for every admin account.",
        "Customer data exports must be encrypted and deleted after 30 days.",
        "A phishing attempt imitating the CEO asked for gift cards in May.",
    ],
    "suppliers": [
        "Kettles are supplied by Heizwerk GmbH under a contract renewed yearly in January.",
        "Heizwerk's lead time is six weeks; order early before the winter season.",
        "The toaster supplier switched to recyclable packaging in April.",
        "Supplier invoices are paid 30 days after delivery of the goods.",
        "Defective batches are claimed back from the supplier within 60 days.",
    ],
    "marketing": [
        "The newsletter goes out every second Thursday to about 40,000 subscribers.",
        "The autumn campaign focuses on energy-saving kettles.",
        "Instagram ads brought the cheapest new customers in the last quarter.",
        "Influencer partnerships need legal review of the contract before launch.",
        "Campaign results are reported in the first week of the following month.",
    ],
    "finance": [
        "Invoices to business customers must show their VAT number.",
        "The fiscal year closes on 31 December; accruals are booked in the first week of January.",
        "Expense claims above 200 EUR need a receipt and the manager's approval.",
        "Chargebacks are disputed only when we have proof of delivery.",
        "Monthly revenue is reported to the board on the fifth working day.",
    ],
    "defects": [
        "The KX-200 kettle has a faulty lid hinge in batch 2417; replace the lid, not the kettle.",
        "Batch 2417 kettles were sold between February and April.",
        "Customers with a broken lid hinge get a spare lid shipped for free.",
        "The toaster's crumb tray sometimes sticks; a firm pull releases it.",
        "Defect reports are logged with the batch number printed under the base.",
    ],
}

#: (query, relevant subject/index pairs)
QUERIES: list[tuple[str, list[tuple[str, int]]]] = [
    ("Who has to approve a large refund?", [("refunds", 0)]),
    ("How long until a customer gets their money back after returning something?",
     [("refunds", 1)]),
    ("Which carrier do we use for urgent parcels?", [("shipping", 1)]),
    ("How do heavy shipments travel?", [("shipping", 2)]),
    ("What happens to returned items that are damaged?", [("inventory", 3), ("inventory", 2)]),
    ("When should we reorder kettles?", [("inventory", 4), ("suppliers", 1)]),
    ("Is there a discount code running this spring?", [("pricing", 0), ("pricing", 3)]),
    ("What is the current price of the kettle?", [("pricing", 4)]),
    ("How fast must we answer the Alpenhof hotel tickets?", [("vip", 0)]),
    ("Where do escalations for VIP accounts go?", [("vip", 4)]),
    ("What caused the checkout outage in June?", [("incidents", 0), ("incidents", 2)]),
    ("How quickly must on-call respond to a page?", [("incidents", 4)]),
    ("How are new support agents onboarded?", [("hiring", 0), ("hiring", 1)]),
    ("How often are API keys rotated?", [("security", 0)]),
    ("How should I share a password with a colleague?", [("security", 1)]),
    ("What is the lead time of the kettle supplier?", [("suppliers", 1)]),
    ("When does the newsletter go out?", [("marketing", 0)]),
    ("What must an invoice to a business customer contain?", [("finance", 0)]),
    ("The kettle lid hinge broke, what do we do?", [("defects", 0), ("defects", 2)]),
    ("Which batch of kettles is defective?", [("defects", 1), ("defects", 0)]),
]  # fmt: skip


def flatten() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    memories, index = [], {}
    for subject, items in MEMORIES.items():
        for i, text in enumerate(items):
            index[(subject, i)] = len(memories)
            memories.append({"id": len(memories), "subject": subject, "text": text})
    queries = [{"query": q, "relevant": sorted({index[r] for r in rel})} for q, rel in QUERIES]
    return memories, queries


if __name__ == "__main__":
    mems, qs = flatten()
    out = Path(__file__).with_name("recall_set.json")
    out.write_text(json.dumps({"memories": mems, "queries": qs}, indent=1) + "\n")
    print(f"{len(mems)} memories, {len(qs)} queries -> {out}")

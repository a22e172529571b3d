"""The recall benchmark's labeled corpus: 150 memories an appliance shop's
agents might keep (15 subjects, 10 each), and 40 queries with the memories a
person judged relevant (1-5 each). 34 are paraphrases, asked the way a
colleague would ask, in other words than the memories ("my notebook was
taken" for a stolen laptop), and many share a word with memories that do not
answer them ("train", "accounts", "broken"): keyword search must earn its
hits. 6 name a thing by its name or code (a supplier, a form, a model), where
keywords are at home and an embedding model knows nothing of the name.

``python bench/data/recall_corpus.py`` writes recall_corpus.json (memories
with ids, queries with their kind and the ids of their relevant memories)."""

from __future__ import annotations

import json
from pathlib import Path

MEMORIES: dict[str, list[str]] = {
    "refunds": [
        "Refunds above 500 EUR need a second approval from the finance lead.",
        "Customers get their refund within 14 days of the return reaching the warehouse.",
        "Store credit instead of a refund is offered only if the customer asks for it.",
        "We refuse refunds for kettles damaged by descaler we did not sell.",
        "Every refund decision must cite the order id and a reason code in the ticket.",
        "Refunds go back to the original payment method, never to a different card.",
        "PayPal refunds show up for the customer within two working days.",
        "A return opened more than 30 days after delivery is declined unless the item is faulty.",
        "Partial refunds are allowed when an accessory is missing from the returned box.",
        "The refund queue is cleared every afternoon by the support shift lead.",
    ],
    "shipping": [
        "DHL is the default carrier for parcels to Germany and Austria.",
        "Orders marked urgent go by UPS Express at 18 EUR extra per parcel.",
        "Anything heavier than 30 kg is sent by freight forwarder, not a parcel service.",
        "Return labels are issued by the carrier that delivered the original order.",
        "Deliveries to the Canary Islands need a CN23 customs declaration.",
        "Orders placed before 2 pm ship the same day.",
        "Lost parcels are claimed with the carrier after 10 days without a tracking update.",
        "Free delivery starts at an order value of 49 EUR in the EU.",
        "Orders to Switzerland are shipped with duties paid by us (DDP).",
        "The courier picks up from the Leipzig dock at 16:30 every weekday.",
    ],
    "warehouse": [
        "The Leipzig warehouse stores kettles, toasters and spare lids.",
        "Stock is counted and reconciled every Monday before 10:00.",
        "Returned items are inspected within 48 hours and graded A, B or scrap.",
        "B-grade returns are resold in the outlet shop at 30 percent off.",
        "The warehouse system flags any item below 20 units for reorder.",
        "Forklifts may only be driven by staff with a valid licence.",
        "Fragile glass kettles are packed in double-walled cartons.",
        "During the December peak the warehouse runs a second shift until 22:00.",
        "Scrapped appliances are collected by a certified e-waste recycler each month.",
        "Bins are labelled by aisle, shelf and slot, for example C-04-2.",
    ],
    "purchasing": [
        "Heizwerk GmbH makes our stainless steel kettles; lead time is six weeks.",
        "Purchase orders above 10,000 EUR need sign-off from the head of operations.",
        "Toasters come from a factory in Shenzhen and arrive by sea freight in about 40 days.",
        "Suppliers are paid 45 days after the goods are received.",
        "A new supplier must pass a factory audit before the first order.",
        "Heizwerk raised its prices by 4 percent from January.",
        "We keep a second source for heating elements in case Heizwerk falls behind.",
        "Samples of every new model are tested in our lab for two weeks.",
        "Purchase orders are placed in the ERP, never by email alone.",
        "The minimum order quantity at the Shenzhen factory is 2,000 units.",
    ],
    "receivables": [
        "Alpenhof Hotels pay on 60-day terms.",
        "Invoices go to public sector buyers as PDF and as e-invoice (XRechnung).",
        "A first payment reminder goes out 7 days after the due date, a second after 21.",
        "Accounts more than 90 days overdue are handed to the collection agency.",
        "Customers who pay by invoice get a credit check first.",
        "Klarna covers buy-now-pay-later; Klarna pays us within 3 days.",
        "Private customers in other EU countries are charged their own country's VAT rate.",
        "Credit notes are numbered in their own series, starting with CN-.",
        "Bank transfers are matched to orders automatically each night by order number.",
        "Cash on delivery is not offered any more.",
    ],
    "support": [
        "Support answers emails within one working day.",
        "The phone line is open on weekdays from 8 to 18.",
        "Angry customers are escalated to the shift lead, who may offer a 10 EUR voucher.",
        "Tickets are tagged with product, topic and channel before they are closed.",
        "Chat transcripts are kept for 90 days.",
        "A customer who reports a burning smell is told to unplug the device at once,"
        " and the case goes to product safety.",
        "Support may extend the return window by 14 days without asking anyone.",
        "Macros for common questions live in the helpdesk under 'Answers'.",
        "Customer satisfaction is surveyed after every closed ticket.",
        "Support agents never ask for a full card number.",
    ],
    "security": [
        "Passwords are at least 14 characters long and kept in the company password manager.",
        "Two-factor authentication is required for email, the ERP and the helpdesk.",
        "Laptops get full-disk encryption before they are handed out.",
        "A lost or stolen laptop is reported to IT within one hour.",
        "Access to the production database is granted by the CTO only, for a limited time.",
        "Phishing emails are forwarded to the security team and then deleted.",
        "The accounts of leavers are disabled on their last working day.",
        "The shop database is backed up every night; backups are kept for 30 days.",
        "Software may only be installed from the approved list.",
        "The guest Wi-Fi is separated from the office network.",
    ],
    "people": [
        "Employees have 28 days of paid leave a year.",
        "Holiday requests go to the team lead at least two weeks ahead.",
        "New hires get a buddy for their first month.",
        "Sick leave longer than three days needs a doctor's note.",
        "Remote work is allowed up to three days a week.",
        "Performance reviews happen twice a year, in March and September.",
        "Overtime is compensated with time off, not money.",
        "The probation period is six months.",
        "Parental leave requests go to HR at least seven weeks before it starts.",
        "The training budget is 1,000 EUR per person per year.",
    ],
    "pricing": [
        "Prices are reviewed every quarter against three competitors.",
        "Discount codes may not be combined.",
        "The largest discount allowed without approval is 15 percent.",
        "Black Friday prices run from Thursday to Cyber Monday.",
        "Trade customers get 20 percent off the list price.",
        "A price match is granted when a German shop sells the same model for less.",
        "Outlet items are excluded from every promotion.",
        "Newsletter subscribers get a 10 percent welcome code.",
        "Price changes are published on Tuesdays only.",
        "A kettle and toaster bundle sells 12 percent below the two separate prices.",
    ],
    "quality": [
        "All appliances carry a two-year warranty; Heizwerk kettles five years.",
        "A warranty claim needs the proof of purchase.",
        "The K200 kettle's lid hinge breaks often; replacement lids are sent free.",
        "A defect rate above 3 percent for a model triggers a quality review.",
        "Faulty units under warranty are replaced, not repaired, when the repair would"
        " cost more than half the price.",
        "The T5 toaster was recalled in 2024 for an overheating crumb tray.",
        "Every model has a CE declaration stored in the product folder.",
        "Customer reports of electric shocks go to the product safety officer the same day.",
        "Limescale is not a defect and is not covered by the warranty.",
        "Spare parts are stocked for seven years after a model is discontinued.",
    ],
    "marketing": [
        "The newsletter goes out every Thursday at 9:00.",
        "Product photos are shot on a white background at 2000 px.",
        "Influencer posts must be marked as advertising.",
        "The Google Ads budget is 8,000 EUR a month, most of it on kettles.",
        "Customer reviews are never edited, only hidden if they contain personal data.",
        "The brand colour is teal, #0F8B8D.",
        "Replies on social media come from the support team, not from marketing.",
        "Email campaigns go only to people who confirmed their sign-up twice.",
        "The spring campaign features the new glass kettle.",
        "Affiliates earn 5 percent on the sales they refer.",
    ],
    "legal": [
        "Customer data is deleted three years after the last order.",
        "Requests for a copy of one's data are answered within 30 days.",
        "Invoices are kept for ten years for the tax office.",
        "Customer data is stored only in data centres inside the EU.",
        "Every processor of personal data has signed a data processing agreement.",
        "A data breach is reported to the supervisory authority within 72 hours.",
        "Changes to the terms and conditions are announced to customers 30 days ahead.",
        "CCTV footage from the warehouse is deleted after 72 hours.",
        "Cookie banners must offer 'reject all' as prominently as 'accept all'.",
        "The 14-day withdrawal right applies to every consumer order placed online.",
    ],
    "travel": [
        "Train is preferred over plane for trips under 600 km.",
        "Hotel costs are reimbursed up to 120 EUR a night.",
        "Expenses are submitted with receipts within one month.",
        "Business class flights are not reimbursed.",
        "Trips abroad need the manager's approval before booking.",
        "The daily meal allowance is 28 EUR in Germany.",
        "Taxi rides are reimbursed only after 22:00 or with heavy luggage.",
        "The company card may not be used for private purchases.",
        "Mileage in a private car is paid at 0.30 EUR per km.",
        "Trade fair trips are booked by the office manager.",
    ],
    "office": [
        "The Leipzig office opens at 7:00 and closes at 20:00.",
        "Meeting rooms are booked in the calendar; the big one is called Elbe.",
        "The last person out switches off the coffee machine and sets the alarm.",
        "Visitors sign in at reception and wear a badge.",
        "Parcels for staff are not accepted at the office.",
        "The fire assembly point is the car park across the street.",
        "Desks are shared; personal things go in the lockers overnight.",
        "Broken office equipment is reported to the office manager.",
        "The kitchen fridge is emptied every Friday afternoon.",
        "Bikes are parked in the courtyard, not in the hallway.",
    ],
    "accounts": [
        "Alpenhof Hotels order 400 kettles each spring for their rooms.",
        "Our contact at Alpenhof is Mrs Berger in purchasing.",
        "Kaufhaus Nord gets consignment stock and pays only for what it sells.",
        "Key accounts have a named account manager who answers within four hours.",
        "Alpenhof wants its logo engraved on the kettles, at 2 EUR per unit.",
        "Kaufhaus Nord reports its sales every Monday in a spreadsheet.",
        "Framework contracts with key accounts are renegotiated every two years.",
        "The hotel chain Seeblick has been a key account since October.",
        "Key accounts may return unsold stock once a year.",
        "Big customers order through the B2B portal, not the web shop.",
    ],
}

#: (query, relevant memories as "subject:index"), asked in other words
PARAPHRASED: list[tuple[str, list[str]]] = [
    ("What needs the okay of a boss before it can happen?",
     ["refunds:0", "purchasing:1", "travel:4", "pricing:2", "security:4"]),
    ("How long until a customer sees their money again after sending something back?",
     ["refunds:1", "refunds:6"]),
    ("What happens to goods that customers send back to us?",
     ["warehouse:2", "warehouse:3", "warehouse:8"]),
    ("Which delivery company takes our packages?",
     ["shipping:0", "shipping:1", "shipping:2"]),
    ("When does a package leave if someone orders in the morning?",
     ["shipping:5", "shipping:9"]),
    ("How do I keep my accounts safe from intruders?",
     ["security:0", "security:1", "security:5"]),
    ("My notebook computer was taken on the train, what now?",
     ["security:3", "security:2"]),
    ("How many days off do I get, and how do I ask for them?",
     ["people:0", "people:1", "people:6"]),
    ("What are the rules when I'm ill or want to work from my flat?",
     ["people:3", "people:4"]),
    ("Can a shopper stack two promo codes?",
     ["pricing:1", "pricing:6"]),
    ("Which reductions can ordinary shoppers get?",
     ["pricing:3", "pricing:5", "pricing:7", "pricing:9"]),
    ("The appliance is broken, will we fix it for free?",
     ["quality:0", "quality:1", "quality:4", "quality:8"]),
    ("A caller says it smells like something is on fire, what do we tell them?",
     ["support:5", "quality:7"]),
    ("Which of our models had problems in the past?",
     ["quality:2", "quality:5"]),
    ("How long do we hold on to personal information?",
     ["legal:0", "support:4", "legal:7"]),
    ("A customer asks what we know about them: how fast must we reply?",
     ["legal:1"]),
    ("Where does our customers' information physically live?",
     ["legal:3", "security:7"]),
    ("How do I get my money back for a work trip?",
     ["travel:1", "travel:2", "travel:5", "travel:8"]),
    ("Can I fly to Munich for a meeting?",
     ["travel:0", "travel:3"]),
    ("When do we pay the companies that make our products?",
     ["purchasing:3"]),
    ("How long does new stock take to come from the manufacturers?",
     ["purchasing:0", "purchasing:2"]),
    ("What do we check before working with a new manufacturer?",
     ["purchasing:4", "purchasing:7"]),
    ("What happens when a client doesn't settle their bill?",
     ["receivables:2", "receivables:3"]),
    ("What ways can people pay us?",
     ["receivables:4", "receivables:5", "receivables:8", "receivables:9"]),
    ("What does the hotel group buy from us?",
     ["accounts:0", "accounts:4"]),
    ("Who do I talk to at Alpenhof?",
     ["accounts:1"]),
    ("How quickly must we get back to people who write or call?",
     ["support:0", "support:1", "accounts:3"]),
    ("Which shipments go out with extra paperwork or fees at the border?",
     ["shipping:4", "shipping:8"]),
    ("What should I do before going home in the evening?",
     ["office:2", "office:6"]),
    ("Someone from outside is coming to see us at the office.",
     ["office:3", "office:1"]),
    ("What are the rules for our online ads and posts?",
     ["marketing:2", "marketing:3", "marketing:6", "marketing:7"]),
    ("Can customers change their mind after buying on the internet?",
     ["legal:9", "refunds:7", "support:6"]),
    ("How does the company help staff learn and grow?",
     ["people:9", "people:5", "people:2"]),
    ("The kettle is white and crusty inside, is that covered?",
     ["quality:8", "refunds:3"]),
]  # fmt: skip

#: (query, relevant memories): by name or code
NAMED: list[tuple[str, list[str]]] = [
    ("Heizwerk", ["purchasing:0", "purchasing:5", "purchasing:6", "quality:0"]),
    ("CN23", ["shipping:4"]),
    ("K200 lid", ["quality:2"]),
    ("Kaufhaus Nord", ["accounts:2", "accounts:5"]),
    ("Seeblick", ["accounts:7"]),
    ("XRechnung", ["receivables:1"]),
]


def build() -> dict[str, object]:
    ids: dict[str, int] = {}
    memories = []
    for subject, texts in MEMORIES.items():
        for n, text in enumerate(texts):
            ids[f"{subject}:{n}"] = len(memories)
            memories.append({"id": len(memories), "subject": subject, "text": text})
    queries = [
        {"query": q, "kind": kind, "relevant": [ids[r] for r in rel]}
        for kind, queries in (("paraphrase", PARAPHRASED), ("name", NAMED))
        for q, rel in queries
    ]
    return {"memories": memories, "queries": queries}


if __name__ == "__main__":
    out = Path(__file__).with_name("recall_corpus.json")
    out.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {out}")

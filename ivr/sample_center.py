"""The sample flow of a typical service center, shipped with the demo (and a starting point
for a real one: open it in the editor, change the prompts, publish).

Main menu: 1 account queries, 2 billing, 3 technical support, 4 sales, 8 complaints, 0 an
agent. Each sub-menu has its own options, ``*`` returns to the previous menu and ``0`` reaches
an agent (group A: the ``support`` queue). 8 records a complaint into mailbox 803 and asks
group B (the ``care`` queue) to call the customer back. When nobody answers in group A the
caller can leave a message in mailbox 801. Sales answers during opening hours, else takes a
message in mailbox 802.

Prompts are text-to-speech (English here; the editor offers Chinese and English voices).
"""

from __future__ import annotations

from typing import Any

NAME = "service-center"
GROUP_A = "support"
GROUP_B = "care"
MAILBOXES = [
    ("801", "Service center messages", "department", "service"),
    ("802", "Sales messages", "queue", "sales"),
    ("803", "Complaints", "department", "care"),
]
# Account records the account menu reads out (book "accounts": key -> fields).
ACCOUNTS = {"123456": {"balance": "250", "plan": "family"}, "888888": {"balance": "0"}}


def _tts(text: str) -> dict[str, str]:
    return {"tts": text, "lang": "en"}


def _node(node_id: str, node_type: str, x: int, y: int, **props: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "x": x, "y": y, "props": props}


def flow(always_open: bool = False) -> dict[str, Any]:
    """The flow; ``always_open``: sales answers at every hour of every day (the demo, which
    runs whenever someone starts it)."""
    sales_open = [{"days": [0, 1, 2, 3, 4, 5], "from": "08:00", "to": "20:00"}]
    if always_open:
        sales_open = [{"days": [0, 1, 2, 3, 4, 5, 6], "from": "00:00", "to": "24:00"}]
    nodes = [
        _node(
            "main",
            "menu",
            10,
            220,
            prompt=_tts(
                "Welcome to the X X service center. For account queries press 1, for billing "
                "press 2, for technical support press 3, for sales press 4, for complaints "
                "press 8, for an agent press 0."
            ),
            options=["1", "2", "3", "4", "8", "0"],
            timeout_s=5,
            retries=2,
        ),
        # 1: accounts
        _node(
            "accounts",
            "menu",
            232,
            10,
            prompt=_tts(
                "For your balance press 1. To change your account details press 2. "
                "For an agent press 0. To go back press star."
            ),
            options=["1", "2", "0"],
        ),
        _node(
            "ask-account",
            "collect",
            454,
            10,
            prompt=_tts("Please enter your account number, then press hash."),
            variable="account",
            min_digits=6,
            max_digits=10,
            retries=2,
            invalid_prompt=_tts("That is not an account number."),
        ),
        _node(
            "find-account",
            "lookup",
            676,
            10,
            source="record",
            book="accounts",
            key="${account}",
            store="account",
        ),
        _node("balance-is", "play", 676, 110, prompt=_tts("Your balance is")),
        _node("say-balance", "say", 676, 205, mode="number", value="${account_balance}"),
        _node("not-found", "play", 676, 300, prompt=_tts("We could not find that account.")),
        # 2: billing
        _node(
            "billing",
            "menu",
            232,
            180,
            prompt=_tts(
                "For your latest bill press 1. To pay by phone press 2. For a billing agent "
                "press 0. To go back press star."
            ),
            options=["1", "2", "0"],
        ),
        _node(
            "bill-sent",
            "play",
            454,
            180,
            prompt=_tts("Your latest bill has been sent to you by text message."),
        ),
        _node("pay-line", "transfer", 454, 275, kind="extension", number="8200"),
        _node("billing-queue", "queue", 676, 400, queue="billing"),
        # 3: technical support
        _node(
            "tech",
            "menu",
            232,
            350,
            prompt=_tts(
                "For internet problems press 1. For phone problems press 2. For an agent "
                "press 0. To go back press star."
            ),
            options=["1", "2", "0"],
        ),
        _node("tech-queue", "queue", 454, 390, queue=GROUP_A, priority=5),
        # 4: sales, during opening hours
        _node(
            "sales-hours",
            "time",
            232,
            520,
            timezone="Asia/Shanghai",
            open=sales_open,
            holidays=[] if always_open else ["2027-01-01", "2027-02-06"],
        ),
        _node("sales-queue", "queue", 454, 520, queue="sales"),
        _node(
            "sales-closed",
            "play",
            454,
            615,
            prompt=_tts("Sales is closed now. Please leave a message after the tone."),
        ),
        _node("sales-mailbox", "voicemail", 676, 630, mailbox="802"),
        # 8: complaints, called back by group B
        _node(
            "complaint",
            "record",
            232,
            670,
            prompt=_tts("Please tell us about your complaint after the tone, then hang up."),
            kind="complaint",
            mailbox="803",
            callback_queue=GROUP_B,
            max_s=180,
        ),
        _node(
            "complaint-thanks",
            "play",
            454,
            710,
            prompt=_tts("Thank you. A member of our customer care team will call you back."),
        ),
        # 0: group A, with a message when nobody answers
        _node("agent", "queue", 232, 775, queue=GROUP_A),
        _node("no-agent", "voicemail", 454, 805, mailbox="801"),
        _node("goodbye", "hangup", 676, 500),
    ]
    edges = [
        ("main", "1", "accounts"),
        ("main", "2", "billing"),
        ("main", "3", "tech"),
        ("main", "4", "sales-hours"),
        ("main", "8", "complaint"),
        ("main", "0", "agent"),
        ("main", "failed", "agent"),
        ("accounts", "1", "ask-account"),
        ("accounts", "2", "agent"),
        ("accounts", "0", "agent"),
        ("ask-account", "ok", "find-account"),
        ("ask-account", "failed", "agent"),
        ("find-account", "found", "balance-is"),
        ("find-account", "not_found", "not-found"),
        ("balance-is", "next", "say-balance"),
        ("say-balance", "next", "goodbye"),
        ("not-found", "next", "accounts"),
        ("billing", "1", "bill-sent"),
        ("billing", "2", "pay-line"),
        ("billing", "0", "billing-queue"),
        ("bill-sent", "next", "goodbye"),
        ("pay-line", "failed", "billing-queue"),
        ("tech", "1", "tech-queue"),
        ("tech", "2", "tech-queue"),
        ("tech", "0", "agent"),
        ("sales-hours", "open", "sales-queue"),
        ("sales-hours", "closed", "sales-closed"),
        ("sales-hours", "holiday", "sales-closed"),
        ("sales-closed", "next", "sales-mailbox"),
        ("sales-mailbox", "next", "goodbye"),
        ("complaint", "next", "complaint-thanks"),
        ("complaint-thanks", "next", "goodbye"),
        ("agent", "unanswered", "no-agent"),
        ("no-agent", "next", "goodbye"),
    ]
    return {
        "start": "main",
        "nodes": nodes,
        "edges": [{"from": a, "out": o, "to": b} for a, o, b in edges],
    }


# What demo callers press, how often (per 100 callers), and the queue the path ends in ("":
# served by the flow alone; GROUP_B: a complaint, called back from that queue). The shares
# of a service line: technical support the most, then billing and sales, a few complaints,
# and about one caller in seven helped by the menus alone.
CALLER_PATHS: list[tuple[str, int, str]] = [
    ("0", 10, GROUP_A),  # an agent
    ("31", 12, GROUP_A),  # tech menu: internet problems
    ("32", 8, GROUP_A),  # phone problems
    ("30", 2, GROUP_A),
    ("10", 2, GROUP_A),  # accounts, then an agent
    ("2*0", 1, GROUP_A),  # billing, back, agent
    ("9", 1, GROUP_A),  # not an option: the menu gives up to an agent
    ("", 2, GROUP_A),  # presses nothing
    ("20", 22, "billing"),  # a billing agent
    ("4", 20, "sales"),
    ("8", 6, GROUP_B),  # a complaint, called back by customer care
    ("11123456#", 6, ""),  # balance of a known account
    ("119#119999#", 1, ""),  # a wrong account number, then an unknown one
    ("21", 5, ""),  # the latest bill by text message
    ("22", 2, ""),  # the pay-by-phone line
]

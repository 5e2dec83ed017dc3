"""The desk and notice stores on both databases: the screen pop's IVR inputs and path, the
history with notes (the customer's from any of its numbers), the call notes' allowlist and
limits, notices for everyone and for a queue, their expiry and withdrawal. Hostile text is
stored exactly as given."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.cli import resolved
from appliance.crm.customer_store import CustomerStore
from appliance.db.connector import DBConnector
from appliance.db.desk_store import DISPOSITIONS, MAX_NOTES

HOSTILE = "<img src=x onerror=alert(1)>'; DROP TABLE calls;--"
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
CALLER = "+8613800000001"


def _call(db: DBConnector, n: int, number: str = CALLER, name: str = HOSTILE) -> int:
    call_id: int = resolved(
        db.calls.start(
            f"u{n}", f"u{n}", "inbound", T0 + dt.timedelta(minutes=n), number, name, "4000"
        )
    )
    return call_id


@pytest.fixture
def center(db: DBConnector) -> tuple[int, int, int]:
    agent = resolved(db.agents.add("1001", "Ann <b>Agent</b>", "", "PJSIP/1001"))
    queue = resolved(db.queues.add("support", display_name="Support & Co"))
    other = resolved(db.queues.add("sales"))
    return agent.id, queue.id, other.id


def test_the_customers_calls_from_any_number_are_its_history_and_the_ivr_wins(
    db: DBConnector,
) -> None:
    """The pop's last calls: the caller's number's, and those of the customer's other numbers
    once a call was known as its (calls.customer_id, which link_call writes once), and
    those from any form of its numbers given."""
    store = CustomerStore(db)
    mine = resolved(store.create("admin", HOSTILE, [CALLER, "+8613900000002"], "vip"))
    other = resolved(store.create("admin", "Other", ["+8613900000003"]))
    from_other_number = _call(db, 1, number="+8613900000002")
    resolved(store.link_call(from_other_number, mine))
    ivr_said = _call(db, 2, number="+8613900000002")
    resolved(store.link_call(ivr_said, other))
    resolved(store.link_call(ivr_said, mine))  # the IVR's stays
    from_this_number = _call(db, 3)
    unknown = _call(db, 4, number="+8613900000002")  # never known as the customer's
    current = _call(db, 5)
    history = resolved(db.desk.history(CALLER, before_call=current, customer_id=mine))
    assert [h.id for h in history] == [from_this_number, from_other_number]
    assert [h.id for h in resolved(db.desk.history("", customer_id=other))] == [ivr_said]
    forms = ["8613900000002", "+8613900000002"]  # the pop passes every form of its numbers
    found = resolved(db.desk.history(CALLER, current, customer_id=mine, forms=forms))
    assert [h.id for h in found] == [unknown, from_this_number, ivr_said, from_other_number]
    assert [h.id for h in resolved(db.desk.history(CALLER, before_call=current))] == [
        from_this_number
    ]


def test_ivr_inputs_are_the_steps_that_took_digits(db: DBConnector) -> None:
    call = _call(db, 1)
    for i, (node, given) in enumerate((("welcome", ""), ("menu", "2"), ("acct", "12345#"))):
        data = {"flow": "main", "version": 1, "node": node, "type": "menu", "input": given}
        resolved(db.calls.add_event(call, "ivr_step", T0 + dt.timedelta(seconds=i), data))
    resolved(db.calls.add_event(call, "queued", T0, {"queue": "support", "input": "9"}))
    other = _call(db, 2)
    resolved(db.calls.add_event(other, "ivr_step", T0, {"node": "menu", "input": "1"}))
    found = resolved(db.desk.ivr_inputs(call))
    assert [(s.node, s.input, s.flow) for s in found] == [
        ("menu", "2", "main"),
        ("acct", "12345#", "main"),
    ]
    # the whole path, for the articles the desk suggests from the nodes passed
    path = resolved(db.desk.ivr_path(call))
    assert [(s.node, s.input) for s in path] == [("welcome", ""), ("menu", "2"), ("acct", "12345#")]


def test_history_lists_previous_calls_with_queue_agent_and_notes(
    db: DBConnector, center: tuple[int, int, int]
) -> None:
    agent, queue, _ = center
    old = [_call(db, n) for n in range(12)]
    resolved(db.calls.finish(old[0], T0, T0, 16, "completed", queue_id=queue, agent_id=agent))
    resolved(db.desk.add_note(old[0], agent, "complaint", HOSTILE))
    resolved(db.desk.add_note(old[0], agent, "resolved", "called back"))
    _call(db, 50, number="+8613999999999")  # someone else
    current = _call(db, 99)
    history = resolved(db.desk.history(CALLER, before_call=current))
    assert len(history) == 10
    assert current not in [h.id for h in history]
    assert [h.id for h in history] == sorted(old, reverse=True)[:10]
    first = resolved(db.desk.history(CALLER, limit=20))[-1]
    assert (first.id, first.queue, first.agent, first.outcome) == (
        old[0],
        "Support & Co",
        "Ann <b>Agent</b>",
        "completed",
    )
    assert [(n.disposition, n.notes, n.agent_name) for n in first.notes] == [
        ("complaint", HOSTILE, "Ann <b>Agent</b>"),
        ("resolved", "called back", "Ann <b>Agent</b>"),
    ]
    assert resolved(db.desk.history("")) == []


def test_notes_take_the_allowlist_and_the_size_limit(
    db: DBConnector, center: tuple[int, int, int]
) -> None:
    agent, _, _ = center
    call = _call(db, 1)
    for bad in ("", "fixed", "resolved ", HOSTILE):
        with pytest.raises(ValueError, match="disposition must be one of"):
            db.desk.add_note(call, agent, bad, "x")
    with pytest.raises(ValueError, match="at most 4000"):
        db.desk.add_note(call, agent, "other", "x" * (MAX_NOTES + 1))
    assert resolved(db.desk.notes(call)) == []
    for d in DISPOSITIONS:
        resolved(db.desk.add_note(call, agent, d, "y" * MAX_NOTES))
    saved = resolved(db.desk.notes(call))
    assert [n.disposition for n in saved] == list(DISPOSITIONS)
    assert all(len(n.notes) == MAX_NOTES for n in saved)


def test_the_last_call_of_an_agent_is_the_one_it_is_wrapping_up(
    db: DBConnector, center: tuple[int, int, int]
) -> None:
    agent, queue, _ = center
    assert resolved(db.desk.last_call_of_agent(agent)) is None
    a, b, _c = _call(db, 1), _call(db, 2), _call(db, 3)
    for call in (a, b):
        resolved(db.calls.finish(call, T0, T0, 16, "completed", queue_id=queue, agent_id=agent))
    assert resolved(db.desk.last_call_of_agent(agent)) == b
    facts = resolved(db.desk.call(b))
    assert facts is not None
    assert (facts.caller_number, facts.caller_name, facts.agent_id, facts.queue_id) == (
        CALLER,
        HOSTILE,
        agent,
        queue,
    )
    assert resolved(db.desk.call(10**9)) is None


def test_notices_for_everyone_and_for_a_queue_expire_and_withdraw(
    db: DBConnector, center: tuple[int, int, int]
) -> None:
    _, support, sales = center
    everyone = resolved(db.notices.post(HOSTILE, "urgent", "sup", 10, now=T0))
    mine = resolved(db.notices.post("support only", "info", "sup", 60, support, now=T0))
    theirs = resolved(db.notices.post("sales only", "warning", "sup", 60, sales, now=T0))
    assert everyone.text == HOSTILE
    assert everyone.expires_at == T0 + dt.timedelta(minutes=10)
    at = T0 + dt.timedelta(minutes=1)
    ids = [n.id for n in resolved(db.notices.current([support], now=at))]
    assert sorted(ids) == sorted([everyone.id, mine.id])
    all_ids = [n.id for n in resolved(db.notices.current(None, now=at))]
    assert sorted(all_ids) == sorted([everyone.id, mine.id, theirs.id])
    assert [n.id for n in resolved(db.notices.current([], now=at))] == [everyone.id]
    later = T0 + dt.timedelta(minutes=11)
    assert [n.id for n in resolved(db.notices.current([support], now=later))] == [mine.id]
    gone = resolved(db.notices.withdraw(mine.id, now=later))
    assert gone is not None and gone.expires_at == later
    assert resolved(db.notices.current([support], now=later)) == []
    assert resolved(db.notices.withdraw(mine.id, now=later)) is None  # already over
    assert resolved(db.notices.withdraw(10**9)) is None
    message = everyone.as_message()
    assert (message["text"], message["level"], message["queue_id"]) == (HOSTILE, "urgent", None)
    assert message["expires_at"] - message["created_at"] == 600


def test_bad_notices_are_refused(db: DBConnector, center: tuple[int, int, int]) -> None:
    for text, level, minutes, queue in (
        ("", "info", 5, None),
        ("   ", "info", 5, None),
        ("x" * 501, "info", 5, None),
        ("hi", "panic", 5, None),
        ("hi", "info", 0, None),
        ("hi", "info", 1441, None),
        ("hi", "info", 5, 10**6),
    ):
        with pytest.raises(ValueError):
            resolved(db.notices.post(text, level, "sup", minutes, queue, now=T0))
    assert resolved(db.notices.current(None, now=T0)) == []
    assert resolved(db.notices.post("x" * 500, "info", "sup", 1440, now=T0)).text == "x" * 500


def test_the_caller_id_to_call_a_customer_back_from_the_desk(
    db: DBConnector, center: tuple[int, int, int]
) -> None:
    """Inbound: the line the customer called; a campaign's call: the campaign's caller ID
    (its attempt by the call's channel, else the latest attempt on that number)."""
    from appliance.db.dialer_store import NewLead

    _agent, queue, _ = center
    inbound = _call(db, 1)
    assert resolved(db.desk.caller_id_for_callback(inbound)) == ("", "4000")
    sales = resolved(
        db.dialer.create_campaign(
            "Sales", queue, caller_id_number="4008001234", caller_id_name="Acme <Sales>"
        )
    )
    resolved(db.dialer.add_leads(sales.id, [NewLead("13800138000")]))
    lead = resolved(db.dialer.lead_by_number(sales.id, "13800138000"))
    assert lead is not None
    resolved(db.dialer.start_attempt(sales.id, lead.id, channel_id="ccbox-o1", started_at=T0))
    dialed = resolved(
        db.calls.start("ccbox-o1", "ccbox-o1", "outbound", T0, "13800138000", "", "13800138000")
    )
    assert resolved(db.desk.caller_id_for_callback(dialed)) == ("Acme <Sales>", "4008001234")
    later = resolved(db.calls.start("u-x", "u-x", "outbound", T0, "13800138000", "", "13800138000"))
    assert resolved(db.desk.caller_id_for_callback(later)) == ("Acme <Sales>", "4008001234")
    stray = resolved(db.calls.start("u-y", "u-y", "outbound", T0, "555", "", "555"))
    assert resolved(db.desk.caller_id_for_callback(stray)) is None
    assert resolved(db.desk.caller_id_for_callback(10**9)) is None

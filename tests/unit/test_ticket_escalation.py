"""The escalation timers with a fake clock (MemoryReactorClock) on both databases: each step
fires at its moment and once; one timer is scheduled at a time; a restart in the middle (a
new service over the same database) fires the steps missed while stopped, once, and not the
ones done; a closed ticket stops escalating."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from twisted.internet.testing import MemoryReactorClock

from appliance.cli import resolved
from appliance.crm.tickets.catalog import TicketCatalog
from appliance.crm.tickets.escalation import CHECK_EVERY_S, EscalationService
from appliance.crm.tickets.events import TicketsChanged
from appliance.crm.tickets.store import TicketStore
from appliance.db import model
from appliance.db.notice_store import NoticeRow
from appliance.eventbus import EventBus
from tests.support import ticket_center
from tests.support.ticket_center import T0, Center

BUS = EventBus()  # the services' bus (nothing else subscribes)

backend, ticket_db, center = ticket_center.backend, ticket_center.ticket_db, ticket_center.center

STEPS = [
    {"after": 0, "action": "notify"},
    {"after": 30, "action": "reassign", "kind": "queue", "target": "support"},
    {"after": 60, "action": "raise_priority"},
]
HOSTILE = "<script>alert(1)</script>"


def _setup(center: Center) -> tuple[MemoryReactorClock, TicketStore, int]:
    """A ticket of a type whose normal rule is due 60 minutes after creation, at T0."""
    reactor = MemoryReactorClock()
    reactor.advance(T0.timestamp())
    catalog = TicketCatalog(center.db)
    resolved(catalog.save_type("esc", "Escalating", ()))
    resolved(catalog.save_rule("esc", "normal", 10, 60, STEPS))
    resolved(catalog.save_rule("esc", "high", 5, 30, STEPS))  # taken after the raise
    store = TicketStore(center.db, clock=lambda: _now(reactor))
    tid = resolved(
        store.create("sue", type_key="esc", subject=HOSTILE, assignee_kind="agent", assignee="1001")
    )
    return reactor, store, tid


def _now(reactor: MemoryReactorClock) -> dt.datetime:
    return dt.datetime.fromtimestamp(reactor.seconds(), dt.UTC)


def _service(
    center: Center, reactor: MemoryReactorClock, seen: list[NoticeRow], every_s: float = 3600
) -> EscalationService:
    """The service, looking at the database at least every ``every_s`` (an hour: the
    steps' own moments are what is tested; the minute's polls only cost time here)."""
    svc = EscalationService(
        reactor,
        center.db,
        translate=lambda s: "[zh] " + s,
        on_notice=seen.append,
        check_every_s=every_s,
        bus=BUS,
    )
    svc.startService()
    return svc


def _advance_to(reactor: MemoryReactorClock, at: dt.datetime) -> None:
    """Move the clock to ``at`` in steps no longer than a minute (time passing as it does)."""
    while _now(reactor) < at:
        reactor.advance(min(60.0, (at - _now(reactor)).total_seconds()))


def _escalations(store: TicketStore, tid: int) -> list[tuple[str, str, dt.datetime]]:
    return [
        (h.to_value, h.detail["step"]["action"], h.at)
        for h in resolved(store.history(tid))
        if h.action == "escalation"
    ]


def _notices(center: Center) -> list[NoticeRow]:
    return resolved(center.db.notices.current(now=T0))


def _agent_id(center: Center, number: str) -> int:
    a = model.agents.c
    found = resolved(center.db.run(lambda c: c.execute(sa.select(a.id).where(a.number == number))))
    return int(found.scalar_one())


def test_each_step_fires_at_its_moment_once(center: Center) -> None:
    reactor, store, tid = _setup(center)
    due = T0 + dt.timedelta(minutes=60)
    seen: list[NoticeRow] = []
    svc = _service(center, reactor, seen)
    assert len(reactor.getDelayedCalls()) == 1
    changed: list[TicketsChanged] = []
    sub = BUS.subscribe(TicketsChanged, changed.append)
    _advance_to(reactor, due - dt.timedelta(seconds=1))
    assert _escalations(store, tid) == [] and seen == [] and changed == []
    reactor.advance(1)
    BUS.unsubscribe(sub)
    assert _escalations(store, tid) == [("1", "notify", due)]
    assert changed == [TicketsChanged(tid)]  # the board hears of it
    (notice,) = seen
    assert notice.text == f"[zh] Ticket T20261206-0001 is overdue (agent:1001): {HOSTILE}"
    assert (notice.level, notice.queue_id, notice.author) == ("urgent", None, "escalation")
    assert (notice.agent_id, notice.supervisors) == (_agent_id(center, "1001"), False)
    assert _notices(center) == [notice]
    t = resolved(store.get(tid))
    assert (t.escalation_level, t.next_escalation_at) == (1, due + dt.timedelta(minutes=30))

    _advance_to(reactor, due + dt.timedelta(minutes=30))
    t = resolved(store.get(tid))
    assert (t.assignee_kind, t.assignee, t.priority) == ("queue", "support", "normal")
    _advance_to(reactor, due + dt.timedelta(minutes=60))
    t = resolved(store.get(tid))
    assert (t.priority, t.escalation_level, t.next_escalation_at) == ("high", 3, None)
    assert t.due_at == due  # what it is late against stays
    assert _escalations(store, tid) == [
        ("1", "notify", due),
        ("2", "reassign", due + dt.timedelta(minutes=30)),
        ("3", "raise_priority", due + dt.timedelta(minutes=60)),
    ]
    actions = [(h.actor, h.action, h.to_value) for h in resolved(store.history(tid))]
    assert ("escalation", "assigned", "queue:support") in actions
    assert ("escalation", "priority", "high") in actions
    reactor.advance(2 * 86400)
    assert len(_escalations(store, tid)) == 3 and len(seen) == 1 and svc.fired == 3
    assert len(reactor.getDelayedCalls()) == 1
    svc.stopService()
    assert reactor.getDelayedCalls() == []


def test_a_restart_fires_the_missed_steps_once_and_not_the_done_ones(center: Center) -> None:
    reactor, store, tid = _setup(center)
    due = T0 + dt.timedelta(minutes=60)
    seen: list[NoticeRow] = []
    first = _service(center, reactor, seen)
    _advance_to(reactor, due + dt.timedelta(minutes=1))
    assert [a for _, a, _ in _escalations(store, tid)] == ["notify"]
    first.stopService()
    assert reactor.getDelayedCalls() == []

    reactor.advance(45 * 60)  # stopped while the reassignment fell due
    restarted_at = _now(reactor)
    second = _service(center, reactor, seen)
    assert [(a, at) for _, a, at in _escalations(store, tid)] == [
        ("notify", due),
        ("reassign", restarted_at),
    ]
    assert len(seen) == 1 and len(_notices(center)) == 1  # the notice was not posted again
    second.stopService()
    third = _service(center, reactor, seen)  # nothing due: nothing fires
    assert len(_escalations(store, tid)) == 2 and third.fired == 0
    _advance_to(reactor, due + dt.timedelta(minutes=60))
    assert [a for _, a, _ in _escalations(store, tid)] == ["notify", "reassign", "raise_priority"]
    third.stopService()


def test_a_ticket_that_is_replied_or_closed_stops_escalating(center: Center) -> None:
    reactor, store, tid = _setup(center)
    for step in ("accepted", "in_progress", "replied"):
        resolved(store.transition("ann", "agent", tid, step))
    seen: list[NoticeRow] = []
    svc = _service(center, reactor, seen)
    _advance_to(reactor, T0 + dt.timedelta(hours=3))
    assert _escalations(store, tid) == [] and seen == []
    # back at work: overdue since long ago, the steps due fire at once (in order)
    resolved(store.transition("ann", "agent", tid, "in_progress"))
    svc.check()
    assert [a for _, a, _ in _escalations(store, tid)] == ["notify", "reassign", "raise_priority"]
    svc.stopService()


def test_a_ticket_created_while_running_is_seen_and_a_queue_hears_of_it(
    center: Center,
) -> None:
    """Created after the service looked (by the web, which does not tell it): seen at the
    next minute's look. A failed step is recorded and does not block the next."""
    reactor = MemoryReactorClock()
    reactor.advance(T0.timestamp())
    catalog = TicketCatalog(center.db)
    resolved(catalog.save_type("esc", "Escalating", ()))
    steps = [
        {"after": 0, "action": "reassign", "kind": "queue", "target": "gone"},
        {"after": 0, "action": "notify"},
    ]
    resolved(catalog.save_rule("esc", "normal", 1, 1, steps))
    store = TicketStore(center.db, clock=lambda: _now(reactor))
    seen: list[NoticeRow] = []
    svc = _service(center, reactor, seen, every_s=CHECK_EVERY_S)
    tid = resolved(
        store.create("sue", type_key="esc", subject="x", assignee_kind="queue", assignee="support")
    )
    reactor.advance(CHECK_EVERY_S - 1)
    assert seen == []
    reactor.advance(1)  # due at T0 + 1 minute, looked at then
    failed, notified = [h for h in resolved(store.history(tid)) if h.action == "escalation"]
    assert failed.detail["error"] == "no queue gone" and "error" not in notified.detail
    (notice,) = seen
    assert notice.queue_id == center.queue_id
    t = resolved(store.get(tid))
    assert (t.assignee_kind, t.assignee, t.escalation_level) == ("queue", "support", 2)
    rows = resolved(center.db.run(lambda c: c.execute(model.notices.select()).all()))
    assert len(rows) == 1
    svc.stopService()


def test_the_notify_step_addresses_the_assignee(center: Center) -> None:
    """An agent's ticket tells that agent (above); a department's, each of its active
    agents; a queue's, the agents serving it; an unassigned one, the supervisors only."""
    reactor = MemoryReactorClock()
    reactor.advance(T0.timestamp())
    catalog = TicketCatalog(center.db)
    resolved(catalog.save_type("esc", "Escalating", ()))
    resolved(catalog.save_rule("esc", "normal", 1, 1, [{"after": 0, "action": "notify"}]))
    store = TicketStore(center.db, clock=lambda: _now(reactor))
    for kind, target in (("department", "sales"), ("queue", "support"), (None, "")):
        resolved(
            store.create("sue", type_key="esc", subject="x", assignee_kind=kind, assignee=target)
        )
    seen: list[NoticeRow] = []
    svc = _service(center, reactor, seen, every_s=CHECK_EVERY_S)
    _advance_to(reactor, T0 + dt.timedelta(minutes=2))
    got = {(n.agent_id, n.queue_id, n.supervisors) for n in seen}
    assert len(seen) == 3 and got == {
        (_agent_id(center, "1002"), None, False),  # bob, the sales department
        (None, center.queue_id, False),
        (None, None, True),
    }
    ann = resolved(center.db.notices.current([], now=T0, agent_id=_agent_id(center, "1001")))
    assert ann == []  # the supervisors' and bob's notices are not ann's
    svc.stopService()

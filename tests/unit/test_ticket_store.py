"""The ticket store on both databases: numbers per day, due dates from the SLA rule, each
change written to the history with who and when, an agent's own tickets, assignment and
dispatch, the board's filters, comments cleaned, hostile text stored as given."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer

from appliance.cli import resolved
from appliance.crm.fields import FieldDef, FieldErrors
from appliance.crm.tickets.catalog import TicketCatalog
from appliance.crm.tickets.store import NoTicket, TransitionError
from appliance.db import model
from tests.support import ticket_center
from tests.support.ticket_center import Center

HOSTILE = "<img src=x onerror=alert(1)>'; DROP TABLE tickets;--"
T0 = ticket_center.T0  # 23:30 in Shanghai
backend, ticket_db, center = ticket_center.backend, ticket_center.ticket_db, ticket_center.center


def test_create_numbers_by_the_centers_day_and_takes_the_rules_due_dates(center: Center) -> None:
    store, clock = center.store(), center.clock
    first = resolved(store.create("ann", type_key="complaint", subject=HOSTILE, body=HOSTILE))
    second = resolved(store.create("ann", type_key="inquiry", subject="two", priority="urgent"))
    clock.now = T0 + dt.timedelta(hours=1)  # 00:30 the next day in Shanghai
    third = resolved(store.create("ann", type_key="inquiry", subject="three", source="phone"))
    a, b, c = (resolved(store.get(i)) for i in (first, second, third))
    assert (a.number, b.number, c.number) == ("T20261206-0001", "T20261206-0002", "T20261207-0001")
    assert (a.subject, a.body, a.state, a.created_by) == (HOSTILE, HOSTILE, "new", "ann")
    # the seeded rules: normal 120/1440 minutes, urgent 15/240; overdue: notify at once
    assert a.respond_due_at == T0 + dt.timedelta(minutes=120)
    assert a.due_at == T0 + dt.timedelta(minutes=1440)
    assert a.next_escalation_at == a.due_at
    assert b.due_at == T0 + dt.timedelta(minutes=240)
    assert (c.source, resolved(store.by_number("T20261207-0001"))) == ("phone", c)
    history = resolved(store.history(first))
    assert [(h.actor, h.action, h.to_value, h.at) for h in history] == [
        ("ann", "created", "new", T0)
    ]


def test_create_refuses_bad_input_with_clear_errors(center: Center) -> None:
    store = center.store()
    bad = [
        ({"type_key": "inquiry", "subject": "  "}, "the subject is required"),
        ({"type_key": "inquiry", "subject": "x" * 201}, "at most 200"),
        ({"type_key": "nope", "subject": "x"}, "no ticket type"),
        ({"type_key": "inquiry", "subject": "x", "priority": "asap"}, "priority must be"),
        ({"type_key": "inquiry", "subject": "x", "source": "fax"}, "source must be"),
        ({"type_key": "inquiry", "subject": "x", "customer_id": 999}, "no customer 999"),
        ({"type_key": "inquiry", "subject": "x", "call_id": 999}, "does not exist"),
        ({"type_key": "inquiry", "subject": "x", "recording_id": 999}, "does not exist"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            resolved(store.create("ann", **kwargs))  # type: ignore[arg-type]
    with pytest.raises(NoTicket):
        resolved(store.get(12345))


def test_a_types_fields_are_checked(center: Center) -> None:
    catalog = TicketCatalog(center.db)
    fields = (
        FieldDef("model", "Model", "choice", ("A1", "B2"), required=True),
        FieldDef("bought", "Bought on", "date"),
    )
    resolved(catalog.save_type("repair", "Repair", fields))
    with pytest.raises(FieldErrors) as caught:
        resolved(
            center.store().create(
                "ann", type_key="repair", subject="x", fields={"bought": "yesterday", "x": 1}
            )
        )
    assert set(caught.value.errors) == {"model", "bought", "x"}
    tid = resolved(
        center.store().create("ann", type_key="repair", subject="x", fields={"model": "B2"})
    )
    assert resolved(center.store().get(tid)).fields == {"model": "B2"}
    assert resolved(catalog.get_type("repair")).fields == fields  # type: ignore[union-attr]


def test_a_tickets_life_writes_who_and_when_at_every_step(center: Center) -> None:
    store, clock = center.store(), center.clock
    tid = resolved(store.create("sue", type_key="fault", subject="no dial tone"))
    with pytest.raises(TransitionError, match="assign the ticket"):
        resolved(store.transition("sue", "supervisor", tid, "dispatched"))
    clock.now = T0 + dt.timedelta(minutes=1)
    t = resolved(store.assign("sue", "supervisor", tid, "agent", "1001"))
    assert (t.state, t.assignee_kind, t.assignee) == ("dispatched", "agent", "1001")
    with pytest.raises(TransitionError, match="not yours"):
        resolved(store.transition("bob", "agent", tid, "accepted"))
    clock.now = T0 + dt.timedelta(minutes=2)
    for step in ("accepted", "in_progress", "replied"):
        t = resolved(store.transition("ann", "agent", tid, step, note="ok " + HOSTILE))
    assert t.next_escalation_at is None  # replied: waits on the customer
    t = resolved(store.transition("ann", "agent", tid, "closed"))
    assert (t.state, t.closed_at) == ("closed", T0 + dt.timedelta(minutes=2))
    with pytest.raises(TransitionError, match="supervisor or an admin"):
        resolved(store.transition("ann", "agent", tid, "reopened"))
    clock.now = T0 + dt.timedelta(days=3)
    t = resolved(store.transition("sue", "supervisor", tid, "reopened"))
    assert t.closed_at is None and t.escalation_level == 0
    assert t.due_at == clock.now + dt.timedelta(minutes=1440)  # the SLA starts again
    got = [(h.actor, h.action, h.from_value, h.to_value) for h in resolved(store.history(tid))]
    assert got == [
        ("sue", "created", "", "new"),
        ("sue", "assigned", "", "agent:1001"),
        ("sue", "state", "new", "dispatched"),
        ("ann", "state", "dispatched", "accepted"),
        ("ann", "state", "accepted", "in_progress"),
        ("ann", "state", "in_progress", "replied"),
        ("ann", "state", "replied", "closed"),
        ("sue", "state", "closed", "reopened"),
    ]
    assert resolved(store.history(tid))[3].detail == {"note": "ok " + HOSTILE}


def test_an_agent_accepts_from_its_group_and_becomes_the_assignee(center: Center) -> None:
    store = center.store()
    tid = resolved(
        store.create(
            "sue", type_key="sales", subject="x", assignee_kind="queue", assignee="support"
        )
    )
    with pytest.raises(TransitionError, match="not yours"):
        resolved(store.transition("bob", "agent", tid, "accepted"))  # not in queue support
    t = resolved(store.transition("ann", "agent", tid, "accepted"))
    assert (t.state, t.assignee_kind, t.assignee) == ("accepted", "agent", "1001")
    with pytest.raises(ValueError, match="no active agent"):
        resolved(store.assign("sue", "admin", tid, "agent", "9999"))
    with pytest.raises(TransitionError):
        resolved(store.assign("ann", "agent", tid, "agent", "1002"))


def test_priority_change_moves_the_due_dates(center: Center) -> None:
    store, clock = center.store(), center.clock
    tid = resolved(store.create("sue", type_key="inquiry", subject="x"))
    clock.now = T0 + dt.timedelta(minutes=5)
    t = resolved(store.set_priority("sue", "supervisor", tid, "urgent"))
    assert (t.priority, t.due_at) == ("urgent", T0 + dt.timedelta(minutes=240))
    assert t.respond_due_at == T0 + dt.timedelta(minutes=15)
    assert resolved(store.history(tid))[-1].to_value == "urgent"


def test_board_lists_overdue_first_and_counts(center: Center) -> None:
    store, clock = center.store(), center.clock
    late = resolved(store.create("sue", type_key="inquiry", subject="late", priority="urgent"))
    later = resolved(store.create("sue", type_key="inquiry", subject="later", priority="low"))
    clock.now = T0 + dt.timedelta(hours=5)  # urgent is due after 4 hours
    assert [t.id for t in resolved(store.board())] == [late, later]
    assert [t.id for t in resolved(store.board(overdue=True))] == [late]
    assert [t.id for t in resolved(store.board(overdue=False))] == [later]
    assert resolved(store.board(state="closed")) == []
    counts = resolved(store.board_counts())
    assert (counts["new"], counts["overdue"]) == (2, 1)
    with pytest.raises(ValueError):
        resolved(store.board(state="x' OR 1=1"))


def test_the_boards_open_filter_is_in_the_query_so_closed_tickets_take_no_places(
    center: Center,
) -> None:
    store = center.store()
    waiting = resolved(store.create("sue", type_key="inquiry", subject="open", priority="low"))
    done = [
        resolved(store.create("sue", type_key="inquiry", subject="done", priority="urgent"))
        for _ in range(2)
    ]
    with center.db.engine.begin() as conn:  # due sooner than the open one: first on the board
        t = model.tickets
        conn.execute(t.update().where(t.c.id.in_(done)).values(state="closed"))
    assert {t.id for t in resolved(store.board(limit=2))} == set(done)
    assert [t.id for t in resolved(store.board(limit=2, open_only=True))] == [waiting]
    assert resolved(store.board(state="closed", open_only=True)) == []


def test_one_board_query_lists_what_one_query_per_assignee_did(center: Center) -> None:
    """An agent's list (webui/ticket_pages._mine): its own, its groups' and nobody's new or
    reopened tickets in one query, the same tickets in the same order as one query each."""
    store = center.store()
    made = {}
    for name, kind, to, state in (
        ("own", "agent", "1001", "accepted"),
        ("queue", "queue", "3", "dispatched"),
        ("dept", "department", "Sales", "in_progress"),
        ("other_agent", "agent", "1002", "accepted"),
        ("other_queue", "queue", "4", "dispatched"),
        ("nobodys_new", None, "", "new"),
        ("nobodys_reopened", None, "", "reopened"),
        ("nobodys_replied", None, "", "replied"),
    ):
        priority = "urgent" if len(made) % 2 else "low"  # due dates interleave
        tid = resolved(store.create("sue", type_key="inquiry", subject=name, priority=priority))
        with center.db.engine.begin() as conn:
            t = model.tickets
            values = {"assignee_kind": kind, "assignee": to, "state": state}
            conn.execute(t.update().where(t.c.id == tid).values(**values))
        made[name] = tid
    groups = [("agent", "1001"), ("queue", "3"), ("department", "Sales")]
    waiting = ["new", "reopened"]
    one = resolved(store.board(anyone_of=groups, unassigned_in=waiting))
    each: dict[int, Any] = {}
    for group in groups:
        each.update((t.id, t) for t in resolved(store.board(assignee=group)))
    for state in waiting:
        each.update((t.id, t) for t in resolved(store.board(state=state)) if not t.assignee_kind)
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    before = sorted(each.values(), key=lambda r: (r.due_at is None, r.due_at or far, -r.id))
    assert [t.id for t in one] == [t.id for t in before]
    assert {t.id for t in one} == {
        made[n] for n in ("own", "queue", "dept", "nobodys_new", "nobodys_reopened")
    }
    # the other filters still apply to every part of the OR
    new_only = resolved(store.board(state="new", anyone_of=groups, unassigned_in=["new"]))
    assert [t.id for t in new_only] == [made["nobodys_new"]]


def test_comments_are_cleaned_and_listed(center: Center) -> None:
    store = center.store()
    tid = resolved(store.create("ann", type_key="inquiry", subject="x"))
    cid = resolved(
        store.comment("ann", tid, '<p onclick="x()">hi<script>alert(1)</script></p><svg/>')
    )
    (c,) = resolved(store.comments(tid))
    assert c.id == cid and "hi" in c.html
    assert "script" not in c.html and "onclick" not in c.html and "svg" not in c.html
    with pytest.raises(ValueError, match="empty"):
        resolved(store.comment("ann", tid, "<script>alert(1)</script>"))
    assert resolved(store.history(tid))[-1].action == "comment"


def test_each_write_tells_the_bus_its_ticket_once_committed(center: Center) -> None:
    from appliance.crm.tickets.events import TicketsChanged
    from appliance.crm.tickets.store import TicketStore
    from appliance.eventbus import EventBus

    bus = EventBus()
    told: list[int] = []
    bus.subscribe(TicketsChanged, lambda e: told.append(e.ticket_id))
    store = TicketStore(center.db, clock=center.clock, bus=bus)
    tid = resolved(store.create("sue", type_key="fault", subject="x"))
    assert told == [tid]
    resolved(store.transition("ann", "agent", tid, "accepted"))
    resolved(store.assign("sue", "supervisor", tid, "agent", "1002"))
    resolved(store.set_priority("sue", "supervisor", tid, "high"))
    resolved(store.edit("sue", "supervisor", tid, subject="y"))
    resolved(store.comment("sue", tid, "<p>hi</p>"))
    resolved(store.attach("sue", tid, "ab" * 32, "a.txt", "text/plain", 1))
    assert told == [tid] * 7
    for read in (store.get(tid), store.history(tid), store.board(), store.attachments(tid)):
        resolved(read)
    with pytest.raises(TransitionError):  # refused: nothing written, nothing told
        resolved(store.transition("bob", "agent", tid, "closed"))
    assert told == [tid] * 7


def test_an_attachment_and_a_logins_agent_are_found_by_the_store(center: Center) -> None:
    """What the ticket pages look up (the web asks the store, never the tables)."""
    store = center.store()
    tid = resolved(store.create("ann", type_key="inquiry", subject="x"))
    aid = resolved(store.attach("ann", tid, "ab" * 32, HOSTILE, "text/plain", 12))
    found = resolved(store.attachment(aid))
    assert found is not None and found == resolved(store.attachments(tid))[0]
    assert (found.id, found.ticket_id, found.filename, found.uploaded_by) == (
        aid,
        tid,
        HOSTILE,
        "ann",
    )
    assert resolved(store.attachment(aid + 1)) is None
    # and the agent a login is (the ticket pages' "me"), asked of the store too
    ann = resolved(store.agent_of("ann"))
    assert ann is not None and (ann.number, ann.department, ann.queues) == (
        "1001",
        "billing",
        frozenset({"support"}),
    )
    assert resolved(store.agent_of("sue")) is None  # no agent's login


def test_an_erasure_blanks_the_customers_tickets_and_messages(center: Center) -> None:
    from appliance.crm.customer_store import CustomerStore
    from appliance.crm.tickets.erasure import blank_customer
    from appliance.db import model

    store = center.store()
    customer = resolved(CustomerStore(center.db).create("admin", "Li Lei", ["13800138000"]))
    tid = resolved(
        store.create(
            "ann",
            type_key="complaint",
            subject="Li Lei's bill",
            body="at 5 Main St",
            customer_id=customer,
        )
    )
    other = resolved(store.create("ann", type_key="complaint", subject="someone else"))
    resolved(store.comment("ann", tid, "<p>his card ends 1234</p>"))
    resolved(store.attach("ann", tid, "a" * 64, "id-card.png", "image/png", 10))
    resolved(store.transition("ann", "agent", tid, "accepted", note="called Li Lei"))

    def message(conn: object) -> None:
        conn.execute(  # type: ignore[attr-defined]
            model.crm_messages.insert().values(
                customer_id=customer,
                ticket_id=tid,
                channel="sms",
                address="13800138000",
                body="hi Li",
                state="waiting_for_modem",
                at=T0,
            )
        )

    resolved(center.db.run(message))
    assert resolved(center.db.run(lambda conn: blank_customer(conn, customer))) == 1
    t = resolved(store.get(tid))
    assert (t.subject, t.body, t.state, t.number) == ("(erased)", "", "accepted", "T20261206-0001")
    assert resolved(store.comments(tid)) == [] and resolved(store.attachments(tid)) == []
    history = resolved(store.history(tid))
    assert [h.detail for h in history if h.detail] == []
    assert "id-card.png" not in [h.to_value for h in history]
    ((_, address, body),) = resolved(
        center.db.run(
            lambda conn: conn.execute(
                sa.select(
                    model.crm_messages.c.id, model.crm_messages.c.address, model.crm_messages.c.body
                )
            ).all()
        )
    )
    assert (address, body) == ("", "")
    assert resolved(store.get(other)).subject == "someone else"


def test_edit_changes_what_the_ticket_says_for_its_agent_or_a_manager(center: Center) -> None:
    store = center.store()
    tid = resolved(
        store.create(
            "sue", type_key="inquiry", subject="old", assignee_kind="agent", assignee="1001"
        )
    )
    with pytest.raises(TransitionError, match="not yours"):
        resolved(store.edit("bob", "agent", tid, subject="mine now"))
    t = resolved(store.edit("ann", "agent", tid, subject=HOSTILE, body="more\n" + HOSTILE))
    assert (t.subject, t.body) == (HOSTILE, "more\n" + HOSTILE)
    with pytest.raises(FieldErrors) as caught:
        resolved(store.edit("sue", "supervisor", tid, fields={"x": "1"}))
    assert caught.value.errors == {"x": "unknown field"}
    same = resolved(store.edit("sue", "supervisor", tid, subject=HOSTILE))
    assert same == t  # nothing changed: no history either
    last = resolved(store.history(tid))[-1]
    assert (last.actor, last.action, last.to_value) == ("ann", "edited", "body, subject")


def test_an_erasure_removes_the_attachment_files_nothing_else_names(
    center: Center, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Files are stored once by content: the erased customer's own file goes (after its
    rows, in the disk runner), one another ticket or a KB article also holds stays."""
    from appliance.crm.customer_store import CustomerStore
    from appliance.crm.erasure import ErasureFiles
    from appliance.db import model
    from appliance.uploads import UploadStore
    from recorder import upkeep

    root = tmp_path_factory.mktemp("erase")
    uploads = UploadStore(root / "uploads")
    store = center.store()
    customers = CustomerStore(center.db)
    customer = resolved(customers.create("admin", "Li Lei", ["13800138001"]))
    theirs = resolved(store.create("ann", type_key="fault", subject="his", customer_id=customer))
    again = resolved(store.create("ann", type_key="fault", subject="his", customer_id=customer))
    other = resolved(store.create("ann", type_key="fault", subject="someone else's"))
    own, shared, in_kb = (
        uploads.put(f"{what} of Li Lei\n".encode(), f"{what}.txt")
        for what in ("id card", "manual", "price list")
    )
    for tid, f in ((theirs, own), (again, own), (theirs, shared), (other, shared), (theirs, in_kb)):
        resolved(store.attach("ann", tid, f.sha256, f.filename, f.mime, f.size))
    kb = model.kb_attachments

    def kb_row(conn: sa.Connection) -> None:
        conn.execute(
            kb.insert()
            .values(sha256=in_kb.sha256, size=in_kb.size, mime=in_kb.mime, kind="document")
            .values(created_at=T0)
        )

    resolved(center.db.run(kb_row))
    ran: list[object] = []

    def disk(fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
        ran.append(fn)
        return upkeep.inline_disk(fn, *args)

    async def no_voicemail(message_id: int) -> bool:
        return False

    files = ErasureFiles(root / "rec", disk, no_voicemail, root / "uploads")
    try:
        erased = resolved(customers.erase("admin", customer, files))
        assert erased.attachments == 1 and len(ran) == 1  # the unlinking went to the disk
        assert uploads.path(own.sha256) is None
        assert uploads.path(shared.sha256) is not None
        assert uploads.path(in_kb.sha256) is not None
        assert [a.sha256 for a in resolved(store.attachments(other))] == [shared.sha256]
        (audit,) = resolved(center.db.audit.recent("customer.erase"))
        assert audit.detail["attachments"] == 1
    finally:
        resolved(center.db.run(lambda conn: conn.execute(kb.delete())))


def test_an_assignment_dispatches_what_waits_and_what_a_group_must_take_again(
    center: Center,
) -> None:
    """A reopened ticket assigned is dispatched (as a new one is, above); a ticket its agent
    took, given to a group, is dispatched for one of them to accept (left accepted, only a
    manager could move it on); given to another agent, that agent carries on."""
    store = center.store()
    tid = resolved(store.create("sue", type_key="fault", subject="x"))
    resolved(store.transition("ann", "agent", tid, "accepted"))
    t = resolved(store.assign("sue", "supervisor", tid, "queue", "support"))
    assert (t.state, t.assignee_kind, t.assignee) == ("dispatched", "queue", "support")
    t = resolved(store.transition("ann", "agent", tid, "accepted"))  # ann serves support
    assert (t.state, t.assignee_kind, t.assignee) == ("accepted", "agent", "1001")
    t = resolved(store.assign("sue", "supervisor", tid, "agent", "1002"))
    assert (t.state, t.assignee) == ("accepted", "1002")
    t = resolved(store.transition("bob", "agent", tid, "in_progress"))
    t = resolved(store.assign("sue", "supervisor", tid, "department", "billing"))
    assert (t.state, t.assignee_kind) == ("dispatched", "department")
    for step in ("accepted", "in_progress", "replied", "closed"):
        t = resolved(store.transition("ann", "agent", tid, step))
    resolved(store.transition("sue", "supervisor", tid, "reopened"))
    t = resolved(store.assign("sue", "supervisor", tid, "agent", "1002"))
    assert (t.state, t.assignee) == ("dispatched", "1002")
    moves = [
        (h.from_value, h.to_value) for h in resolved(store.history(tid)) if h.action == "state"
    ]
    assert moves[-1] == ("reopened", "dispatched") and ("in_progress", "dispatched") in moves

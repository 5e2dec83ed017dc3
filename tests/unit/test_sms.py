"""SMS in the center on both databases: the outbox (never sent before the modem's +CMGS,
retries with backoff, failed after [sms] attempts, delivery reports by reference, a restart
picks up), the inbox (an SMS joins the customer's open ticket or opens one, with a notice;
hostile senders and texts stored bounded and escaped) and the notices (switched, rate
limited per number).

The modem here is a stand-in whose ``send_sms`` answers when the test says: the modem's own
protocol is tested against the simulated modem on a real pty (tests/unit/test_gsm_*), and
the whole path in the browser scenario (tests/browser/test_sms_scenario.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from twisted.internet import defer
from twisted.internet.task import Clock

from appliance.cli import resolved
from appliance.config import SmsConfig
from appliance.crm.customer_store import CustomerStore
from appliance.db import model
from appliance.sms.inbox import TEXT_MAX, SmsInbox
from appliance.sms.notices import SmsNotices
from appliance.sms.outbox import STOP_WAIT_S, SmsOutbox, retry_delay
from tests.support import ticket_center
from tests.support.ticket_center import Center

backend, ticket_db, center = ticket_center.backend, ticket_center.ticket_db, ticket_center.center


@dataclass
class Status:
    state: str = "ready"
    sim: str = "ready"
    signal_dbm: int | None = -71
    operator: str = "CHINA MOBILE"
    detail: str = ""


class ModemError(Exception):
    def __init__(self, code: int | None, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


@dataclass
class Modem:
    """``send_sms`` hands back a Deferred the test fires (the modem's +CMGS or error)."""

    state: str = "ready"
    asked: list[tuple[str, str, defer.Deferred[tuple[int, ...]]]] = field(default_factory=list)

    def status(self) -> Status:
        return Status(self.state)

    def send_sms(self, number: str, text: str) -> defer.Deferred[tuple[int, ...]]:
        d: defer.Deferred[tuple[int, ...]] = defer.Deferred()
        self.asked.append((number, text, d))
        return d


@dataclass
class Report:
    reference: int
    recipient: str
    delivered: bool
    status: int
    at: dt.datetime | None = None


def _outbox(center: Center, modem: Modem | None, attempts: int = 3) -> SmsOutbox:
    return SmsOutbox(Clock(), center.db, modem, attempts=attempts, retry_s=30, clock=center.clock)


def _ticket(center: Center) -> int:
    store = center.store()
    tid = resolved(
        store.create(
            "sue", type_key="complaint", subject="late", assignee_kind="agent", assignee="1001"
        )
    )
    resolved(store.transition("ann", "agent", tid, "accepted"))
    return tid


def _queue_sms(center: Center, body: str = "您好 已处理", ticket_id: int | None = None) -> int:
    m = model.crm_messages

    def thd(conn: sa.Connection) -> int:
        pk = conn.execute(
            m.insert().values(
                ticket_id=ticket_id,
                channel="sms",
                address="+8613800138000",
                body=body,
                state="queued",
                created_by="ann",
                at=center.clock(),
            )
        ).inserted_primary_key
        assert pk is not None
        return int(pk[0])

    return resolved(center.db.run(thd))


def _row(center: Center, message_id: int | None) -> Any:
    assert message_id is not None
    m = model.crm_messages
    return resolved(
        center.db.run(lambda c: c.execute(m.select().where(m.c.id == message_id)).one())
    )


def _parts(center: Center, message_id: int) -> list[tuple[int, str]]:
    p = model.sms_parts
    q = sa.select(p.c.reference, p.c.state).where(p.c.message_id == message_id).order_by(p.c.id)
    return [tuple(r) for r in resolved(center.db.run(lambda c: c.execute(q).all()))]


def _ticket_state(center: Center, tid: int) -> str:
    return resolved(center.store().get(tid)).state


def test_an_sms_is_sent_only_once_the_modem_took_it_and_replies_the_ticket(
    center: Center,
) -> None:
    tid = _ticket(center)
    mid = _queue_sms(center, ticket_id=tid)
    modem = Modem(state="pin_required")
    outbox = _outbox(center, modem)
    outbox.kick()
    row = _row(center, mid)
    assert (row.state, modem.asked) == ("waiting_for_modem", [])
    assert "pin_required" in row.error
    modem.state = "ready"
    outbox.kick()
    ((number, text, answer),) = modem.asked
    assert (number, text) == ("+8613800138000", "您好 已处理")
    row = _row(center, mid)
    assert (row.state, row.attempts) == ("queued", 1)  # asked, not yet taken: not sent
    assert _ticket_state(center, tid) == "accepted"
    answer.callback((17, 18))
    row = _row(center, mid)
    assert (row.state, row.error) == ("sent", "")
    assert _parts(center, mid) == [(17, "sent"), (18, "sent")]
    assert _ticket_state(center, tid) == "replied"


def test_a_modem_error_is_retried_with_backoff_then_failed_with_the_error(center: Center) -> None:
    tid = _ticket(center)
    mid = _queue_sms(center, ticket_id=tid)
    modem = Modem()
    outbox = _outbox(center, modem, attempts=3)
    start = center.clock.now
    outbox.kick()
    modem.asked[-1][2].errback(ModemError(500, "+CME ERROR: 500"))
    row = _row(center, mid)
    assert (row.state, row.attempts, row.error) == ("queued", 1, "+CME ERROR: 500 (500)")
    assert row.next_attempt_at == start + dt.timedelta(seconds=30)
    center.clock.now = start + dt.timedelta(seconds=29)
    outbox.kick()
    assert len(modem.asked) == 1  # not due yet
    center.clock.now = start + dt.timedelta(seconds=30)
    outbox.kick()
    assert len(modem.asked) == 2
    modem.asked[-1][2].errback(ModemError(None, "no answer from the modem"))
    assert _row(center, mid).next_attempt_at == center.clock.now + dt.timedelta(seconds=60)
    center.clock.now += dt.timedelta(seconds=60)
    outbox.kick()
    modem.asked[-1][2].errback(ModemError(None, "no answer from the modem"))
    row = _row(center, mid)
    assert (row.state, row.attempts, row.error) == ("failed", 3, "no answer from the modem")
    center.clock.now += dt.timedelta(hours=2)
    outbox.kick()
    assert len(modem.asked) == 3  # failed is final
    history = resolved(center.store().history(tid))
    assert history[-1].action == "reply_failed"
    assert _ticket_state(center, tid) == "accepted"
    assert [retry_delay(n, 30) for n in (1, 2, 3, 9)] == [30, 60, 120, 3600]
    assert outbox.last_error == "no answer from the modem"


def test_delivery_reports_mark_the_sms_by_its_parts_references(center: Center) -> None:
    modem = Modem()
    outbox = _outbox(center, modem)
    first, second = _queue_sms(center, "a"), _queue_sms(center, "b")
    outbox.kick()
    modem.asked[0][2].callback((40, 41))
    modem.asked[1][2].callback((42,))
    # a report for the first part only: the SMS is not yet delivered
    assert resolved(outbox.report_received(Report(40, "8613800138000", True, 0))) == first
    assert _row(center, first).state == "sent"
    # the network still tries (0x20-0x3f): not final
    assert resolved(outbox.report_received(Report(41, "+8613800138000", False, 0x21))) == first
    assert _row(center, first).state == "sent"
    resolved(outbox.report_received(Report(41, "+8613800138000", True, 0)))
    row = _row(center, first)
    assert (row.state, row.delivered_at) == ("delivered", center.clock.now)
    resolved(outbox.report_received(Report(42, "13800138000", False, 0x41)))
    row = _row(center, second)
    assert row.state == "undeliverable" and "65" in row.error
    # a reference nothing waits for, or another recipient's: ignored
    assert resolved(outbox.report_received(Report(99, "13800138000", True, 0))) is None
    assert resolved(outbox.report_received(Report(40, "13900000000", True, 0))) is None
    counts = resolved(outbox.counts())
    assert (counts.queued, counts.waiting, counts.failed_today, counts.sent_today) == (0, 0, 1, 1)


def test_a_restart_picks_up_the_retries_and_an_interrupted_send(center: Center) -> None:
    modem = Modem()
    retried, cut = _queue_sms(center, "retry me"), _queue_sms(center, "cut")
    before = _outbox(center, modem)
    before.kick()
    modem.asked[0][2].errback(ModemError(None, "timeout"))  # retried in 30 s
    modem.asked[1][2]  # asked when the process died: no answer ever comes
    assert _row(center, cut).state == "queued"
    modem.asked.clear()
    after = _outbox(center, modem)  # a new process on the same database
    after.kick()
    assert [text for _n, text, _d in modem.asked] == ["cut"]  # never shown sent, sent again
    modem.asked[0][2].callback((5,))
    center.clock.now += dt.timedelta(seconds=30)
    after.kick()
    assert [text for _n, text, _d in modem.asked] == ["cut", "retry me"]
    modem.asked[1][2].callback((6,))
    assert (_row(center, retried).state, _row(center, retried).attempts) == ("sent", 2)
    assert (_row(center, cut).state, _row(center, cut).attempts) == ("sent", 2)


def test_a_stop_waits_for_the_send_in_flight_and_takes_no_further_row(center: Center) -> None:
    modem, reactor = Modem(), Clock()
    first, second = _queue_sms(center, "first"), _queue_sms(center, "second")
    outbox = SmsOutbox(reactor, center.db, modem, attempts=3, retry_s=30, clock=center.clock)
    outbox.kick()
    stopped = outbox.stopService()
    assert stopped is not None and not stopped.called  # the modem has it: wait for +CMGS
    modem.asked[0][2].callback((5,))
    assert stopped.called and _row(center, first).state == "sent"
    assert [text for _n, text, _d in modem.asked] == ["first"]  # nothing more once stopping
    assert _row(center, second).state == "queued"
    # a modem that never answers holds the stop STOP_WAIT_S at most
    again = SmsOutbox(reactor, center.db, modem, attempts=3, retry_s=30, clock=center.clock)
    again.kick()
    held = again.stopService()
    assert held is not None and not held.called
    reactor.advance(STOP_WAIT_S)
    assert held.called and _row(center, second).state == "queued"


def _inbox(center: Center, queue: str = "", posted: list[Any] | None = None) -> SmsInbox:
    sink = posted if posted is not None else []
    return SmsInbox(
        center.db,
        CustomerStore(center.db),
        center.store(),
        queue=queue,
        translate=str,
        on_notice=sink.append,
        clock=center.clock,
    )


@dataclass
class Received:
    sender: str
    text: str
    sent_at: dt.datetime | None = None
    parts: int = 1


def test_an_sms_joins_its_customers_open_ticket_with_a_notice_for_its_agent(
    center: Center,
) -> None:
    customers = CustomerStore(center.db)
    customer = resolved(customers.create("admin", "Wang Fang", ["13900139011"]))
    tid = _ticket(center)
    resolved(center.store().edit("sue", "supervisor", tid, customer_id=customer))
    posted: list[Any] = []
    got = resolved(_inbox(center, posted=posted).sms_received(Received("+8613900139011", "在吗")))
    assert (got.ticket_id, got.new_ticket, got.customer_id) == (tid, False, customer)
    row = _row(center, got.message_id)
    assert (row.direction, row.channel, row.state, row.body) == (
        "inbound",
        "sms",
        "delivered",
        "在吗",
    )
    assert [n.agent_id is not None for n in posted] == [True]  # the ticket's agent, 1001
    assert "在吗" in posted[0].text
    comments = resolved(center.store().comments(tid))
    assert "在吗" in comments[-1].html


def test_an_unknown_senders_sms_opens_an_sms_ticket_and_later_ones_join_it(
    center: Center,
) -> None:
    posted: list[Any] = []
    inbox = _inbox(center, queue="support", posted=posted)
    first = resolved(inbox.sms_received(Received("10086", "第一条")))
    assert first.new_ticket and first.customer_id is None
    ticket = resolved(center.store().get(first.ticket_id))
    assert (ticket.source, ticket.assignee_kind, ticket.assignee) == ("sms", "queue", "support")
    assert ticket.subject == "SMS from 10086: 第一条"
    assert posted[0].queue_id == center.queue_id
    second = resolved(inbox.sms_received(Received("10086", "第二条")))
    assert (second.ticket_id, second.new_ticket) == (first.ticket_id, False)
    t = model.tickets
    resolved(
        center.db.run(
            lambda c: c.execute(t.update().where(t.c.id == first.ticket_id).values(state="closed"))
        )
    )
    third = resolved(inbox.sms_received(Received("10086", "第三条")))
    assert third.new_ticket and third.ticket_id != first.ticket_id


def test_an_sms_is_kept_when_the_configured_ticket_type_is_switched_off(center: Center) -> None:
    t = model.ticket_types
    resolved(
        center.db.run(
            lambda c: c.execute(t.update().where(t.c.key == "inquiry").values(active=False))
        )
    )
    inbox = _inbox(center)
    got = resolved(inbox.sms_received(Received("10010", "还在吗")))
    ticket = resolved(center.store().get(got.ticket_id))
    assert (ticket.source, ticket.type_key != "inquiry") == ("sms", True)
    assert _row(center, got.message_id).body == "还在吗"


def test_a_hostile_sender_and_text_are_stored_bounded_and_escaped(center: Center) -> None:
    posted: list[Any] = []
    inbox = _inbox(center, posted=posted)
    sender = "<img src=x onerror=alert(1)>\r\nAction: x" + "9" * 100
    text = "<script>alert(1)</script>\x00\x1b[2J" + "长" * 5000
    got = resolved(inbox.sms_received(Received(sender, text)))
    row = _row(center, got.message_id)
    assert len(row.address) <= 32 and "\r" not in row.address and "\n" not in row.address
    assert len(row.body) == TEXT_MAX and "\x00" not in row.body and "\x1b" not in row.body
    html = resolved(center.store().comments(got.ticket_id))[-1].html
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html
    assert len(posted[0].text) <= 500


def _notices(center: Center, **settings: Any) -> tuple[SmsNotices, list[int]]:
    kicks: list[int] = []
    notices = SmsNotices(
        center.db,
        SmsConfig(**settings),
        queue_name={center.queue_id: "support"}.get,  # type: ignore[arg-type]
        kick=lambda: kicks.append(1),
        clock=center.clock,
    )
    return notices, kicks


@dataclass
class Step:
    step: str
    queue_id: int
    caller: str


def test_notices_are_switched_templated_and_rate_limited_per_number(center: Center) -> None:
    off, _ = _notices(center)
    assert resolved(off.callback_requested("13800138000", "support", None)) is None
    assert resolved(off.queue_step(Step("abandoned", center.queue_id, "13800138000"))) is None
    notices, kicks = _notices(
        center,
        callback_confirmation=True,
        missed_call_notice=True,
        missed_call_text="{queue} 未接来电 请回拨 {number}",
        notice_interval_min=60,
    )
    due = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)
    first = resolved(notices.callback_requested("13800138000", "support", due))
    row = _row(center, first)
    assert (row.state, row.direction, row.subject) == (
        "queued",
        "outbound",
        "callback_confirmation",
    )
    assert "13800138000" in row.body and "2026-12-07 02:00" in row.body
    assert kicks == [1]
    # the same number within the hour: nothing, neither a callback nor a missed call
    assert resolved(notices.callback_requested("13800138000", "support", None)) is None
    assert resolved(notices.queue_step(Step("abandoned", center.queue_id, "13800138000"))) is None
    # another number, and only an abandon
    missed = resolved(notices.queue_step(Step("abandoned", center.queue_id, "13900139000")))
    assert _row(center, missed).body == "support 未接来电 请回拨 13900139000"
    assert resolved(notices.queue_step(Step("completed", center.queue_id, "13700137000"))) is None
    # a hostile or withheld caller ID gets nothing
    for caller in ("anonymous", "138;reboot", "<b>1</b>", ""):
        assert resolved(notices.queue_step(Step("abandoned", center.queue_id, caller))) is None
    center.clock.now += dt.timedelta(minutes=61)
    assert resolved(notices.callback_requested("13800138000", "support", None)) is not None


class _HeldDb:
    """The real database, each transaction held until released (two notices at once)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.held: list[tuple[Any, defer.Deferred[Any]]] = []

    def run(self, thd: Any) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.Deferred()
        self.held.append((thd, d))
        return d

    def release(self) -> None:
        thd, d = self.held.pop(0)
        self.db.run(thd).chainDeferred(d)


def test_two_notices_to_one_number_at_once_queue_one(center: Center) -> None:
    held = _HeldDb(center.db)
    notices = SmsNotices(held, SmsConfig(missed_call_notice=True), clock=center.clock)
    step = Step("abandoned", center.queue_id, "13800138000")
    first, second = notices.queue_step(step), notices.queue_step(step)
    assert len(held.held) == 1  # the second waits for the first's check and insert
    held.release()
    assert len(held.held) == 1
    held.release()
    assert resolved(first) is not None
    assert resolved(second) is None


def test_an_sms_the_database_did_not_take_fails_so_the_modem_keeps_it(center: Center) -> None:
    """The service's Deferred fails when the inbox's write failed (the modem then leaves the
    SMS on the SIM: tests/unit/test_gsm_modem.py), and the next try stores it once."""
    from appliance.sms.service import SmsService

    class DatabaseDown:
        def run(self, thd: Any) -> defer.Deferred[Any]:
            return defer.fail(OSError("database down"))

    down = SmsInbox(DatabaseDown(), CustomerStore(center.db), center.store(), translate=str)
    notices, _ = _notices(center)
    service = SmsService(None, _outbox(center, None), down, notices)
    failures: list[Any] = []
    service.sms_received(Received("10086", "别丢")).addErrback(failures.append)
    assert [f.type for f in failures] == [OSError]
    service.inbox = _inbox(center)
    got = resolved(service.sms_received(Received("10086", "别丢")))
    m = model.crm_messages
    bodies = resolved(center.db.run(lambda c: c.execute(sa.select(m.c.body)).scalars().all()))
    assert (got.new_ticket, bodies.count("别丢")) == (True, 1)


def test_past_the_hourly_cap_sms_from_new_senders_join_one_flood_ticket(center: Center) -> None:
    posted: list[Any] = []
    inbox = _inbox(center, posted=posted)
    inbox.max_new_tickets_per_hour = 2
    got = [resolved(inbox.sms_received(Received(f"1390000000{i}", f"第{i}条"))) for i in range(5)]
    own = {g.ticket_id for g in got[:2]}
    flood = {g.ticket_id for g in got[2:]}
    assert len(own) == 2 and len(flood) == 1 and not own & flood
    assert [g.new_ticket for g in got] == [True, True, True, False, False]
    assert len(posted) == 3  # one notice for the flood ticket, not one per SMS
    ticket = resolved(center.store().get(flood.pop()))
    assert (ticket.source, ticket.created_by) == ("sms", "sms-flood")
    assert ticket.subject.startswith("Too many requests (SMS): SMS from 13900000002")
    m = model.crm_messages
    rows = resolved(
        center.db.run(
            lambda c: c.execute(
                sa.select(m.c.address, m.c.body).where(m.c.ticket_id == ticket.id)
            ).all()
        )
    )
    assert sorted(rows) == [(f"1390000000{i}", f"第{i}条") for i in (2, 3, 4)]  # all kept
    # an hour on, SMS open tickets of their own again
    center.clock.now += dt.timedelta(hours=1, seconds=1)
    later = resolved(inbox.sms_received(Received("13900000009", "一小时后")))
    assert later.new_ticket and later.ticket_id not in own | {ticket.id}
    from appliance.config import parse

    assert parse("").sms.max_new_tickets_per_hour == 60
    assert parse("[sms]\nmax_new_tickets_per_hour = 5\n").sms.max_new_tickets_per_hour == 5

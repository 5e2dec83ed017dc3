"""Replies to a ticket's customer on both databases: an e-mail (header-safe, the ticket
replied only once the server took it; a refused mail stays as a failed row), a callback
task in the real ACD's line, an SMS kept waiting for the modem and never shown as sent;
only the ticket's agent or a manager replies."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from acd.service import ACD
from appliance.cli import resolved
from appliance.config import SmtpConfig
from appliance.crm.tickets.events import TicketsChanged
from appliance.crm.tickets.replies import Replies, ReplyError
from appliance.crm.tickets.store import TicketStore
from appliance.eventbus import EventBus
from tests.support import ticket_center
from tests.support.ticket_center import T0, Center

backend, ticket_db, center = ticket_center.backend, ticket_center.ticket_db, ticket_center.center
SMTP = SmtpConfig(host="mail.example.com", sender="desk@example.com")
BUS = EventBus()  # the replies' bus


class Outbox:
    """The SMTP sender's stand-in: keeps what it is handed; ``ok`` says if it was taken."""

    def __init__(self) -> None:
        self.sent: list[tuple[list[str], EmailMessage]] = []
        self.ok = True

    async def __call__(
        self, reactor: Any, cfg: SmtpConfig, to: list[str], msg: EmailMessage, what: str
    ) -> bool:
        self.sent.append((to, msg))
        return self.ok


def _ticket(center: Center, state: str = "accepted") -> tuple[TicketStore, int]:
    store = center.store()
    tid = resolved(
        store.create(
            "sue", type_key="complaint", subject="late", assignee_kind="agent", assignee="1001"
        )
    )
    if state != "new":
        resolved(store.transition("ann", "agent", tid, "accepted"))
    return store, tid


def _replies(center: Center, outbox: Outbox, acd: ACD | None = None) -> Replies:
    clock = Clock()
    clock.advance(T0.timestamp())
    return Replies(clock, center.db, acd, SMTP, send=outbox, bus=BUS)


def _run(d: Any) -> Any:
    return resolved(defer.ensureDeferred(d))


def test_an_email_reply_is_header_safe_and_replies_the_ticket(center: Center) -> None:
    store, tid = _ticket(center)
    outbox = Outbox()
    replies = _replies(center, outbox)
    changed: list[TicketsChanged] = []
    sub = BUS.subscribe(TicketsChanged, changed.append)
    row = _run(
        replies.email("ann", "agent", tid, "li@example.cn", "Re: late\r\nBcc: x@evil", "你好\n")
    )
    BUS.unsubscribe(sub)
    assert changed == [TicketsChanged(tid)]  # once committed: the board hears of it
    ((to, msg),) = outbox.sent
    assert to == ["li@example.cn"] and msg["To"] == "li@example.cn"
    assert msg["Subject"] == "[T20261206-0001] Re: late  Bcc: x@evil"
    assert "\nBcc" not in msg.as_string() and msg.get_content() == "你好\n"
    assert (row.channel, row.state, row.address, row.ticket_id) == ("email", "sent", to[0], tid)
    t = resolved(store.get(tid))
    assert t.state == "replied" and t.next_escalation_at is None
    moves = [(h.action, h.to_value) for h in resolved(store.history(tid))][-3:]
    assert moves == [("reply", "email"), ("state", "in_progress"), ("state", "replied")]
    assert resolved(store.messages(tid)) == [row]
    for bad in ("li@example.cn\r\nBcc: x@evil", "a@b", "<a@b.cn>", "a@b.cn, c@d.cn"):
        with pytest.raises(ReplyError, match="not an e-mail address"):
            _run(replies.email("ann", "agent", tid, bad, "s", "b"))
    assert len(outbox.sent) == 1


def test_a_mail_the_server_refuses_stays_failed_and_the_ticket_unreplied(center: Center) -> None:
    store, tid = _ticket(center)
    outbox = Outbox()
    outbox.ok = False
    with pytest.raises(ReplyError, match="did not take"):
        _run(_replies(center, outbox).email("ann", "agent", tid, "li@example.cn", "s", "b"))
    (row,) = resolved(store.messages(tid))
    assert (row.state, row.error) == (
        "failed",
        "the mail server did not take the e-mail (see the log)",
    )
    assert resolved(store.get(tid)).state == "accepted"
    assert resolved(store.history(tid))[-1].action == "reply_failed"


def test_only_the_tickets_agent_or_a_manager_replies(center: Center) -> None:
    store, tid = _ticket(center)
    replies = _replies(center, Outbox())
    with pytest.raises(ReplyError, match="not yours"):
        _run(replies.sms("bob", "agent", tid, "13800138000", "hi"))
    _, fresh = _ticket(center, state="new")
    with pytest.raises(ReplyError, match="accept the ticket"):
        _run(replies.sms("sue", "supervisor", fresh, "13800138000", "hi"))
    with pytest.raises(ReplyError, match="not set up"):
        _run(
            Replies(Clock(), center.db, None, SmtpConfig()).email(
                "ann", "agent", tid, "a@b.cn", "s", "b"
            )
        )
    assert resolved(store.messages(tid)) == []


def test_an_sms_waits_for_the_modem_and_is_never_shown_sent(center: Center) -> None:
    store, tid = _ticket(center)
    row, shown = _run(_replies(center, Outbox()).sms("ann", "agent", tid, "+8613800138000", "ok"))
    assert (row.channel, row.state, row.address) == ("sms", "waiting_for_modem", "+8613800138000")
    assert "has not been" in shown and row.error == shown
    assert resolved(store.get(tid)).state == "accepted"  # nobody was answered yet
    assert resolved(store.history(tid))[-1].to_value == "sms"
    with pytest.raises(ReplyError, match="not a mobile number"):
        _run(_replies(center, Outbox()).sms("ann", "agent", tid, "138;reboot", "ok"))


def test_a_callback_reply_is_in_the_acds_line(center: Center) -> None:
    clock = Clock()
    clock.advance(T0.timestamp())
    acd = ACD(clock, center.db, EventBus())
    resolved(acd.startService())
    try:
        store, tid = _ticket(center)
        replies = Replies(clock, center.db, acd, SMTP, send=Outbox())
        with pytest.raises(ReplyError, match="choose the queue"):
            _run(replies.callback("ann", "agent", tid, "13800138000"))
        due = T0 + dt.timedelta(hours=2)
        row = _run(
            replies.callback("ann", "agent", tid, "13800138000", "support", due, note="about it")
        )
        (cb,) = resolved(center.db.acd.open_callbacks())
        assert (cb.id, cb.number, cb.source, cb.due_at) == (
            row.callback_id,
            "13800138000",
            "ticket",
            due,
        )
        assert cb.name == "T20261206-0001"
        assert (row.channel, row.state, row.body) == ("callback", "queued", "about it")
        assert resolved(store.get(tid)).state == "replied"
        with pytest.raises(ReplyError, match="not a number"):
            _run(replies.callback("ann", "agent", tid, "100&DAHDI/g1", "support"))
    finally:
        resolved(acd.stopService())

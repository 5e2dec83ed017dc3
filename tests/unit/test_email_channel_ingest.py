"""The e-mail ingest on a real database: threads, routes, the auto-reply once, loops,
encodings, duplicates, attachments, tickets, a failure half-way, replies out, the SLA.

The channels' engine is represented by ``RowEngine``: it writes the conversation and
message rows exactly as the engine's contract says (start_email_thread, email_received)
and nothing else, so what is checked here is the e-mail channel's own work.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from acd.channels.conversation import Conversation, Message, NewMessage
from acd.channels.email import loops
from acd.channels.email.ingest import Ingest
from acd.channels.email.service import EmailChannelService
from acd.channels.events import EmailSlaBreached
from appliance.cli import resolved
from appliance.config import EmailChannelConfig
from appliance.crm.tickets.store import TicketStore
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.db.email_store import EmailStore
from appliance.eventbus import EventBus
from appliance.uploads import UploadStore
from webui.i18n import translator

T0 = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
TRANSLATORS = {"zh": translator("zh_CN"), "en": translator("en")}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00" + b"\x00" * 64


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


class RowEngine:
    """The engine's two e-mail calls as rows (see the module's docstring); ``fail_next``
    makes the next email_received fail as a database would."""

    def __init__(self, db: DBConnector, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.fail_next = False
        self.reopened: list[int] = []
        self.sender: Any = None

    def set_email_sender(self, sender: Any) -> None:
        self.sender = sender

    async def start_email_thread(self, **kw: Any) -> Conversation:
        now = self.clock()
        values = dict(kw, media="email", state="waiting", created_at=now)

        def thd(conn: sa.Connection) -> int:
            pk = conn.execute(model.conversations.insert().values(**values)).inserted_primary_key
            assert pk is not None
            return int(pk[0])

        cid = await self.db.run(thd)
        return Conversation(
            id=cid, media="email", state="waiting", queue_id=kw["queue_id"], created_at=now
        )

    async def email_received(self, conversation_id: int, message: NewMessage) -> Message:
        if self.fail_next:
            self.fail_next = False
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))
        now = self.clock()
        m = model.conversation_messages
        c = model.conversations

        def thd(conn: sa.Connection) -> int:
            state = conn.execute(sa.select(c.c.state).where(c.c.id == conversation_id)).scalar()
            if state == "ended":
                conn.execute(c.update().where(c.c.id == conversation_id).values(state="waiting"))
                self.reopened.append(conversation_id)
            pk = conn.execute(
                m.insert().values(
                    conversation_id=conversation_id,
                    sender="customer",
                    author=message.author,
                    body=message.body,
                    html=message.html,
                    created_at=now,
                    message_id=message.message_id,
                    in_reply_to=message.in_reply_to,
                )
            ).inserted_primary_key
            assert pk is not None
            if message.attachment_ids:
                t = model.conversation_attachments
                conn.execute(
                    t.update().where(t.c.id.in_(message.attachment_ids)).values(message_id=pk[0])
                )
            return int(pk[0])

        mid = await self.db.run(thd)
        return Message(mid, conversation_id, "customer", message.author, message.body, now)


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, EmailMessage]] = []
        self.fail: str | None = None

    def __call__(
        self, reactor: Any, settings: Any, sender: str, to: list[str], msg: EmailMessage
    ) -> defer.Deferred[None]:
        if self.fail:
            return defer.fail(ConnectionRefusedError(self.fail))
        self.sent.append(
            (to[0], email.message_from_bytes(msg.as_bytes(), policy=email.policy.default))
        )
        return defer.succeed(None)


@pytest.fixture
def center(db: DBConnector, tmp_path: Path) -> dict[str, Any]:
    """Queues (general 1, billing 2, vip 3), an account with a route by keyword and one
    by sender domain, a customer."""

    def thd(conn: sa.Connection) -> None:
        for qid, name in ((1, "general"), (2, "billing"), (3, "vip")):
            conn.execute(
                model.queues.insert().values(id=qid, name=name, media="email", created_at=T0)
            )
        conn.execute(
            model.email_accounts.insert().values(
                id=1,
                name="help",
                address="help@center.example",
                display_name="客服中心",
                imap_host="127.0.0.1",
                smtp_host="127.0.0.1",
                queue_id=1,
                sla_minutes=60,
                make_tickets=True,
            )
        )
        r = model.email_routes
        conn.execute(
            r.insert().values(account_id=1, kind="keyword", pattern="发票", queue_id=2, position=0)
        )
        conn.execute(
            r.insert().values(
                account_id=None, kind="sender", pattern="@vip.example", queue_id=3, position=0
            )
        )
        conn.execute(
            model.customers.insert().values(
                id=5, name="王五", email="Wang@Example.com", created_at=T0
            )
        )

    resolved(db.run(thd))
    clock = Clock()
    store = EmailStore(db, clock)
    engine = RowEngine(db, clock)
    outbox = Outbox()
    uploads = UploadStore(tmp_path / "uploads")
    sent_by: list[str] = []

    def send_mail(account: Any, to: str, msg: EmailMessage) -> defer.Deferred[None]:
        sent_by.append(account.address)
        return outbox(None, None, account.address, [to], msg)

    ingest = Ingest(
        store=store,
        channels=engine,
        put_file=lambda data, name: defer.maybeDeferred(uploads.put, data, name),
        send_mail=send_mail,
        translators=TRANSLATORS,
        max_message_kb=1024,
        auto_reply_interval_min=60,
        tickets=TicketStore(db, clock=clock),
        clock=clock,
    )
    accounts = resolved(store.accounts())
    ingest.routes = resolved(store.routes())
    ingest.own = {a.address for a in accounts}
    return dict(
        db=db,
        store=store,
        engine=engine,
        outbox=outbox,
        ingest=ingest,
        account=accounts[0],
        clock=clock,
        uploads=uploads,
    )


def mail(
    subject: str = "Hello",
    text: str = "I have a question.",
    *,
    sender: str = "ann@example.com",
    name: str = "Ann",
    mid: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    headers: dict[str, str] | None = None,
    attachments: tuple[tuple[str, bytes], ...] = (),
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = "help@center.example"
    msg["Subject"] = subject
    msg["Message-ID"] = mid or email.utils.make_msgid(domain="example.com")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(text)
    for fname, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=fname)
    return msg.as_bytes()


def take(c: dict[str, Any], raw: bytes) -> Any:
    return resolved(defer.ensureDeferred(c["ingest"].take(c["account"], raw)))


def rows(db: DBConnector, table: sa.Table, *where: Any) -> list[Any]:
    def thd(conn: sa.Connection) -> list[Any]:
        return list(conn.execute(sa.select(table).where(*where).order_by(table.c.id)))

    return resolved(db.run(thd))


def events(db: DBConnector, cid: int, kind: str) -> list[Any]:
    e = model.conversation_events
    return rows(db, e, e.c.conversation_id == cid, e.c.kind == kind)


# ---- new threads, routes, the auto-reply ----------------------------------------------


def test_a_new_mail_becomes_a_thread_on_the_accounts_queue_with_one_auto_reply(
    center: dict[str, Any],
) -> None:
    out = take(center, mail("Where is my order?", mid="<m1@example.com>"))
    assert out.kind == "new" and out.auto_reply == "sent"
    c = rows(center["db"], model.conversations)[0]
    assert (c.queue_id, c.account_id, c.email, c.subject, c.thread_key) == (
        1,
        1,
        "ann@example.com",
        "Where is my order?",
        "<m1@example.com>",
    )
    assert c.due_at == T0 + dt.timedelta(minutes=60)
    assert c.language == "en"
    [(to, reply)] = center["outbox"].sent
    assert to == "ann@example.com"
    assert reply["Subject"] == f"Re: Where is my order? [#E{c.id}]"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] == "<m1@example.com>"
    assert "<m1@example.com>" in reply["References"]
    assert f"[#E{c.id}]" in reply.get_content()
    # the auto-reply is on the thread with its Message-ID, so an answer to it threads here
    msgs = rows(center["db"], model.conversation_messages)
    assert [m.sender for m in msgs] == ["customer", "system"]
    assert msgs[1].message_id == reply["Message-ID"]
    assert events(center["db"], c.id, "auto_reply")


def test_routes_by_keyword_in_chinese_and_by_sender_domain(center: dict[str, Any]) -> None:
    take(center, mail("请开发票", "我需要上个月的发票。", sender="li@example.com"))
    take(center, mail("Question", sender="boss@vip.example"))
    take(center, mail("Hi", "nothing special", sender="x@other.example"))
    assert [(r.email, r.queue_id, r.language) for r in rows(center["db"], model.conversations)] == [
        ("li@example.com", 2, "zh"),
        ("boss@vip.example", 3, "en"),
        ("x@other.example", 1, "en"),
    ]
    zh_reply = center["outbox"].sent[0][1]
    assert "参考编号" in zh_reply.get_content()


def test_the_customer_is_matched_by_address_and_a_ticket_opened(center: dict[str, Any]) -> None:
    take(center, mail("Invoice", sender="wang@example.com", name="王五"))
    c = rows(center["db"], model.conversations)[0]
    assert c.customer_id == 5
    assert c.ticket_id is not None
    t = rows(center["db"], model.tickets)[0]
    assert (t.id, t.source, t.customer_id, t.assignee) == (c.ticket_id, "email", 5, "general")
    assert f"[#E{c.id}]" in t.subject


# ---- replies join their thread --------------------------------------------------------


def test_a_reply_joins_by_in_reply_to_and_gets_no_second_auto_reply(center: dict[str, Any]) -> None:
    take(center, mail("Order", mid="<m1@example.com>"))
    auto_id = center["outbox"].sent[0][1]["Message-ID"]
    out = take(
        center,
        mail(
            "Re: Order",
            "more",
            mid="<m2@example.com>",
            in_reply_to=auto_id,
            references=f"<m1@example.com> {auto_id}",
        ),
    )
    assert out.kind == "appended"
    assert len(rows(center["db"], model.conversations)) == 1
    assert len(center["outbox"].sent) == 1
    # a reply naming only the first mail in References
    out = take(
        center, mail("Re: Order", "again", mid="<m3@example.com>", references="<m1@example.com>")
    )
    assert out.kind == "appended"


def test_a_reply_quoting_only_the_reference_joins_from_the_same_sender(
    center: dict[str, Any],
) -> None:
    take(center, mail("Order"))
    cid = rows(center["db"], model.conversations)[0].id
    out = take(center, mail(f"About my order [#E{cid}]", "no headers kept"))
    assert (out.kind, out.conversation_id) == ("appended", cid)
    # someone else naming the number starts their own thread
    out = take(center, mail(f"About my order [#E{cid}]", sender="mallory@example.net"))
    assert out.kind == "new" and out.conversation_id != cid
    # the same words without a reference are a new thread too
    out = take(center, mail("Order"))
    assert out.kind == "new"


def test_an_ended_thread_is_reopened_by_a_reply(center: dict[str, Any]) -> None:
    take(center, mail("Order", mid="<m1@example.com>"))
    cid = rows(center["db"], model.conversations)[0].id
    c = model.conversations
    resolved(center["db"].run(lambda conn: conn.execute(c.update().values(state="ended"))))
    take(center, mail("Re: Order", mid="<m2@example.com>", in_reply_to="<m1@example.com>"))
    assert center["engine"].reopened == [cid]


# ---- what is dropped ------------------------------------------------------------------


def test_a_duplicate_message_id_is_ignored(center: dict[str, Any]) -> None:
    raw = mail("Order", mid="<same@example.com>")
    assert take(center, raw).kind == "new"
    assert take(center, raw).kind == "duplicate"
    assert take(center, mail("Other subject", mid="<same@example.com>")).kind == "duplicate"
    assert (
        len(
            rows(
                center["db"],
                model.conversation_messages,
                model.conversation_messages.c.sender == "customer",
            )
        )
        == 1
    )


def test_a_mail_without_message_id_is_still_known_twice(center: dict[str, Any]) -> None:
    raw = mail("Order", mid="<x@example.com>").replace(b"Message-ID: <x@example.com>\n", b"")
    assert b"Message-ID" not in raw
    assert take(center, raw).kind == "new"
    assert take(center, raw).kind == "duplicate"


def test_our_own_mails_are_dropped(center: dict[str, Any]) -> None:
    assert take(center, mail("x", sender="Help@Center.Example")).kind == "own"
    assert rows(center["db"], model.conversations) == []


# ---- loops ----------------------------------------------------------------------------


def test_no_auto_reply_to_machines_and_lists(center: dict[str, Any]) -> None:
    cases = [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"List-Id": "<news.example.com>"},
        {"List-Unsubscribe": "<mailto:u@example.com>"},
        {"X-Auto-Response-Suppress": "All"},
        {"Return-Path": "<>"},
    ]
    for i, headers in enumerate(cases):
        out = take(center, mail(f"Case {i}", sender=f"p{i}@example.com", headers=headers))
        assert out.kind == "new" and out.auto_reply not in ("sent", "off"), headers
    assert take(center, mail("daemon", sender="MAILER-DAEMON@example.com")).auto_reply != "sent"
    assert center["outbox"].sent == []


def test_two_auto_responders_end_with_one_auto_reply(center: dict[str, Any]) -> None:
    """Our auto-reply answered by their auto-reply (which marks itself) and answered again."""
    take(center, mail("Out of office test", sender="bot@example.org", mid="<b0@example.org>"))
    for i in range(1, 10):
        last = (
            center["outbox"].sent[-1][1]["Message-ID"]
            if center["outbox"].sent
            else "<b0@example.org>"
        )
        take(
            center,
            mail(
                "Auto: Out of office",
                sender="bot@example.org",
                mid=f"<b{i}@example.org>",
                in_reply_to=last,
                headers={"Auto-Submitted": "auto-replied"},
            ),
        )
    assert len(center["outbox"].sent) == 1
    assert len(rows(center["db"], model.conversations)) == 1


def test_a_responder_without_headers_sending_30_mails_causes_no_storm(
    center: dict[str, Any],
) -> None:
    clock = center["clock"]
    for i in range(30):
        clock.now = T0 + dt.timedelta(seconds=10 * i)
        out = take(center, mail(f"I am away {i}", sender="dumb@example.org"))
    assert len(center["outbox"].sent) == 1  # one per address per interval
    threads = rows(center["db"], model.conversations)
    assert len(threads) == loops.FLOOD_MAILS  # past the flood mark nothing opens a thread
    assert out.kind == "flood"
    customer = model.conversation_messages.c.sender == "customer"
    assert len(rows(center["db"], model.conversation_messages, customer)) == 30  # nothing lost
    assert len(events(center["db"], threads[-1].id, "flood")) == 1
    # an hour later the address may be answered again, once
    clock.now = T0 + dt.timedelta(hours=2)
    take(center, mail("Back again", sender="dumb@example.org"))
    assert len(center["outbox"].sent) == 2


# ---- content --------------------------------------------------------------------------


def _word(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


@pytest.mark.parametrize(
    ("charset", "subject", "text"),
    [
        ("gb2312", "发票", "您好 我的发票在哪里"),
        ("big5", "發票", "您好 我的發票在哪裡"),
        ("gbk", "发票", "您好 喆"),
    ],
)
def test_chinese_charsets_are_stored_readable(
    center: dict[str, Any], charset: str, subject: str, text: str
) -> None:
    head = (
        f"From: {_word('李四', charset)} <li@example.com>\r\n"
        f"To: help@center.example\r\nSubject: {_word(subject, charset)}\r\n"
        f"Message-ID: <{charset}@example.com>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset={charset}\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    take(center, head.encode("ascii") + text.encode(charset) + b"\r\n")
    c = rows(center["db"], model.conversations)[0]
    assert (c.subject, c.name, c.language) == (subject, "李四", "zh")
    m = rows(center["db"], model.conversation_messages)[0]
    assert text in m.body


def test_attachments_kept_by_content_type_and_refused_ones_noted(center: dict[str, Any]) -> None:
    out = take(center, mail("Files", attachments=(("shot.png", PNG), ("invoice.pdf", EXE))))
    [att] = rows(center["db"], model.conversation_attachments)
    assert (att.content_type, att.file_name, att.message_id) == (
        "image/png",
        "shot.png",
        out.message_row_id,
    )
    assert center["uploads"].path(att.sha256) is not None
    body = rows(center["db"], model.conversation_messages)[0].body
    assert "[attachment refused: invoice.pdf:" in body
    assert events(center["db"], out.conversation_id, "mail_note")


# ---- failures -------------------------------------------------------------------------


def test_a_database_failure_half_way_keeps_the_mail_for_the_retry(center: dict[str, Any]) -> None:
    raw = mail("Order", mid="<m1@example.com>")
    center["engine"].fail_next = True
    with pytest.raises(sa.exc.OperationalError):
        take(center, raw)
    out = take(center, raw)  # the watcher offers it again
    assert out.kind == "appended"  # onto the thread the first try started
    assert len(rows(center["db"], model.conversations)) == 1
    assert (
        len(
            rows(
                center["db"],
                model.conversation_messages,
                model.conversation_messages.c.sender == "customer",
            )
        )
        == 1
    )


# ---- replies out and the SLA ----------------------------------------------------------


def _service(
    center: dict[str, Any], outbox: Outbox, bus: EventBus | None = None
) -> EmailChannelService:
    svc = EmailChannelService(
        reactor=MemoryReactorClock(),
        db=center["db"],
        channels=center["engine"],
        config=EmailChannelConfig(),
        data_dir=Path("/nonexistent"),
        translators=TRANSLATORS,
        bus=bus,
        clock=center["clock"],
        send=outbox,
    )
    svc.accounts = {1: center["account"]}
    return svc


def _agent_says(center: dict[str, Any], cid: int, text: str) -> Message:
    m = model.conversation_messages
    now = center["clock"]()

    def thd(conn: sa.Connection) -> int:
        pk = conn.execute(
            m.insert().values(
                conversation_id=cid, sender="agent", author="小张", body=text, created_at=now
            )
        ).inserted_primary_key
        assert pk is not None
        return int(pk[0])

    return Message(resolved(center["db"].run(thd)), cid, "agent", "小张", text, now)


def _conversation(center: dict[str, Any], cid: int) -> Conversation:
    r = rows(center["db"], model.conversations, model.conversations.c.id == cid)[0]
    return Conversation(
        id=r.id,
        media="email",
        state=r.state,
        queue_id=r.queue_id,
        created_at=r.created_at,
        account_id=r.account_id,
        name=r.name,
        email=r.email,
        subject=r.subject,
    )


def test_an_agents_reply_keeps_the_thread(center: dict[str, Any]) -> None:
    take(center, mail("Order 7", "Where is order 7?", mid="<m1@example.com>"))
    auto_id = center["outbox"].sent[0][1]["Message-ID"]
    take(
        center, mail("Re: Order 7 [#E1]", "Any news?", mid="<m2@example.com>", in_reply_to=auto_id)
    )
    cid = rows(center["db"], model.conversations)[0].id
    outbox = Outbox()
    svc = _service(center, outbox)
    msg = _agent_says(center, cid, "已发货。")
    assert resolved(svc.send_reply(_conversation(center, cid), msg, "小张")) is True
    [(to, sent)] = outbox.sent
    assert to == "ann@example.com"
    assert sent["Subject"] == f"Re: Order 7 [#E{cid}]"
    assert sent["In-Reply-To"] == "<m2@example.com>"
    assert sent["References"].split() == ["<m1@example.com>", auto_id, "<m2@example.com>"]
    assert sent["From"].addresses[0].addr_spec == "help@center.example"
    body = sent.get_content()
    assert body.startswith("已发货。") and "> Any news?" in body
    stored = rows(
        center["db"], model.conversation_messages, model.conversation_messages.c.id == msg.id
    )[0]
    assert stored.message_id == sent["Message-ID"]
    # the customer's answer to it threads here
    out = take(center, mail("Re: Re: Order 7", "thanks", in_reply_to=sent["Message-ID"]))
    assert (out.kind, out.conversation_id) == ("appended", cid)


def test_a_failed_reply_is_noted_and_sent_later_with_the_same_id(center: dict[str, Any]) -> None:
    take(center, mail("Order", mid="<m1@example.com>"))
    cid = rows(center["db"], model.conversations)[0].id
    outbox = Outbox()
    outbox.fail = "connection refused"
    svc = _service(center, outbox)
    msg = _agent_says(center, cid, "On its way.")
    assert resolved(svc.send_reply(_conversation(center, cid), msg, "Bo")) is False
    [e] = events(center["db"], cid, "send_failed")
    assert "connection refused" in e.detail
    assert resolved(svc.resend_unsent()) == 0  # not before its retry time
    svc.reactor.advance(3600)
    outbox.fail = None
    assert resolved(svc.resend_unsent()) == 1
    [(_, sent)] = outbox.sent
    assert sent["Message-ID"] == f"<ccbox.{msg.id}@center.example>"
    assert resolved(svc.resend_unsent()) == 0  # sent once


def test_the_sla_breach_is_told_once_and_counted(center: dict[str, Any]) -> None:
    take(center, mail("Order", sender="a@example.com"))
    take(center, mail("Other", sender="b@example.com"))
    bus = EventBus()
    told: list[EmailSlaBreached] = []
    bus.subscribe(EmailSlaBreached, told.append)
    svc = _service(center, Outbox(), bus)
    assert resolved(svc.check_sla()) == 0
    center["clock"].now = T0 + dt.timedelta(minutes=61)
    first, second = (r.id for r in rows(center["db"], model.conversations))
    _agent_says(center, second, "answered in time")  # (stored later, still a reply)
    assert resolved(svc.check_sla()) == 1
    assert resolved(svc.check_sla()) == 0
    assert [e.conversation_id for e in told] == [first]
    assert resolved(svc.open_breached()) == 1
    _agent_says(center, first, "sorry for the wait")
    assert resolved(svc.open_breached()) == 0

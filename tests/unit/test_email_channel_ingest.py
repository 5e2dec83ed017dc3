"""The e-mail ingest with the channels' engine (ChannelService beside the call ACD) on a
real database: threads, routes, the auto-reply once, loops, encodings, duplicates,
attachments, tickets, a failure half-way, replies out, the SLA. Time is a Clock."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email
import email.policy
import email.utils
import hashlib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer

from acd.channels.email import loops
from acd.channels.email import threading as th
from acd.channels.email.ingest import parse_here
from acd.channels.email.service import EmailChannelService
from acd.channels.errors import ChannelError
from acd.channels.events import EmailSlaBreached
from appliance.cli import resolved
from appliance.config import EmailChannelConfig
from appliance.crm.tickets.store import TicketStore
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.db.email_store import EmailStore
from appliance.uploads import UploadStore
from drivers.mail.mime import parse
from tests.support.channel_rig import Rig
from tests.support.inline_db import inline_db
from webui.i18n import translator

TRANSLATORS = {"zh": translator("zh_CN"), "en": translator("en")}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00" + b"\x00" * 64
T0 = 1_795_353_000  # the rig's clock at its start


def at(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


class Outbox:
    """The SMTP side: what was sent (parsed), or a refusal while ``fail`` says why."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, EmailMessage]] = []
        self.fail: str | None = None

    def __call__(
        self, reactor: Any, settings: Any, sender: str, to: list[str], msg: EmailMessage | bytes
    ) -> defer.Deferred[None]:
        if self.fail:
            return defer.fail(ConnectionRefusedError(self.fail))
        data = msg if isinstance(msg, bytes) else msg.as_bytes()
        got = email.message_from_bytes(data, policy=email.policy.default)
        self.sent.append((to[0], got))
        return defer.succeed(None)


@pytest.fixture
def db(tmp_path: Path) -> Any:
    with inline_db(tmp_path / "email.sqlite") as connector:
        yield connector


@pytest.fixture
def center(db: DBConnector, tmp_path: Path) -> dict[str, Any]:
    """E-mail queues general, billing, vip (agent 1001 serves them all), an account with a
    route by Chinese keyword, a global route by sender domain, a customer; the engine and
    the channel (its SMTP side an Outbox) on one Clock."""
    ids = {"1001": resolved(db.agents.add("1001", "小张", "", "PJSIP/1001")).id}
    for name in ("general", "billing", "vip"):
        ids[name] = resolved(db.queues.add(name, name.title())).id
        resolved(db.agents.set_member(ids[name], ids["1001"]))

    def thd(conn: sa.Connection) -> None:
        conn.execute(model.queues.update().values(media="email"))
        conn.execute(
            model.email_accounts.insert().values(
                id=1,
                name="help",
                address="help@center.example",
                display_name="客服中心",
                imap_host="",  # no watcher in these tests: mails are handed to the ingest
                smtp_host="127.0.0.1",
                queue_id=ids["general"],
                sla_minutes=60,
                make_tickets=True,
            )
        )
        r = model.email_routes
        conn.execute(
            r.insert().values(account_id=1, kind="keyword", pattern="发票", queue_id=ids["billing"])
        )
        conn.execute(r.insert().values(kind="sender", pattern="@vip.example", queue_id=ids["vip"]))
        conn.execute(
            model.customers.insert().values(
                id=5, name="王五", email="Wang@Example.com", created_at=dt.datetime.now(dt.UTC)
            )
        )

    resolved(db.run(thd))
    rig = Rig(db)

    def now() -> dt.datetime:
        return dt.datetime.fromtimestamp(rig.clock.seconds(), dt.UTC)

    store = EmailStore(db, now)
    outbox = Outbox()
    uploads = UploadStore(tmp_path / "uploads")
    svc = EmailChannelService(
        reactor=rig.clock,
        db=db,
        channels=rig.ch,
        config=EmailChannelConfig(),
        data_dir=tmp_path,
        translators=TRANSLATORS,
        tickets=TicketStore(db, clock=now),
        bus=rig.bus,
        clock=now,
        send=outbox,
    )
    svc.ingest.put_file = lambda data, name: defer.maybeDeferred(uploads.put, data, name)
    parsed: list[bytes] = []  # the service parses in the reactor's pool; the Clock has none

    def parse_mail(raw: bytes, max_bytes: int) -> Any:
        parsed.append(raw)
        return parse_here(raw, max_bytes)

    svc.ingest.parse_mail = parse_mail
    svc.startService()
    resolved(svc.reload())
    return dict(
        db=db,
        ids=ids,
        rig=rig,
        ch=rig.ch,
        store=store,
        svc=svc,
        outbox=outbox,
        ingest=svc.ingest,
        account=svc.accounts[1],
        uploads=uploads,
        parsed=parsed,
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
    raw = mail("Where is my order?", mid="<m1@example.com>")
    out = take(center, raw)
    assert out.kind == "new" and out.auto_reply == "sent"
    assert center["parsed"] == [raw]  # through the ingest's parse_mail
    c = rows(center["db"], model.conversations)[0]
    assert (c.queue_id, c.account_id, c.email, c.subject, c.thread_key) == (
        1,
        1,
        "ann@example.com",
        "Where is my order?",
        "<m1@example.com>",
    )
    assert c.due_at == at(T0) + dt.timedelta(minutes=60)
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


class _Pool:
    """A thread pool that notes what it was handed and runs it at once."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def callInThreadWithCallback(self, on_result: Any, f: Any, *a: Any, **kw: Any) -> None:
        self.ran.append(f.__name__)
        on_result(True, f(*a, **kw))


class _PoolReactor:
    def __init__(self) -> None:
        self.pool = _Pool()

    def getThreadPool(self) -> _Pool:
        return self.pool

    def callFromThread(self, f: Any, *a: Any, **kw: Any) -> None:
        f(*a, **kw)


def test_the_service_parses_mails_in_the_reactors_thread_pool(
    db: DBConnector, tmp_path: Path
) -> None:
    """mime.parse takes 1.5 s over a 25 MB mail: never on the reactor thread."""
    reactor = _PoolReactor()
    svc = EmailChannelService(
        reactor=reactor,
        db=db,
        channels=None,
        config=EmailChannelConfig(),
        data_dir=tmp_path,
        translators=TRANSLATORS,
        send=Outbox(),
    )
    parsed = resolved(svc.ingest.parse_mail(mail("请开发票"), 1024 * 1024))
    assert parsed.subject == "请开发票"
    assert reactor.pool.ran == ["parse"]


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
    rig = center["rig"]
    rig.acd.login(center["ids"]["1001"])
    rig.run(rig.ch.accept(center["ids"]["1001"], cid))
    rig.run(rig.ch.end(center["ids"]["1001"], cid))
    rig.ch.wrapup_done(center["ids"]["1001"], cid)
    assert rows(center["db"], model.conversations)[0].state == "ended"
    out = take(center, mail("Re: Order", mid="<m2@example.com>", in_reply_to="<m1@example.com>"))
    assert (out.kind, out.conversation_id) == ("appended", cid)
    assert rows(center["db"], model.conversations)[0].state in ("waiting", "offered")
    assert events(center["db"], cid, "reopened")
    assert len(center["outbox"].sent) == 1  # no second auto-reply for a reply


def test_a_thread_whose_queue_takes_no_email_is_kept_with_a_ticket(center: dict[str, Any]) -> None:
    q = model.queues
    resolved(
        center["db"].run(
            lambda conn: conn.execute(q.update().where(q.c.name == "general").values(media="call"))
        )
    )
    rig = Rig(center["db"], center["rig"].clock)  # (the engine reads the queues at its start)
    center["ingest"].channels = rig.ch
    out = take(center, mail("Order", mid="<p1@example.com>"))
    c = rows(center["db"], model.conversations)[0]
    assert (out.kind, c.state, c.ticket_id is not None) == ("new", "message", True)
    assert events(center["db"], c.id, "not_routed")
    assert out.auto_reply == "sent"
    # its replies are kept on it too, and the next mail is not held up
    out = take(center, mail("Re: Order", mid="<p2@example.com>", in_reply_to="<p1@example.com>"))
    assert (out.kind, out.conversation_id) == ("appended", c.id)
    customer = model.conversation_messages.c.sender == "customer"
    assert len(rows(center["db"], model.conversation_messages, customer)) == 2


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


def test_the_ingest_reads_no_raw_mail_on_the_reactor(
    center: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mail of 25 MB without a Message-ID was hashed whole on the reactor thread (its
    id), and every mail's header block looked for in it for List-Unsubscribe: both come
    from the parse, which the service runs in the reactor's thread pool."""

    def on_the_reactor(raw: bytes) -> str:
        raise AssertionError("the raw mail was hashed on the reactor thread")

    monkeypatch.setattr(th, "id_of_raw", on_the_reactor)
    listed: list[str] = []

    def parse_mail(raw: bytes, max_bytes: int) -> Any:
        parsed = parse(raw, max_bytes=max_bytes)
        if parsed.subject == "Listed":  # what the parse read: the ingest looks nowhere else
            parsed.list_unsubscribe = "<mailto:u@example.com>"
            listed.append(parsed.subject)
        return defer.succeed(parsed)

    center["ingest"].parse_mail = parse_mail
    raw = mail("Order", mid="<x@example.com>").replace(b"Message-ID: <x@example.com>\n", b"")
    assert take(center, raw).kind == "new"
    assert take(center, raw).kind == "duplicate"
    other = raw.replace(b"Order", b"Order 2")
    assert take(center, other).kind == "new"  # other bytes, another id
    keys = [c.thread_key for c in rows(center["db"], model.conversations)]
    assert keys == [th.id_of_sha256(hashlib.sha256(r).hexdigest()) for r in (raw, other)]
    out = take(center, mail("Listed", sender="list@example.com"))
    assert listed == ["Listed"] and out.kind == "new" and out.auto_reply not in ("sent", "off")
    assert [a for a, _ in center["outbox"].sent].count("list@example.com") == 0


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
    odd = (
        b"From: Someone <a,b;c@@example.com>\r\nTo: help@center.example\r\n"
        b"Subject: odd\r\nMessage-ID: <odd@example.com>\r\n\r\nhello\r\n"
    )
    out = take(center, odd)
    assert out.kind == "new" and out.auto_reply != "sent"  # stored, not answered
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
    clock = center["rig"].clock
    for i in range(30):
        clock.advance(10)
        files = (("x.png", PNG + bytes([i])),)
        out = take(center, mail(f"I am away {i}", sender="dumb@example.org", attachments=files))
    assert len(center["outbox"].sent) == 1  # one per address per interval
    threads = rows(center["db"], model.conversations)
    assert len(threads) == loops.FLOOD_MAILS  # past the flood mark nothing opens a thread
    assert out.kind == "flood"
    customer = model.conversation_messages.c.sender == "customer"
    assert len(rows(center["db"], model.conversation_messages, customer)) == 30  # nothing lost
    assert len(events(center["db"], threads[-1].id, "flood")) == 1
    # the files of the mails past the mark are named, not written
    assert len(rows(center["db"], model.conversation_attachments)) == loops.FLOOD_MAILS
    last = rows(center["db"], model.conversation_messages, customer)[-1]
    assert "[attachment not kept (the sender floods): x.png]" in last.body
    # an hour later the address may be answered again, once
    clock.advance(2 * 3600)
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
    ch = center["ch"]
    real = ch.email_received

    async def fails_once(conversation_id: int, message: Any) -> Any:
        ch.email_received = real
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    ch.email_received = fails_once
    with pytest.raises(sa.exc.OperationalError):
        take(center, raw)
    out = take(center, raw)  # the watcher offers it again
    assert out.kind == "new"  # stored on the thread the first try started
    [thread] = rows(center["db"], model.conversations)
    # and what a new thread gets after its first mail (the first try never came to it)
    assert thread.ticket_id is not None and len(rows(center["db"], model.tickets)) == 1
    assert out.auto_reply == "sent" and len(center["outbox"].sent) == 1
    assert len(events(center["db"], thread.id, "routed")) == 1
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


def answer(center: dict[str, Any], cid: int, text: str) -> Any:
    """Agent 1001 takes the thread and replies on the desk (the engine sends it through
    the channel)."""
    rig, agent = center["rig"], center["ids"]["1001"]
    if rig.acd.agents[agent].state == "logged_out":
        rig.acd.login(agent)
    elif rig.acd.agents[agent].state == "paused":  # (offers missed while time ran)
        rig.acd.unpause(agent)
    assert rig.state(cid) == "offered" and agent in rig.offered_to(cid)
    rig.run(rig.ch.accept(agent, cid))
    return rig.run(rig.ch.agent_says(agent, cid, text))


def test_an_agents_reply_keeps_the_thread(center: dict[str, Any]) -> None:
    take(center, mail("Order 7", "Where is order 7?", mid="<m1@example.com>"))
    auto_id = center["outbox"].sent[0][1]["Message-ID"]
    cid = rows(center["db"], model.conversations)[0].id
    take(
        center,
        mail(f"Re: Order 7 [#E{cid}]", "Any news?", mid="<m2@example.com>", in_reply_to=auto_id),
    )
    msg = answer(center, cid, "已发货。")
    [_, (to, sent)] = center["outbox"].sent
    assert to == "ann@example.com"
    assert sent["Subject"] == f"Re: Order 7 [#E{cid}]"
    assert sent["In-Reply-To"] == "<m2@example.com>"
    assert sent["References"].split() == ["<m1@example.com>", auto_id, "<m2@example.com>"]
    assert sent["From"].addresses[0].addr_spec == "help@center.example"
    assert sent["From"].addresses[0].display_name == "客服中心"
    body = sent.get_content().replace("\r\n", "\n")
    assert body.startswith("已发货。") and "> Any news?" in body
    m = model.conversation_messages
    [stored] = rows(center["db"], m, m.c.id == msg.id)
    assert stored.message_id == sent["Message-ID"]
    # the customer's answer to it threads here
    out = take(center, mail("Re: Re: Order 7", "thanks", in_reply_to=sent["Message-ID"]))
    assert (out.kind, out.conversation_id) == ("appended", cid)


def test_a_failed_reply_is_noted_and_sent_later_with_the_same_id(center: dict[str, Any]) -> None:
    take(center, mail("Order", mid="<m1@example.com>"))
    cid = rows(center["db"], model.conversations)[0].id
    outbox, svc = center["outbox"], center["svc"]
    outbox.fail = "connection refused"
    with pytest.raises(ChannelError, match="kept"):
        answer(center, cid, "On its way.")
    failed = events(center["db"], cid, "send_failed")
    assert any("connection refused" in e.detail for e in failed)
    m = model.conversation_messages
    [line] = rows(center["db"], m, m.c.sender == "agent")
    assert line.message_id is None  # kept, not sent
    assert resolved(svc.resend_unsent()) == 0  # not before its retry time
    outbox.fail = None
    center["rig"].clock.advance(3600)  # (the resend loop runs on the clock too)
    [_, (_, sent)] = outbox.sent
    assert sent["Message-ID"].startswith(f"<ccbox.{line.id}.")
    assert resolved(svc.resend_unsent()) == 0  # sent once
    assert len(outbox.sent) == 2


def test_the_sla_breach_is_told_once_and_counted(center: dict[str, Any]) -> None:
    take(center, mail("Order", sender="a@example.com"))
    take(center, mail("Other", sender="b@example.com"))
    first, second = (r.id for r in rows(center["db"], model.conversations))
    told: list[EmailSlaBreached] = []
    center["rig"].bus.subscribe(EmailSlaBreached, told.append)
    svc = center["svc"]
    assert resolved(svc.check_sla()) == 0
    answer(center, second, "answered in time")
    rig, agent = center["rig"], center["ids"]["1001"]
    if agent in rig.offered_to(first):
        rig.run(rig.ch.decline(agent, first))
    rig.acd.pause(agent, "break")  # nobody takes the first one in time
    rig.clock.advance(61 * 60)  # the SLA loop runs on the clock
    assert [e.conversation_id for e in told] == [first]
    assert resolved(svc.check_sla()) == 0  # told once
    assert resolved(svc.open_breached()) == 1
    answer(center, first, "sorry for the wait")
    assert resolved(svc.open_breached()) == 0


def test_a_mail_over_the_size_limit_is_kept_as_its_headers(center: dict[str, Any]) -> None:
    center["ingest"].max_bytes = 4096
    out = take(center, mail("Huge", "x" * 20_000, attachments=(("shot.png", PNG),)))
    assert out.kind == "new"
    c = rows(center["db"], model.conversations)[0]
    assert c.subject == "Huge" and c.email == "ann@example.com"
    [m] = rows(
        center["db"],
        model.conversation_messages,
        model.conversation_messages.c.sender == "customer",
    )
    assert "[the mail was larger than 4 KB: only its headers were kept]" in m.body
    assert "x" * 100 not in m.body
    assert rows(center["db"], model.conversation_attachments) == []


def test_the_thread_is_in_the_customers_timeline_with_its_subject(center: dict[str, Any]) -> None:
    from appliance.crm import timeline

    take(center, mail("发票抬头", "请修改抬头", sender="wang@example.com", name="王五"))
    items = resolved(defer.ensureDeferred(timeline.timeline(center["db"], 5)))
    [thread] = [i for i in items if i.kind == "email_thread"]
    c = rows(center["db"], model.conversations)[0]
    assert (thread.ref_kind, thread.ref_id, thread.ref_group) == (
        "conversation",
        c.id,
        str(c.ticket_id),
    )
    assert thread.title == "E-mail from 王五"
    assert thread.detail.startswith("发票抬头")


def test_a_mail_before_the_engine_is_ready_is_kept_for_the_retry(center: dict[str, Any]) -> None:
    from acd.channels.email.ingest import EngineStarting

    center["ch"].ready = False
    raw = mail("Early", mid="<early@example.com>")
    with pytest.raises(EngineStarting):
        take(center, raw)
    assert rows(center["db"], model.conversations) == []
    center["ch"].ready = True
    out = take(center, raw)
    assert out.kind == "new"
    assert rows(center["db"], model.conversations)[0].state in ("waiting", "offered")


def test_a_mailbox_history_gets_threads_but_no_auto_replies(center: dict[str, Any]) -> None:
    """An account watched for the first time hands over old mail: kept, not answered."""
    old = email.utils.format_datetime(at(T0) - dt.timedelta(days=30))
    out = take(center, mail("Last month", headers={"Date": old}))
    assert out.kind == "new" and out.auto_reply.startswith("an old mail")
    fresh = email.utils.format_datetime(at(T0) - dt.timedelta(minutes=5))
    out = take(center, mail("Just now", sender="bo@example.com", headers={"Date": fresh}))
    assert out.auto_reply == "sent"


def test_a_bounce_of_our_reply_joins_its_thread(center: dict[str, Any]) -> None:
    take(center, mail("Order", mid="<m1@example.com>"))
    auto_id = center["outbox"].sent[0][1]["Message-ID"]
    cid = rows(center["db"], model.conversations)[0].id
    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        "To: help@center.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn1@mx.example.com>\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nann@example.com: mailbox full\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Final-Recipient: rfc822; ann@example.com\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: help@center.example\r\nTo: ann@example.com\r\nMessage-ID: {auto_id}\r\n"
        "--B--\r\n"
    ).encode()
    out = take(center, dsn)
    assert (out.kind, out.conversation_id) == ("appended", cid)
    assert len(rows(center["db"], model.conversations)) == 1
    assert len(center["outbox"].sent) == 1  # nobody answers a daemon


def test_the_same_mail_to_two_of_our_mailboxes_at_once_is_one_thread(
    center: dict[str, Any],
) -> None:
    """Two accounts' watchers hand the same mail over while the first is still being
    stored (the engine's answer held back): still one thread."""
    second = dataclasses.replace(center["account"], id=2, address="sales@center.example")
    raw = mail("Both of you", mid="<cc@example.com>")
    ch = center["ch"]
    real = ch.start_email_thread
    gate: defer.Deferred[None] = defer.Deferred()

    async def held(**kw: Any) -> Any:
        await gate
        return await real(**kw)

    ch.start_email_thread = held
    first = defer.ensureDeferred(center["ingest"].take(center["account"], raw))
    other = defer.ensureDeferred(center["ingest"].take(second, raw))
    assert not first.called and not other.called
    gate.callback(None)
    assert sorted([resolved(first).kind, resolved(other).kind]) == ["duplicate", "new"]
    assert len(rows(center["db"], model.conversations)) == 1


def test_a_slow_smtp_server_holds_up_no_other_mail(center: dict[str, Any]) -> None:
    svc = center["svc"]
    waiting: list[defer.Deferred[None]] = []

    def held(*args: Any) -> defer.Deferred[None]:
        waiting.append(defer.Deferred())
        return waiting[-1]

    svc._send = held
    ingest = center["ingest"]
    first = defer.ensureDeferred(ingest.take(center["account"], mail("One")))
    assert len(waiting) == 1 and not first.called  # its auto-reply on its way
    second = defer.ensureDeferred(ingest.take(center["account"], mail("Two", sender="b@x.cn")))
    assert len(waiting) == 2  # the second mail was stored and answered meanwhile
    assert len(rows(center["db"], model.conversations)) == 2
    for d in waiting:
        d.callback(None)
    assert resolved(first).auto_reply == resolved(second).auto_reply == "sent"


def test_an_agents_reply_carries_its_attachments(center: dict[str, Any]) -> None:
    take(center, mail("Where is the shop?"))
    cid = rows(center["db"], model.conversations)[0].id
    stored = center["uploads"].put(PNG, "地图.png")
    rig, agent = center["rig"], center["ids"]["1001"]
    att = rig.run(
        rig.ch.add_attachment(
            cid,
            file_name=stored.filename,
            content_type=stored.mime,
            size=stored.size,
            sha256=stored.sha256,
        )
    )
    rig.acd.login(agent)
    rig.run(rig.ch.accept(agent, cid))
    svc, in_thread, ran = center["svc"], center["svc"]._in_thread, []

    def noted(fn: Any, *args: Any) -> Any:
        ran.append(fn.__name__)
        return in_thread(fn, *args)

    svc._in_thread = noted
    rig.run(rig.ch.agent_says(agent, cid, "见附件地图。", attachment_ids=[att.id]))
    # the files read and the mail built and encoded (a second over 20 MB) off the reactor
    assert ran == ["read", "wire"]
    _, (_, sent) = center["outbox"].sent
    [part] = list(sent.iter_attachments())
    assert part.get_filename() == "地图.png"
    assert part.get_content_type() == "image/png"
    assert part.get_content() == PNG
    assert sent.get_body(("plain",)).get_content().startswith("见附件地图。")


def test_a_mail_that_fails_again_and_again_is_set_aside_not_a_database_fault(
    center: dict[str, Any],
) -> None:
    from acd.channels.email.service import SET_ASIDE_AFTER

    svc, ingest = center["svc"], center["ingest"]
    real = ingest.take
    raised: list[Exception] = []

    async def broken(account: Any, raw: bytes) -> Any:
        raise raised[-1]

    ingest.take = broken
    raw = mail("Cursed", "nothing expected this", mid="<cursed@example.com>")
    # the database down: never set aside, however often it fails
    raised.append(sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error")))
    for _ in range(SET_ASIDE_AFTER * 2):
        with pytest.raises(sa.exc.OperationalError):
            resolved(svc._take(1, 7, raw))
    # a bug: the mail is set aside on its fifth failure in a row, and only then
    raised.append(TypeError("an odd mail"))
    for _ in range(SET_ASIDE_AFTER - 1):
        with pytest.raises(TypeError):
            resolved(svc._take(1, 7, raw))
    assert rows(center["db"], model.conversations) == []
    cid = resolved(svc._take(1, 7, raw))  # taken: the watcher goes on to the next mail
    c = rows(center["db"], model.conversations)[0]
    assert (c.id, c.state, c.subject) == (cid, "message", "(a mail that could not be read)")
    [e] = events(center["db"], cid, "not_routed")
    assert "TypeError: an odd mail" in e.detail
    [m] = rows(center["db"], model.conversation_messages)
    assert "nothing expected this" in m.body and "could not be read" in m.body
    # once the ingest works again a copy of it is a duplicate, not a second thread
    ingest.take = real
    assert resolved(svc._take(1, 8, raw)).kind == "duplicate"


def test_a_reply_sent_but_not_marked_sent_is_marked_later_never_sent_twice(
    center: dict[str, Any],
) -> None:
    take(center, mail("Order", mid="<m1@example.com>"))
    cid = rows(center["db"], model.conversations)[0].id
    svc, store, outbox = center["svc"], center["svc"].store, center["outbox"]
    real_mark = store.mark_sent
    fails = [OSError("database gone")]

    def mark_sent(row: int, mid: str) -> defer.Deferred[None]:
        return defer.fail(fails.pop()) if fails else real_mark(row, mid)

    store.mark_sent = mark_sent
    msg = answer(center, cid, "On its way.")  # the server took it: no "kept, not sent"
    assert len(outbox.sent) == 2 and not fails
    m = model.conversation_messages
    assert rows(center["db"], m, m.c.id == msg.id)[0].message_id is None
    assert resolved(svc.resend_unsent()) == 1  # the mark written, the mail not sent again
    assert len(outbox.sent) == 2
    assert rows(center["db"], m, m.c.id == msg.id)[0].message_id == outbox.sent[1][1]["Message-ID"]
    assert resolved(svc.resend_unsent()) == 0


def test_the_resend_loop_does_not_send_again_a_reply_sent_since_it_read_its_list(
    center: dict[str, Any],
) -> None:
    take(center, mail("Order", mid="<m1@example.com>"))
    cid = rows(center["db"], model.conversations)[0].id
    svc, outbox = center["svc"], center["outbox"]
    outbox.fail = "connection refused"
    with pytest.raises(ChannelError, match="kept"):
        answer(center, cid, "On its way.")
    outbox.fail = None
    stale = resolved(svc.store.unsent())  # the loop's list, read while the reply was unsent
    assert len(stale) == 1
    center["rig"].clock.advance(3600)  # sent by the loop's next round
    assert len(outbox.sent) == 2
    svc.store.unsent = lambda limit=100: defer.succeed(stale)
    assert resolved(svc.resend_unsent()) == 0
    assert len(outbox.sent) == 2


def test_an_encoded_word_in_a_subject_writes_no_header_into_the_auto_reply(
    center: dict[str, Any],
) -> None:
    """A subject encoded twice reaches us as a literal encoded word; set as our reply's
    subject the email package decoded it again, CR LF and all."""
    inner = "=?utf-8?q?x=0D=0AX-Evil:_1=0D=0A=0D=0AFake_body?="
    outer = "=?utf-8?b?" + base64.b64encode(inner.encode()).decode() + "?="
    raw = mail("PLACEHOLDER").replace(b"PLACEHOLDER", outer.encode())
    out = take(center, raw)
    assert out.auto_reply == "sent"
    [(_, sent)] = center["outbox"].sent
    assert "X-Evil" not in sent and "\n" not in sent["Subject"]
    assert "Fake body" not in sent.get_body(("plain",)).get_content()


def test_replies_that_cannot_go_do_not_hide_the_later_ones_from_the_resend_loop(
    center: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from acd.channels.email import service as email_service

    monkeypatch.setattr(email_service, "UNSENT_PAGE", 2)
    take(center, mail("Order", mid="<m1@example.com>"))
    cid = rows(center["db"], model.conversations)[0].id
    svc, outbox, rig, agent = center["svc"], center["outbox"], center["rig"], center["ids"]["1001"]
    outbox.fail = "connection refused"
    for text in ("one", "two", "three", "four", "five"):
        with pytest.raises(ChannelError, match="kept"):
            if text == "one":
                answer(center, cid, text)
            else:
                rig.run(rig.ch.agent_says(agent, cid, text))
    outbox.fail = None
    m = model.conversation_messages
    lines = rows(center["db"], m, m.c.sender == "agent")
    assert len(lines) == 5
    far = rig.clock.seconds() + 10 * 3600
    for line in lines[:4]:  # the first four wait long (as replies that never go would)
        svc._retry_at[line.id] = (far, 3600.0)
    svc._retry_at.pop(lines[4].id, None)
    real = svc.store.unsent  # the database's pages of two
    svc.store.unsent = lambda limit=100, after=0: real(min(limit, 2), after)
    assert resolved(svc.resend_unsent()) == 1
    [_, (_, sent)] = outbox.sent
    assert sent.get_body(("plain",)).get_content().startswith("five")


def test_a_reply_failing_again_and_again_is_noted_once_per_reason(center: dict[str, Any]) -> None:
    take(center, mail("Order", mid="<m1@example.com>"))
    cid = rows(center["db"], model.conversations)[0].id
    outbox, rig = center["outbox"], center["rig"]
    outbox.fail = "connection refused"
    with pytest.raises(ChannelError, match="kept"):
        answer(center, cid, "On its way.")
    m = model.conversation_messages
    [line] = rows(center["db"], m, m.c.sender == "agent")

    def noted() -> list[str]:
        mine = f"message {line.id}: "
        return [e.detail for e in events(center["db"], cid, "send_failed") if mine in e.detail]

    for _ in range(5):  # tried again each time its backoff ends
        rig.clock.advance(3600)
    assert len(noted()) == 1
    outbox.fail = "mailbox full"
    rig.clock.advance(3600)
    assert len(noted()) == 2 and "mailbox full" in noted()[-1]
    outbox.fail = None
    rig.clock.advance(3600)
    assert len(outbox.sent) == 2

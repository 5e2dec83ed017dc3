"""The e-mail channel end to end over real loopback sockets: mails delivered into the
loopback IMAP server (drivers/mail/sim) are taken by the channel's watcher, threaded,
routed and answered through the loopback SMTP server; a mail loop with auto-responders
that answer over the same servers ends with one auto-reply; a database failure during the
ingest leaves the mail on the server until it is stored.

The channels' engine (ChannelService beside the call ACD) is the daemon's, on the real
reactor and a database in its thread pool.
"""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from acd.channels.email.service import EmailChannelService
from acd.channels.service import ChannelService
from acd.service import ACD
from appliance.config import ChatConfig, EmailChannelConfig
from appliance.db import migrate, model
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine
from appliance.eventbus import EventBus
from drivers.mail.imap import ImapWatcher
from drivers.mail.sim import LoopbackMailServer
from tests.support.tmp import temp_dir
from tests.unit.test_email_channel_ingest import TRANSLATORS

pytestmark = pytest.mark.integration

ACCOUNT, PASSWORD = "help@center.example", "Mail-Test-7!"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


async def until(check: Callable[[], bool], within_s: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s} s: {what or check}")
        await deferLater(reactor, 0.02, lambda: None)


async def settle(s: float = 0.5) -> None:
    await deferLater(reactor, s, lambda: None)


def raw_mail(
    subject: str,
    text: str,
    *,
    sender: str = "ann@example.cn",
    mid: str,
    in_reply_to: str = "",
    headers: dict[str, str] | None = None,
    charset: str = "utf-8",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer <{sender}>"
    msg["To"] = ACCOUNT
    msg["Subject"] = subject
    msg["Message-ID"] = mid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(text, charset=charset, cte="8bit" if charset != "utf-8" else None)
    return msg.as_bytes()


def parsed(data: bytes) -> Any:
    return email.message_from_bytes(data, policy=email.policy.default)


class Clock:
    def __call__(self) -> Any:
        import datetime as dt

        return dt.datetime.now(dt.UTC)


class EmailChannelTests(unittest.TestCase):
    timeout = 120

    async def box(self) -> None:
        """The database, the loopback mail server (with IDLE: mails delivered while others
        are stored must be taken without the poll) and the channel watching its account."""
        url = f"sqlite:///{temp_dir(self) / 'email.sqlite'}"
        engine = create_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        self.db = DBConnector(reactor, url)
        await self.db.startService()
        self.addCleanup(self.db.stopService)
        self.srv = LoopbackMailServer(reactor, {ACCOUNT: PASSWORD})
        self.srv.start()
        self.addCleanup(self.srv.stop)
        srv = self.srv

        def thd(conn: sa.Connection) -> None:
            for qid, name in ((1, "general"), (2, "billing")):
                conn.execute(
                    model.queues.insert().values(
                        id=qid, name=name, media="email", created_at=Clock()()
                    )
                )
            conn.execute(
                model.email_accounts.insert().values(
                    id=1,
                    name="help",
                    address=ACCOUNT,
                    display_name="客服中心",
                    imap_host="127.0.0.1",
                    imap_port=srv.imap_port,
                    imap_security="none",
                    imap_user=ACCOUNT,
                    imap_password=PASSWORD,
                    smtp_host="127.0.0.1",
                    smtp_port=srv.smtp_port,
                    smtp_security="none",
                    queue_id=1,
                )
            )
            conn.execute(
                model.email_routes.insert().values(
                    account_id=1, kind="keyword", pattern="发票", queue_id=2
                )
            )

        await self.db.run(thd)
        self.agent = (await self.db.agents.add("1001", "小张", "", "PJSIP/1001")).id
        for queue_id in (1, 2):
            await self.db.agents.set_member(queue_id, self.agent)
        bus = EventBus()
        self.acd = ACD(reactor, self.db, bus)
        await defer.maybeDeferred(self.acd.startService)
        self.addCleanup(self.acd.stopService)
        self.engine = ChannelService(
            reactor=reactor, db=self.db, acd=self.acd, bus=bus, config=ChatConfig()
        )
        await defer.maybeDeferred(self.engine.startService)
        self.addCleanup(self.engine.stopService)

        def watcher(*args: Any) -> ImapWatcher:
            w = ImapWatcher(*args)
            w.first_backoff_s = 0.1
            w.idle_check_s = 0.3
            return w

        self.svc = EmailChannelService(
            reactor=reactor,
            db=self.db,
            channels=self.engine,
            config=EmailChannelConfig(poll_s=1),
            data_dir=temp_dir(self),
            translators=TRANSLATORS,
            watcher_factory=watcher,
        )
        self.svc.startService()
        self.addCleanup(self.svc.stopService)
        await until(lambda: 1 in self.svc._watched, what="the account watched")
        await until(lambda: self.svc._watched[1].watcher.idle_used, what="the watcher idling")
        assert self.engine.email_sender is self.svc

    async def rows(self, table: sa.Table, *where: Any) -> list[Any]:
        def thd(conn: sa.Connection) -> list[Any]:
            return list(conn.execute(sa.select(table).where(*where).order_by(table.c.id)))

        rows: list[Any] = await self.db.run(thd)
        return rows

    async def customer_mails(self) -> list[Any]:
        m = model.conversation_messages
        return await self.rows(m, m.c.sender == "customer")

    def sent_to(self, address: str) -> list[Any]:
        return [parsed(s.data) for s in self.srv.sent if address in s.recipients]

    # ---- the tests --------------------------------------------------------------------

    async def test_a_thread_routed_answered_once_and_kept_by_replies(self) -> None:
        await self.box()
        self.srv.deliver(
            ACCOUNT, raw_mail("请开发票", "我需要上个月的发票。", mid="<m1@example.cn>")
        )
        await until(lambda: len(self.sent_to("ann@example.cn")) == 1, what="the auto-reply")
        [thread] = await self.rows(model.conversations)
        self.assertEqual((thread.queue_id, thread.language), (2, "zh"))
        [auto] = self.sent_to("ann@example.cn")
        self.assertEqual(auto["Subject"], f"Re: 请开发票 [#E{thread.id}]")
        self.assertEqual(auto["Auto-Submitted"], "auto-replied")
        self.assertEqual(auto["In-Reply-To"], "<m1@example.cn>")
        self.assertIn(f"[#E{thread.id}]", auto.get_content())

        # the customer answers the auto-reply: same thread, no second auto-reply
        self.srv.deliver(
            ACCOUNT,
            raw_mail(
                "Re: 请开发票", "公司抬头是…", mid="<m2@example.cn>", in_reply_to=auto["Message-ID"]
            ),
        )
        await until_rows(self, 2)
        # a fresh mail quoting only the reference: same thread
        self.srv.deliver(
            ACCOUNT, raw_mail(f"发票 [#E{thread.id}]", "还有税号", mid="<m3@example.cn>")
        )
        await until_rows(self, 3)
        self.assertEqual(len(await self.rows(model.conversations)), 1)
        await settle()
        self.assertEqual(len(self.sent_to("ann@example.cn")), 1)

        # an agent answers on the desk: the mail keeps the thread
        self.acd.login(self.agent)
        await until(lambda: self.engine.conversations[thread.id].state == "offered")
        await self.engine.accept(self.agent, thread.id)
        line = await self.engine.agent_says(self.agent, thread.id, "发票已开出。")
        await until(lambda: len(self.sent_to("ann@example.cn")) == 2, what="the reply sent")
        m = model.conversation_messages
        row_id = line.id
        reply = self.sent_to("ann@example.cn")[-1]
        self.assertEqual(reply["Subject"], f"Re: 请开发票 [#E{thread.id}]")
        self.assertEqual(reply["In-Reply-To"], "<m3@example.cn>")
        refs = reply["References"].split()
        self.assertEqual(refs[0], "<m1@example.cn>")
        self.assertEqual(refs[-3:], [auto["Message-ID"], "<m2@example.cn>", "<m3@example.cn>"])
        self.assertIsNone(reply["Auto-Submitted"])
        self.assertTrue(reply.get_content().startswith("发票已开出。"))
        [stored] = await self.rows(m, m.c.id == row_id)
        self.assertEqual(stored.message_id, reply["Message-ID"])

    async def test_chinese_charsets_and_a_duplicate(self) -> None:
        await self.box()
        self.srv.deliver(
            ACCOUNT, raw_mail("发票", "您好 我的发票在哪里", mid="<g@example.cn>", charset="gb2312")
        )
        self.srv.deliver(
            ACCOUNT,
            raw_mail(
                "發票",
                "您好 我的發票在哪裡",
                mid="<b@example.tw>",
                charset="big5",
                sender="tw@example.tw",
            ),
        )
        self.srv.deliver(
            ACCOUNT, raw_mail("发票", "您好 我的发票在哪里", mid="<g@example.cn>", charset="gb2312")
        )
        # the drivers' hand-written fixtures: GB2312 quoted-printable with a GBK character,
        # Big5 with an HKSCS one
        for name in ("gb2312_qp.eml", "big5_hkscs.eml", "gb2312_qp.eml"):
            self.srv.deliver(ACCOUNT, (FIXTURES / name).read_bytes())
        await until_rows(self, 4)
        await settle(1.0)
        bodies = [r.body for r in await self.customer_mails()]
        self.assertEqual(len(bodies), 4)  # the duplicate Message-IDs were dropped
        self.assertIn("我的发票在哪里", bodies[0])
        self.assertIn("我的發票在哪裡", bodies[1])
        self.assertIn("朱镕基同志的订单号是 A-1001", bodies[2])
        self.assertIn("請問𨋢何時修好", bodies[3])
        threads = await self.rows(model.conversations)
        self.assertEqual(
            [(t.name, t.subject) for t in threads[2:]],
            [("张三", "订单查询"), ("陳大文", "維修查詢")],
        )
        await until(lambda: self.svc._watched[1].watcher.last_uid == 6, what="all six taken")

    async def test_two_auto_responders_and_a_chatty_one_cause_no_storm(self) -> None:
        # A server without IDLE, polled every second: what is proven here is the loop
        # rule, not how fast new mail is noticed.
        await self.box()
        # bot@ answers every mail it gets with a marked auto-reply; dumb@ answers with an
        # unmarked one, and writes 30 mails on its own.
        answered: set[bytes] = set()
        seq = [0]

        def responders() -> None:
            for s in list(self.srv.sent):
                if s.data in answered:
                    continue
                answered.add(s.data)
                got = parsed(s.data)
                seq[0] += 1
                if "bot@example.org" in s.recipients:
                    self.srv.deliver(
                        ACCOUNT,
                        raw_mail(
                            "Auto: " + str(got["Subject"]),
                            "I am away.",
                            sender="bot@example.org",
                            mid=f"<bot{seq[0]}@example.org>",
                            in_reply_to=got["Message-ID"],
                            headers={"Auto-Submitted": "auto-replied"},
                        ),
                    )
                if "dumb@example.org" in s.recipients:
                    self.srv.deliver(
                        ACCOUNT,
                        raw_mail(
                            "Re: " + str(got["Subject"]),
                            "Thanks for your mail!",
                            sender="dumb@example.org",
                            mid=f"<dumb-r{seq[0]}@example.org>",
                            in_reply_to=got["Message-ID"],
                        ),
                    )

        from twisted.internet.task import LoopingCall

        loop = LoopingCall(responders)
        loop.start(0.05)
        self.addCleanup(loop.stop)
        self.srv.deliver(
            ACCOUNT, raw_mail("Hello", "hi", sender="bot@example.org", mid="<b0@example.org>")
        )
        for i in range(30):
            self.srv.deliver(
                ACCOUNT,
                raw_mail(
                    f"Away notice {i}", "away", sender="dumb@example.org", mid=f"<d{i}@example.org>"
                ),
            )
        await until_rows(self, 1 + 1 + 30 + 1, within_s=60)
        await settle(1.5)
        self.assertEqual(len(self.sent_to("bot@example.org")), 1)
        self.assertEqual(len(self.sent_to("dumb@example.org")), 1)
        customer = await self.customer_mails()
        self.assertEqual(len(customer), 33)  # bot: its mail and its one auto-reply
        threads = await self.rows(model.conversations)
        self.assertLessEqual(len(threads), 1 + 20)

    async def test_a_database_failure_leaves_the_mail_for_later(self) -> None:
        await self.box()
        real = self.engine.email_received
        failed: list[int] = []

        async def fails_once(conversation_id: int, message: Any) -> Any:
            self.engine.email_received = real  # type: ignore[method-assign]
            failed.append(conversation_id)
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

        self.engine.email_received = fails_once  # type: ignore[method-assign]
        self.srv.deliver(ACCOUNT, raw_mail("Order", "where is it", mid="<o1@example.cn>"))
        await until_rows(self, 1)
        await settle(0.5)
        self.assertEqual(len(await self.customer_mails()), 1)
        self.assertEqual(len(await self.rows(model.conversations)), 1)
        self.assertEqual(len(failed), 1)  # the first try did fail
        await until(lambda: self.svc._watched[1].watcher.last_uid == 1, what="taken")


async def until_rows(case: EmailChannelTests, n: int, within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        got = len(await case.customer_mails())
        if got >= n:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{got} customer mails stored, not {n}, within {within_s} s")
        await deferLater(reactor, 0.05, lambda: None)

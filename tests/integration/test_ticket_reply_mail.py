"""A ticket's e-mail reply through a real SMTP server on loopback (Twisted's, as the
voicemail mail test starts it) with ivr/mail_notify.py's client: the ticket is "replied"
once the server has taken the mail; a recipient the server refuses leaves a failed row and
the ticket where it was."""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor, tcp
from twisted.internet.task import deferLater
from twisted.mail import smtp
from twisted.trial import unittest

from appliance.config import SmtpConfig
from appliance.crm.tickets.replies import Replies, ReplyError
from appliance.crm.tickets.store import TicketStore
from appliance.db import migrate
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine
from tests.integration.test_voicemail_mail import _Delivery, _Factory, parsed
from tests.support.tmp import temp_dir

REFUSED = "gone@example.cn"


class _Refusing(_Delivery):
    """Takes every recipient but one (550 for it, as a server does for an unknown user)."""

    def validateTo(self, user: Any) -> Any:
        if str(user.dest) == REFUSED:
            raise smtp.SMTPBadRcpt(user)
        return super().validateTo(user)


class _RefusingFactory(_Factory):
    def buildProtocol(self, addr: Any) -> Any:
        p = super().buildProtocol(addr)
        p.delivery = _Refusing(self.inbox)
        return p


async def _clients_gone(port: int, within_s: float = 10.0) -> None:
    """Until no client connection to ``port`` is left in the reactor: a refused send's
    Deferred fails before its client has said QUIT and closed, and the test must not end
    with that connection open (trial's clean-reactor check, seen under load)."""

    def open_clients() -> list[Any]:
        live = list(reactor.getReaders()) + list(reactor.getWriters())  # type: ignore[attr-defined]
        return [s for s in live if isinstance(s, tcp.Client) and s.addr[1] == port]

    for _ in range(int(within_s / 0.01)):
        if not open_clients():
            return
        await deferLater(reactor, 0.01, lambda: None)
    raise AssertionError(f"client connections to port {port} still open: {open_clients()}")


class TicketReplyMailTests(unittest.TestCase):
    timeout = 60

    async def test_replied_once_the_server_takes_it_and_a_refusal_stays_failed(self) -> None:
        url = f"sqlite:///{temp_dir(self) / 't.sqlite'}"
        engine = create_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        db = DBConnector(reactor, url)
        await db.startService()
        self.addCleanup(db.stopService)
        agent = await db.agents.add("1001", "Ann", "", "PJSIP/1001")
        user = await db.users.add("ann", "Tickets-Test-9!", "agent")
        await db.agents.link_user(agent.id, user.id)
        store = TicketStore(db)
        tickets = []
        for subject in ("late", "lost"):
            tid = await store.create(
                "sue", type_key="complaint", subject=subject, assignee_kind="agent", assignee="1001"
            )
            await store.transition("ann", "agent", tid, "accepted")
            tickets.append(tid)
        inbox: list[tuple[list[str], bytes]] = []
        port: Any = reactor.listenTCP(0, _RefusingFactory(inbox), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        smtp_cfg = SmtpConfig(
            host="127.0.0.1", port=port.getHost().port, sender="desk@cc.test", timeout_s=5
        )
        replies = Replies(reactor, db, None, smtp_cfg)

        taken, refused = tickets
        row = await replies.email("ann", "agent", taken, "li@example.cn", "Re: late", "你好\n")
        self.assertEqual(row.state, "sent")
        [(to, raw)] = inbox
        self.assertEqual(to, ["li@example.cn"])
        number = (await store.get(taken)).number
        self.assertEqual(parsed(raw)["Subject"], f"[{number}] Re: late")
        self.assertEqual((await store.get(taken)).state, "replied")

        with self.assertRaises(ReplyError):
            await replies.email("ann", "agent", refused, REFUSED, "Re: lost", "hi")
        self.assertEqual(len(inbox), 1)
        [failed] = await store.messages(refused)
        self.assertEqual(failed.state, "failed")
        self.assertEqual((await store.get(refused)).state, "accepted")
        await _clients_gone(port.getHost().port)

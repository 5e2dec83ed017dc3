"""Voicemail e-mail through a real SMTP server on loopback (Twisted's, started by the test):
a message left over the simulator reaches the mailbox owner's address with the audio
attached; caller ID cannot inject headers; a dead mail server loses no message."""

from __future__ import annotations

import dataclasses
import email
import email.policy
from email.message import EmailMessage
from typing import Any

from twisted.internet import defer, reactor
from twisted.mail import smtp
from zope.interface import implementer

from appliance.config import SmtpConfig
from drivers.asterisk.simulator.agi_caller import CallerScript
from ivr import mail_notify
from tests.integration.test_ivr_switch import IVRTestCase, doc, n
from tests.support.acd_rig import wait_for


@implementer(smtp.IMessage)
class _Message:
    def __init__(self, inbox: list[tuple[list[str], bytes]], recipients: list[str]) -> None:
        self.inbox, self.recipients, self.lines = inbox, recipients, []

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)

    def eomReceived(self) -> defer.Deferred[None]:
        self.inbox.append((self.recipients, b"\n".join(self.lines) + b"\n"))
        return defer.succeed(None)

    def connectionLost(self) -> None:
        pass


@implementer(smtp.IMessageDelivery)
class _Delivery:
    def __init__(self, inbox: list[tuple[list[str], bytes]]) -> None:
        self.inbox = inbox
        self.recipients: list[str] = []

    def receivedHeader(self, helo: Any, origin: Any, recipients: Any) -> bytes:
        return b"Received: by the test"

    def validateFrom(self, helo: Any, origin: Any) -> Any:
        return origin

    def validateTo(self, user: Any) -> Any:
        self.recipients.append(str(user.dest))
        return lambda: _Message(self.inbox, list(self.recipients))


class _Factory(smtp.SMTPFactory):
    def __init__(self, inbox: list[tuple[list[str], bytes]]) -> None:
        super().__init__()
        self.inbox = inbox

    def buildProtocol(self, addr: Any) -> Any:
        p = smtp.ESMTP()
        p.factory = self
        p.delivery = _Delivery(self.inbox)
        return p


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


class VoicemailMailTests(IVRTestCase):
    def mail_server(self) -> tuple[list[tuple[list[str], bytes]], int]:
        inbox: list[tuple[list[str], bytes]] = []
        port = reactor.listenTCP(0, _Factory(inbox), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return inbox, port.getHost().port

    async def test_a_new_message_is_mailed_with_its_audio(self) -> None:
        inbox, port = self.mail_server()
        master = await self.start_ivr()
        master.ivr.voicemail.smtp = SmtpConfig(host="127.0.0.1", port=port, sender="box@cc.test")
        await master.db.voicemail.add_mailbox("801", "Sales", email="sales@cc.test")
        await self.publish(master, "main", doc([n("vm", "voicemail", mailbox="801")], []))
        outcome = await self.call(
            CallerScript(prompt_s=0.05, message_s=1.0, caller_name='"Evil" <b>x</b>')
        )
        await self.row(master, outcome.uniqueid)
        await wait_for(lambda: inbox, "the e-mail")
        [(to, raw)] = inbox
        self.assertEqual(to, ["sales@cc.test"])
        msg = parsed(raw)
        self.assertEqual(msg["Subject"], "New voicemail in mailbox 801 from 13800138000")
        body = msg.get_body(("plain",))
        assert body is not None
        self.assertIn('From: 13800138000 "Evil" <b>x</b>', body.get_content())
        [attachment] = list(msg.iter_attachments())
        self.assertEqual(attachment.get_content_type(), "audio/wav")
        [message] = await master.db.voicemail.messages("801")
        stored = (master.config.data_dir / "voicemail" / message.path).read_bytes()
        self.assertEqual(attachment.get_content(), stored)

    async def test_a_dead_mail_server_loses_no_message(self) -> None:
        master = await self.start_ivr()
        master.ivr.voicemail.smtp = SmtpConfig(host="127.0.0.1", port=9, timeout_s=2)
        await master.db.voicemail.add_mailbox("801", "Sales", email="sales@cc.test")
        await self.publish(master, "main", doc([n("vm", "voicemail", mailbox="801")], []))
        outcome = await self.call(CallerScript(prompt_s=0.05, message_s=1.0))
        await self.row(master, outcome.uniqueid)
        [message] = await master.db.voicemail.messages("801")
        self.assertEqual(message.duration_ms, 1000)
        pending = list(master.ivr.voicemail.mails)
        results = [await d for d in pending]
        self.assertEqual(results, [False] * len(pending))

    def test_caller_id_cannot_inject_headers(self) -> None:
        cfg = SmtpConfig(host="mail", sender="box@cc.test")
        notice = mail_notify.Notice(
            "a@cc.test", "801", "139\r\nBcc: victim@cc.test", "Evil\nX-Y: z", 3.0, "now"
        )
        msg = mail_notify.build_message(cfg, notice, None, "v.wav")
        again = parsed(msg.as_bytes())
        self.assertIsNone(again["Bcc"])
        self.assertIsNone(again["X-Y"])
        self.assertEqual(
            again["Subject"], "New voicemail in mailbox 801 from 139  Bcc: victim@cc.test"
        )

    def test_an_encoded_word_in_caller_id_cannot_inject_headers_either(self) -> None:
        """Python 3.11 (before 3.11.10) decodes an encoded word in a header value it is
        given and writes the CR LF it decoded: a caller ID holding one wrote its own
        headers into the mail."""
        cfg = SmtpConfig(host="mail", sender="box@cc.test")
        evil = "=?utf-8?q?139=0D=0ABcc=3A_victim=40cc=2Etest?="
        notice = mail_notify.Notice("a@cc.test", "801", evil, "", 3.0, "now")
        msg = mail_notify.build_message(cfg, notice, None, "v.wav")
        again = parsed(msg.as_bytes())
        self.assertIsNone(again["Bcc"])
        self.assertNotIn("victim", str(again.get_all("To")))

    async def test_notify_refuses_without_a_server_or_address(self) -> None:
        cfg = SmtpConfig()
        notice = mail_notify.Notice("a@b.c", "1", "2", "3", 1.0, "now")
        self.assertFalse(await mail_notify.notify(reactor, cfg, notice, None))
        cfg = dataclasses.replace(cfg, host="127.0.0.1")
        notice = dataclasses.replace(notice, to="")
        self.assertFalse(await mail_notify.notify(reactor, cfg, notice, None))

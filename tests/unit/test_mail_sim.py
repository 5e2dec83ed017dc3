"""The loopback mail server of drivers/mail/sim without sockets: its IMAP side answers IDLE
as RFC 2177 says and tells an idling client of new mail; its SMTP side keeps what
drivers/mail/smtp.send hands it (client and server joined in memory by iosim)."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.test import iosim

from drivers.mail import mime
from drivers.mail.sim import LoopbackMailServer
from drivers.mail.sim.server import _ImapFactory, _SmtpFactory
from drivers.mail.smtp import MailSendError, SmtpSettings, send

USER, PASSWORD = "desk@example.com", "Sim-Test-3!"


class Imap:
    """One IMAP server connection fed line by line; ``said()`` is what came back since."""

    def __init__(self, server: LoopbackMailServer) -> None:
        proto: Any = _ImapFactory(server).buildProtocol(None)
        proto.callLater = server.reactor.callLater  # its idle timeout on the test clock
        self.proto = proto
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)
        self.said()

    def said(self) -> list[bytes]:
        out = self.transport.value().split(b"\r\n")
        self.transport.clear()
        return [line for line in out if line]

    def send(self, line: bytes) -> list[bytes]:
        self.proto.dataReceived(line + b"\r\n")
        return self.said()

    def login_and_select(self) -> None:
        assert self.send(b"a1 LOGIN " + USER.encode() + b" " + PASSWORD.encode())[-1].startswith(
            b"a1 OK"
        )
        assert self.send(b"a2 SELECT INBOX")[-1].startswith(b"a2 OK")


@pytest.fixture(autouse=True)
def _global_reactor_untouched() -> Iterator[None]:
    """Everything runs on the test clock: nothing is left on the real reactor (where a
    later trial test in the same worker would find it)."""
    real: Any = reactor
    before = set(real.getDelayedCalls())
    yield
    assert set(real.getDelayedCalls()) == before


@pytest.fixture
def server() -> LoopbackMailServer:
    return LoopbackMailServer(MemoryReactorClock(), {USER: PASSWORD})


def test_idle_as_rfc_2177_says(server: LoopbackMailServer) -> None:
    imap = Imap(server)
    imap.login_and_select()
    assert imap.send(b"a3 IDLE") == [b"+ idling"]
    server.deliver(USER, b"Subject: hi\r\n\r\nx\r\n")
    assert imap.said() == [b"* 1 EXISTS"]  # untagged, at once, while idling
    assert imap.send(b"DONE") == [b"a3 OK IDLE terminated"]
    # and the session goes on: the new mail is there by UID
    assert imap.send(b"a4 UID SEARCH UID 1:*")[0] == b"* SEARCH 1"


def test_anything_but_done_ends_idle_with_bad(server: LoopbackMailServer) -> None:
    imap = Imap(server)
    imap.login_and_select()
    imap.send(b"b1 IDLE")
    assert imap.send(b"a5 NOOP") == [b"b1 BAD expected DONE"]


def test_a_server_without_idle_says_so(server: LoopbackMailServer) -> None:
    plain = LoopbackMailServer(server.reactor, {USER: PASSWORD}, idle=False)
    imap = Imap(plain)
    caps = imap.send(b"c1 CAPABILITY")[0]
    assert caps.startswith(b"* CAPABILITY") and b"IDLE" not in caps
    imap.login_and_select()
    assert imap.send(b"c2 IDLE")[0].startswith(b"c2 BAD")


def test_a_wrong_password_is_refused_and_counted(server: LoopbackMailServer) -> None:
    imap = Imap(server)
    assert imap.send(b"d1 LOGIN " + USER.encode() + b" nope")[-1].startswith(b"d1 NO")
    assert server.login_attempts == 1


def test_deliver_numbers_and_new_uidvalidity_renumbers(server: LoopbackMailServer) -> None:
    assert [server.deliver(USER, b"Subject: %d\r\n\r\n" % n) for n in (1, 2, 3)] == [1, 2, 3]
    old = server.uidvalidity(USER)
    box = server._mailbox(USER)
    box.messages.pop(0)  # as after an expunge: UIDs 2 and 3 left
    assert [uid for uid, _, _ in server.mailbox(USER)] == [2, 3]
    new = server.new_uidvalidity(USER)
    assert new != old and server.uidvalidity(USER) == new
    assert [uid for uid, _, _ in server.mailbox(USER)] == [1, 2]
    assert server.deliver(USER, b"Subject: 4\r\n\r\n") == 3


def test_an_unknown_user_has_no_mailbox(server: LoopbackMailServer) -> None:
    with pytest.raises(Exception, match="nobody"):
        server.deliver("nobody", b"x")


def _message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "support@example.com"
    msg["To"] = "sue@example.cn"
    msg["Subject"] = "回复 [#E7]"
    msg.set_content("已处理\n")
    return msg


def _send_in_memory(server: LoopbackMailServer, settings: SmtpSettings) -> Any:
    """smtp.send with its connection joined to the loopback server's SMTP side in memory."""
    clock: Any = server.reactor
    outcome: list[Any] = []
    d = send(clock, settings, "support@example.com", ["sue@example.cn"], _message())
    d.addBoth(outcome.append)
    host, port, factory, _timeout, _bind = clock.tcpClients[0]
    assert (host, port) == (settings.host, settings.port)
    client = factory.buildProtocol(None)
    served: Any = _SmtpFactory(server).buildProtocol(None)
    client.callLater = served.callLater = clock.callLater
    there = IPv4Address("TCP", "192.0.2.25", settings.port)
    here = IPv4Address("TCP", "192.0.2.10", 40000)
    pump = iosim.connect(
        served,
        iosim.FakeTransport(served, True, hostAddress=there, peerAddress=here),
        client,
        iosim.FakeTransport(client, False, hostAddress=here, peerAddress=there),
        clock=clock,
    )
    pump.flush()
    for _ in range(20):
        clock.advance(0.01)
        pump.flush()
    factory.clientConnectionLost(None, None)  # iosim closes without telling the factory
    return outcome[0] if outcome else None


def test_smtp_send_reaches_the_loopback_server_with_auth(server: LoopbackMailServer) -> None:
    settings = SmtpSettings("mail.example.com", 587, "none", USER, PASSWORD, 5.0)
    assert _send_in_memory(server, settings) is None  # sent
    [got] = server.sent
    assert (got.sender, got.recipients) == ("support@example.com", ("sue@example.cn",))
    back = mime.parse(got.data, max_bytes=100_000)
    assert (back.subject, back.text) == ("回复 [#E7]", "已处理")


def test_smtp_send_with_a_wrong_password_fails_with_a_reason(server: LoopbackMailServer) -> None:
    settings = SmtpSettings("mail.example.com", 587, "none", USER, "wrong", 5.0)
    failure = _send_in_memory(server, settings)
    assert failure is not None and failure.check(MailSendError)
    assert "wrong" not in failure.value.reason
    assert server.sent == []


def test_smtp_send_refuses_bad_settings_without_connecting() -> None:
    clock = MemoryReactorClock()
    for settings, to in (
        (SmtpSettings("mail.example.com", 25, "ssl-ish"), ["a@example.cn"]),
        (SmtpSettings("", 25, "none"), ["a@example.cn"]),
        (SmtpSettings("mail.example.com", 25, "none"), []),
    ):
        failures: list[Any] = []
        send(clock, settings, "s@example.com", to, _message()).addErrback(failures.append)
        assert failures and failures[0].check(MailSendError)
    assert clock.tcpClients == [] and clock.sslClients == []


def test_smtp_send_uses_implicit_tls_for_tls() -> None:
    clock = MemoryReactorClock()
    d = send(clock, SmtpSettings("mail.example.com", 465, "tls"), "s@e.com", ["a@e.cn"], _message())
    assert clock.tcpClients == [] and len(clock.sslClients) == 1
    assert clock.sslClients[0][:2] == ("mail.example.com", 465)
    d.cancel()
    d.addErrback(lambda f: f.trap(MailSendError))


def test_a_new_server_never_reuses_a_uidvalidity() -> None:
    """A demo started again has a new, empty mailbox numbered from 1: its UIDVALIDITY must
    differ from the one the channel saved last time, or the first mails would be skipped."""
    clock = MemoryReactorClock()
    first = LoopbackMailServer(clock, {USER: PASSWORD})
    before = first.uidvalidity(USER)
    again = LoopbackMailServer(clock, {USER: PASSWORD})
    current = again.uidvalidity(USER)
    assert current > before
    assert again.new_uidvalidity(USER) > current

"""The mail drivers against servers on loopback: the IMAP watcher (imapclient in its own
thread) against the loopback server of drivers/mail/sim and against a real dovecot started
by the test (tests/support/dovecot.py), and smtp.send against the loopback SMTP server.

Proven: mail that arrives while the watcher idles is handed over within a second, and so
is mail announced while another is stored, before IDLE's "+", with it, or during a search
that missed it; a
restart from the saved (uidvalidity, last_uid) hands nothing over twice; a failing
on_message keeps the message for the retry and nothing overtakes it; a changed UIDVALIDITY
reads the folder again; a server without IDLE is polled; a refused login is reported and
not retried in a tight loop; stop() ends an IDLE at once; a dropped connection is made
again. Without dovecot the dovecot tests fail and say how to install it (never skipped).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.mail import imap4
from twisted.trial import unittest

from drivers.mail import mime
from drivers.mail.imap import FETCH_REFUSALS, HEAD_MAX_BYTES, ImapSettings, ImapWatcher
from drivers.mail.sim import LoopbackMailServer
from drivers.mail.sim.server import _ImapServer
from drivers.mail.smtp import MailSendError, SmtpSettings, send
from tests.support import dovecot, tls_cert
from tests.support.ports import free_port
from tests.support.tmp import temp_dir

pytestmark = pytest.mark.integration

USER, PASSWORD = "desk@example.com", "Mail-Test-7!"


def mail(n: int, subject: str = "") -> bytes:
    return (
        f"From: customer{n}@example.cn\r\nTo: {USER}\r\nSubject: {subject or f'mail {n}'}\r\n"
        f"Message-ID: <m{n}@example.cn>\r\n\r\nbody {n}\r\n"
    ).encode()


async def until(check: Callable[[], bool], within_s: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s} s: {what or check}")
        await deferLater(reactor, 0.01, lambda: None)


class Inbox:
    """What a watcher handed over: (uid, Message-ID, when), the states it saved, and its
    health reports. ``fail_next`` makes the next on_message fail (a database error)."""

    def __init__(self) -> None:
        self.got: list[tuple[int, str, float]] = []
        self.raws: list[bytes] = []
        self.parsed: list[mime.ParsedMail] = []
        self.states: list[tuple[int, int]] = []
        self.health: list[tuple[str, str]] = []
        self.fail_next = 0

    def on_message(self, uid: int, raw: bytes) -> defer.Deferred[None]:
        if self.fail_next:
            self.fail_next -= 1
            return defer.fail(RuntimeError("database is locked"))
        self.raws.append(raw)
        parsed = mime.parse(raw, max_bytes=1_000_000)
        self.got.append((uid, parsed.message_id, time.monotonic()))
        self.parsed.append(parsed)
        return deferLater(reactor, 0.001, lambda: None)  # stored a little later, as a DB does

    def on_state(self, uidvalidity: int, last_uid: int) -> None:
        self.states.append((uidvalidity, last_uid))

    def on_health(self, status: str, detail: str) -> None:
        self.health.append((status, detail))

    def ids(self) -> list[str]:
        return [mid for _, mid, _ in self.got]

    def uids(self) -> list[int]:
        return [uid for uid, _, _ in self.got]


class WatcherCase(unittest.TestCase):
    timeout = 60

    async def all_header_over_max_bytes(self, srv: Any, port: int) -> None:
        """A message with no blank line is all header: its header block is fetched only
        up to HEAD_MAX_BYTES (it was fetched whole, however large)."""
        folded = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"y" * 70) for i in range(4000))
        big = mail(1, "无正文").split(b"\r\n\r\n")[0] + b"\r\n" + folded  # 340 KB
        srv.deliver(USER, big)
        srv.deliver(USER, mail(2))
        inbox = Inbox()
        self.watcher(port, inbox, max_bytes=100_000).start()
        await until(lambda: len(inbox.got) == 2)
        head = inbox.raws[0]
        assert isinstance(head, mime.HeadersOnly) and head.size == len(big)
        assert len(head) == HEAD_MAX_BYTES and big.startswith(bytes(head))
        first, second = inbox.parsed
        assert first.too_large and first.subject == "无正文" and first.text == ""
        assert not second.too_large and second.text == "body 2"

    def watcher(
        self,
        port: int,
        inbox: Inbox,
        state: tuple[int | None, int] = (None, 0),
        *,
        password: str = PASSWORD,
        poll_s: float = 60.0,
        max_bytes: int = 0,
    ) -> ImapWatcher:
        settings = ImapSettings(
            host="127.0.0.1",
            port=port,
            security="none",
            user=USER,
            password=password,
            poll_s=poll_s,
            timeout_s=5.0,
            max_bytes=max_bytes,
        )
        w = ImapWatcher(reactor, settings, state, inbox.on_message, inbox.on_state, inbox.on_health)
        w.first_backoff_s = 0.1
        w.idle_check_s = 0.5
        self.addCleanup(w.stop)
        return w


class SimWatcherTests(WatcherCase):
    def server(self, *, idle: bool = True) -> LoopbackMailServer:
        srv = LoopbackMailServer(reactor, {USER: PASSWORD}, idle=idle)
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    async def test_mail_arriving_while_idle_is_handed_over_within_a_second(self) -> None:
        srv = self.server()
        srv.deliver(USER, mail(1))
        srv.deliver(USER, mail(2))
        inbox = Inbox()
        w = self.watcher(srv.imap_port, inbox)
        w.start()
        await until(lambda: len(inbox.got) == 2, what="the two waiting mails")
        assert inbox.ids() == ["<m1@example.cn>", "<m2@example.cn>"]
        assert inbox.health[-1][0] == "ok"
        await deferLater(reactor, 0.3, lambda: None)  # into IDLE
        assert w.idle_used
        sent_at = time.monotonic()
        srv.deliver(USER, mail(3, "你好"))
        await until(lambda: len(inbox.got) == 3, within_s=5, what="the new mail")
        assert inbox.got[2][2] - sent_at < 1.0
        assert inbox.uids() == [1, 2, 3]
        await until(lambda: inbox.states[-1] == (srv.uidvalidity(USER), 3), what="state saved")
        # read only: the customer's mailbox keeps its flags (nothing marked \Seen)
        assert all(flags == [] for _, _, flags in srv.mailbox(USER))

    async def idling(self, srv: LoopbackMailServer, inbox: Inbox) -> ImapWatcher:
        w = self.watcher(srv.imap_port, inbox)
        w.start()
        await until(lambda: srv.idles == 1, what="the first IDLE")
        return w

    def no_session_lost(self, srv: LoopbackMailServer, inbox: Inbox) -> None:
        assert [s for s, _ in inbox.health] == ["ok"]
        assert srv.login_attempts == 1

    async def test_a_mail_arriving_while_the_last_is_stored_is_taken(self) -> None:
        # the server announces it (* 2 EXISTS) between two commands, before the IDLE
        srv = self.server()
        inbox = Inbox()
        stored = inbox.on_message

        def on_message(uid: int, raw: bytes) -> defer.Deferred[None]:
            if uid == 1:
                srv.deliver(USER, mail(2))
            return stored(uid, raw)

        inbox.on_message = on_message  # type: ignore[method-assign]
        await self.idling(srv, inbox)
        srv.deliver(USER, mail(1))
        await until(lambda: len(inbox.got) == 2, within_s=5, what="the mail stored meanwhile")
        assert inbox.uids() == [1, 2]
        self.no_session_lost(srv, inbox)

    async def test_a_mail_announced_before_idle_begins_is_taken(self) -> None:
        # * 2 EXISTS comes before the server's "+ idling" (imapclient's idle() called it a
        # broken answer: the session was lost and the mail waited for a new one)
        await self.announced_around_idle(before=True)

    async def test_a_mail_announced_with_idles_answer_is_taken(self) -> None:
        # * 2 EXISTS comes in the same packet as "+ idling": imaplib reads both into its
        # buffer, and idle_check() polls the socket, which stays quiet for 25 minutes
        await self.announced_around_idle(before=False)

    async def announced_around_idle(self, *, before: bool) -> None:
        srv = self.server()
        inbox = Inbox()
        armed: list[bool] = []
        plain_idle = _ImapServer.select_IDLE[0]

        def do_idle(server: _ImapServer, tag: bytes) -> None:
            if armed and before:
                armed.clear()
                srv.deliver(USER, mail(2))
            plain_idle(server, tag)
            if armed:
                armed.clear()
                srv.deliver(USER, mail(2))

        self.patch(_ImapServer, "select_IDLE", (do_idle,))
        await self.idling(srv, inbox)
        armed.append(True)  # the next IDLE, once mail 1 is taken
        srv.deliver(USER, mail(1))
        await until(lambda: len(inbox.got) == 2, within_s=5, what="the mail announced")
        assert inbox.uids() == [1, 2] and not armed
        self.no_session_lost(srv, inbox)

    async def test_a_mail_announced_during_a_search_that_missed_it_is_taken(self) -> None:
        # the search after mail 1 was stored finds nothing; the mail it announced (filed
        # by imaplib with the search's answer) must not wait for the next IDLE (25 min)
        srv = self.server()
        inbox = Inbox()
        box = srv._mailbox(USER)
        plain_fetch = box.fetch
        armed: list[bool] = []

        def fetch(messages: Any, uid: bool) -> Any:
            found = plain_fetch(messages, uid)
            if armed and len(inbox.got) == 1:
                armed.clear()
                srv.deliver(USER, mail(2))  # after the search looked
            return found

        box.fetch = fetch  # type: ignore[method-assign]
        await self.idling(srv, inbox)
        armed.append(True)
        srv.deliver(USER, mail(1))
        await until(lambda: len(inbox.got) == 2, within_s=5, what="the mail announced")
        assert inbox.uids() == [1, 2] and not armed
        self.no_session_lost(srv, inbox)

    async def test_restart_from_saved_state_hands_nothing_over_twice(self) -> None:
        srv = self.server()
        for n in (1, 2, 3):
            srv.deliver(USER, mail(n))
        first = Inbox()
        w = self.watcher(srv.imap_port, first)
        w.start()
        await until(lambda: len(first.got) == 3)
        await until(lambda: first.states[-1][1] == 3, what="the state saved")
        await w.stop()
        saved = first.states[-1]
        assert saved == (srv.uidvalidity(USER), 3)
        srv.deliver(USER, mail(4))
        second = Inbox()
        self.watcher(srv.imap_port, second, saved).start()
        await until(lambda: len(second.got) == 1)
        await deferLater(reactor, 0.5, lambda: None)
        assert second.ids() == ["<m4@example.cn>"]
        assert second.uids() == [4]

    async def test_a_failing_on_message_keeps_the_mail_for_the_retry(self) -> None:
        srv = self.server()
        inbox = Inbox()
        w = self.watcher(srv.imap_port, inbox)
        w.start()
        await until(lambda: bool(inbox.health) and inbox.health[-1][0] == "ok")
        await deferLater(reactor, 0.3, lambda: None)
        inbox.fail_next = 2
        srv.deliver(USER, mail(1))
        srv.deliver(USER, mail(2))
        await until(lambda: any(s == "error" for s, _ in inbox.health), what="error health")
        assert "database is locked" in next(d for s, d in inbox.health if s == "error")
        assert inbox.got == [] and (w.uidvalidity, w.last_uid) == (srv.uidvalidity(USER), 0)
        await until(lambda: len(inbox.got) == 2, what="the retry")
        assert inbox.uids() == [1, 2]  # in order: nothing overtook the failed one
        await until(lambda: inbox.states[-1][1] == 2, what="the state saved")
        assert [s[1] for s in inbox.states] == [0, 1, 2]
        assert inbox.health[-1][0] == "ok"

    async def test_a_message_the_server_never_lets_be_read_is_left_and_the_next_taken(
        self,
    ) -> None:
        srv = self.server()
        inbox = Inbox()
        for n in (1, 2, 3):
            srv.deliver(USER, mail(n))
        srv.make_unreadable(USER, 1)
        srv.make_unreadable(USER, 2)  # each unreadable message is counted on its own
        w = self.watcher(srv.imap_port, inbox)
        w.start()
        await until(lambda: len(inbox.got) == 1, what="the next mail")
        assert inbox.uids() == [3]
        # each failed FETCH: a backoff and a new login (here the sim breaks the connection in
        # its answer, so the next FETCH on it fails too: one login more)
        assert 2 * FETCH_REFUSALS <= srv.login_attempts <= 2 * FETCH_REFUSALS + 2
        await until(lambda: inbox.states[-1][1] == 3, what="the state saved")
        assert [s[1] for s in inbox.states][-3:] == [1, 2, 3]  # passed over twice, then taken
        refused = [d for s, d in inbox.health if s == "error"]
        assert len(refused) >= FETCH_REFUSALS - 1 and all("FETCH" in d for d in refused)
        assert inbox.health[-1][0] == "ok"
        self.flushLoggedErrors(imap4.MailboxException)  # the simulated server's own log

    async def test_a_changed_uidvalidity_reads_the_folder_again(self) -> None:
        srv = self.server()
        srv.deliver(USER, mail(1))
        srv.deliver(USER, mail(2))
        inbox = Inbox()
        w = self.watcher(srv.imap_port, inbox)
        w.start()
        await until(lambda: len(inbox.got) == 2)
        old = srv.uidvalidity(USER)
        new = srv.new_uidvalidity(USER)  # and the connection is cut
        assert new != old
        srv.deliver(USER, mail(3))
        await until(lambda: len(inbox.got) == 5, what="the folder read again")
        await until(lambda: inbox.states[-1][1] == 3, what="the state saved")
        # every message comes again under the new UIDs: the channel drops them by Message-ID
        assert inbox.ids() == [f"<m{n}@example.cn>" for n in (1, 2, 1, 2, 3)]
        assert (new, 0) in inbox.states
        assert inbox.states[-1] == (new, 3)

    async def test_idle_is_issued_again_after_its_period(self) -> None:
        srv = self.server()
        inbox = Inbox()
        w = self.watcher(srv.imap_port, inbox)
        w.idle_reissue_s = 0.3  # 25 minutes in the box (RFC 2177: servers drop it at 30)
        w.idle_check_s = 0.1
        w.start()
        await until(lambda: srv.idles >= 4, what="IDLE issued again")
        assert srv.login_attempts == 1  # on the same connection
        srv.deliver(USER, mail(1))
        await until(lambda: len(inbox.got) == 1)

    async def test_a_server_without_idle_is_polled(self) -> None:
        srv = self.server(idle=False)
        inbox = Inbox()
        w = self.watcher(srv.imap_port, inbox, poll_s=0.2)
        w.start()
        await until(lambda: bool(inbox.health) and inbox.health[-1][0] == "ok")
        srv.deliver(USER, mail(1))
        await until(lambda: len(inbox.got) == 1, within_s=3)
        assert not w.idle_used

    async def test_a_refused_login_is_reported_and_not_retried_in_a_loop(self) -> None:
        srv = self.server()
        inbox = Inbox()
        self.watcher(srv.imap_port, inbox, password="wrong").start()
        await until(lambda: bool(inbox.health))
        status, detail = inbox.health[0]
        assert status == "error" and "login refused" in detail and "wrong" not in detail
        await until(lambda: srv.open_connections == 0, what="the refused connection closed")
        await deferLater(reactor, 1.0, lambda: None)
        assert srv.login_attempts == 1
        assert len(inbox.health) == 1

    async def test_stop_ends_an_idle_at_once(self) -> None:
        srv = self.server()
        inbox = Inbox()
        w = self.watcher(srv.imap_port, inbox)
        w.idle_check_s = 30.0  # only the socket's shutdown can end the wait in time
        w.start()
        await until(lambda: bool(inbox.health) and inbox.health[-1][0] == "ok")
        await deferLater(reactor, 0.3, lambda: None)
        started = time.monotonic()
        await w.stop()
        assert time.monotonic() - started < 1.0

    async def test_a_start_while_stopping_is_refused_and_after_it_works(self) -> None:
        # a start() before the stopping thread had ended cleared the stop flag it shares:
        # the old thread went on beside the new one
        srv = self.server()
        inbox = Inbox()
        w = self.watcher(srv.imap_port, inbox)
        w.start()
        await until(lambda: bool(inbox.health) and inbox.health[-1][0] == "ok")
        first, second = w.stop(), w.stop()
        with pytest.raises(RuntimeError, match="before its stop"):
            w.start()
        await first
        await second
        await until(lambda: srv.open_connections == 0, what="the session closed")
        w.start()
        srv.deliver(USER, mail(1))
        await until(lambda: len(inbox.got) == 1)
        assert srv.login_attempts == 2 and srv.open_connections == 1

    async def test_a_dropped_connection_is_made_again(self) -> None:
        srv = self.server()
        inbox = Inbox()
        w = self.watcher(srv.imap_port, inbox)
        w.start()
        await until(lambda: bool(inbox.health) and inbox.health[-1][0] == "ok")
        await deferLater(reactor, 0.3, lambda: None)
        srv.drop_connections()
        await until(lambda: srv.login_attempts == 2, what="a new login")
        srv.deliver(USER, mail(1))
        await until(lambda: len(inbox.got) == 1)
        assert inbox.uids() == [1]

    async def test_a_message_over_max_bytes_comes_as_its_headers(self) -> None:
        srv = self.server()
        big = mail(1, "大附件").replace(b"body 1", b"x" * 300_000)
        srv.deliver(USER, big)
        srv.deliver(USER, mail(2))
        inbox = Inbox()
        w = self.watcher(srv.imap_port, inbox, max_bytes=100_000)
        w.start()
        await until(lambda: len(inbox.got) == 2)
        first, second = inbox.parsed
        assert first.too_large and first.subject == "大附件" and first.text == ""
        assert f"{len(big)} bytes" in first.problems[0]
        assert not second.too_large and second.text == "body 2"

    async def test_a_message_over_max_bytes_with_no_blank_line_comes_as_64_kb(self) -> None:
        srv = self.server()
        await self.all_header_over_max_bytes(srv, srv.imap_port)

    async def test_nothing_listening_is_an_error_then_it_connects(self) -> None:
        port = free_port()
        inbox = Inbox()
        self.watcher(port, inbox).start()
        await until(lambda: bool(inbox.health))
        assert inbox.health[0][0] == "error" and "cannot connect" in inbox.health[0][1]
        srv = LoopbackMailServer(reactor, {USER: PASSWORD})
        srv.start(imap_port=port)
        self.addCleanup(srv.stop)
        srv.deliver(USER, mail(1))
        await until(lambda: len(inbox.got) == 1, within_s=10)
        assert inbox.health[-1][0] == "ok"


class DovecotWatcherTests(WatcherCase):
    """The same watcher against the real thing: IDLE and UIDs as dovecot gives them."""

    def server(self) -> dovecot.Dovecot:
        if not dovecot.available():
            self.fail(dovecot.INSTALL_HINT)
        d = dovecot.Dovecot(temp_dir(self), {USER: PASSWORD})
        d.start()
        self.addCleanup(d.stop)
        return d

    async def test_idle_uids_and_restart_against_dovecot(self) -> None:
        d = self.server()
        d.deliver(USER, mail(1))
        d.deliver(USER, mail(2))
        inbox = Inbox()
        w = self.watcher(d.port, inbox)
        w.start()
        await until(lambda: len(inbox.got) == 2, what="the two waiting mails")
        assert inbox.uids() == [1, 2]
        assert inbox.ids() == ["<m1@example.cn>", "<m2@example.cn>"]
        await deferLater(reactor, 0.5, lambda: None)
        assert w.idle_used
        sent_at = time.monotonic()
        d.deliver(USER, mail(3))
        await until(lambda: len(inbox.got) == 3, within_s=5, what="the mail sent while idling")
        assert inbox.got[2][2] - sent_at < 1.0
        # the state is saved right after the message was taken
        await until(lambda: inbox.states[-1][1] == 3, what="the state saved")
        validity = inbox.states[-1][0]
        assert [s[1] for s in inbox.states] == [0, 1, 2, 3]
        await w.stop()

        d.deliver(USER, mail(4))
        again = Inbox()
        self.watcher(d.port, again, (validity, 3)).start()
        await until(lambda: len(again.got) == 1)
        await deferLater(reactor, 0.5, lambda: None)
        assert again.uids() == [4] and again.ids() == ["<m4@example.cn>"]

    async def test_uidvalidity_change_against_dovecot(self) -> None:
        d = self.server()
        d.deliver(USER, mail(1))
        inbox = Inbox()
        w = self.watcher(d.port, inbox)
        w.start()
        await until(lambda: len(inbox.got) == 1)
        await until(lambda: inbox.states[-1][1] == 1, what="the state saved")
        await w.stop()
        old = inbox.states[-1]
        d.stop()
        d.new_uidvalidity(USER)
        d.start()
        again = Inbox()
        self.watcher(d.port, again, old).start()
        await until(lambda: len(again.got) == 1)
        new = again.states[0]
        assert new[0] != old[0] and new[1] == 0
        assert again.ids() == ["<m1@example.cn>"]

    async def test_a_message_over_max_bytes_against_dovecot(self) -> None:
        d = self.server()
        big = mail(1).replace(b"body 1", b"x" * 300_000)
        d.deliver(USER, big)
        d.deliver(USER, mail(2))
        inbox = Inbox()
        self.watcher(d.port, inbox, max_bytes=100_000).start()
        await until(lambda: len(inbox.got) == 2)
        first, second = inbox.parsed
        assert first.too_large and first.subject == "mail 1" and first.text == ""
        assert not second.too_large and second.text == "body 2"

    async def test_a_message_over_max_bytes_with_no_blank_line_against_dovecot(self) -> None:
        d = self.server()
        await self.all_header_over_max_bytes(d, d.port)

    async def test_a_mail_arriving_while_the_last_is_stored_against_dovecot(self) -> None:
        d = self.server()
        inbox = Inbox()
        stored = inbox.on_message

        def on_message(uid: int, raw: bytes) -> defer.Deferred[None]:
            if uid == 1:
                d.deliver(USER, mail(2))
            return stored(uid, raw)

        inbox.on_message = on_message  # type: ignore[method-assign]
        w = self.watcher(d.port, inbox)
        w.start()
        await until(lambda: bool(inbox.health) and inbox.health[-1][0] == "ok")
        await deferLater(reactor, 0.3, lambda: None)  # into IDLE
        d.deliver(USER, mail(1))
        await until(lambda: len(inbox.got) == 2, within_s=5, what="the mail stored meanwhile")
        assert inbox.uids() == [1, 2] and w.idle_used
        assert [s for s, _ in inbox.health] == ["ok"]

    async def test_a_refused_login_against_dovecot(self) -> None:
        d = self.server()
        inbox = Inbox()
        self.watcher(d.port, inbox, password="wrong").start()
        await until(lambda: bool(inbox.health), within_s=15)
        assert inbox.health[0][0] == "error" and "login refused" in inbox.health[0][1]


class SmtpSendTests(unittest.TestCase):
    timeout = 30

    def server(self) -> LoopbackMailServer:
        srv = LoopbackMailServer(reactor, {USER: PASSWORD})
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    def message(self) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = "Support <support@example.com>"
        msg["To"] = "sue@example.cn"
        msg["Subject"] = "回复：您的订单 [#1042]"  # noqa: RUF001
        msg["Message-ID"] = "<ccbox-reply-1@example.com>"
        msg["In-Reply-To"] = "<m1@example.cn>"
        msg.set_content("您好，订单已发货。\n")  # noqa: RUF001
        return msg

    async def test_sent_through_the_loopback_server_with_auth(self) -> None:
        srv = self.server()
        settings = SmtpSettings("127.0.0.1", srv.smtp_port, "none", USER, PASSWORD, 5.0)
        await send(reactor, settings, "support@example.com", ["sue@example.cn"], self.message())
        assert len(srv.sent) == 1
        got = srv.sent[0]
        assert got.sender == "support@example.com"
        assert got.recipients == ("sue@example.cn",)
        back = mime.parse(got.data, max_bytes=1_000_000)
        assert back.subject == "回复：您的订单 [#1042]"  # noqa: RUF001
        assert back.text == "您好，订单已发货。"  # noqa: RUF001
        assert back.in_reply_to == "<m1@example.cn>"

    async def test_a_wrong_password_is_a_send_error(self) -> None:
        srv = self.server()
        settings = SmtpSettings("127.0.0.1", srv.smtp_port, "none", USER, "wrong", 5.0)
        with pytest.raises(MailSendError) as caught:
            await send(reactor, settings, "support@example.com", ["a@example.cn"], self.message())
        assert "wrong" not in caught.value.reason
        assert srv.sent == []

    async def test_starttls_required_but_not_offered_sends_nothing(self) -> None:
        srv = self.server()
        settings = SmtpSettings("127.0.0.1", srv.smtp_port, "starttls", timeout_s=5.0)
        with pytest.raises(MailSendError) as caught:
            await send(reactor, settings, "support@example.com", ["a@example.cn"], self.message())
        assert "STARTTLS" in caught.value.reason
        assert srv.sent == []

    async def test_nothing_listening_is_a_send_error(self) -> None:
        settings = SmtpSettings("127.0.0.1", free_port(), "none", timeout_s=5.0)
        with pytest.raises(MailSendError) as caught:
            await send(reactor, settings, "support@example.com", ["a@example.cn"], self.message())
        assert "cannot connect" in caught.value.reason

    async def test_no_recipient_is_refused_before_connecting(self) -> None:
        settings = SmtpSettings("127.0.0.1", 1, "none")
        with pytest.raises(MailSendError):
            await send(reactor, settings, "support@example.com", [], self.message())


class TlsTests(WatcherCase):
    """Both drivers over TLS against the loopback server with a private CA: implicit TLS
    and STARTTLS, the server's certificate checked for real (an untrusted one refused)."""

    def server(self) -> tuple[LoopbackMailServer, str]:
        files = tls_cert.make(temp_dir(self))
        srv = LoopbackMailServer(reactor, {USER: PASSWORD}, tls_pem=files.server_pem())
        srv.start()
        self.addCleanup(srv.stop)
        return srv, str(files.ca)

    def tls_watcher(self, port: int, security: str, ca_file: str, inbox: Inbox) -> ImapWatcher:
        settings = ImapSettings(
            "localhost", port, security, USER, PASSWORD, timeout_s=5.0, ca_file=ca_file
        )
        w = ImapWatcher(
            reactor, settings, (None, 0), inbox.on_message, inbox.on_state, inbox.on_health
        )
        w.first_backoff_s = 0.1
        w.idle_check_s = 0.5
        self.addCleanup(w.stop)
        return w

    async def watch_over(self, srv: LoopbackMailServer, port: int, security: str, ca: str) -> None:
        """A watcher over ``security`` takes what is there, then a mail sent while idling."""
        waiting = len(srv.mailbox(USER))
        inbox = Inbox()
        w = self.tls_watcher(port, security, ca, inbox)
        w.start()
        await until(lambda: len(inbox.got) == waiting, what=f"{security}: the waiting mail")
        await deferLater(reactor, 0.3, lambda: None)
        srv.deliver(USER, mail(waiting + 1))
        await until(lambda: len(inbox.got) == waiting + 1, what=f"{security}: the new mail")
        assert inbox.ids()[-1] == f"<m{waiting + 1}@example.cn>"
        assert w.idle_used and inbox.health[-1][0] == "ok"
        await w.stop()

    async def test_imap_over_implicit_tls(self) -> None:
        srv, ca = self.server()
        srv.deliver(USER, mail(1))
        await self.watch_over(srv, srv.imaps_port, "tls", ca)

    async def test_imap_over_starttls(self) -> None:
        srv, ca = self.server()
        srv.deliver(USER, mail(1))
        await self.watch_over(srv, srv.imap_port, "starttls", ca)

    async def test_imap_refuses_a_certificate_it_cannot_trust(self) -> None:
        srv, _ = self.server()
        inbox = Inbox()
        self.tls_watcher(srv.imaps_port, "tls", "", inbox).start()  # the system's CAs
        await until(lambda: bool(inbox.health))
        assert inbox.health[0][0] == "error" and "certificate" in inbox.health[0][1].lower()
        assert inbox.got == [] and srv.login_attempts == 0

    async def test_smtp_over_implicit_tls_and_starttls(self) -> None:
        srv, ca = self.server()
        msg = SmtpSendTests.message(SmtpSendTests())
        for port, security in ((srv.smtps_port, "tls"), (srv.smtp_port, "starttls")):
            settings = SmtpSettings("localhost", port, security, USER, PASSWORD, 5.0, ca)
            await send(reactor, settings, "support@example.com", ["sue@example.cn"], msg)
        assert len(srv.sent) == 2

    async def test_smtp_refuses_a_certificate_it_cannot_trust(self) -> None:
        srv, _ = self.server()
        msg = SmtpSendTests.message(SmtpSendTests())
        settings = SmtpSettings("localhost", srv.smtps_port, "tls", USER, PASSWORD, 5.0)
        with pytest.raises(MailSendError):
            await send(reactor, settings, "support@example.com", ["sue@example.cn"], msg)
        assert srv.sent == []


class _Sink:
    """aiosmtpd's handler: keeps every envelope (an SMTP server that is not Twisted's)."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


class RealSmtpSinkTests(unittest.TestCase):
    """smtp.send against aiosmtpd (asyncio, its own thread): the client is not only ever
    tried against a server built on the same library as itself."""

    timeout = 30
    # the test's own AUTH without TLS (loopback): aiosmtpd says what it thinks of that
    pytestmark = [pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]

    def sink(self, **options: Any) -> tuple[_Sink, int]:
        from aiosmtpd.controller import Controller

        handler = _Sink()
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
        controller.start()
        self.addCleanup(controller.stop)
        return handler, port

    async def test_sent_to_aiosmtpd_byte_for_byte(self) -> None:
        handler, port = self.sink()
        msg = SmtpSendTests.message(SmtpSendTests())
        settings = SmtpSettings("127.0.0.1", port, "none", timeout_s=5.0)
        await send(reactor, settings, "support@example.com", ["sue@example.cn", "b@x.cn"], msg)
        [envelope] = handler.envelopes
        assert envelope.mail_from == "support@example.com"
        assert envelope.rcpt_tos == ["sue@example.cn", "b@x.cn"]
        back = mime.parse(envelope.original_content, max_bytes=1_000_000)
        assert back.subject == "回复：您的订单 [#1042]"  # noqa: RUF001
        assert back.text == "您好，订单已发货。"  # noqa: RUF001
        assert b"\r\r\n" not in envelope.original_content  # no doubled line ends

    async def test_auth_against_aiosmtpd(self) -> None:
        def check(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
            from aiosmtpd.smtp import AuthResult

            ok = (auth.login, auth.password) == (USER.encode(), PASSWORD.encode())
            return AuthResult(success=ok)

        handler, port = self.sink(authenticator=check, auth_require_tls=False, auth_required=True)
        msg = SmtpSendTests.message(SmtpSendTests())
        good = SmtpSettings("127.0.0.1", port, "none", USER, PASSWORD, 5.0)
        await send(reactor, good, "support@example.com", ["sue@example.cn"], msg)
        assert len(handler.envelopes) == 1
        bad = SmtpSettings("127.0.0.1", port, "none", USER, "wrong", 5.0)
        with pytest.raises(MailSendError):
            await send(reactor, bad, "support@example.com", ["sue@example.cn"], msg)
        assert len(handler.envelopes) == 1

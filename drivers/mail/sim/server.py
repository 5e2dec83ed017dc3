"""LoopbackMailServer: IMAP4rev1 (twisted.mail.imap4) and ESMTP (twisted.mail.smtp) on
loopback, in memory, for the demo ("customers write e-mails") and the tests.

IMAP: LOGIN, CAPABILITY, SELECT/EXAMINE, UID SEARCH/FETCH (the raw message as stored, byte
for byte), STORE flags, EXPUNGE, APPEND and IDLE as RFC 2177 says it (``+ idling``, ``DONE``
ends it with a tagged OK, anything else is BAD; ``* n EXISTS`` while idling). One INBOX per
user. ``new_uidvalidity(user)`` renumbers a mailbox the way a server does after a rebuild and
drops that user's connections. ``idle=False`` makes a server without IDLE (for the poll).

SMTP: takes every mail from anyone to anyone (AUTH PLAIN/LOGIN offered for the users) and
keeps it in ``sent``; nothing is relayed anywhere.

TLS (``tls_pem``: a certificate and its key): STARTTLS on the IMAP and SMTP ports, and
implicit TLS on two more (``imaps_port``, ``smtps_port``).
"""

from __future__ import annotations

import contextlib
import email
import io
import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from twisted.cred import checkers, portal
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer, ssl, task
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory
from twisted.mail import imap4, smtp
from zope.interface import implementer  # type: ignore[import-untyped]

FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")


@dataclass(frozen=True)
class SentMail:
    """One mail the SMTP side received: the envelope and the bytes as sent."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


@implementer(imap4.IMessage, imap4.IMessageFile)
class _Message:
    def __init__(self, uid: int, raw: bytes, flags: set[str], when: float) -> None:
        self.uid, self.raw, self.flags, self.when = uid, raw, flags, when
        head, sep, body = raw.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = raw.partition(b"\n\n")
        self._body = body
        self._head = head + sep
        self._headers = email.message_from_bytes(head + sep)
        self.unreadable = False  # corrupt in the store: reading its text fails (FETCH: BAD)

    def _readable(self) -> None:
        if self.unreadable:
            raise imap4.MailboxException(f"message {self.uid} cannot be read")

    def header_block(self) -> bytes:
        return self._head

    def getUID(self) -> int:
        return self.uid

    def getFlags(self) -> list[str]:
        return sorted(self.flags)

    def getInternalDate(self) -> str:
        return formatdate(self.when)

    def getHeaders(self, negate: bool, *names: bytes | str) -> dict[str, str]:
        wanted = {(n.decode() if isinstance(n, bytes) else n).lower() for n in names}
        out: dict[str, str] = {}
        for name, value in self._headers.raw_items():
            if (name.lower() in wanted) != negate:
                out[name] = str(value)
        return out

    def getBodyFile(self) -> io.BytesIO:
        self._readable()
        return io.BytesIO(self._body)

    def getSize(self) -> int:
        return len(self.raw)

    def isMultipart(self) -> bool:
        return False

    def getSubPart(self, part: int) -> Any:
        raise IndexError(part)

    def open(self) -> io.BytesIO:
        self._readable()
        return io.BytesIO(self.raw)


@implementer(imap4.IMailbox, imap4.IMailboxInfo)
class _Mailbox:
    def __init__(self, uidvalidity: int) -> None:
        self.uidvalidity = uidvalidity
        self.next_uid = 1
        self.messages: list[_Message] = []
        self.listeners: list[Any] = []

    # IMailboxInfo
    def getFlags(self) -> list[str]:
        return list(FLAGS)

    def getHierarchicalDelimiter(self) -> str:
        return "/"

    # IMailbox
    def getUIDValidity(self) -> int:
        return self.uidvalidity

    def getUIDNext(self) -> int:
        return self.next_uid

    def getUID(self, message: int) -> int:
        return self.messages[message - 1].uid

    def getMessageCount(self) -> int:
        return len(self.messages)

    def getRecentCount(self) -> int:
        return 0

    def getUnseenCount(self) -> int:
        return sum(1 for m in self.messages if "\\Seen" not in m.flags)

    def isWriteable(self) -> bool:
        return True

    def destroy(self) -> None:
        raise imap4.MailboxException("the INBOX stays")

    def requestStatus(self, names: list[str]) -> Deferred[dict[str, int]]:
        values = {
            "MESSAGES": self.getMessageCount(),
            "RECENT": 0,
            "UIDNEXT": self.next_uid,
            "UIDVALIDITY": self.uidvalidity,
            "UNSEEN": self.getUnseenCount(),
        }
        return defer.succeed({n: values[n] for n in names if n in values})

    def addListener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def removeListener(self, listener: Any) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    def add(self, raw: bytes, flags: set[str], when: float) -> int:
        uid = self.next_uid
        self.next_uid += 1
        self.messages.append(_Message(uid, raw, flags, when))
        for listener in list(self.listeners):
            listener.newMessages(len(self.messages), None)
        return uid

    def addMessage(self, message: Any, flags: Any, date: Any = None) -> Deferred[int]:
        raw = message.read()
        names = {f.decode() if isinstance(f, bytes) else str(f) for f in flags or ()}
        return defer.succeed(self.add(raw, names, time.time()))

    def expunge(self) -> list[int]:
        gone = [i for i, m in enumerate(self.messages, 1) if "\\Deleted" in m.flags]
        self.messages = [m for m in self.messages if "\\Deleted" not in m.flags]
        return gone

    def _matching(self, messages: Any, uid: bool) -> list[tuple[int, _Message]]:
        top = (self.messages[-1].uid if self.messages else 0) if uid else len(self.messages)
        with contextlib.suppress(ValueError):  # already set by the caller
            messages.last = top
        return [
            (seq, m)
            for seq, m in enumerate(self.messages, 1)
            if (m.uid if uid else seq) in messages
        ]

    def fetch(self, messages: Any, uid: bool) -> list[tuple[int, _Message]]:
        return self._matching(messages, uid)

    def store(self, messages: Any, flags: list[str], mode: int, uid: bool) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for seq, m in self._matching(messages, uid):
            if mode == 1:
                m.flags |= set(flags)
            elif mode == -1:
                m.flags -= set(flags)
            else:
                m.flags = set(flags)
            out[seq] = m.getFlags()
        return out


@implementer(imap4.IAccount)
class _Account:
    def __init__(self, inbox: _Mailbox) -> None:
        self.inbox = inbox

    def select(self, name: str, rw: bool = True) -> _Mailbox | None:
        return self.inbox if name.upper() == "INBOX" else None

    def addMailbox(self, name: str, mbox: Any = None) -> bool:
        raise imap4.MailboxException("only INBOX here")

    def create(self, pathspec: str) -> bool:
        return False

    def delete(self, name: str) -> None:
        raise imap4.MailboxException("only INBOX here")

    def rename(self, oldname: str, newname: str) -> None:
        raise imap4.MailboxException("only INBOX here")

    def isSubscribed(self, name: str) -> bool:
        return name.upper() == "INBOX"

    def subscribe(self, name: str) -> None:
        pass

    def unsubscribe(self, name: str) -> None:
        pass

    def listMailboxes(self, ref: str, wildcard: str) -> list[tuple[str, _Mailbox]]:
        return [("INBOX", self.inbox)]


class _ImapServer(imap4.IMAP4Server):
    """Twisted's server with IDLE as RFC 2177 says (its own takes any line as DONE)."""

    idle_capable = True
    owner: LoopbackMailServer
    user = ""

    def capabilities(self) -> dict[bytes, Any]:
        cap: dict[bytes, Any] = super().capabilities()
        if not self.idle_capable:
            cap.pop(b"IDLE", None)
        return cap

    def do_IDLE(self, tag: bytes) -> None:
        if not self.idle_capable:
            self.sendBadResponse(tag, b"IDLE is not supported")
            return
        self.owner.idles += 1
        self.sendContinuationRequest(b"idling")
        self.parseTag = tag
        self.lastState = self.parseState
        self.parseState = "idle"

    select_IDLE = (do_IDLE,)  # type: ignore[assignment]
    auth_IDLE = select_IDLE  # type: ignore[assignment]

    def parse_idle(self, *args: Any) -> None:
        line = args[0] if args else b""
        self.parseState = self.lastState
        del self.lastState
        tag = self.parseTag
        del self.parseTag
        if line.strip().upper() == b"DONE":
            self.sendPositiveResponse(tag, b"IDLE terminated")
        else:
            self.sendBadResponse(tag, b"expected DONE")

    def spew_body(self, part: Any, id: Any, msg: Any, _w: Any = None, _f: Any = None) -> Any:
        # BODY[HEADER]: the header block byte for byte (Twisted's own rebuilds it from a
        # dict and fails on 8-bit headers, which real servers hand out as they are)
        if part.header and part.header.negate and not part.header.fields and not part.part:
            write: Any = _w if _w is not None else self.transport.write  # type: ignore[union-attr]
            head = msg.header_block()
            name = b"BODY[HEADER]"
            if part.partialBegin is not None:  # BODY[HEADER]<start.count>: named <start>
                start = part.partialBegin
                head = head[start : start + part.partialLength]
                name += b"<%d>" % start
            write(name + b" {%d}\r\n" % len(head) + head)
            return None
        return super().spew_body(part, id, msg, _w, _f)

    def connectionMade(self) -> None:
        super().connectionMade()
        self.owner._connections.add(self)

    def connectionLost(self, reason: Any = None) -> None:
        self.owner._connections.discard(self)
        if self.mbox is not None:
            self.mbox.removeListener(self)
        super().connectionLost(reason)

    def authenticateLogin(self, user: bytes, passwd: bytes) -> Any:
        self.owner.login_attempts += 1
        d = super().authenticateLogin(user, passwd)
        name = user.decode(errors="replace")

        def note(result: Any) -> Any:
            self.user = name
            return result

        return d.addCallback(note)


@implementer(portal.IRealm)
class _Realm:
    def __init__(self, server: LoopbackMailServer) -> None:
        self.server = server

    def requestAvatar(self, avatar_id: bytes, mind: Any, *interfaces: Any) -> Any:
        if imap4.IAccount in interfaces:
            name = avatar_id.decode() if isinstance(avatar_id, bytes) else str(avatar_id)
            return imap4.IAccount, _Account(self.server._mailbox(name)), lambda: None
        if smtp.IMessageDelivery in interfaces:
            return smtp.IMessageDelivery, _Delivery(self.server), lambda: None
        raise NotImplementedError(interfaces)


class _ImapFactory(Factory):
    def __init__(self, server: LoopbackMailServer) -> None:
        self.server = server

    def buildProtocol(self, addr: Any) -> _ImapServer:
        p = _ImapServer(contextFactory=self.server._tls)
        p.factory = self
        p.owner = self.server
        p.portal = self.server._portal  # type: ignore[assignment]
        p.idle_capable = self.server.idle
        return p


@implementer(smtp.IMessage)
class _Incoming:
    def __init__(self, server: LoopbackMailServer, sender: str, recipients: list[str]) -> None:
        self.server, self.sender, self.recipients = server, sender, recipients
        self.lines: list[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)

    def eomReceived(self) -> Deferred[None]:
        data = b"\r\n".join(self.lines) + b"\r\n"
        self.server._sent.append(SentMail(self.sender, tuple(self.recipients), data))
        return defer.succeed(None)

    def connectionLost(self) -> None:
        pass


@implementer(smtp.IMessageDelivery)
class _Delivery:
    def __init__(self, server: LoopbackMailServer) -> None:
        self.server = server
        self.sender = ""
        self.recipients: list[str] = []

    def receivedHeader(self, helo: Any, origin: Any, recipients: Any) -> bytes:
        return b"Received: by ccbox-loopback"

    def validateFrom(self, helo: Any, origin: Any) -> Any:
        self.sender = str(origin)
        self.recipients = []
        return origin

    def validateTo(self, user: Any) -> Any:
        self.recipients.append(str(user.dest))
        recipients = self.recipients
        return lambda: _Incoming(self.server, self.sender, recipients)


class _SmtpServer(smtp.ESMTP):
    owner: LoopbackMailServer

    def connectionMade(self) -> None:
        super().connectionMade()
        self.owner._connections.add(self)

    def connectionLost(self, reason: Any = None) -> None:
        self.owner._connections.discard(self)
        super().connectionLost(reason)


class _SmtpFactory(smtp.SMTPFactory):
    def __init__(self, server: LoopbackMailServer) -> None:
        super().__init__()
        self.server = server
        self.portal = server._portal

    def buildProtocol(self, addr: Any) -> _SmtpServer:
        p = _SmtpServer(
            {b"LOGIN": imap4.LOGINCredentials, b"PLAIN": imap4.PLAINCredentials},
            self.server._tls,
        )
        p.owner = self.server
        p.factory = self
        p.portal = self.portal
        p.host = b"loopback.ccbox"
        p.delivery = _Delivery(self.server)
        return p


class _Checker(checkers.InMemoryUsernamePasswordDatabaseDontUse):
    pass


class LoopbackMailServer:
    """``users`` maps a login to its password. ``start()`` listens on loopback ports
    (``imap_port``, ``smtp_port``; 0 picks free ones); ``deliver(user, raw)`` drops a mail
    into the user's INBOX and returns its UID; ``sent`` lists what the SMTP side received;
    ``new_uidvalidity(user)`` renumbers a mailbox (as a server does after a rebuild)."""

    _last_uidvalidity = 0  # across instances: each mailbox ever made gets a new one

    def __init__(
        self,
        reactor: Any,
        users: dict[str, str],
        *,
        idle: bool = True,
        tls_pem: bytes | None = None,
    ) -> None:
        self.reactor = reactor
        self.users = dict(users)
        self.idle = idle
        self.imap_port = 0
        self.smtp_port = 0
        # with tls_pem (certificate and key): STARTTLS on both ports, and implicit TLS on
        # imaps_port and smtps_port
        self.imaps_port = 0
        self.smtps_port = 0
        self._tls = (
            ssl.PrivateCertificate.loadPEM(tls_pem).options() if tls_pem is not None else None
        )
        self.login_attempts = 0  # IMAP LOGINs tried, good or bad
        self.idles = 0  # IDLE commands taken
        self._boxes: dict[str, _Mailbox] = {}
        self._sent: list[SentMail] = []
        self._connections: set[Any] = set()  # IMAP and SMTP server connections
        self._listening: list[Any] = []
        checker = _Checker(**{u: p.encode() for u, p in self.users.items()})
        self._portal = portal.Portal(_Realm(self), [checker])  # type: ignore[arg-type,list-item]

    @classmethod
    def _new_validity(cls) -> int:
        """A UIDVALIDITY from the clock's seconds, as dovecot takes it, and above every one
        handed out before: a demo started again (its mailbox new and empty, numbered from
        1) never looks like the mailbox a saved (uidvalidity, last_uid) belongs to."""
        cls._last_uidvalidity = max(int(time.time()), cls._last_uidvalidity + 1)
        return cls._last_uidvalidity

    def _mailbox(self, user: str) -> _Mailbox:
        if user not in self.users:
            raise UnauthorizedLogin(user)
        if user not in self._boxes:
            self._boxes[user] = _Mailbox(self._new_validity())
        return self._boxes[user]

    def start(self, host: str = "127.0.0.1", imap_port: int = 0, smtp_port: int = 0) -> None:
        imap = self.reactor.listenTCP(imap_port, _ImapFactory(self), interface=host)
        smtp_listener = self.reactor.listenTCP(smtp_port, _SmtpFactory(self), interface=host)
        self._listening = [imap, smtp_listener]
        self.imap_port = imap.getHost().port
        self.smtp_port = smtp_listener.getHost().port
        if self._tls is not None:
            imaps = self.reactor.listenSSL(0, _ImapFactory(self), self._tls, interface=host)
            smtps = self.reactor.listenSSL(0, _SmtpFactory(self), self._tls, interface=host)
            self._listening += [imaps, smtps]
            self.imaps_port = imaps.getHost().port
            self.smtps_port = smtps.getHost().port

    def deliver(self, user: str, raw: bytes) -> int:
        """Put ``raw`` into ``user``'s INBOX (unseen); its UID. Idling clients hear of it."""
        return self._mailbox(user).add(raw, set(), self.reactor.seconds())

    def make_unreadable(self, user: str, uid: int) -> None:
        """Every FETCH of that message's text is refused from now on (a corrupt message on
        a real server answers NO or BAD however often it is asked for)."""
        for m in self._mailbox(user).messages:
            if m.uid == uid:
                m.unreadable = True

    def mailbox(self, user: str) -> list[tuple[int, bytes, list[str]]]:
        """(uid, raw, flags) of every message in ``user``'s INBOX."""
        return [(m.uid, m.raw, m.getFlags()) for m in self._mailbox(user).messages]

    def uidvalidity(self, user: str) -> int:
        return self._mailbox(user).uidvalidity

    def new_uidvalidity(self, user: str) -> int:
        """Renumber ``user``'s INBOX from UID 1 under a new UIDVALIDITY (the messages stay)
        and drop the user's connections; the new UIDVALIDITY."""
        box = self._mailbox(user)
        box.uidvalidity = self._new_validity()
        for uid, m in enumerate(box.messages, 1):
            m.uid = uid
        box.next_uid = len(box.messages) + 1
        for conn in list(self._connections):
            if getattr(conn, "user", None) == user and conn.transport is not None:
                conn.transport.abortConnection()
        return box.uidvalidity

    def drop_connections(self) -> None:
        """Cut every IMAP connection (as a server restart does)."""
        for conn in list(self._connections):
            if isinstance(conn, _ImapServer) and conn.transport is not None:
                conn.transport.abortConnection()

    @property
    def open_connections(self) -> int:
        """IMAP and SMTP connections open now."""
        return len(self._connections)

    @property
    def sent(self) -> list[SentMail]:
        return self._sent

    def stop(self) -> Deferred[None]:
        """Stop listening and cut every connection; fires once all are closed."""
        return defer.ensureDeferred(self._stop())

    async def _stop(self) -> None:
        for conn in list(self._connections):
            if conn.transport is not None:
                conn.transport.abortConnection()
        listening, self._listening = self._listening, []
        for p in listening:
            await defer.maybeDeferred(p.stopListening)
        for _ in range(500):
            if not self._connections:
                return
            await task.deferLater(self.reactor, 0.01, lambda: None)

"""The e-mail channel as a service: one IMAP watcher per enabled account, the ingest, the
agents' replies out over SMTP (retried until sent), and the SLA's breaches.

The channels' engine owns conversations and their routing; this service feeds it mails
(acd/channels/email/ingest.py) and is its ``EmailSender``. An agent's reply is stored by
the engine before it reaches :meth:`EmailChannelService.send_reply`; its Message-ID is
written on it only once the SMTP server took it, so a reply with none is one still to send
(after a failure, or a restart in between) and the resend loop sends it with the same
Message-ID (a receiver that got the first try drops the second). A reply the server took
whose Message-ID the database would not take is held in memory and written later, never
sent again; only a restart in that window sends it twice (under the same Message-ID).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.application import service
from twisted.internet import defer, task, threads
from twisted.logger import Logger

from acd.channels.email import compose
from acd.channels.email import threading as th
from acd.channels.email.ingest import EngineStarting, Ingest, own_addresses
from acd.channels.events import EmailSlaBreached
from appliance.db.connector import DatabaseStopped
from appliance.db.email_store import Account, EmailStore, Unsent
from appliance.db.write_backlog import database_fault
from appliance.email_address import is_email
from appliance.uploads import StoredFile, UploadStore, uploads_root
from drivers.mail.imap import ImapSettings, ImapWatcher
from drivers.mail.mime import ParsedMail, parse_in_thread

if TYPE_CHECKING:
    from email.message import EmailMessage

    from appliance.config import EmailChannelConfig
    from appliance.db.connector import DBConnector
    from appliance.eventbus import EventBus

log = Logger(namespace="ccbox.email")
T = TypeVar("T")

SLA_CHECK_S = 30.0
RESEND_S = 60.0
RESEND_MAX_S = 3600.0
UNSENT_PAGE = 100  # unsent replies read at a time (the loop reads them all, page by page)
SMTP_TIMEOUT_S = 60.0
# A mail the ingest failed on this many times in a row (no database or engine fault) is set
# aside as a thread of its own so the account's later mails go on.
SET_ASIDE_AFTER = 5


class SendRefused(Exception):
    """A reply that cannot be sent as it stands (noted, tried again later)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Watched:
    account: Account
    watcher: Any


def _settings_key(a: Account) -> Account:
    """An account's row without where its polling stands (that changes at every mail)."""
    return replace(a, uidvalidity=None, last_uid=0)


class EmailChannelService(service.Service):
    """``channels``: the engine (ChannelService); ``tickets``: a TicketStore for accounts
    that make tickets; ``translators``: "zh" and "en" text for the auto-reply.
    ``watcher_factory`` and ``send`` are drivers/mail's (tests may pass their own)."""

    name = "email"

    def __init__(
        self,
        *,
        reactor: Any,
        db: DBConnector,
        channels: Any,
        config: EmailChannelConfig,
        data_dir: Path,
        translators: Mapping[str, Callable[[str], str]],
        tickets: Any = None,
        bus: EventBus | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        watcher_factory: Callable[..., Any] = ImapWatcher,
        send: Callable[..., defer.Deferred[None]] | None = None,
    ) -> None:
        self.reactor = reactor
        self.config = config
        self.channels = channels
        self.bus = bus
        self.store = EmailStore(db, clock) if clock is not None else EmailStore(db)
        self.uploads = UploadStore(uploads_root(data_dir))
        self.watcher_factory = watcher_factory
        if send is None:  # imported here: TLS support loads only where mail is sent
            from drivers.mail import smtp

            send = smtp.send
        self._send = send
        self.ingest = Ingest(
            store=self.store,
            channels=channels,
            put_file=self._put_file,
            send_mail=self.send_mail,
            translators=translators,
            max_message_kb=config.max_message_kb,
            auto_reply_interval_min=config.auto_reply_interval_min,
            tickets=tickets,
            parse_mail=self._parse_mail,
        )
        self.accounts: dict[int, Account] = {}
        self._watched: dict[int, _Watched] = {}
        self._sending: set[int] = set()
        self._failures: dict[tuple[int, int], int] = {}  # (account, uid) -> failed takes
        self._retry_at: dict[int, tuple[float, float]] = {}  # row id -> (when, backoff)
        self._noted: dict[int, str] = {}  # row id -> the failure last noted on its thread
        # replies the SMTP server took whose Message-ID the database did not take yet: row
        # id -> Message-ID (the resend loop writes it; it never sends such a reply again)
        self._unmarked: dict[int, str] = {}
        self._sla = task.LoopingCall(self.check_sla)
        self._resend_loop = task.LoopingCall(self.resend_unsent)
        self._sla.clock = self._resend_loop.clock = reactor
        self._reloading: defer.Deferred[None] | None = None

    # ---- lifecycle --------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self.channels.set_email_sender(self)
        self.reload()
        self._sla.start(SLA_CHECK_S, now=False).addErrback(
            lambda f: log.failure("the e-mail SLA check stopped", f)
        )
        self._resend_loop.start(RESEND_S, now=False).addErrback(
            lambda f: log.failure("the e-mail resend loop stopped", f)
        )

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        for loop in (self._sla, self._resend_loop):
            if loop.running:
                loop.stop()
        watched, self._watched = list(self._watched.values()), {}
        waits = [defer.maybeDeferred(w.watcher.stop) for w in watched]
        return defer.DeferredList(waits, consumeErrors=True).addCallback(lambda _: None)

    def reload(self) -> defer.Deferred[None]:
        """Read the accounts and routes again (the admin changed them): a watcher for each
        enabled account, restarted when its settings changed, stopped when it went."""
        d = defer.ensureDeferred(self._reload())
        d.addErrback(lambda f: log.failure("reloading the e-mail accounts", f))
        return d

    async def _reload(self) -> None:
        while self._reloading is not None:  # one reload at a time, in order
            await self._reloading
        self._reloading = defer.Deferred()
        try:
            every = await self.store.accounts(enabled_only=False)
            self.ingest.routes = await self.store.routes()
            self.ingest.own = own_addresses(every, ())
            self.accounts = {a.id: a for a in every}
            wanted = {a.id: a for a in every if a.enabled} if self.running else {}
            if not self.config.enabled:
                wanted = {}
            for account_id, w in list(self._watched.items()):
                now = wanted.get(account_id)
                if now is None or _settings_key(now) != _settings_key(w.account):
                    del self._watched[account_id]
                    await defer.maybeDeferred(w.watcher.stop)
            for account_id, account in wanted.items():
                if account_id not in self._watched and account.imap_host:
                    self._watch(account)
        finally:
            done, self._reloading = self._reloading, None
            done.callback(None)

    def _watch(self, account: Account) -> None:
        settings = ImapSettings(
            host=account.imap_host,
            port=account.imap_port,
            security=account.imap_security,
            user=account.imap_user or account.address,
            password=account.imap_password,
            folder=account.imap_folder or "INBOX",
            poll_s=float(self.config.poll_s),
            # a larger mail is not downloaded: its headers come, kept as a stub
            max_bytes=max(1, self.config.max_message_kb) * 1024,
        )
        watcher = self.watcher_factory(
            self.reactor,
            settings,
            (account.uidvalidity, account.last_uid),
            lambda uid, raw: self._take(account.id, uid, raw),
            lambda validity, last: self.store.save_state(account.id, validity, last),
            lambda state, detail: self._health(account.id, state, detail),
        )
        self._watched[account.id] = _Watched(account, watcher)
        watcher.start()

    def _take(self, account_id: int, uid: int, raw: bytes) -> defer.Deferred[Any]:
        account = self.accounts.get(account_id)
        if account is None:
            return defer.fail(RuntimeError(f"e-mail account {account_id} is gone"))
        return defer.ensureDeferred(self._take_or_set_aside(account, uid, raw))

    async def _take_or_set_aside(self, account: Account, uid: int, raw: bytes) -> Any:
        """The mail taken; a failure raised (the watcher keeps the mail and tries again).
        A mail that fails SET_ASIDE_AFTER times in a row for a reason that is no fault of
        the database or the engine is set aside (Ingest.set_aside) instead of holding the
        account's later mails behind it for ever."""
        key = (account.id, uid)
        try:
            out = await self.ingest.take(account, raw)
        except Exception as exc:
            transient = isinstance(exc, EngineStarting | DatabaseStopped) or database_fault(exc)
            tries = 0 if transient else self._failures.get(key, 0) + 1
            why = f"{type(exc).__name__}: {exc}"[:300]
            if tries >= SET_ASIDE_AFTER:
                self._failures.pop(key, None)
                log.failure("e-mail account {name}: message UID {uid}", name=account.name, uid=uid)
                return await self.ingest.set_aside(account, raw, why)
            if tries:
                self._failures[key] = tries
            log.warn(
                "e-mail account {name}: message UID {uid} not stored ({why}); taken again later",
                name=account.name,
                uid=uid,
                why=why,
            )
            raise
        self._failures.pop(key, None)
        return out

    def _health(self, account_id: int, state: str, detail: str) -> None:
        """The account's state on its row (the admin's Channels page shows last_error)."""
        self.store.set_health(account_id, "" if state == "ok" else detail).addErrback(
            lambda f: log.failure("writing an e-mail account's health", f)
        )

    def _parse_mail(self, raw: bytes, max_bytes: int) -> defer.Deferred[ParsedMail]:
        return parse_in_thread(self.reactor, raw, max_bytes=max_bytes)

    def _put_file(self, data: bytes, name: str) -> defer.Deferred[StoredFile]:
        return self._in_thread(self.uploads.put, data, name)

    def _in_thread(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """Disk work off the reactor (the reactor's pool; a test's clock has none: inline)."""
        get_pool = getattr(self.reactor, "getThreadPool", None)
        if get_pool is None:
            return defer.maybeDeferred(fn, *args)
        return threads.deferToThreadPool(self.reactor, get_pool(), fn, *args)

    # ---- sending ----------------------------------------------------------------------

    def send_mail(
        self, account: Account, to: str, msg: EmailMessage | bytes
    ) -> defer.Deferred[None]:
        """``msg`` (or its bytes, smtp.wire_bytes) through the account's SMTP server;
        MailSendError when there is none."""
        from drivers.mail import smtp

        if not account.smtp_host:
            return defer.fail(smtp.MailSendError("the account has no SMTP server"))
        settings = smtp.SmtpSettings(
            host=account.smtp_host,
            port=account.smtp_port,
            security=account.smtp_security,
            user=account.smtp_user,
            password=account.smtp_password,
            timeout_s=SMTP_TIMEOUT_S,
        )
        return self._send(self.reactor, settings, account.address, [to], msg)

    def send_reply(self, conversation: Any, message: Any, agent_name: str) -> defer.Deferred[bool]:
        """Send an agent's stored reply; fires once the server took it. A failure is noted
        on the thread ('send_failed' with the reason), the reply sent again later (the
        resend loop), and the Deferred fails with SendRefused so the engine tells the agent
        the reply is kept but not sent yet."""
        unsent = Unsent(
            message_row_id=int(message.id),
            conversation_id=int(conversation.id),
            account_id=conversation.account_id,
            name=conversation.name,
            email=conversation.email,
            subject=conversation.subject,
            body=message.body,
            author=agent_name or message.author,
        )
        return defer.ensureDeferred(self._send_one(unsent, tell=True))

    async def _send_one(self, u: Unsent, tell: bool = False) -> bool:
        """Send one reply: True when sent, False when not (noted; raised with ``tell``)."""
        if u.message_row_id in self._sending:
            return False
        self._sending.add(u.message_row_id)
        try:
            if u.message_row_id in self._unmarked:  # sent: only its Message-ID to write
                return await self._mark(u.message_row_id)
            if not tell and not await self.store.is_unsent(u.message_row_id):
                return False  # sent meanwhile (by the engine's send_reply): a stale list
            account = self.accounts.get(u.account_id or -1)
            if account is None:
                raise SendRefused("the thread's e-mail account is gone")
            ctx = await self.store.reply_context(u.conversation_id)
            sender = compose.Sender(account.address, account.display_name)
            message_id = th.our_message_id(u.message_row_id, sender.domain, ctx.thread_key)
            quote = compose.quoted(
                ctx.last_customer_text,
                ctx.last_customer_author,
                ctx.last_customer_at,
                self.ingest.translators.get("zh" if _is_zh(u) else "en") or (lambda s: s),
            )
            files = await self._files(u.message_row_id)
            now = self.store.clock()
            if not is_email(u.email):
                raise SendRefused("the thread's customer address cannot take mail")

            def wire() -> bytes:  # in a thread: over 20 MB of files it takes a second
                from drivers.mail import smtp

                msg = compose.agent_reply(
                    sender=sender,
                    conversation_id=u.conversation_id,
                    to_name=u.name,
                    to_addr=u.email,
                    subject=u.subject,
                    text=u.body,
                    in_reply_to=ctx.last_customer_id,
                    references=[c for c in ctx.chain if c != message_id],
                    message_id=message_id,
                    quote=quote,
                    now=now,
                    files=files,
                )
                return smtp.wire_bytes(msg)

            data: bytes = await self._in_thread(wire)
            await self.send_mail(account, u.email, data)
        except Exception as exc:
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            _, backoff = self._retry_at.get(u.message_row_id, (0.0, RESEND_S / 2))
            backoff = min(backoff * 2, RESEND_MAX_S)
            self._retry_at[u.message_row_id] = (self.reactor.seconds() + backoff, backoff)
            log.warn(
                "e-mail reply {id} of thread {cid} not sent ({why}); trying again",
                id=u.message_row_id,
                cid=u.conversation_id,
                why=reason,
            )
            try:  # noted when it fails otherwise than last time (an hourly retry of a reply
                # that never goes wrote a row an hour for ever)
                if self._noted.get(u.message_row_id) != reason:
                    await self.store.event(
                        u.conversation_id, "send_failed", f"message {u.message_row_id}: {reason}"
                    )
                    self._noted[u.message_row_id] = reason
            except Exception:
                log.failure("noting a failed e-mail reply")
            if tell:
                raise SendRefused(reason) from None
            return False
        else:
            self._retry_at.pop(u.message_row_id, None)
            self._noted.pop(u.message_row_id, None)
            self._unmarked[u.message_row_id] = message_id
            await self._mark(u.message_row_id)
            return True
        finally:
            self._sending.discard(u.message_row_id)

    async def _mark(self, message_row_id: int) -> bool:
        """Write a sent reply's Message-ID on it. When the database fails the reply is
        still sent (True): the Message-ID is kept in memory and written by the resend loop,
        which sends that reply no second time."""
        try:
            await self.store.mark_sent(message_row_id, self._unmarked[message_row_id])
        except Exception:
            log.failure(
                "e-mail reply {id} sent but not marked sent; marked later", id=message_row_id
            )
        else:
            del self._unmarked[message_row_id]
        return True

    async def _files(self, message_row_id: int) -> list[tuple[str, str, bytes]]:
        """The reply's attachments read from the upload store (off the reactor); a file
        gone from the disk fails the send (noted, tried again), never a mail without it."""
        found = await self.store.files_of(message_row_id)
        if not found:
            return []

        def read() -> list[tuple[str, str, bytes]]:
            out = []
            for name, mime, sha in found:
                path = self.uploads.path(sha)
                if path is None:
                    raise SendRefused(f"the attachment {name} is no longer stored")
                out.append((name, mime, path.read_bytes()))
            return out

        files: list[tuple[str, str, bytes]] = await self._in_thread(read)
        return files

    async def _resend(self) -> int:
        """Every unsent reply whose retry time came: page after page, so replies that can
        never go (their account gone, an address that takes no mail) do not hide the ones
        after them behind the first page."""
        sent, after = 0, 0
        now = self.reactor.seconds()
        while True:
            page = await self.store.unsent(UNSENT_PAGE, after)
            for u in page:
                if u.message_row_id in self._sending:
                    continue
                if self._retry_at.get(u.message_row_id, (0.0, 0.0))[0] > now:
                    continue
                if await self._send_one(u):
                    sent += 1
            if len(page) < UNSENT_PAGE:
                return sent
            after = page[-1].message_row_id

    def resend_unsent(self) -> defer.Deferred[int]:
        """Send the replies still unsent (failed, or stored before a restart): the number
        sent now."""
        return defer.ensureDeferred(self._resend()).addErrback(_logged, "resending e-mail replies")

    # ---- the SLA ------------------------------------------------------------------------

    def check_sla(self) -> defer.Deferred[int]:
        """Threads past their due time without a reply: noted once and told to the bus."""
        return defer.ensureDeferred(self._check_sla()).addErrback(
            _logged, "checking the e-mail SLA"
        )

    async def _check_sla(self) -> int:
        breaches = await self.store.breach_due()
        for b in breaches:
            if self.bus is not None:
                self.bus.publish(
                    EmailSlaBreached(
                        conversation_id=b.conversation_id,
                        queue_id=b.queue_id,
                        agent_id=b.agent_id,
                        due_at=b.due_at.timestamp(),
                    )
                )
        return len(breaches)

    def open_breached(self) -> defer.Deferred[int]:
        """How many open e-mail threads are past their SLA unanswered (the wallboard)."""
        return self.store.open_breached()


def _is_zh(u: Unsent) -> bool:
    return compose.guess_language(u.subject, u.body) == "zh"


def _logged(failure: Any, what: str) -> int:
    log.failure(what, failure)
    return 0

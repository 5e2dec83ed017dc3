"""The e-mail channel's rows: accounts and routes, thread lookup by Message-ID, the
auto-reply ledger, replies waiting to be sent, the SLA's breaches.

Every method returns a Deferred of plain data (run in the database's pool). The channels'
engine (acd/channels/service.py) writes conversations and their messages; this store reads
them to find a mail's thread and writes what only the e-mail channel knows: a message's
Message-ID once it was sent, the attachments of a mail, its events.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import utcnow
from appliance.db.conversation_store import message_ids
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector

MAX_DETAIL = 500
OPEN = ("waiting", "offered", "active")


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    address: str
    display_name: str
    imap_host: str
    imap_port: int
    imap_security: str
    imap_user: str
    imap_password: str = field(repr=False)  # (an account logged shows no password)
    imap_folder: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str
    smtp_password: str = field(repr=False)
    queue_id: int | None
    auto_reply: bool
    auto_reply_body: str
    make_tickets: bool
    sla_minutes: int
    enabled: bool
    uidvalidity: int | None
    last_uid: int


@dataclass(frozen=True)
class Route:
    """An e-mail route's row (acd/channels/email/routing.py decides with it)."""

    id: int
    account_id: int | None
    kind: str  # "sender" | "keyword"
    pattern: str
    queue_id: int
    position: int


@dataclass(frozen=True)
class Thread:
    """A stored e-mail thread a mail was found to belong to."""

    id: int
    state: str
    queue_id: int | None
    account_id: int | None
    email: str
    subject: str
    ticket_id: int | None
    key: str = ""  # its thread_key: the Message-ID of the mail that started it


@dataclass(frozen=True)
class ReplyContext:
    """What an agent's reply needs from its thread: the last customer mail (its
    Message-ID, text, author and time) and the thread's ids, oldest first."""

    last_customer_id: str
    last_customer_text: str
    last_customer_author: str
    last_customer_at: dt.datetime | None
    chain: tuple[str, ...]
    thread_key: str = ""


@dataclass(frozen=True)
class Unsent:
    """An agent's e-mail reply not yet sent (no Message-ID stored on it)."""

    message_row_id: int
    conversation_id: int
    account_id: int | None
    name: str
    email: str
    subject: str
    body: str
    author: str


@dataclass(frozen=True)
class Breach:
    conversation_id: int
    queue_id: int | None
    agent_id: int | None
    account_id: int | None
    due_at: dt.datetime


def _account(r: Any) -> Account:
    return Account(
        id=r.id,
        name=r.name,
        address=r.address,
        display_name=r.display_name,
        imap_host=r.imap_host,
        imap_port=int(r.imap_port),
        imap_security=r.imap_security,
        imap_user=r.imap_user,
        imap_password=r.imap_password,
        imap_folder=r.imap_folder,
        smtp_host=r.smtp_host,
        smtp_port=int(r.smtp_port),
        smtp_security=r.smtp_security,
        smtp_user=r.smtp_user,
        smtp_password=r.smtp_password,
        queue_id=r.queue_id,
        auto_reply=bool(r.auto_reply),
        auto_reply_body=r.auto_reply_body,
        make_tickets=bool(r.make_tickets),
        sla_minutes=int(r.sla_minutes),
        enabled=bool(r.enabled),
        uidvalidity=r.uidvalidity,
        last_uid=int(r.last_uid),
    )


def _thread(r: Any) -> Thread:
    return Thread(
        r.id, r.state, r.queue_id, r.account_id, r.email, r.subject, r.ticket_id, r.thread_key or ""
    )


def add_event(
    conn: Connection,
    conversation_id: int,
    kind: str,
    at: dt.datetime,
    detail: str = "",
    queue_id: int | None = None,
    agent_id: int | None = None,
) -> None:
    conn.execute(
        model.conversation_events.insert().values(
            conversation_id=conversation_id,
            at=at,
            kind=kind[:24],
            detail=detail[:MAX_DETAIL],
            queue_id=queue_id,
            agent_id=agent_id,
        )
    )


class EmailStore:
    """The e-mail channel's database work; ``clock`` gives "now" (tests drive it)."""

    def __init__(self, db: DBConnector, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    # ---- accounts and routes ------------------------------------------------------------

    def accounts(self, enabled_only: bool = True) -> defer.Deferred[list[Account]]:
        a = model.email_accounts

        def thd(conn: Connection) -> list[Account]:
            q = sa.select(a).order_by(a.c.id)
            if enabled_only:
                q = q.where(a.c.enabled)
            return [_account(r) for r in conn.execute(q)]

        return self.db.read(thd)

    def addresses(self) -> defer.Deferred[list[str]]:
        """Every account's address, enabled or not (mails from them are ours)."""
        a = model.email_accounts.c
        return self.db.read(
            lambda conn: [str(x).lower() for x in conn.execute(sa.select(a.address)).scalars()]
        )

    def routes(self) -> defer.Deferred[list[Route]]:
        r_ = model.email_routes

        def thd(conn: Connection) -> list[Route]:
            rows = conn.execute(sa.select(r_).order_by(r_.c.position, r_.c.id))
            return [
                Route(r.id, r.account_id, r.kind, r.pattern, int(r.queue_id), int(r.position))
                for r in rows
            ]

        return self.db.read(thd)

    def save_state(self, account_id: int, uidvalidity: int, last_uid: int) -> defer.Deferred[None]:
        """Where the account's polling stands (the watcher took a message)."""
        a = model.email_accounts
        now = self.clock()

        def thd(conn: Connection) -> None:
            conn.execute(
                a.update()
                .where(a.c.id == account_id)
                .values(uidvalidity=uidvalidity, last_uid=last_uid, checked_at=now)
            )

        return self.db.run(thd)

    def set_health(self, account_id: int, error: str) -> defer.Deferred[None]:
        """The account's last error ("" when it works), shown on the admin's page."""
        a = model.email_accounts
        now = self.clock()

        def thd(conn: Connection) -> None:
            conn.execute(
                a.update()
                .where(a.c.id == account_id)
                .values(last_error=error[:500], checked_at=now)
            )

        return self.db.run(thd)

    # ---- threads ------------------------------------------------------------------------

    def seen(self, message_id: str) -> defer.Deferred[bool]:
        """Whether a mail of that Message-ID is stored already (a duplicate)."""
        m = model.conversation_messages.c

        def thd(conn: Connection) -> bool:
            q = sa.select(m.id).where(m.message_id == message_id).limit(1)
            return conn.execute(q).first() is not None

        return self.db.read(thd)

    def find_thread(
        self, ids: Sequence[str], reference: int | None, sender: str, own_id: str
    ) -> defer.Deferred[Thread | None]:
        """The e-mail thread a mail belongs to: one whose messages (or first Message-ID)
        are among ``ids`` (tried in order), or the thread started by this very mail
        (``own_id``: a mail taken again after a failure half-way), else the thread numbered
        ``reference`` when it is an e-mail thread of the same sender."""
        c = model.conversations
        m = model.conversation_messages.c

        def thd(conn: Connection) -> Thread | None:
            if ids:
                found = {
                    r.message_id: r.conversation_id
                    for r in conn.execute(
                        sa.select(m.message_id, m.conversation_id)
                        .join(c, c.c.id == m.conversation_id)
                        .where(m.message_id.in_(list(ids)), c.c.media == "email")
                    )
                }
                keys = {
                    r.thread_key: r.id
                    for r in conn.execute(
                        sa.select(c.c.id, c.c.thread_key).where(
                            c.c.thread_key.in_(list(ids)), c.c.media == "email"
                        )
                    )
                }
                for mid in ids:
                    cid = found.get(mid) or keys.get(mid)
                    if cid is not None:
                        return self._get_thread(conn, cid)
            if own_id:
                cid = conn.execute(
                    sa.select(c.c.id)
                    .where(c.c.thread_key == own_id, c.c.media == "email")
                    .order_by(c.c.id)
                    .limit(1)
                ).scalar()
                if cid is not None:
                    return self._get_thread(conn, int(cid))
            if reference is not None:
                r = conn.execute(sa.select(c).where(c.c.id == reference)).first()
                if (
                    r is not None
                    and r.media == "email"
                    and r.email.strip().lower() == sender.strip().lower()
                ):
                    return _thread(r)
            return None

        return self.db.read(thd)

    @staticmethod
    def _get_thread(conn: Connection, conversation_id: int) -> Thread | None:
        c = model.conversations
        r = conn.execute(sa.select(c).where(c.c.id == conversation_id)).first()
        return _thread(r) if r is not None else None

    def thread(self, conversation_id: int) -> defer.Deferred[Thread | None]:
        return self.db.read(lambda conn: self._get_thread(conn, conversation_id))

    def recent_from(self, address: str, since: dt.datetime) -> defer.Deferred[int]:
        """How many mails ``address`` wrote to us since ``since`` (the flood check)."""
        c = model.conversations.c
        m = model.conversation_messages.c

        def thd(conn: Connection) -> int:
            q = (
                sa.select(sa.func.count())
                .select_from(model.conversation_messages.join(model.conversations))
                .where(
                    c.media == "email",
                    sa.func.lower(c.email) == address.strip().lower(),
                    m.sender == "customer",
                    m.created_at >= since,
                )
            )
            return int(conn.execute(q).scalar() or 0)

        return self.db.read(thd)

    def latest_thread_of(self, address: str) -> defer.Deferred[Thread | None]:
        c = model.conversations

        def thd(conn: Connection) -> Thread | None:
            r = conn.execute(
                sa.select(c)
                .where(c.c.media == "email", sa.func.lower(c.c.email) == address.strip().lower())
                .order_by(c.c.id.desc())
                .limit(1)
            ).first()
            return _thread(r) if r is not None else None

        return self.db.read(thd)

    def customer_by_email(self, address: str) -> defer.Deferred[int | None]:
        """The live customer (not erased, not merged away) whose e-mail is ``address``."""
        cu = model.customers.c

        def thd(conn: Connection) -> int | None:
            value = conn.execute(
                sa.select(cu.id)
                .where(
                    sa.func.lower(cu.email) == address.strip().lower(),
                    cu.erased_at.is_(None),
                    cu.merged_into.is_(None),
                )
                .order_by(cu.id)
                .limit(1)
            ).scalar()
            return int(value) if value is not None else None

        return self.db.read(thd)

    # ---- what the channel writes --------------------------------------------------------

    def add_attachments(
        self, conversation_id: int, files: Iterable[tuple[str, str, int, str]]
    ) -> defer.Deferred[list[int]]:
        """Attachment rows (file name, type, size, sha256) not yet on a message: the engine
        links them (NewMessage.attachment_ids)."""
        t = model.conversation_attachments
        now = self.clock()
        rows = list(files)

        def thd(conn: Connection) -> list[int]:
            ids: list[int] = []
            for name, mime, size, sha in rows:
                pk = conn.execute(
                    t.insert().values(
                        conversation_id=conversation_id,
                        message_id=None,
                        file_name=name[:200],
                        content_type=mime[:100],
                        size_bytes=size,
                        sha256=sha,
                        created_at=now,
                    )
                ).inserted_primary_key
                assert pk is not None
                ids.append(int(pk[0]))
            return ids

        return self.db.run(thd)

    def event(
        self,
        conversation_id: int,
        kind: str,
        detail: str = "",
        queue_id: int | None = None,
    ) -> defer.Deferred[None]:
        now = self.clock()
        return self.db.run(
            lambda conn: add_event(conn, conversation_id, kind, now, detail, queue_id)
        )

    def has_event(self, conversation_id: int, kind: str) -> defer.Deferred[bool]:
        e = model.conversation_events.c

        def thd(conn: Connection) -> bool:
            q = sa.select(e.id).where(e.conversation_id == conversation_id, e.kind == kind)
            return conn.execute(q.limit(1)).first() is not None

        return self.db.read(thd)

    def append(
        self,
        conversation_id: int,
        *,
        sender: str,
        author: str,
        body: str,
        html: str = "",
        message_id: str | None = None,
        in_reply_to: str | None = None,
        attachment_ids: Sequence[int] = (),
    ) -> defer.Deferred[int]:
        """A message stored without the engine (nothing routed, nobody told): the box's own
        auto-reply, a flooding responder's mail."""
        m = model.conversation_messages
        t = model.conversation_attachments
        now = self.clock()

        ids = message_ids(self.db)

        def thd(conn: Connection) -> int:
            ids.ensure(conn)
            row_id = ids.take()  # the engine's lines take theirs there too: no collision
            conn.execute(
                m.insert().values(
                    id=row_id,
                    conversation_id=conversation_id,
                    sender=sender,
                    author=author[:128],
                    body=body,
                    html=html,
                    internal=False,
                    created_at=now,
                    message_id=message_id,
                    in_reply_to=in_reply_to,
                )
            )
            if attachment_ids:
                conn.execute(
                    t.update()
                    .where(t.c.id.in_(list(attachment_ids)), t.c.conversation_id == conversation_id)
                    .values(message_id=row_id)
                )
            return row_id

        return self.db.run(thd)

    def park_thread(
        self,
        *,
        account_id: int | None,
        queue_id: int | None,
        name: str,
        email: str,
        subject: str,
        language: str,
        thread_key: str,
        customer_id: int | None,
        reason: str,
    ) -> defer.Deferred[int]:
        """A thread the engine would not take (its queue takes no e-mail): kept as a
        message (state 'message', like a chat left while nobody was on duty), with why."""
        c = model.conversations
        now = self.clock()

        def thd(conn: Connection) -> int:
            pk = conn.execute(
                c.insert().values(
                    media="email",
                    state="message",
                    queue_id=queue_id,
                    account_id=account_id,
                    customer_id=customer_id,
                    name=name[:128],
                    email=email[:254],
                    subject=subject[:200],
                    language=language[:8],
                    thread_key=thread_key,
                    created_at=now,
                )
            ).inserted_primary_key
            assert pk is not None
            add_event(conn, int(pk[0]), "not_routed", now, reason, queue_id)
            return int(pk[0])

        return self.db.run(thd)

    def claim_auto_reply(self, address: str, interval: dt.timedelta) -> defer.Deferred[bool]:
        """Whether an auto-reply may go to ``address`` now; if so it is written down in the
        same transaction (on PostgreSQL under a lock on the address, so two accounts'
        ingests never both claim it; SQLite has one writer anyway)."""
        ar = model.email_auto_replies
        now = self.clock()
        key = address.strip().lower()[:254]

        def thd(conn: Connection) -> bool:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:k)"),
                    {"k": zlib.crc32(b"ccbox-auto-reply:" + key.encode("utf-8"))},
                )
            recent = conn.execute(
                sa.select(ar.c.id).where(ar.c.address == key, ar.c.at > now - interval).limit(1)
            ).first()
            if recent is not None:
                return False
            conn.execute(ar.insert().values(address=key, at=now))
            return True

        return self.db.run(thd)

    def link_ticket(self, conversation_id: int, ticket_id: int) -> defer.Deferred[None]:
        c = model.conversations
        now = self.clock()

        def thd(conn: Connection) -> None:
            conn.execute(c.update().where(c.c.id == conversation_id).values(ticket_id=ticket_id))
            add_event(conn, conversation_id, "ticket", now, str(ticket_id))

        return self.db.run(thd)

    def queue_name(self, queue_id: int) -> defer.Deferred[str]:
        q = model.queues.c
        return self.db.read(
            lambda conn: str(conn.execute(sa.select(q.name).where(q.id == queue_id)).scalar() or "")
        )

    def ticket_type(self, wanted: str) -> defer.Deferred[str]:
        """``wanted`` when it is an active ticket type, else one that is (a built-in first);
        ValueError when none is."""
        t = model.ticket_types.c

        def thd(conn: Connection) -> str:
            keys = (
                conn.execute(
                    sa.select(t.key)
                    .where(t.active)
                    .order_by((t.key == wanted).desc(), t.builtin.desc(), t.key)
                )
                .scalars()
                .first()
            )
            if keys is None:
                raise ValueError(N_("no ticket type is offered"))
            return str(keys)

        return self.db.read(thd)

    # ---- replies ------------------------------------------------------------------------

    def reply_context(self, conversation_id: int) -> defer.Deferred[ReplyContext]:
        m = model.conversation_messages.c
        c = model.conversations.c

        def thd(conn: Connection) -> ReplyContext:
            key = conn.execute(sa.select(c.thread_key).where(c.id == conversation_id)).scalar()
            mine = (m.conversation_id == conversation_id, m.message_id.is_not(None))
            # the ids of every mail, the text of the last customer's only (a long thread, or
            # a flood's, holds thousands of mails of up to 200,000 characters each)
            found = conn.execute(sa.select(m.message_id).where(*mine).order_by(m.id)).scalars()
            ids = [str(key)] if key else []
            ids += [str(x) for x in found if x != key]
            last = conn.execute(
                sa.select(m.author, m.body, m.created_at, m.message_id)
                .where(*mine, m.sender == "customer")
                .order_by(m.id.desc())
                .limit(1)
            ).first()
            return ReplyContext(
                last_customer_id=str(last.message_id) if last is not None else "",
                last_customer_text=last.body if last is not None else "",
                last_customer_author=last.author if last is not None else "",
                last_customer_at=last.created_at if last is not None else None,
                chain=tuple(ids),
                thread_key=str(key or ""),
            )

        return self.db.read(thd)

    def files_of(self, message_row_id: int) -> defer.Deferred[list[tuple[str, str, str]]]:
        """A message's attachments: (file name, type, sha256), in the order they came."""
        t = model.conversation_attachments.c

        def thd(conn: Connection) -> list[tuple[str, str, str]]:
            rows = conn.execute(
                sa.select(t.file_name, t.content_type, t.sha256)
                .where(t.message_id == message_row_id)
                .order_by(t.id)
            )
            return [(r.file_name, r.content_type, r.sha256) for r in rows]

        return self.db.read(thd)

    def mark_sent(self, message_row_id: int, message_id: str) -> defer.Deferred[None]:
        """The reply went out under ``message_id`` (stored: a reply to it threads here)."""
        m = model.conversation_messages
        now = self.clock()

        def thd(conn: Connection) -> None:
            cid = conn.execute(
                sa.select(m.c.conversation_id).where(m.c.id == message_row_id)
            ).scalar()
            conn.execute(m.update().where(m.c.id == message_row_id).values(message_id=message_id))
            if cid is not None:
                add_event(conn, int(cid), "sent", now, f"message {message_row_id}")

        return self.db.run(thd)

    def is_unsent(self, message_row_id: int) -> defer.Deferred[bool]:
        """Whether a reply is still to send (stored, no Message-ID written on it yet)."""
        m = model.conversation_messages.c

        def thd(conn: Connection) -> bool:
            q = sa.select(m.id).where(m.id == message_row_id, m.message_id.is_(None))
            return conn.execute(q).first() is not None

        return self.db.read(thd)

    def unsent(self, limit: int = 100, after: int = 0) -> defer.Deferred[list[Unsent]]:
        """Agents' e-mail replies with no Message-ID yet (not sent), oldest first, from the
        row after ``after`` (the next page)."""
        m = model.conversation_messages
        c = model.conversations

        def thd(conn: Connection) -> list[Unsent]:
            rows = conn.execute(
                sa.select(
                    m.c.id,
                    m.c.conversation_id,
                    m.c.body,
                    m.c.author,
                    c.c.account_id,
                    c.c.name,
                    c.c.email,
                    c.c.subject,
                )
                .join(c, c.c.id == m.c.conversation_id)
                .where(
                    c.c.media == "email",
                    m.c.sender.in_(("agent", "supervisor")),
                    m.c.internal.is_(False),
                    m.c.message_id.is_(None),
                    m.c.id > after,
                )
                .order_by(m.c.id)
                .limit(limit)
            )
            return [
                Unsent(
                    r.id,
                    r.conversation_id,
                    r.account_id,
                    r.name,
                    r.email,
                    r.subject,
                    r.body,
                    r.author,
                )
                for r in rows
            ]

        return self.db.read(thd)

    # ---- the SLA ------------------------------------------------------------------------

    def breach_due(self) -> defer.Deferred[list[Breach]]:
        """Open e-mail threads past their due time with no reply from the center yet, each
        written down (event 'sla_breached') and returned once."""
        c = model.conversations
        e = model.conversation_events
        m = model.conversation_messages
        now = self.clock()

        def thd(conn: Connection) -> list[Breach]:
            replied = (
                sa.select(m.c.id)
                .where(
                    m.c.conversation_id == c.c.id,
                    m.c.sender.in_(("agent", "supervisor")),
                    m.c.internal.is_(False),
                )
                .exists()
            )
            told = (
                sa.select(e.c.id)
                .where(e.c.conversation_id == c.c.id, e.c.kind == "sla_breached")
                .exists()
            )
            rows = conn.execute(
                sa.select(c.c.id, c.c.queue_id, c.c.agent_id, c.c.account_id, c.c.due_at).where(
                    c.c.media == "email",
                    c.c.state.in_(OPEN),
                    c.c.due_at.is_not(None),
                    c.c.due_at <= now,
                    c.c.first_reply_at.is_(None),
                    ~replied,
                    ~told,
                )
            ).all()
            out = []
            for r in rows:
                add_event(
                    conn,
                    r.id,
                    "sla_breached",
                    now,
                    f"due {r.due_at:%Y-%m-%d %H:%M} UTC",
                    r.queue_id,
                )
                out.append(Breach(r.id, r.queue_id, r.agent_id, r.account_id, r.due_at))
            return out

        return self.db.run(thd)

    def open_breached(self) -> defer.Deferred[int]:
        """Open e-mail threads whose SLA was breached and that still wait for the center's
        first reply (the wallboard's figure)."""
        c = model.conversations
        e = model.conversation_events.c
        m = model.conversation_messages.c

        def thd(conn: Connection) -> int:
            told = (
                sa.select(e.id)
                .where(e.conversation_id == c.c.id, e.kind == "sla_breached")
                .exists()
            )
            replied = (
                sa.select(m.id)
                .where(
                    m.conversation_id == c.c.id,
                    m.sender.in_(("agent", "supervisor")),
                    m.internal.is_(False),
                )
                .exists()
            )
            q = (
                sa.select(sa.func.count())
                .select_from(c)
                .where(
                    c.c.media == "email",
                    c.c.state.in_(OPEN),
                    c.c.first_reply_at.is_(None),
                    told,
                    ~replied,
                )
            )
            return int(conn.execute(q).scalar() or 0)

        return self.db.read(thd)

"""Chats and e-mail threads on the database: conversations, their messages, attachments,
events and read marks, and what a restart restores. Storage only: routing is the channels'
engine's (acd/channels/); every method returns a Deferred of plain data.

A message's insert is on the chat's delivery path (its id goes out with the line), so it is
one INSERT (and, with attachments, one UPDATE that hands them to it). The writes go by group
commit: those that come while a batch is being written share the next transaction, each in
its own savepoint (a busy center's lines do not each wait for a disk sync of their own).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.python.failure import Failure

from appliance.db import model

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector

T = TypeVar("T")

WAITING, OFFERED, ACTIVE, WRAP_UP, ENDED, MESSAGE = (
    "waiting",
    "offered",
    "active",
    "wrap_up",
    "ended",
    "message",
)
# The states in which a conversation holds (or waits for) an agent: restored after a restart.
OPEN_STATES = (WAITING, OFFERED, ACTIVE)


def iso(at: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z (None stays None)."""
    if at is None:
        return None
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Attachment:
    id: int
    file_name: str
    content_type: str
    size: int
    sha256: str = ""
    message_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "file_name": self.file_name,
            "content_type": self.content_type,
            "size": self.size,
        }


@dataclass(frozen=True)
class Message:
    """One line of a chat or one e-mail of a thread, as stored."""

    id: int
    conversation_id: int
    sender: str  # customer, agent, supervisor, system
    author: str
    body: str
    created_at: dt.datetime
    html: str = ""
    internal: bool = False
    agent_id: int | None = None
    attachments: tuple[Attachment, ...] = ()
    read_at: dt.datetime | None = None
    message_id: str | None = None  # e-mail Message-ID
    in_reply_to: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sender": self.sender,
            "author": self.author,
            "body": self.body,
            "html": self.html,
            "internal": self.internal,
            "created_at": iso(self.created_at),
            "attachments": [a.to_dict() for a in self.attachments],
        }

    def to_event(self) -> dict[str, Any]:
        return {"type": "message", "conversation": self.conversation_id, "message": self.to_dict()}


@dataclass
class Conversation:
    """A chat or an e-mail thread. The engine keeps its own; callers get copies."""

    id: int
    media: str  # chat, email
    state: str
    queue_id: int | None
    created_at: dt.datetime
    topic_id: int | None = None
    account_id: int | None = None
    agent_id: int | None = None
    customer_id: int | None = None
    ticket_id: int | None = None
    name: str = ""
    phone: str = ""
    email: str = ""
    subject: str = ""
    language: str = ""
    origin: str = ""
    priority: int = 0
    thread_key: str | None = None
    answered_at: dt.datetime | None = None
    first_reply_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    end_reason: str = ""
    # In memory only: the engine's arrival order (kept through a transfer or a restart),
    # when it joined its queue this time, and the agents it is offered to.
    seq: int = 0
    queued_at: float = 0.0
    offered_to: tuple[int, ...] = field(default=())
    left_message_offered: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "media": self.media,
            "state": self.state,
            "queue_id": self.queue_id,
            "topic_id": self.topic_id,
            "agent_id": self.agent_id,
            "customer_id": self.customer_id,
            "ticket_id": self.ticket_id,
            "name": self.name,
            "phone": self.phone,
            "email": self.email,
            "subject": self.subject,
            "language": self.language,
            "priority": self.priority,
            "created_at": iso(self.created_at),
            "answered_at": iso(self.answered_at),
            "due_at": iso(self.due_at),
            "ended_at": iso(self.ended_at),
            "end_reason": self.end_reason,
        }


# The columns a Conversation carries (and a state change may set).
_FIELDS = (
    "media",
    "state",
    "queue_id",
    "topic_id",
    "account_id",
    "agent_id",
    "customer_id",
    "ticket_id",
    "name",
    "phone",
    "email",
    "subject",
    "language",
    "origin",
    "priority",
    "thread_key",
    "created_at",
    "answered_at",
    "first_reply_at",
    "due_at",
    "ended_at",
    "end_reason",
)
# Text a visitor or a mail gave, cut to its column's size (never refused for its length).
_LIMITS = {
    "name": 128,
    "phone": 32,
    "email": 254,
    "subject": 200,
    "language": 8,
    "origin": 200,
    "thread_key": 255,
    "end_reason": 24,
}


@dataclass(frozen=True)
class TopicRow:
    id: int
    name: str
    label_zh: str
    label_en: str
    queue_id: int | None
    position: int
    enabled: bool


@dataclass(frozen=True)
class DayRow:
    queue_id: int | None
    created_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    state: str
    end_reason: str


@dataclass(frozen=True)
class EventRow:
    id: int
    conversation_id: int
    at: dt.datetime
    kind: str
    agent_id: int | None
    queue_id: int | None
    user: str
    detail: str


def _cut(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key, size in _LIMITS.items():
        value = out.get(key)
        if isinstance(value, str) and len(value) > size:
            out[key] = value[:size]
    return out


def conversation_of(r: Any) -> Conversation:
    return Conversation(
        id=r.id,
        media=r.media,
        state=r.state,
        queue_id=r.queue_id,
        created_at=r.created_at,
        topic_id=r.topic_id,
        account_id=r.account_id,
        agent_id=r.agent_id,
        customer_id=r.customer_id,
        ticket_id=r.ticket_id,
        name=r.name,
        phone=r.phone,
        email=r.email,
        subject=r.subject,
        language=r.language,
        origin=r.origin,
        priority=r.priority,
        thread_key=r.thread_key,
        answered_at=r.answered_at,
        first_reply_at=r.first_reply_at,
        due_at=r.due_at,
        ended_at=r.ended_at,
        end_reason=r.end_reason,
        seq=r.id,
    )


class MessageIds:
    """The ids of conversation_messages, given out in this process: a chat line gets its
    id on the reactor and goes to its listeners at once, its row written behind it. Every
    insert of the table takes its id here (``message_ids(db)``), so none collides with a
    line given an id and not written yet. Seeded once from MAX(id), on the reactor
    (``seed``) or in a database thread (``ensure``); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: int | None = None

    @property
    def seeded(self) -> bool:
        return self._next is not None

    def ensure(self, conn: Connection) -> None:
        """In a database thread: seed from the table when not seeded yet. On PostgreSQL
        the id's sequence is moved past the rows, so a stray default insert does not take
        a stored row's id."""
        if self._next is not None:
            return
        m = model.conversation_messages
        top = int(conn.execute(sa.select(sa.func.max(m.c.id))).scalar() or 0)
        if conn.dialect.name == "postgresql":
            conn.execute(
                sa.text(
                    "SELECT setval(pg_get_serial_sequence('conversation_messages', 'id'), "
                    ":top, :called)"
                ),
                {"top": max(top, 1), "called": top > 0},
            )
        with self._lock:
            if self._next is None:
                self._next = top + 1

    def take(self) -> int:
        with self._lock:
            if self._next is None:
                raise RuntimeError("message ids not seeded")
            value = self._next
            self._next += 1
            return value


_MESSAGE_IDS: weakref.WeakKeyDictionary[Any, MessageIds] = weakref.WeakKeyDictionary()
_MESSAGE_IDS_LOCK = threading.Lock()


def message_ids(db: DBConnector) -> MessageIds:
    """The one allocator of a database's message ids in this process."""
    with _MESSAGE_IDS_LOCK:
        ids = _MESSAGE_IDS.get(db)
        if ids is None:
            ids = _MESSAGE_IDS[db] = MessageIds()
        return ids


def _attachment_of(r: Any) -> Attachment:
    return Attachment(r.id, r.file_name, r.content_type, r.size_bytes, r.sha256, r.message_id)


_INSERT_MESSAGE = model.conversation_messages.insert()
_INSERT_EVENT = model.conversation_events.insert()


def _insert_message(conn: Connection, row: dict[str, Any], wanted: list[int]) -> Message:
    """One line's INSERT, and the attachments named (already stored for its conversation
    and not yet sent with a message) tied to it."""
    a = model.conversation_attachments
    conversation_id = row["conversation_id"]
    new_id = int(row["id"])
    # one statement object, the row as its parameters: compiled once and cached (with
    # .values(**row) each insert built and keyed a new statement: 3-4 times the work)
    conn.execute(_INSERT_MESSAGE, row)
    attachments: tuple[Attachment, ...] = ()
    if wanted:
        mine = sa.and_(
            a.c.id.in_(wanted),
            a.c.conversation_id == conversation_id,
            a.c.message_id.is_(None),
        )
        conn.execute(a.update().where(mine).values(message_id=new_id))
        attachments = tuple(
            _attachment_of(r)
            for r in conn.execute(a.select().where(a.c.message_id == new_id).order_by(a.c.id))
        )
    return Message(
        id=new_id,
        conversation_id=conversation_id,
        sender=row["sender"],
        author=row["author"],
        body=row["body"],
        created_at=row["created_at"],
        html=row["html"],
        internal=row["internal"],
        agent_id=row["agent_id"],
        attachments=attachments,
        message_id=row["message_id"],
        in_reply_to=row["in_reply_to"],
    )


class ConversationStore:
    def __init__(self, db: DBConnector, reactor: Any = None, linger_s: float = 0.0) -> None:
        """``linger_s`` (with a ``reactor``): a write that finds the database idle waits
        that long for others to share its transaction. The engine's lines reach their
        listeners before their rows are written (write-behind), so a short wait costs them
        nothing, and a busy center's writes go in a few transactions a second instead of
        one each (each a thread hand-off, a BEGIN and a COMMIT)."""
        self.db = db
        self.ids = message_ids(db)
        self.reactor = reactor
        self.linger_s = linger_s if reactor is not None else 0.0
        # writes waiting for the database: each batch is one transaction (group commit)
        self._queue: list[tuple[Callable[[Connection], Any], defer.Deferred[Any]]] = []
        self._writing = False
        self._lingering: Any = None

    def _batched(self, thd: Callable[[Connection], T]) -> defer.Deferred[T]:
        """Run the write ``thd(conn)`` in the next batch: its own savepoint, so a write that
        fails fails alone; what it returns, or its failure, comes back in order."""
        done: defer.Deferred[T] = defer.Deferred()
        self._queue.append((thd, done))
        if not self._writing:
            if self.linger_s <= 0:
                self._write_batch()
            elif self._lingering is None:
                self._lingering = self.reactor.callLater(self.linger_s, self._linger_over)
        return done

    def _linger_over(self) -> None:
        self._lingering = None
        if not self._writing and self._queue:
            self._write_batch()

    def flush_now(self) -> None:
        """Write what lingers at once, and every write from now on (the engine's stop)."""
        self.linger_s = 0.0
        if self._lingering is not None and self._lingering.active():
            self._lingering.cancel()
        self._lingering = None
        if not self._writing and self._queue:
            self._write_batch()

    def _write_batch(self) -> None:
        """Group commit: every write that came while the last batch was being written goes
        in one transaction. With synchronous=FULL SQLite syncs the WAL at each commit; a
        transaction per chat line, event and state change held a busy center's lines
        behind one disk sync each (bench_chat: seconds, then minutes)."""
        batch, self._queue = self._queue, []
        self._writing = True

        def thd(conn: Connection) -> list[tuple[bool, Any]]:
            # the whole batch in one savepoint (the usual case: each write good); when one
            # fails, all is undone and the batch goes again with one savepoint each (on
            # SQLite, all inside one transaction: appliance/db/engine.py begins it first)
            with contextlib.suppress(Exception), conn.begin_nested():
                return [(True, fn(conn)) for fn, _ in batch]
            out: list[tuple[bool, Any]] = []
            for fn, _ in batch:
                try:
                    with conn.begin_nested():
                        out.append((True, fn(conn)))
                except Exception:
                    out.append((False, Failure()))
            return out

        def written(results: list[tuple[bool, Any]]) -> None:
            for (_, waiter), (ok, value) in zip(batch, results, strict=True):
                if ok:
                    waiter.callback(value)
                else:
                    waiter.errback(value)

        def failed(failure: Failure) -> None:  # the transaction itself: every write of it
            for _, waiter in batch:
                waiter.errback(failure)

        def next_batch(_: object) -> None:
            # still "writing" while the callers ran: what they wrote waits for this
            self._writing = False
            if self._queue:
                self._write_batch()

        self.db.run(thd).addCallbacks(written, failed).addBoth(next_batch)

    # ---- conversations --------------------------------------------------------------------

    def create(self, **values: Any) -> defer.Deferred[Conversation]:
        """A new conversation row (``created_at`` required); the row as stored."""
        c = model.conversations
        unknown = set(values) - set(_FIELDS)
        if unknown:
            raise TypeError(f"not a conversation's column: {sorted(unknown)}")
        row = _cut(values)

        def thd(conn: Connection) -> Conversation:
            key = conn.execute(c.insert().values(**row)).inserted_primary_key
            assert key is not None
            r = conn.execute(c.select().where(c.c.id == key[0])).one()
            return conversation_of(r)

        return self._batched(thd)

    def update(self, conversation_id: int, **values: Any) -> defer.Deferred[None]:
        """Set some of a conversation's columns (its state, agent, times, ...)."""
        c = model.conversations
        unknown = set(values) - set(_FIELDS)
        if unknown:
            raise TypeError(f"not a conversation's column: {sorted(unknown)}")
        row = _cut(values)

        def thd(conn: Connection) -> None:
            conn.execute(c.update().where(c.c.id == conversation_id).values(**row))

        return self._batched(thd)

    def get(self, conversation_id: int) -> defer.Deferred[Conversation | None]:
        c = model.conversations

        def thd(conn: Connection) -> Conversation | None:
            r = conn.execute(c.select().where(c.c.id == conversation_id)).one_or_none()
            return conversation_of(r) if r is not None else None

        return self.db.read(thd)

    def open_conversations(self) -> defer.Deferred[list[Conversation]]:
        """What a restart finds unfinished: waiting, offered, active and in wrap-up, in
        arrival order."""
        c = model.conversations
        states = [*OPEN_STATES, WRAP_UP]

        def thd(conn: Connection) -> list[Conversation]:
            rows = conn.execute(c.select().where(c.c.state.in_(states)).order_by(c.c.id))
            return [conversation_of(r) for r in rows]

        return self.db.read(thd)

    def since(self, start: dt.datetime) -> defer.Deferred[list[DayRow]]:
        """The conversations that came since ``start`` (today's figures after a restart),
        but for messages left: their queue, times, state and end."""
        c = model.conversations

        def thd(conn: Connection) -> list[DayRow]:
            rows = conn.execute(
                sa.select(
                    c.c.queue_id,
                    c.c.created_at,
                    c.c.answered_at,
                    c.c.ended_at,
                    c.c.state,
                    c.c.end_reason,
                ).where(c.c.created_at >= start, c.c.state != "message")
            )
            return [DayRow(*r) for r in rows]

        return self.db.read(thd)

    def of_customer(self, customer_id: int, limit: int = 50) -> defer.Deferred[list[Conversation]]:
        c = model.conversations

        def thd(conn: Connection) -> list[Conversation]:
            rows = conn.execute(
                c.select()
                .where(c.c.customer_id == customer_id)
                .order_by(c.c.created_at.desc(), c.c.id.desc())
                .limit(limit)
            )
            return [conversation_of(r) for r in rows]

        return self.db.read(thd)

    # ---- messages -------------------------------------------------------------------------

    def add_message(
        self,
        conversation_id: int,
        *,
        sender: str,
        author: str,
        body: str,
        created_at: dt.datetime,
        html: str = "",
        internal: bool = False,
        agent_id: int | None = None,
        message_id: str | None = None,
        in_reply_to: str | None = None,
        attachment_ids: Sequence[int] = (),
        id: int | None = None,
    ) -> defer.Deferred[Message]:
        """One INSERT; the attachments named (already stored for this conversation and
        not yet sent with a message) go with it. An id that is not such an attachment is
        ignored: a visitor names ids, and may name another conversation's. ``id``: one
        taken from ``self.ids`` (the line already sent); without it one is taken here."""
        row: dict[str, Any] = {
            "id": id,
            "conversation_id": conversation_id,
            "sender": sender,
            "author": author[:128],
            "body": body,
            "html": html,
            "internal": internal,
            "agent_id": agent_id,
            "created_at": created_at,
            "message_id": message_id[:255] if message_id else None,
            "in_reply_to": in_reply_to[:255] if in_reply_to else None,
        }
        wanted = sorted({int(i) for i in attachment_ids})

        def thd(conn: Connection) -> Message:
            if row["id"] is None:
                self.ids.ensure(conn)
                row["id"] = self.ids.take()
            return _insert_message(conn, row, wanted)

        return self._batched(thd)

    def seed_ids(self) -> defer.Deferred[None]:
        """Seed the message ids (before the engine gives any out on the reactor)."""
        return self.db.run(self.ids.ensure)

    def mark_read(
        self, conversation_id: int, senders: Sequence[str], up_to: int, at: dt.datetime
    ) -> defer.Deferred[int]:
        """The reader saw every line up to ``up_to`` written by ``senders``: their read
        mark (the first time only). How many lines it marked."""
        m = model.conversation_messages

        def thd(conn: Connection) -> int:
            done = conn.execute(
                m.update()
                .where(
                    m.c.conversation_id == conversation_id,
                    m.c.id <= up_to,
                    m.c.sender.in_(list(senders)),
                    m.c.read_at.is_(None),
                )
                .values(read_at=at)
            )
            return int(done.rowcount or 0)

        return self._batched(thd)

    def history(
        self, conversation_id: int, limit: int = 200, internal: bool = True
    ) -> defer.Deferred[list[Message]]:
        """The last ``limit`` messages in order, with their attachments (``internal``
        False: without the lines the customer never sees)."""
        m, a = model.conversation_messages, model.conversation_attachments

        def thd(conn: Connection) -> list[Message]:
            q = m.select().where(m.c.conversation_id == conversation_id)
            if not internal:
                q = q.where(m.c.internal == sa.false())
            rows = list(conn.execute(q.order_by(m.c.id.desc()).limit(max(1, limit))))
            rows.reverse()
            files: dict[int, list[Attachment]] = {}
            if rows:
                for r in conn.execute(
                    a.select().where(a.c.message_id.in_([r.id for r in rows])).order_by(a.c.id)
                ):
                    files.setdefault(r.message_id, []).append(_attachment_of(r))
            return [
                Message(
                    id=r.id,
                    conversation_id=r.conversation_id,
                    sender=r.sender,
                    author=r.author,
                    body=r.body,
                    created_at=r.created_at,
                    html=r.html,
                    internal=bool(r.internal),
                    agent_id=r.agent_id,
                    attachments=tuple(files.get(r.id, ())),
                    read_at=r.read_at,
                    message_id=r.message_id,
                    in_reply_to=r.in_reply_to,
                )
                for r in rows
            ]

        return self.db.read(thd)

    # ---- attachments ----------------------------------------------------------------------

    def add_attachment(
        self,
        conversation_id: int,
        *,
        file_name: str,
        content_type: str,
        size: int,
        sha256: str,
        created_at: dt.datetime,
    ) -> defer.Deferred[Attachment]:
        """A stored file's row (the file is on disk already, by its hash), not yet sent:
        the next message that names it carries it."""
        a = model.conversation_attachments
        row: dict[str, Any] = {
            "conversation_id": conversation_id,
            "file_name": file_name[:200],
            "content_type": content_type[:100],
            "size_bytes": int(size),
            "sha256": sha256[:64],
            "created_at": created_at,
        }

        def thd(conn: Connection) -> Attachment:
            key = conn.execute(a.insert().values(**row)).inserted_primary_key
            assert key is not None
            return Attachment(
                int(key[0]), row["file_name"], row["content_type"], row["size_bytes"], row["sha256"]
            )

        return self._batched(thd)

    def attachment(self, attachment_id: int) -> defer.Deferred[Attachment | None]:
        a = model.conversation_attachments

        def thd(conn: Connection) -> Attachment | None:
            r = conn.execute(a.select().where(a.c.id == attachment_id)).one_or_none()
            return _attachment_of(r) if r is not None else None

        return self.db.read(thd)

    # ---- events ---------------------------------------------------------------------------

    def add_event(
        self,
        conversation_id: int,
        kind: str,
        at: dt.datetime,
        *,
        agent_id: int | None = None,
        queue_id: int | None = None,
        user: str = "",
        detail: str = "",
    ) -> defer.Deferred[None]:
        row = {
            "conversation_id": conversation_id,
            "kind": kind[:24],
            "at": at,
            "agent_id": agent_id,
            "queue_id": queue_id,
            "user": user[:64],
            "detail": detail[:500],
        }

        def thd(conn: Connection) -> None:
            conn.execute(_INSERT_EVENT, row)

        return self._batched(thd)

    def events(self, conversation_id: int) -> defer.Deferred[list[EventRow]]:
        e = model.conversation_events

        def thd(conn: Connection) -> list[EventRow]:
            rows = conn.execute(
                e.select().where(e.c.conversation_id == conversation_id).order_by(e.c.id)
            )
            return [
                EventRow(
                    r.id, r.conversation_id, r.at, r.kind, r.agent_id, r.queue_id, r.user, r.detail
                )
                for r in rows
            ]

        return self.db.read(thd)

    # ---- topics and tickets ----------------------------------------------------------------

    def topics(self) -> defer.Deferred[list[TopicRow]]:
        t = model.chat_topics

        def thd(conn: Connection) -> list[TopicRow]:
            rows = conn.execute(t.select().order_by(t.c.position, t.c.id))
            return [
                TopicRow(
                    r.id, r.name, r.label_zh, r.label_en, r.queue_id, r.position, bool(r.enabled)
                )
                for r in rows
            ]

        return self.db.read(thd)

    def ticket_type(self, preferred: str) -> defer.Deferred[str | None]:
        """``preferred`` when it is an active ticket type, else an active one (a built-in
        first); None when none is offered."""
        t = model.ticket_types.c

        def thd(conn: Connection) -> str | None:
            active = conn.execute(sa.select(t.key).where(t.key == preferred, t.active)).scalar()
            if active is not None:
                return str(active)
            key = conn.execute(
                sa.select(t.key).where(t.active).order_by(t.builtin.desc(), t.key).limit(1)
            ).scalar()
            return str(key) if key is not None else None

        return self.db.read(thd)

    def customer_by_email(self, email: str) -> defer.Deferred[tuple[int, str] | None]:
        """(id, class) of the oldest live customer with this e-mail address (any case)."""
        c = model.customers.c

        def thd(conn: Connection) -> tuple[int, str] | None:
            r = conn.execute(
                sa.select(c.id, c.customer_class)
                .where(
                    sa.func.lower(c.email) == email.lower(),
                    c.merged_into.is_(None),
                    c.erased_at.is_(None),
                )
                .order_by(c.id)
                .limit(1)
            ).first()
            return (int(r.id), str(r.customer_class)) if r is not None else None

        return self.db.read(thd)

    def customer_class(self, customer_id: int) -> defer.Deferred[str | None]:
        c = model.customers.c

        def thd(conn: Connection) -> str | None:
            value = conn.execute(sa.select(c.customer_class).where(c.id == customer_id)).scalar()
            return str(value) if value is not None else None

        return self.db.read(thd)

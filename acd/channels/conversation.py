"""The plain data the channels' engine hands out: conversations, messages, loads, topics,
queue figures. Nothing here does I/O; every value is JSON-ready through its ``to_event``
/ ``to_dict`` helper (times as ISO 8601 UTC)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
CUSTOMER, STAFF = "customer", "staff"
SIDES = (CUSTOMER, STAFF)

Listener = Callable[[dict[str, Any]], None]


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


@dataclass(frozen=True)
class NewMessage:
    """An e-mail the ingest (acd/channels/email/) parsed, for ``email_received``."""

    body: str
    html: str = ""
    author: str = ""
    message_id: str | None = None
    in_reply_to: str | None = None
    attachment_ids: tuple[int, ...] = ()


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


@dataclass(frozen=True)
class Topic:
    """A pre-chat form's topic: its label in the visitor's language, whether anyone who
    serves its queue is logged in."""

    id: int
    name: str
    label: str
    queue_id: int | None
    on_duty: bool


@dataclass(frozen=True)
class Load:
    """An agent's conversations now: ``open`` (offered, active, in wrap-up) of ``capacity``
    (agents.max_chats); ``on_call``: a call rings, is up or in wrap-up; ``may_take``: a new
    conversation may be offered now (acd/channels/capacity.py)."""

    open: int
    capacity: int
    on_call: bool
    may_take: bool


@dataclass(frozen=True)
class ChannelQueueStats:
    """A chat or e-mail queue's figures today (the wallboard, the supervisor's console)."""

    queue_id: int
    media: str
    waiting: int
    oldest_wait_s: float
    active: int
    offered_today: int
    answered_today: int
    answered_in_sl_today: int
    abandoned_today: int
    service_level_pct: float | None  # None before anything was answered or abandoned

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True, eq=False)
class Subscription:
    """What ``subscribe_*`` returns: pass it to ``unsubscribe``."""

    kind: str  # conversation, agent, watch
    key: int
    listener: Listener
    side: str = STAFF

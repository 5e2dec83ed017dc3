"""The plain data the channels' engine hands out: conversations, messages, loads, topics,
queue figures. Nothing here does I/O; every value is JSON-ready through its ``to_event``
/ ``to_dict`` helper (times as ISO 8601 UTC)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The stored data (storage is a layer below the engine): re-exported here.
from appliance.db.conversation_store import (
    ACTIVE,
    ENDED,
    MESSAGE,
    OFFERED,
    OPEN_STATES,
    WAITING,
    WRAP_UP,
    Attachment,
    Conversation,
    Message,
    iso,
)

__all__ = [
    "ACTIVE",
    "CUSTOMER",
    "ENDED",
    "MESSAGE",
    "OFFERED",
    "OPEN_STATES",
    "SIDES",
    "STAFF",
    "WAITING",
    "WRAP_UP",
    "Attachment",
    "ChannelQueueStats",
    "Conversation",
    "Listener",
    "Load",
    "Message",
    "NewMessage",
    "Subscription",
    "Topic",
    "iso",
]

CUSTOMER, STAFF = "customer", "staff"
SIDES = (CUSTOMER, STAFF)

Listener = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class NewMessage:
    """An e-mail the ingest (acd/channels/email/) parsed, for ``email_received``."""

    body: str
    html: str = ""
    author: str = ""
    message_id: str | None = None
    in_reply_to: str | None = None
    attachment_ids: tuple[int, ...] = ()


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

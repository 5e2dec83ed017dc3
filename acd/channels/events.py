"""What the channels' engine publishes on the event bus (the live feed, the wallboard and
the reports read it): frozen dataclasses, like the ACD's."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConversationStateChanged:
    """A conversation moved (waiting, offered, active, wrap_up, ended, message)."""

    conversation_id: int
    media: str  # chat, email
    queue_id: int | None
    agent_id: int | None
    old: str  # "" for a new conversation
    new: str
    at: float  # epoch seconds


@dataclass(frozen=True)
class ChannelQueueStatsChanged:
    """A chat or e-mail queue's figures changed: read them with ``queue_stats()``."""

    queue_id: int


@dataclass(frozen=True)
class AgentLoadChanged:
    """An agent's open conversations (offered, active, in wrap-up) or capacity changed."""

    agent_id: int
    open: int
    capacity: int


@dataclass(frozen=True)
class EmailSlaBreached:
    """An e-mail thread got no reply from the center by its due time (told once; the
    count of open ones: EmailChannelService.open_breached)."""

    conversation_id: int
    queue_id: int | None
    agent_id: int | None
    due_at: float  # epoch seconds

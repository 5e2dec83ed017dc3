"""The channels' engine: web chats and e-mail threads routed to agents beside their calls.

(API skeleton: the engine is being filled in; every method below is the shared contract of
issue 20.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from twisted.application import service
from twisted.internet import defer

from acd.channels.conversation import (
    ChannelQueueStats,
    Conversation,
    Listener,
    Load,
    Message,
    NewMessage,
    Subscription,
    Topic,
)
from acd.channels.errors import ChannelError

if TYPE_CHECKING:
    from acd.service import ACD
    from appliance.config import ChatConfig
    from appliance.db.connector import DBConnector
    from appliance.eventbus import EventBus

__all__ = [
    "ChannelError",
    "ChannelQueueStats",
    "ChannelService",
    "Conversation",
    "EmailSender",
    "Load",
    "Message",
    "NewMessage",
    "Subscription",
    "Topic",
]


class EmailSender(Protocol):
    """What the e-mail channel registers (``set_email_sender``) to send an agent's reply."""

    def send_reply(
        self, conversation: Conversation, message: Message, agent_name: str
    ) -> defer.Deferred[Any]: ...


class ChannelService(service.Service):
    name = "channels"

    def __init__(
        self,
        *,
        reactor: Any,
        db: DBConnector,
        acd: ACD,
        bus: EventBus,
        config: ChatConfig,
        customers: Any = None,
    ) -> None:
        self.reactor = reactor
        self.db = db
        self.acd = acd
        self.bus = bus
        self.config = config
        self.customers = customers

    # customers' side
    def topics(self, language: str) -> list[Topic]:
        raise NotImplementedError

    async def start_chat(
        self,
        *,
        topic_id: int,
        name: str,
        phone: str,
        email: str,
        language: str,
        origin: str,
        customer_id: int | None = None,
    ) -> Conversation:
        raise NotImplementedError

    async def leave_message(
        self,
        *,
        topic_id: int,
        name: str,
        phone: str,
        email: str,
        language: str,
        origin: str,
        text: str,
    ) -> int:
        raise NotImplementedError

    async def customer_says(
        self, conversation_id: int, text: str, attachment_ids: Iterable[int] = ()
    ) -> Message:
        raise NotImplementedError

    def customer_typing(self, conversation_id: int, typing: bool) -> None:
        raise NotImplementedError

    async def customer_read(self, conversation_id: int, up_to_message_id: int) -> None:
        raise NotImplementedError

    async def customer_left(self, conversation_id: int, reason: str = "customer_left") -> None:
        raise NotImplementedError

    async def start_email_thread(
        self,
        *,
        queue_id: int,
        account_id: int,
        name: str,
        email: str,
        subject: str,
        language: str,
        thread_key: str,
        due_at: Any,
        customer_id: int | None = None,
    ) -> Conversation:
        raise NotImplementedError

    async def email_received(self, conversation_id: int, message: NewMessage) -> Message:
        raise NotImplementedError

    def set_email_sender(self, sender: EmailSender) -> None:
        raise NotImplementedError

    # agents' side
    async def accept(self, agent_id: int, conversation_id: int) -> None:
        raise NotImplementedError

    async def decline(self, agent_id: int, conversation_id: int) -> None:
        raise NotImplementedError

    async def agent_says(
        self, agent_id: int, conversation_id: int, text: str, attachment_ids: Iterable[int] = ()
    ) -> Message:
        raise NotImplementedError

    def agent_typing(self, agent_id: int, conversation_id: int, typing: bool) -> None:
        raise NotImplementedError

    async def agent_read(self, agent_id: int, conversation_id: int, up_to: int) -> None:
        raise NotImplementedError

    async def transfer(
        self,
        agent_id: int,
        conversation_id: int,
        *,
        to_agent_id: int | None = None,
        to_queue_id: int | None = None,
        note: str = "",
    ) -> None:
        raise NotImplementedError

    async def end(self, agent_id: int, conversation_id: int) -> None:
        raise NotImplementedError

    def wrapup_done(self, agent_id: int, conversation_id: int) -> None:
        raise NotImplementedError

    def conversations_of(self, agent_id: int) -> list[Conversation]:
        raise NotImplementedError

    async def history(self, conversation_id: int, limit: int = 200) -> list[Message]:
        raise NotImplementedError

    def load(self, agent_id: int) -> Load:
        raise NotImplementedError

    # supervisors
    def watch(self, conversation_id: int, listener: Listener) -> Subscription:
        raise NotImplementedError

    async def join(self, user_name: str, conversation_id: int) -> None:
        raise NotImplementedError

    async def supervisor_says(
        self, user_name: str, conversation_id: int, text: str, internal: bool
    ) -> Message:
        raise NotImplementedError

    def waiting(self) -> list[Conversation]:
        raise NotImplementedError

    def active(self) -> list[Conversation]:
        raise NotImplementedError

    def queue_stats(self) -> dict[int, ChannelQueueStats]:
        raise NotImplementedError

    # listeners
    def subscribe_conversation(
        self, conversation_id: int, listener: Listener, side: str
    ) -> Subscription:
        raise NotImplementedError

    def subscribe_agent(self, agent_id: int, listener: Listener) -> Subscription:
        raise NotImplementedError

    def unsubscribe(self, sub: Subscription) -> None:
        raise NotImplementedError

    def relay(self, conversation_id: int, from_side: str, event: dict[str, Any]) -> None:
        raise NotImplementedError

"""Who hears the channels' engine (acd/channels/service.py): the web streams' listeners, per
conversation (the customer's side or the staff's) and per agent.

A listener is a callable ``listener(event: dict)`` called on the reactor thread; one that
raises is logged and the others still hear the event. The customer's side never gets what
the engine sends to the staff only (internal lines, offers, agent-only data): the engine
says which sides an event is for.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from acd.channels.conversation import (
    ACTIVE,
    CUSTOMER,
    ENDED,
    SIDES,
    STAFF,
    WRAP_UP,
    Conversation,
    Listener,
    Subscription,
)

log = Logger(namespace="ccbox.channels")


class Listeners:
    def __init__(self) -> None:
        self._conversations: dict[int, list[Subscription]] = {}
        self._agents: dict[int, list[Subscription]] = {}

    # ---- subscribing -------------------------------------------------------------------

    def conversation(
        self, conversation_id: int, listener: Listener, side: str, kind: str = "conversation"
    ) -> Subscription:
        """A listener of one conversation's events for ``side`` (``kind`` "watch": a
        supervisor's)."""
        if side not in SIDES:
            raise ValueError(f"side is one of {SIDES}")
        sub = Subscription(kind, conversation_id, listener, side)
        self._conversations.setdefault(conversation_id, []).append(sub)
        return sub

    def agent(self, agent_id: int, listener: Listener) -> Subscription:
        """A listener of an agent's offers and of its conversations' staff events."""
        sub = Subscription("agent", agent_id, listener, STAFF)
        self._agents.setdefault(agent_id, []).append(sub)
        return sub

    def remove(self, sub: Subscription) -> None:
        table = self._agents if sub.kind == "agent" else self._conversations
        subs = table.get(sub.key)
        if subs and sub in subs:
            subs.remove(sub)
            if not subs:
                del table[sub.key]

    def listened(self, conversation_id: int) -> bool:
        return bool(self._conversations.get(conversation_id))

    # ---- telling -------------------------------------------------------------------------

    def emit(
        self,
        conv: Conversation,
        event: dict[str, Any],
        *,
        customer: bool = True,
        staff: bool = True,
    ) -> None:
        """To the conversation's listeners of each side, and to its agent's (once the agent
        has it: active, in wrap-up or ended)."""
        for sub in list(self._conversations.get(conv.id, ())):
            if (sub.side == CUSTOMER and customer) or (sub.side == STAFF and staff):
                _call(sub, event)
        if staff and conv.agent_id is not None and conv.state in (ACTIVE, WRAP_UP, ENDED):
            self.to_agent(conv.agent_id, event)

    def to_conversation(self, conversation_id: int, event: dict[str, Any]) -> None:
        """To every listener of the conversation, both sides."""
        for sub in list(self._conversations.get(conversation_id, ())):
            _call(sub, event)

    def to_agent(self, agent_id: int, event: dict[str, Any]) -> None:
        for sub in list(self._agents.get(agent_id, ())):
            _call(sub, event)


def _call(sub: Subscription, event: dict[str, Any]) -> None:
    try:
        sub.listener(event)
    except Exception:
        log.failure("a conversation listener failed on {type}", type=event.get("type"))

"""How calls and conversations share an agent: the capacity rules, in one place (pure).

An agent's conversation slots are ``agents.max_chats``; a conversation holds a slot while
it is offered, active or in wrap-up. The admin sets, per agent, how a call counts:

- a new conversation is offered only to an agent logged in, not paused, below capacity, and
  not on a call (ringing, on_call or the call's wrap-up) unless ``chat_on_call``;
- a call is offered to an agent with open conversations only if ``call_with_chats``.

The channels' router asks :func:`may_take_conversation`; the call ACD asks the gate the
channels' service installs (``ACD.set_call_gate``), which is :func:`may_take_call`.
"""

from __future__ import annotations

from acd import agent_state as st

# The ACD states in which a call holds the agent (the phone rings, talks, or wraps up).
CALL_STATES = frozenset((st.RINGING, st.ON_CALL, st.WRAP_UP))
# The states in which no new work is offered at all.
AWAY_STATES = frozenset((st.LOGGED_OUT, st.PAUSED))


def on_call(state: str) -> bool:
    """A call holds the agent in this ACD state."""
    return state in CALL_STATES


def may_take_conversation(state: str, open_count: int, max_chats: int, chat_on_call: bool) -> bool:
    """One more conversation may be offered to an agent in ACD ``state`` who holds
    ``open_count`` conversations now."""
    if state in AWAY_STATES:
        return False
    if open_count >= max_chats:
        return False
    return not (on_call(state) and not chat_on_call)


def may_take_call(open_count: int, call_with_chats: bool) -> bool:
    """A call may be offered to an agent holding ``open_count`` conversations (the agent's
    ACD state is the call ACD's own business)."""
    return open_count == 0 or call_with_chats

"""An agent's live state and the transitions allowed between states (pure, no I/O).

::

    logged_out --login--> available --offer--> ringing --answer--> on_call
                              ^  |                |                   |
                              |  +--pause--> paused   no_answer        call_ended
                              |                ^      (or paused        |
                              +----unpause-----+       after N misses)  v
                              +---------------- wrapup_done ------- wrap_up

Agents on leave or resigned (``agents.status``) cannot log in. A logout or pause is refused
while a call rings or is up: the agent finishes the call first.
"""

from __future__ import annotations

from dataclasses import dataclass

LOGGED_OUT = "logged_out"
AVAILABLE = "available"
RINGING = "ringing"
ON_CALL = "on_call"
WRAP_UP = "wrap_up"
PAUSED = "paused"
STATES = (LOGGED_OUT, AVAILABLE, RINGING, ON_CALL, WRAP_UP, PAUSED)

# event -> {from state: to state}
TRANSITIONS: dict[str, dict[str, str]] = {
    "login": {LOGGED_OUT: AVAILABLE},
    "logout": {AVAILABLE: LOGGED_OUT, PAUSED: LOGGED_OUT, WRAP_UP: LOGGED_OUT},
    "pause": {AVAILABLE: PAUSED, PAUSED: PAUSED, WRAP_UP: PAUSED},
    "unpause": {PAUSED: AVAILABLE},
    "offer": {AVAILABLE: RINGING},
    "answer": {RINGING: ON_CALL},
    "no_answer": {RINGING: AVAILABLE},
    "auto_pause": {RINGING: PAUSED},
    "cancel": {RINGING: AVAILABLE},  # the caller left while it rang
    "call_ended": {ON_CALL: WRAP_UP},
    "wrapup_done": {WRAP_UP: AVAILABLE},
}

PAUSE_REASONS = ("break", "lunch", "training", "meeting", "after_call_work", "missed_calls")


class TransitionError(ValueError):
    """The event is not allowed in the agent's current state (the message says why)."""


@dataclass(frozen=True)
class AgentStateChanged:
    """Published on the event bus for every change (the wallboard and reports read it)."""

    agent_id: int
    old: str
    new: str
    reason: str
    at: float  # epoch seconds, microsecond resolution


def next_state(state: str, event: str) -> str:
    targets = TRANSITIONS.get(event)
    if targets is None:
        raise TransitionError(f"unknown agent event {event!r}")
    new = targets.get(state)
    if new is None:
        if event in ("logout", "pause") and state in (RINGING, ON_CALL):
            raise TransitionError(f"cannot {event} during a call: finish the call first")
        raise TransitionError(f"cannot {event} when {state.replace('_', ' ')}")
    return new


def check_pause_reason(reason: str) -> str:
    if reason not in PAUSE_REASONS:
        raise TransitionError(f"pause reason must be one of {', '.join(PAUSE_REASONS)}")
    return reason

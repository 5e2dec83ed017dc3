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

from appliance.text import N_

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

# What a person reads for each reason (marked for translation: appliance/text.py); the web's
# labels (webui/labels.py) and the reports' pause tables and charts both show these.
PAUSE_REASON_NAMES = {
    "break": N_("Break"),
    "lunch": N_("Lunch"),
    "training": N_("Training"),
    "meeting": N_("Meeting"),
    "after_call_work": N_("After-call work"),
    "missed_calls": N_("Missed calls"),
}

# How a refusal words an event and a state ("cannot unpause when logged out"), marked for
# translation (appliance/text.py); an event by its name, as the API takes it.
EVENT_WORDS = {
    "login": N_("login"),
    "logout": N_("logout"),
    "pause": N_("pause"),
    "unpause": N_("unpause"),
    "offer": N_("offer"),
    "answer": N_("answer"),
    "no_answer": N_("no_answer"),
    "auto_pause": N_("auto_pause"),
    "cancel": N_("cancel"),
    "call_ended": N_("call_ended"),
    "wrapup_done": N_("wrapup_done"),
}
STATE_WORDS = {
    LOGGED_OUT: N_("logged out"),
    AVAILABLE: N_("available"),
    RINGING: N_("ringing"),
    ON_CALL: N_("on call"),
    WRAP_UP: N_("wrap up"),
    PAUSED: N_("paused"),
}


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
        raise TransitionError(N_("unknown agent event {event!r}", event=event))
    new = targets.get(state)
    if new is None:
        if event in ("logout", "pause") and state in (RINGING, ON_CALL):
            raise TransitionError(
                N_(
                    "cannot {event} during a call: finish the call first",
                    event=EVENT_WORDS.get(event, event),
                )
            )
        raise TransitionError(
            N_(
                "cannot {event} when {state}",
                event=EVENT_WORDS.get(event, event),
                state=STATE_WORDS.get(state, state.replace("_", " ")),
            )
        )
    return new


def check_pause_reason(reason: str) -> str:
    if reason not in PAUSE_REASONS:
        raise TransitionError(
            N_("pause reason must be one of {items}", items=", ".join(PAUSE_REASONS))
        )
    return reason

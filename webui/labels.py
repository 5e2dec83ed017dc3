"""The translated names of the codes several pages show (an agent's states, pause reasons),
so the desk, the console and the wallboard say the same thing."""

from __future__ import annotations

from webui import i18n


def agent_states() -> dict[str, str]:
    """acd/agent_state.py's states."""
    _ = i18n._
    return {
        "logged_out": _("Logged out"),
        "available": _("Ready"),
        "ringing": _("Ringing"),
        "on_call": _("On a call"),
        "wrap_up": _("Wrap-up"),
        "paused": _("Paused"),
    }


def pause_reasons() -> dict[str, str]:
    """acd/agent_state.py's PAUSE_REASONS."""
    _ = i18n._
    return {
        "break": _("Break"),
        "lunch": _("Lunch"),
        "training": _("Training"),
        "meeting": _("Meeting"),
        "after_call_work": _("After-call work"),
        "missed_calls": _("Missed calls"),
    }

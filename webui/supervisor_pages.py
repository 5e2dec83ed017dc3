"""The supervisor console: every agent and queue live, with the supervisor's actions.

``/supervisor`` (admin, supervisor) is static HTML plus the translated strings and settings
the script needs (JSON in a script element that is never executed); supervisor.js fills it
from the live feed (``ccboxLive``, topics "all") with textContent only, and posts the
actions to ``/api/supervisor/...`` (webui/supervisor_api.py) with the CSRF token.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from acd.agent_state import PAUSE_REASONS
from webui import i18n, labels
from webui.access import current_session, page
from webui.context import WebContext
from webui.render import render
from webui.supervisor_api import SPY_MODES, SUPERVISING

_ = i18n._


def console_texts() -> dict[str, Any]:
    """What supervisor.js shows, translated (the script has no strings of its own)."""
    return {
        "states": labels.agent_states(),
        "reasons": labels.pause_reasons(),
        "call_states": {
            "waiting": _("Waiting"),
            "ringing": _("Ringing"),
            "talking": _("Talking"),
        },
        "modes": {"listen": _("Listen in"), "whisper": _("Whisper"), "barge": _("Barge")},
        "live": _("Live"),
        "lost": _("Connection lost: reconnecting…"),
        "pause": _("Pause"),
        "logout": _("Log agent out"),
        "release": _("Free agent"),
        "move": _("Move"),
        "hangup": _("Hang up"),
        "record_now": _("Record now"),
        "to_queue": _("Queue: {name}"),
        "to_agent": _("Agent: {name}"),
        "move_to": _("Move to…"),
        "no_calls": _("No calls."),
        "unknown_caller": _("Unknown caller"),
        "confirm_hangup": _("Hang up the call from {caller}?"),
        "confirm_logout": _("Log out agent {agent}?"),
        "confirm_release": _("Free {agent}? Only if the switch has no call on its phone."),
        "done": _("Done: {what}"),
        "failed": _("Failed: {reason}"),
        "waiting_n": _("{n} waiting"),
        "longest": _("longest {time}"),
        "priority": _("priority {n}"),
    }


class SupervisorPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @page(*SUPERVISING)
    def index(self) -> str:
        user = current_session().user
        assert user is not None
        acd = self.ctx.acd
        mine = self.ctx.call(lambda: defer.succeed(acd.agent_of_user(user.id)))
        settings = {
            "phone": mine.device if mine is not None else "",
            "modes": list(SPY_MODES),
            "reasons": [r for r in PAUSE_REASONS if r != "missed_calls"],
        }
        return render(
            self.ctx,
            "supervisor.html",
            texts=console_texts(),
            settings=settings,
            phone=settings["phone"],
        )

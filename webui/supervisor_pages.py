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
MAX_CALLS = 10  # calls shown per queue, longest wait first; the rest are counted
IDLE_EVERY_MS = 3000  # how often the page asks why ready agents get no calls, while any wait


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
        # call control on the agent's call (webui/call_control_api.py)
        "controls": {
            "hold": _("Hold"),
            "resume": _("Resume"),
            "mute": _("Mute"),
            "unmute": _("Unmute"),
            "hangup": _("Hang up"),
        },
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
        "more_calls": _("and {n} more"),
        "handled_1": _("1 call"),
        "handled_n": _("{n} calls"),
        "talk": _("talk {time}"),
        "idle_title": _("Takes none of the callers waiting:"),
    }


class SupervisorPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @page(*SUPERVISING)
    def index(self, queue: Any = "", team: Any = "") -> str:
        """``?queue=<name>&team=<department>``: the filters chosen on the page (kept in the
        URL; a name that is no queue or team shows everything)."""
        user = current_session().user
        assert user is not None
        acd = self.ctx.acd
        mine = self.ctx.call(lambda: defer.succeed(acd.agent_of_user(user.id)))
        queues = self.ctx.call(
            lambda: defer.succeed(
                sorted(
                    ((q.name, q.display_name or q.name) for q in acd.queues.values()),
                    key=lambda q: q[0],
                )
            )
        )
        # Teams are the agents' departments (set on the agent's admin page).
        agents = self.ctx.call(self.ctx.db.agents.list_all)
        departments = {a.id: a.department for a in agents if a.department}
        teams = sorted(set(departments.values()))
        chosen_queue = queue if isinstance(queue, str) and queue in dict(queues) else ""
        chosen_team = team if isinstance(team, str) and team in teams else ""
        settings = {
            "phone": mine.device if mine is not None else "",
            "modes": list(SPY_MODES),
            "reasons": [r for r in PAUSE_REASONS if r != "missed_calls"],
            "teams": {str(aid): dept for aid, dept in departments.items()},
            "max_calls": MAX_CALLS,
            "idle_every_ms": IDLE_EVERY_MS,
        }
        return render(
            self.ctx,
            "supervisor.html",
            texts=console_texts(),
            settings=settings,
            phone=settings["phone"],
            queues=queues,
            teams=teams,
            chosen_queue=chosen_queue,
            chosen_team=chosen_team,
        )

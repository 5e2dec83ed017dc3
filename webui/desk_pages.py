"""The agent desktop: state buttons, the screen pop, transfer and recording buttons, the
disposition and notes, notices. And the supervisors' notices page.

``/desk``          the agent's own desk (agent role only: a supervisor watches agents from the
                   console; the desk acts as the logged-in agent and has no read-only mode)
``/desk/notices``  post and withdraw notices (admin, supervisor)

The pages are static HTML plus the translated strings the script needs (JSON in a script
element that is never executed); desk.js fills them from the JSON API and the live feed,
with textContent only.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from acd.agent_state import PAUSE_REASONS
from appliance.db.desk_store import DISPOSITIONS, MAX_NOTES
from appliance.db.notice_store import LEVELS, MAX_MINUTES, MAX_TEXT
from webui import i18n, labels
from webui.access import current_session, page
from webui.acd_api import TRANSFER_KINDS
from webui.context import WebContext
from webui.render import render

_ = i18n._


def _labels() -> dict[str, dict[str, str]]:
    """The translated names of the codes the desk shows (states, reasons, dispositions)."""
    return {
        "states": labels.agent_states(),
        "reasons": labels.pause_reasons(),
        "dispositions": {
            "resolved": _("Resolved"),
            "follow_up": _("Follow-up needed"),
            "escalated": _("Escalated"),
            "wrong_number": _("Wrong number"),
            "complaint": _("Complaint"),
            "other": _("Other"),
        },
        "levels": {"info": _("Info"), "warning": _("Warning"), "urgent": _("Urgent")},
        "kinds": {"queue": _("Queue"), "agent": _("Agent"), "extension": _("Extension")},
    }


def _strings() -> dict[str, str]:
    return {
        "live": _("Live"),
        "lost": _("Connection lost: reconnecting…"),
        "ringing": _("Incoming call"),
        "answered": _("On the call"),
        "ended": _("Call ended"),
        "unknown_caller": _("Unknown caller"),
        "no_customer": _("No customer record for this number."),
        "no_ivr": _("No IVR input on this call."),
        "no_history": _("No previous calls from this number."),
        "no_tickets": _("No open tickets."),
        "no_suggestions": _("No articles for this call."),
        "due": _("due {when}"),
        "overdue_since": _("overdue since {when}"),
        "kb_type": _("Type what to look for."),
        "kb_none": _("No article matches."),
        "saved": _("Saved."),
        "failed": _("Failed: {reason}"),
        "no_notices": _("No notices."),
        "withdraw": _("Withdraw"),
        "everyone": _("Everyone"),
        "supervisors_only": _("Supervisors only"),
        "agent_number": _("Agent {number}"),
        "paused_rec": _("Recording paused."),
        "resumed_rec": _("Recording resumed."),
        "started_rec": _("Recording started."),
        "rec_on": _("Recorded"),
        "rec_paused": _("Recording paused"),
        "rec_off": _("Not recorded"),
        "pick_disposition": _("Pick a disposition."),
        "f_name": _("Name"),
        "f_numbers": _("Numbers"),
        "f_account": _("Account"),
        "f_email": _("Email"),
        "f_note": _("Note"),
        "ctl_held": _("The caller is on hold."),
        "ctl_muted": _("Muted."),
        "ctl_consulting": _("Consulting {who}."),
        "ctl_conference": _("Three-way call."),
        "ctl_no_number": _("Type a number to call."),
    }


class DeskPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @page("agent")
    def index(self) -> str:
        labels = _labels()
        return render(
            self.ctx,
            "desk.html",
            labels=labels,
            pause_reasons=[(r, labels["reasons"][r]) for r in PAUSE_REASONS],
            dispositions=[(d, labels["dispositions"][d]) for d in DISPOSITIONS],
            kinds=[(k, labels["kinds"][k]) for k in TRANSFER_KINDS],
            consult_kinds=[
                ("agent", _("Agent")),
                ("queue", _("Queue")),
                ("extension", _("Extension")),
                ("number", _("Outside number")),
            ],
            consult_queues=self._my_queues(),
            max_notes=MAX_NOTES,
            strings={**_strings(), "labels": labels},
        )

    def _my_queues(self) -> list[tuple[str, str]]:
        """The queues the logged-in agent serves (name, shown name), for a consultation."""
        user = current_session().user
        acd = self.ctx.acd

        def mine() -> list[tuple[str, str]]:
            agent = acd.agent_of_user(user.id) if user is not None else None
            if agent is None:
                return []
            served = [q for q in acd.queues.values() if acd.serves(agent, q)]
            return sorted((q.name, q.display_name or q.name) for q in served)

        return self.ctx.call(lambda: defer.succeed(mine()))

    @page("admin", "supervisor")
    def notices(self) -> str:
        labels = _labels()
        acd = self.ctx.acd
        queues: list[Any] = self.ctx.call(
            lambda: defer.succeed(
                sorted(acd.queues.values(), key=lambda q: q.display_name or q.name)
            )
        )
        return render(
            self.ctx,
            "desk_notices.html",
            levels=[(lv, labels["levels"][lv]) for lv in LEVELS],
            queues=queues,
            max_text=MAX_TEXT,
            max_minutes=MAX_MINUTES,
            strings={**_strings(), "labels": labels},
        )

"""The agent's side of a campaign on the desk: the disposition of a lead, a callback, and
preview's "dial now" and "skip".

``/api/desk_lead/disposition``  POST ``{"attempt_id": 7, "disposition": "interested",
                                "notes": "...", "callback_at": "2026-12-07T09:30:00Z",
                                "callback_agent": "1002"}``: the disposition (one of the
                                campaign's) goes on the lead and, with the notes, on the
                                attempt's call; ``callback_at`` (with its zone, within a year)
                                has the engine call the lead again then, for
                                ``callback_agent`` (an agent number; absent or "": the agent
                                itself; "*": anyone free).
``/api/desk_lead/dial_now``     POST ``{}``: dial the lead previewed for the agent now.
``/api/desk_lead/skip``         POST ``{}``: pass on it (it waits in the list again).

The lead popped on the desk comes from the live feed (``lead`` messages, webui/live_feed.py).
An agent disposes only an attempt it talked on (the attempt's agent): any other is 404, as
if it did not exist. Every action is audited (``desk.disposition``, ``desk.preview_dial``,
``desk.preview_skip`` on ``agent:<number>``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

import cherrypy
from twisted.internet import defer

from appliance.db.desk_store import MAX_NOTES
from appliance.text import N_
from webui import access, audit_trail, i18n
from webui.access import api
from webui.json_body import json_object, text_field

if TYPE_CHECKING:
    from acd.service import Agent
    from webui.context import WebContext

MAX_ATTEMPT_ID = 2**63 - 1
CALLBACK_MAX_DAYS = 365
CALLBACK_PAST_S = 60  # a time a minute old is "now" (the form was filled slowly)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
ANYONE = "*"


def _attempt_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ATTEMPT_ID:
        access.json_error(400, N_("attempt_id must be a positive integer"))
    return int(value)


def _callback_at(value: Any, now: dt.datetime) -> dt.datetime | None:
    """The callback's time (UTC), None when not asked for; 400 unless it is an ISO date and
    time with its zone, from now to a year ahead."""
    if value is None or value == "":
        return None
    when = None
    if isinstance(value, str) and len(value) <= 40:
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            when = None
    if when is None or when.tzinfo is None:
        access.json_error(
            400, N_("callback_at must be a date and time with its zone, like 2026-12-07T09:30Z")
        )
    assert when is not None
    when = when.astimezone(dt.UTC)
    if (
        not now - dt.timedelta(seconds=CALLBACK_PAST_S)
        <= when
        <= now + dt.timedelta(days=CALLBACK_MAX_DAYS)
    ):
        access.json_error(400, N_("callback_at must be from now to a year ahead"))
    return max(when, now)


class DeskLeadApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def _callback_agent(self, me: Agent, body: dict[str, Any]) -> int | None:
        number = text_field(body, "callback_agent", 16)
        if number == "":
            return me.id
        if number == ANYONE:
            return None
        acd = self.ctx.acd
        agent = self.ctx.call(lambda: defer.succeed(acd.agent_by_number(number)))
        if agent is None:
            access.json_error(400, N_("callback_agent: no agent has the number {n}", n=number))
        return int(agent.id)

    @api("agent", methods=("POST",))
    @cherrypy.tools.json_out()
    def disposition(self) -> dict[str, Any]:
        body = json_object()
        me = access.session_agent(self.ctx)
        attempt_id = _attempt_id(body.get("attempt_id"))
        store = self.ctx.db.dialer
        attempt = self.ctx.call(store.attempt, attempt_id)
        if attempt is None or attempt.agent_id != me.id or attempt.lead_id is None:
            access.json_error(404, N_("lead call {n} is not yours", n=attempt_id))
        campaign = self.ctx.call(store.campaign, attempt.campaign_id)
        choices = campaign.dispositions if campaign is not None else []
        disposition = body.get("disposition")
        if not isinstance(disposition, str) or disposition not in choices:
            access.json_error(
                400, N_("disposition must be one of {items}", items=", ".join(choices))
            )
        notes = body.get("notes", "")
        if not isinstance(notes, str) or len(notes) > MAX_NOTES or _CONTROL.search(notes):
            access.json_error(
                400,
                N_(
                    "notes must be text of at most {MAX_NOTES} characters",
                    MAX_NOTES=MAX_NOTES,
                ),
            )
        now = dt.datetime.now(dt.UTC)
        callback_at = _callback_at(body.get("callback_at"), now)
        callback_agent = self._callback_agent(me, body) if callback_at is not None else None
        if callback_at is not None and attempt.outcome is None:
            access.json_error(409, N_("the call is still up: set the callback when it has ended"))
        done = self.ctx.call(
            store.dispose, attempt_id, me.id, disposition, notes, callback_at, callback_agent
        )
        if not done.stored:
            access.json_error(404, N_("lead call {n} is not yours", n=attempt_id))
        detail: dict[str, Any] = {
            "attempt_id": attempt_id,
            "lead_id": attempt.lead_id,
            "disposition": disposition,
        }
        if callback_at is not None:
            detail.update(callback_at=callback_at.isoformat(), callback_agent=callback_agent)
        audit_trail.record(self.ctx, "desk.disposition", f"agent:{me.number}", detail)
        if callback_at is not None and not done.scheduled:
            said = N_("Saved; no callback: the number is on the do-not-call list.")
        elif callback_at is not None:
            said = N_("Saved; the customer will be called back then.")
        else:
            said = N_("Saved.")
        return {
            "attempt_id": attempt_id,
            "lead_id": attempt.lead_id,
            "disposition": disposition,
            "call_id": done.call_id,
            "callback_at": callback_at.isoformat() if done.scheduled and callback_at else None,
            "message": i18n.shown(said),
        }

    def _preview(self, action: str) -> dict[str, Any]:
        json_object()  # a JSON body like every POST (and its CSRF check)
        me = access.session_agent(self.ctx)
        dialer = self.ctx.dialer
        if dialer is None:
            access.json_error(409, N_("the dialer is not running"))
        hook = dialer.preview_dial_now if action == "dial" else dialer.preview_skip
        agent_id = me.id
        done = bool(self.ctx.call(lambda: defer.succeed(hook(agent_id))))
        if not done:
            access.json_error(409, N_("no lead is waiting for you"))
        audit_trail.record(self.ctx, f"desk.preview_{action}", f"agent:{me.number}", {})
        said = N_("Dialing the lead.") if action == "dial" else N_("Lead skipped.")
        return {"done": True, "message": i18n.shown(said)}

    @api("agent", methods=("POST",))
    @cherrypy.tools.json_out()
    def dial_now(self) -> dict[str, Any]:
        return self._preview("dial")

    @api("agent", methods=("POST",))
    @cherrypy.tools.json_out()
    def skip(self) -> dict[str, Any]:
        return self._preview("skip")

"""``/api/desk/dnc``: the customer told the agent "don't call me".

POST ``{}`` (the agent's current call, else the one it just finished), ``{"call_id": 12}``
(one of the agent's own calls: 404 for any other, as the other desk endpoints answer) or
``{"number": "138 0013 8000"}`` (a number the customer gave). The customer's number of a
call is the caller's on an inbound call and the called party's on an outbound one. The
number goes on the center's do-not-call list: through the running dialer's index, so it is
in force at once (acd/dialer/dnc.py ``add_to_center_list``), and into the database.
Answers ``{"number", "added", "scope", "message"}``; audited as ``desk.dnc`` on
``agent:<number>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cherrypy
from twisted.internet import defer

from acd.dialer.dnc import CENTER, DoNotCall, add_to_center_list
from acd.dialer.numbers import normalise
from appliance.text import N_
from webui import access, audit_trail, i18n
from webui.access import api
from webui.json_body import json_object, text_field
from webui.recording_control_api import _call_id

if TYPE_CHECKING:
    from acd.service import Agent
    from webui.context import WebContext

MAX_NUMBER = 64


class DeskDoNotCall:
    """Mixed into DeskApi, whose ``_agent`` and ``_own_calls`` say which calls are the
    agent's own."""

    ctx: WebContext

    if TYPE_CHECKING:

        def _agent(self) -> tuple[Agent | None, int | None]: ...

        def _own_calls(self, agent: Agent, current: int | None) -> set[int]: ...

    @api("agent", methods=("POST",))
    @cherrypy.tools.json_out()
    def dnc(self) -> dict[str, Any]:
        body = json_object()
        agent, current = self._agent()
        if agent is None:
            access.json_error(404, N_("this login is not an agent's"))
        assert agent is not None
        detail: dict[str, Any] = {}
        if body.get("number") not in (None, ""):
            raw = text_field(body, "number", MAX_NUMBER, required=True)
        else:
            raw, detail["call_id"] = self._number_of_call(agent, current, body)
        try:
            number = normalise(raw)
        except ValueError as exc:
            access.json_error(400, exc)
        dialer = self.ctx.dialer
        index = getattr(dialer, "dnc", None)
        store = self.ctx.db.dialer

        def put() -> defer.Deferred[bool]:
            return add_to_center_list(
                number, "agent", index if isinstance(index, DoNotCall) else None, store
            )

        added = bool(self.ctx.call(put))
        detail.update(number=number, added=added)
        audit_trail.record(self.ctx, "desk.dnc", f"agent:{agent.number}", detail)
        said = (
            N_("{number} will not be called again", number=number)
            if added
            else N_("{number} is on the do-not-call list already", number=number)
        )
        return {"number": number, "added": added, "scope": CENTER, "message": i18n.shown(said)}

    def _number_of_call(
        self, agent: Agent, current: int | None, body: dict[str, Any]
    ) -> tuple[str, int]:
        """The customer's number of the call named (it must be the agent's own), or of the
        agent's current or last call."""
        mine = self._own_calls(agent, current)
        if "call_id" in body:
            named = _call_id(body.get("call_id"))
            if named is None:
                access.json_error(400, N_("name the call: call_id"))
            requested = named
            if requested not in mine:
                access.json_error(404, N_("call {requested} is not yours", requested=requested))
        elif current is not None:
            requested = current
        else:
            last = self.ctx.call(self.ctx.db.desk.last_call_of_agent, agent.id)
            if last is None:
                access.json_error(409, N_("no call to take the number from: type the number"))
            requested = last
        row = self.ctx.call(self.ctx.db.calls.get, requested)
        if row is None:
            access.json_error(404, N_("call {requested} is not yours", requested=requested))
        outbound = row.get("direction") == "outbound"
        number = str(row.get("called_number" if outbound else "caller_number") or "")
        if not number:
            access.json_error(409, N_("the call has no number: type the number"))
        return number, requested

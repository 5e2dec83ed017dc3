"""The agent desktop's JSON: the screen pop of the agent's own call, and the disposition and
notes after it.

``/api/desk/pop``    GET ``?call_id=12``: the caller (number, name), ``customer`` (the
                     customer any of whose numbers called: id, name, class, numbers, custom
                     fields; null for none), the IVR inputs of this call, ``last_calls`` (the
                     caller's and the customer's previous 10 calls with their notes),
                     ``open_tickets`` (the customer's), ``kb_suggestions`` (articles for this
                     call's queue, IVR path and ticket type) and ``new_ticket_url``.
``/api/desk/customer`` and ``/api/desk/kb``: webui/desk_crm_api.py.
``/api/desk/notes``  POST ``{"call_id": 12, "disposition": "resolved", "notes": "..."}``.
``/api/desk/me``     GET: the agent's own number, state and current call id (for the page).
``/api/desk/hold`` and the rest of the call control: webui/call_control_api.py.

An agent reads and writes only its own call: the one ringing or up now, or the one it just
finished (the calls row credits it to the agent, or the desk popped it for this agent);
any other call is 404, as if it did not exist. Supervisors and admins may read any pop.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import TYPE_CHECKING, Any

import cherrypy
from twisted.internet import defer

from appliance.db.components import utcnow
from appliance.db.desk_store import DISPOSITIONS, MAX_NOTES, NoteRow
from appliance.text import N_
from webui import access, labels
from webui.access import api, current_session
from webui.acd_api import agent_json
from webui.call_control_api import DeskCallControl
from webui.context import WebContext
from webui.desk_crm_api import (
    DeskCrm,
    PopFacts,
    customer_json,
    gather,
    reader_first,
    suggestion_json,
    ticket_json,
)
from webui.desk_dnc_api import DeskDoNotCall
from webui.json_body import json_object
from webui.recording_control_api import _call_id

if TYPE_CHECKING:
    from acd.service import Agent
    from appliance.db.acd_store import ACDQueue

SUPERVISING = ("admin", "supervisor")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def note_json(n: NoteRow) -> dict[str, Any]:
    return {
        "id": n.id,
        "disposition": n.disposition,
        "notes": n.notes,
        "agent": n.agent_name,
        "created_at": _iso(n.created_at),
    }


class DeskApi(DeskCallControl, DeskDoNotCall, DeskCrm):
    """The desk's reads and notes; call control comes from DeskCallControl."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._popped: dict[int, int] = {}  # agent id -> the call the desk last popped for it

    @property
    def db(self) -> Any:
        return self.ctx.db

    def _agent(self) -> tuple[Agent | None, int | None]:
        """The logged-in user's agent and the calls row id of its current call (ringing or
        up), read on the reactor."""
        user = current_session().user
        assert user is not None
        acd = self.ctx.acd

        def read() -> defer.Deferred[tuple[Agent | None, int | None]]:
            agent = acd.agent_of_user(user.id)
            call = agent.call if agent is not None else None
            if call is None:
                return defer.succeed((agent, None))
            if call.record_id is not None:
                return defer.succeed((agent, call.record_id))
            # not written yet: the calls row of this caller's channel, if any
            return self.db.calls.find(call.uniqueid).addCallback(lambda row: (agent, row))

        found: tuple[Agent | None, int | None] = self.ctx.call(read)
        return found

    def _own_calls(self, agent: Agent, current: int | None) -> set[int]:
        mine: set[int] = set()
        if current is not None:
            mine.add(current)
        last = self.ctx.call(self.db.desk.last_call_of_agent, agent.id)
        if last is not None:
            mine.add(last)
        with self._lock:
            if agent.id in self._popped:
                mine.add(self._popped[agent.id])
        return mine

    def _own_call(self, requested: int) -> Agent:
        """The agent, when ``requested`` is its own call; 404 otherwise."""
        agent, current = self._agent()
        if agent is None or requested not in self._own_calls(agent, current):
            access.json_error(404, N_("call {requested} is not yours", requested=requested))
        assert agent is not None
        return agent

    def _queue_of(self, uniqueid: str, queue_id: int | None) -> defer.Deferred[ACDQueue | None]:
        """The call's queue: the ACD's while the call is live (the calls row gets it when
        the call ends), else the row's."""
        acd = self.ctx.acd
        live = acd.by_uniqueid.get(uniqueid)
        if live is not None:
            queue_id = live.queue_id
        return defer.succeed(acd.queues.get(queue_id) if queue_id is not None else None)

    @api("agent", *SUPERVISING)
    @cherrypy.tools.json_out()
    def pop(self, call_id: str = "") -> dict[str, Any]:
        requested = _call_id(call_id[:24])
        if requested is None:
            access.json_error(400, N_("name the call: call_id"))
        user = current_session().user
        assert user is not None
        agent = None if user.role in SUPERVISING else self._own_call(requested)
        facts = self.ctx.call(self.db.desk.call, requested)
        if facts is None:
            access.json_error(404, N_("call {requested} is not yours", requested=requested))
        if agent is not None:
            with self._lock:
                self._popped[agent.id] = requested
        queue = self.ctx.call(self._queue_of, facts.uniqueid, facts.queue_id)
        found: PopFacts = self.ctx.call_any(
            gather, self.stores, facts, queue.id if queue is not None else None
        )
        return {
            "call_id": facts.id,
            "caller_number": facts.caller_number,
            "caller_name": facts.caller_name,
            "queue": (queue.display_name or queue.name) if queue is not None else "",
            "started_at": _iso(facts.started_at),
            "answered_at": _iso(facts.answered_at),
            "ended_at": _iso(facts.ended_at),
            "customer": customer_json(found.customer, found.field_defs) if found.customer else None,
            "ivr": [
                {"at": _iso(s.at), "flow": s.flow, "node": s.node, "type": s.type, "input": s.input}
                for s in found.steps
                if s.input
            ],
            "last_calls": [
                {
                    "call_id": h.id,
                    "started_at": _iso(h.started_at),
                    "queue": h.queue,
                    "agent": h.agent,
                    "outcome": h.outcome,
                    "outcome_label": labels.label("call_disposition", h.outcome),
                    "notes": [note_json(n) for n in h.notes],
                }
                for h in found.last_calls
            ],
            "notes": [note_json(n) for n in found.notes],
            "open_tickets": [ticket_json(t, utcnow()) for t in found.open_tickets],
            "kb_suggestions": [suggestion_json(a) for a in reader_first(found.suggestions)],
            "new_ticket_url": f"/tickets/new?call_id={facts.id}",
        }

    @api("agent", methods=("POST",))
    @cherrypy.tools.json_out()
    def notes(self) -> dict[str, Any]:
        body = json_object()
        requested = _call_id(body.get("call_id"))
        if requested is None:
            access.json_error(400, N_("name the call: call_id"))
        disposition = body.get("disposition")
        if disposition not in DISPOSITIONS:
            access.json_error(
                400, N_("disposition must be one of {items}", items=", ".join(DISPOSITIONS))
            )
        text = body.get("notes", "")
        if not isinstance(text, str) or len(text) > MAX_NOTES:
            access.json_error(
                400, N_("notes must be text of at most {MAX_NOTES} characters", MAX_NOTES=MAX_NOTES)
            )
        agent = self._own_call(requested)
        row = self.ctx.call(self.db.desk.add_note, requested, agent.id, disposition, text)
        return note_json(row)

    @api("agent")
    @cherrypy.tools.json_out()
    def me(self) -> dict[str, Any]:
        agent, current = self._agent()
        if agent is None:
            access.json_error(404, N_("this login is not an agent's"))
        assert agent is not None
        return {**agent_json(self.ctx.acd, agent), "call_id": current}

"""Call control over JSON (acd/desk_control.py): the agent's desk drives its own call; a
supervisor drives an agent's.

Agent (``/api/desk/...``, POST with CSRF like every POST; ``{}`` unless said):
``hold``, ``resume``, ``mute`` ``{"muted": true|false}``, ``hangup``,
``dial`` ``{"number": "...", "campaign": 3}`` (caller ID: the campaign's; ``"auto_answer":
true``: the agent's PJSIP phone gets the headers that make it answer by itself) or
``{"number": "...", "call_id": 12}`` (one of the agent's calls: the number that customer
called, the queue's line, or for a campaign's call the campaign's caller ID) or just the
number (the center's first DID), ``redial``,
``consult`` ``{"kind": "agent"|"queue"|"extension"|"number", "target": "..."}`` (a queue
by name or id: its free agent the routing puts first; an unknown queue is 400),
``transfer`` (hand the caller to the party consulted), ``conference`` (all three talk),
``cancel`` (back to the caller). GET ``control``: ``{"on_call", "held", "muted",
"consulting", "conference", "last_number"}``.

Supervisor: POST ``/api/supervisor/control`` ``{"agent": "1001", "action": "hold", ...}``
with the same actions and fields.

Each answers ``{"action", "message", "state"}``; a refusal is 409 (not possible now: not on
a call, nothing on hold, the switch refused ...) or 400 (bad body), with the reason in the
reader's language. Every action done is written to the audit log (``desk.<action>`` or
``supervisor.<action>``, on ``agent:<number>``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cherrypy
from twisted.internet import defer
from twisted.logger import Logger

from acd.desk_control import CONSULT_KINDS, DeskControl, find_queue
from acd.dialer import numbers
from acd.service import ACDError
from appliance.db.admin_store import AdminStore
from appliance.text import N_, message_of
from webui import access, audit_trail, i18n
from webui.access import api, current_session
from webui.context import WebContext
from webui.json_body import json_object, text_field

if TYPE_CHECKING:
    from acd.service import ACD, Agent

log = Logger(namespace="ccbox.web.desk")
ACTIONS = (
    "hold",
    "resume",
    "mute",
    "hangup",
    "dial",
    "redial",
    "consult",
    "transfer",
    "conference",
    "cancel",
)
MAX_NUMBER = 64
MAX_ID = 2**63 - 1
_controls: weakref.WeakKeyDictionary[Any, DeskControl] = weakref.WeakKeyDictionary()


def control_of(acd: ACD) -> DeskControl:
    """The one DeskControl of this ACD (made on first use; call on the reactor)."""
    found = _controls.get(acd)
    if found is None:
        found = _controls[acd] = DeskControl(acd)
    return found


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        access.json_error(400, N_("{name} must be a positive integer", name=name))
    return int(value)


class CallControl:
    """The handlers, shared by the desk (the agent's own call) and the supervisor console."""

    ctx: WebContext

    def _control(self, fn: Any) -> Any:
        """Run ``fn(control)`` (plain or async) on the reactor; an ACD refusal is 409."""
        acd = self.ctx.acd
        try:
            return self.ctx.call_any(lambda: fn(control_of(acd)))
        except ACDError as exc:
            user = current_session().user
            log.info(
                "{user}: {path} refused: {message}",
                user=user.username if user else "?",
                path=cherrypy.serving.request.path_info,
                message=str(exc),
            )
            access.json_error(409, message_of(exc))

    def _caller_id(self, agent: Agent, body: dict[str, Any]) -> tuple[str, str]:
        """The caller ID a click-to-dial shows: the campaign's, else the line the agent's
        customer called (the queue's number), else the center's first DID."""
        db = self.ctx.db
        campaign_id = _positive_int(body, "campaign")
        if campaign_id is not None:
            campaign = self.ctx.call(db.dialer.campaign, campaign_id)
            if campaign is None:
                access.json_error(404, N_("no campaign {id}", id=campaign_id))
            return campaign.caller_id_name, campaign.caller_id_number
        call_id = _positive_int(body, "call_id")
        if call_id is not None:
            mine = self.ctx.call(db.desk.last_call_of_agent, agent.id)
            row = self.ctx.call(db.calls.get, call_id)
            if row is None or (row.get("agent_id") != agent.id and mine != call_id):
                access.json_error(404, N_("call {requested} is not yours", requested=call_id))
            found = self.ctx.call(db.desk.caller_id_for_callback, call_id)
            if found is not None and found[1].lstrip("+").isdigit():
                return found
        dids = self.ctx.call(AdminStore(db).dids)
        for did in dids:
            if did.number.lstrip("+").isdigit():
                return "", did.number
        return "", ""

    def _act(self, agent: Agent, action: str, body: dict[str, Any], audit: str) -> dict[str, Any]:
        if action not in ACTIONS:
            access.json_error(400, N_("action must be one of {items}", items=", ".join(ACTIONS)))
        detail: dict[str, Any] = {}
        if action == "mute":
            muted = body.get("muted", True)
            if not isinstance(muted, bool):
                access.json_error(400, N_("muted must be true or false"))
            detail["muted"] = muted
            said = self._control(lambda c: c.mute(agent.id, muted))
        elif action == "dial":
            number = text_field(body, "number", MAX_NUMBER, required=True)
            try:
                number = numbers.normalise(number)
            except ValueError as exc:
                access.json_error(400, N_("number: {exc}", exc=exc))
            caller = self._caller_id(agent, body)
            auto_answer = body.get("auto_answer", False)
            if not isinstance(auto_answer, bool):
                access.json_error(400, N_("auto_answer must be true or false"))
            detail.update(number=number, caller_id=caller[1], auto_answer=auto_answer)
            said = self._control(lambda c: c.dial(agent.id, number, caller, auto_answer))
        elif action == "consult":
            kind = text_field(body, "kind", 16, required=True)
            if kind not in CONSULT_KINDS:
                access.json_error(
                    400, N_("kind must be one of {items}", items=", ".join(CONSULT_KINDS))
                )
            target = text_field(body, "target", MAX_NUMBER, required=True)
            if kind == "queue":
                acd = self.ctx.acd
                q = self.ctx.call(lambda: defer.succeed(find_queue(acd, target)))
                if q is None:
                    access.json_error(400, N_("no queue {name}", name=target))
            detail.update(kind=kind, target=target)
            said = self._control(lambda c: c.consult(agent.id, kind, target))
        else:
            method = {"transfer": "complete"}.get(action, action)
            said = self._control(lambda c: getattr(c, method)(agent.id))
        state = self._control(lambda c: c.status(agent.id))
        if action in ("dial", "redial"):
            detail["number"] = state["last_number"]
        audit_trail.record(self.ctx, f"{audit}.{action}", f"agent:{agent.number}", detail)
        return {"action": action, "message": i18n.shown(said), "state": _shown(state)}


def _shown(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "consulting": i18n.shown(state["consulting"]) if state["consulting"] else ""}


def _desk_action(action: str) -> Callable[[DeskCallControl], dict[str, Any]]:
    """The POST endpoint ``/api/desk/<action>``: ``action`` on the agent's own call."""

    @api("agent", methods=("POST",))
    @cherrypy.tools.json_out()
    def endpoint(self: DeskCallControl) -> dict[str, Any]:
        return self._desk(action)

    endpoint.__name__ = endpoint.__qualname__ = action
    return endpoint


class DeskCallControl(CallControl):
    """The agent's desk: ``/api/desk/<action>`` on the logged-in agent's own call."""

    def _desk(self, action: str) -> dict[str, Any]:
        body = json_object()
        return self._act(access.session_agent(self.ctx), action, body, "desk")

    @api("agent")
    @cherrypy.tools.json_out()
    def control(self) -> dict[str, Any]:
        agent = access.session_agent(self.ctx)
        return _shown(self._control(lambda c: c.status(agent.id)))

    hold = _desk_action("hold")
    resume = _desk_action("resume")
    mute = _desk_action("mute")
    hangup = _desk_action("hangup")
    dial = _desk_action("dial")
    redial = _desk_action("redial")
    consult = _desk_action("consult")
    transfer = _desk_action("transfer")
    conference = _desk_action("conference")
    cancel = _desk_action("cancel")

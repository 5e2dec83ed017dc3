"""The supervisor's actions over JSON: listen, whisper, barge, force pause or log out, move or
hang up a call; every one audited.

``/api/supervisor/spy``     POST ``{"agent": "1001", "mode": listen|whisper|barge,
                            "device": "PJSIP/2001"}``: ring the supervisor's phone (``device``,
                            or the phone of the agent linked to the supervisor's login) into
                            ChanSpy on the agent's live call (409 when the agent is not on one)
``/api/supervisor/pause``   POST ``{"agent": "1001", "reason": "meeting"}``
``/api/supervisor/logout``  POST ``{"agent": "1001"}``
``/api/supervisor/release`` POST ``{"agent": "1001"}``: free an agent stuck ringing or on a
                            call the switch does not have (409 while the switch has a
                            channel of the agent's phone: that call is real)
``/api/supervisor/move``    POST ``{"call_id": 12, "queue": "sales"}`` or ``{"call_id": 12,
                            "agent": "1002"}``: a waiting call to another queue (name or id),
                            or offered to one available agent
``/api/supervisor/hangup``  POST ``{"call_id": 12}``: hang up a (stuck) call's channel
``/api/supervisor/idle``    GET: why each ready agent takes none of the callers waiting
``/api/supervisor/control`` POST ``{"agent": "1001", "action": "hold", ...}``: the desk's call
                            control on the agent's call (webui/call_control_api.py)

``call_id`` is what the live events carry as a call's ``id``: its calls row id, or ``acd-N``
for a callback waiting in a queue (``move`` only: a callback has no channel yet).

Admin and supervisor only. Handlers run in WSGI threads; the ACD and the switch are reached
on the reactor (``ctx.call``). A refused action answers
400 (bad body), 404 (no such agent, call or queue) or 409 (not possible now), and is logged;
a done action is written to the audit log (``supervisor.<action>``) and logged.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import cherrypy
from twisted.internet import defer
from twisted.logger import Logger

from acd import agent_state as st
from acd import idle_reasons
from acd.service import ACDError, Agent, QueuedCall
from appliance.text import N_, message_of
from drivers.asterisk import device_syntax
from drivers.asterisk.ami import actions
from drivers.asterisk.ami.protocol import AMIError
from webui import access, audit_trail, i18n
from webui.access import api, current_session
from webui.call_control_api import CallControl
from webui.context import WebContext
from webui.json_body import json_object, text_field

if TYPE_CHECKING:
    from acd.service import ACD
    from acd.switch_link import SwitchLink

log = Logger(namespace="ccbox.web.supervisor")
SUPERVISING = ("admin", "supervisor")
SPY_MODES = tuple(actions.SPY_MODES)
# A supervisor's phone (drivers/asterisk/device_syntax.py: one device, nothing that fans
# out); a Local one may not run in ccbox's own contexts, which dial out of the box
# (ccbox-outbound, ccbox-extensions): the agent's call would be heard outside.
OWN_CONTEXTS = "ccbox-"
AGENT_NUMBER = re.compile(r"[0-9]{1,16}\Z")
MAX_ID = 2**63 - 1
_ = i18n._


def _check_phone(device: str) -> None:
    try:
        device_syntax.check_device(device)
    except device_syntax.BadDevice as exc:
        access.json_error(400, N_("device: {exc}", exc=exc))
    context = device_syntax.local_context(device)
    if context is not None and context.startswith(OWN_CONTEXTS):
        access.json_error(
            400, N_("device: a supervisor's phone cannot run in {context}", context=context)
        )


def _text(body: dict[str, Any], name: str, max_len: int, required: bool = True) -> str:
    return text_field(body, name, max_len, required=required)


CALLBACK_ID = re.compile(r"acd-[0-9]{1,18}\Z")  # a callback, as the live feed names it


def _call_id(body: dict[str, Any], callbacks: bool = False) -> Any:
    """The calls row id (or, where ``callbacks``, a callback's ``acd-N``); 400 otherwise."""
    value = body.get("call_id")
    if callbacks and isinstance(value, str) and CALLBACK_ID.match(value):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        access.json_error(400, N_("call_id must be a positive integer"))
    return int(value)


def _agent_number(body: dict[str, Any], name: str = "agent") -> str:
    number = _text(body, name, 16)
    if not AGENT_NUMBER.match(number):
        access.json_error(400, N_("{name} must be an agent number (digits)", name=name))
    return number


class SupervisorApi(CallControl):
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @property
    def acd(self) -> ACD:
        return self.ctx.acd

    # ---- helpers --------------------------------------------------------------------------

    def _on_reactor(self, fn: Any, *args: Any) -> Any:
        """Run ``fn`` (plain or async) on the reactor; its ACD/AMI refusals become 409."""
        try:
            return self.ctx.call_any(fn, *args)
        except ACDError as exc:
            self._refused(409, message_of(exc))
        except actions.BadActionValue as exc:
            self._refused(400, message_of(exc))
        except AMIError as exc:
            self._refused(409, N_("the switch refused: {exc}", exc=exc))

    def _refused(self, status: int, message: str) -> None:
        user = current_session().user
        log.info(
            "{user}: {path} refused ({status}): {message}",
            user=user.username if user else "?",
            path=cherrypy.serving.request.path_info,
            status=status,
            message=message,
        )
        access.json_error(status, message)

    def _agent(self, number: str) -> Agent:
        agent = self.ctx.call(lambda: defer.succeed(self.acd.agent_by_number(number)))
        if agent is None:
            self._refused(404, N_("no agent {number}", number=number))
        assert agent is not None
        return agent

    def _switch(self) -> SwitchLink:
        switch = self.acd.switch
        if switch is None:
            self._refused(409, N_("no AMI link to the switch"))
        assert switch is not None
        return switch

    def _call_row(self, call_id: int) -> dict[str, Any]:
        row: dict[str, Any] | None = self.ctx.call(self.ctx.db.calls.get, call_id)
        if row is None:
            self._refused(404, N_("no call {call_id}", call_id=call_id))
        assert row is not None
        return row

    def _queued(self, call_id: int | str) -> QueuedCall:
        """The live ACD entry of a call: its calls row id (found by ``record_id``, else by the
        row's uniqueid), or ``acd-N`` for a callback (which has no row); 404 for an unknown
        call, 409 when the ACD no longer holds it."""
        acd = self.acd
        if isinstance(call_id, str):
            queued = self.ctx.call(lambda: defer.succeed(acd.calls.get(int(call_id[4:]))))
            if queued is None:
                self._refused(404, N_("no call {call_id}", call_id=call_id))
        else:
            queued = self.ctx.call(
                lambda: defer.succeed(
                    next((c for c in acd.calls.values() if c.record_id == call_id), None)
                )
            )
            if queued is None:
                uniqueid = str(self._call_row(call_id).get("uniqueid") or "")
                queued = self.ctx.call(lambda: defer.succeed(acd.by_uniqueid.get(uniqueid)))
        if queued is None or queued.done:
            self._refused(409, N_("call {call_id} is not in a queue", call_id=call_id))
        assert queued is not None
        return queued

    def _audit(self, action: str, target: str, detail: dict[str, Any]) -> None:
        user = current_session().user
        assert user is not None
        audit_trail.record(self.ctx, f"supervisor.{action}", target, detail)
        log.info(
            "{user} ({role}): supervisor.{action} {target} {detail}",
            user=user.username,
            role=user.role,
            action=action,
            target=target,
            detail=detail,
        )

    # ---- actions --------------------------------------------------------------------------

    @api(*SUPERVISING, methods=("POST",))
    @cherrypy.tools.json_out()
    def spy(self) -> dict[str, Any]:
        body = json_object()
        number = _agent_number(body)
        mode = _text(body, "mode", 16)
        if mode not in SPY_MODES:
            access.json_error(400, N_("mode must be one of {items}", items=", ".join(SPY_MODES)))
        device = _text(body, "device", device_syntax.MAX_LENGTH, required=False)
        if device:
            _check_phone(device)
        user = current_session().user
        assert user is not None
        acd = self.acd
        if not device:
            mine = self.ctx.call(lambda: defer.succeed(acd.agent_of_user(user.id)))
            if mine is None or not mine.device:
                self._refused(400, N_("name your phone: device (your login has no agent phone)"))
            assert mine is not None
            device = mine.device
        agent = self._agent(number)
        if device == agent.device:
            self._refused(400, N_("the supervisor's phone cannot be the agent's own"))
        switch = self._switch()

        async def start() -> tuple[str, str]:
            if agent.state != st.ON_CALL or agent.call is None:
                raise ACDError(N_("agent {number} is not on a call", number=agent.number))
            channel = switch.channel_of(agent.device)
            if channel is None:
                raise ACDError(
                    N_("agent {number}'s phone has no call on the switch", number=agent.number)
                )
            action_id = await switch.supervise(device, channel, mode)
            return channel, action_id

        channel, action_id = self._on_reactor(start)
        self._audit(
            "spy", f"agent:{agent.number}", {"mode": mode, "device": device, "channel": channel}
        )
        return {
            "agent": agent.number,
            "mode": mode,
            "device": device,
            "channel": channel,
            "action_id": action_id,
        }

    @api(*SUPERVISING, methods=("POST",))
    @cherrypy.tools.json_out()
    def pause(self) -> dict[str, Any]:
        body = json_object()
        number = _agent_number(body)
        reason = _text(body, "reason", 32)
        if reason not in st.PAUSE_REASONS:
            access.json_error(
                400, N_("reason must be one of {items}", items=", ".join(st.PAUSE_REASONS))
            )
        agent = self._agent(number)
        before = agent.state
        self._on_reactor(self.acd.pause, agent.id, reason)
        self._audit("pause", f"agent:{agent.number}", {"reason": reason, "was": before})
        return {"agent": agent.number, "state": agent.state, "reason": agent.reason}

    @api(*SUPERVISING, methods=("POST",))
    @cherrypy.tools.json_out()
    def logout(self) -> dict[str, Any]:
        body = json_object()
        agent = self._agent(_agent_number(body))
        before = agent.state
        self._on_reactor(self.acd.logout, agent.id)
        self._audit("logout", f"agent:{agent.number}", {"was": before})
        return {"agent": agent.number, "state": agent.state}

    @api(*SUPERVISING, methods=("POST",))
    @cherrypy.tools.json_out()
    def release(self) -> dict[str, Any]:
        body = json_object()
        agent = self._agent(_agent_number(body))
        before = agent.state
        self._on_reactor(self.acd.release_agent, agent.id, "released")
        self._audit("release", f"agent:{agent.number}", {"was": before})
        return {"agent": agent.number, "state": agent.state}

    @api(*SUPERVISING, methods=("POST",))
    @cherrypy.tools.json_out()
    def move(self) -> dict[str, Any]:
        body = json_object()
        call_id = _call_id(body, callbacks=True)
        has_queue, has_agent = "queue" in body, "agent" in body
        if has_queue == has_agent:
            access.json_error(400, N_("name either a queue or an agent"))
        acd = self.acd
        if has_queue:
            raw = body["queue"]
            if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw <= MAX_ID:
                wanted: str | int = raw
            else:
                wanted = _text(body, "queue", 64)
                wanted = int(wanted) if wanted.isascii() and wanted.isdigit() else wanted
            queue = self.ctx.call(lambda: defer.succeed(_find_queue(acd, wanted)))
            if queue is None:
                self._refused(404, N_("no queue {wanted}", wanted=wanted))
            queued = self._queued(call_id)
            source = queued.queue_id
            self._on_reactor(acd.move_waiting, queued, queue.id)
            detail: dict[str, Any] = {"from_queue": source, "to_queue": queue.id}
            answer: dict[str, Any] = {"call_id": call_id, "queue": queue.name}
        else:
            agent = self._agent(_agent_number(body))
            queued = self._queued(call_id)
            source = queued.queue_id
            self._on_reactor(acd.offer_to, queued, agent.id)
            detail = {"from_queue": source, "to_agent": agent.number}
            answer = {"call_id": call_id, "agent": agent.number}
        self._audit("move", f"call:{call_id}", detail)
        return answer

    @api(*SUPERVISING, methods=("POST",))
    @cherrypy.tools.json_out()
    def hangup(self) -> dict[str, Any]:
        body = json_object()
        call_id = _call_id(body)
        row = self._call_row(call_id)
        uniqueid = str(row.get("uniqueid") or "")
        acd = self.acd
        queued = self.ctx.call(lambda: defer.succeed(acd.by_uniqueid.get(uniqueid)))
        channel = (queued.channel if queued is not None else "") or str(row.get("channel") or "")
        if not channel:
            self._refused(409, N_("call {call_id} has no known channel", call_id=call_id))
        switch = self._switch()
        self._on_reactor(switch.hangup, channel)
        self._audit("hangup", f"call:{call_id}", {"channel": channel, "uniqueid": uniqueid})
        return {"call_id": call_id, "channel": channel}

    @api(*SUPERVISING, methods=("POST",))
    @cherrypy.tools.json_out()
    def control(self) -> dict[str, Any]:
        body = json_object()
        agent = self._agent(_agent_number(body))
        return self._act(agent, _text(body, "action", 16), body, "supervisor")

    @api(*SUPERVISING)
    @cherrypy.tools.json_out()
    def idle(self) -> dict[str, Any]:
        """Why each ready agent takes none of the callers waiting (acd/idle_reasons.py):
        ``{"agents": {"<agent id>": [{"queue_id", "waiting", "why", "missing", "text"}]}}``,
        only agents that are available while someone waits; ``text`` says it in the
        user's language."""
        acd = self.ctx.acd
        reasons = self.ctx.call(lambda: defer.succeed(idle_reasons.idle_agents(acd)))
        if not reasons:
            return {"agents": {}}
        skills = {s.id: s.name for s in self.ctx.call(self.ctx.db.skills.list_all)}
        queues = self.ctx.call(
            lambda: defer.succeed({q.id: q.display_name or q.name for q in acd.queues.values()})
        )
        return {
            "agents": {
                str(agent_id): [_reason(r, queues, skills) for r in found]
                for agent_id, found in reasons.items()
            }
        }


def _reason(
    r: idle_reasons.QueueReason, queues: dict[int, str], skills: dict[int, str]
) -> dict[str, Any]:
    queue = queues.get(r.queue_id, str(r.queue_id))
    missing = [
        {"skill": skills.get(m.skill_id, str(m.skill_id)), "have": m.have, "need": m.need}
        for m in r.missing
    ]
    if r.why == idle_reasons.SKILLS:
        short = ", ".join(
            _("{skill} {need} (has {have})").format(**m)
            if m["have"]
            else _("{skill} {need} (has none)").format(**m)
            for m in missing
        )
        text = _("{queue} ({n} waiting): needs {skills}").format(
            queue=queue, n=r.waiting, skills=short
        )
    elif r.why == idle_reasons.NOT_MEMBER:
        text = _("{queue} ({n} waiting): not a member of this queue").format(
            queue=queue, n=r.waiting
        )
    elif r.why == idle_reasons.CHATS:
        text = _("{queue} ({n} waiting): serves it, but its open chats keep calls away").format(
            queue=queue, n=r.waiting
        )
    else:
        text = _("{queue} ({n} waiting): serves it; a call is on its way").format(
            queue=queue, n=r.waiting
        )
    return {
        "queue_id": r.queue_id,
        "waiting": r.waiting,
        "why": r.why,
        "missing": missing,
        "text": text,
    }


def _find_queue(acd: ACD, wanted: str | int) -> Any:
    try:
        return acd.queue(wanted)
    except ACDError:
        return None

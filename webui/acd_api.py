"""The ACD over the JSON API: an agent's state buttons and transfers, the supervisor's view.

``/api/acd/state``     GET: the agent's own state (a supervisor may name ``agent``);
                       POST ``{"action": login|logout|pause|unpause|wrapup_done|release,
                       "reason": ..., "agent": "1001"}`` (``agent`` for supervisors only).
                       ``release`` frees an agent stuck ringing or on a call the switch
                       does not have (refused while the switch has a channel of its phone);
                       it is audited whoever asks.
``/api/acd/transfer``  POST ``{"kind": queue|agent|extension, "target": ..., "attended":
                       false}``: the agent's current call.
``/api/acd/snapshot``  GET (supervisor, admin): every queue and agent, live.

Handlers run in WSGI threads; every ACD call, reads included, is made on the reactor
(``ctx.call``). A supervisor acting for an agent is audited (``supervisor.<action>`` on
``agent:<number>``), like the console's own actions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cherrypy
from twisted.internet import defer
from twisted.logger import Logger

from acd.service import ACDError, Agent
from appliance.text import N_
from webui import access, audit_trail, i18n
from webui.access import api, current_session
from webui.context import WebContext
from webui.json_body import json_object, text_field

if TYPE_CHECKING:
    from acd.service import ACD

log = Logger(namespace="ccbox.web.acd")
ACTIONS = ("login", "logout", "pause", "unpause", "wrapup_done", "release")
TRANSFER_KINDS = ("queue", "agent", "extension")
SUPERVISING = ("admin", "supervisor")


def agent_json(acd: ACD, agent: Agent) -> dict[str, Any]:
    now = acd.reactor.seconds()
    return {
        "number": agent.number,
        "name": agent.name,
        "state": agent.state,
        "reason": agent.reason,
        "in_state_s": round(now - agent.since, 1),
        "device": agent.device,
    }


def _text(body: dict[str, Any], name: str, max_len: int, default: str = "") -> str:
    return text_field(body, name, max_len, default)


class AcdApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @property
    def acd(self) -> ACD:
        return self.ctx.acd

    def _target(self, number: str) -> Agent:
        """The agent the request acts on: one's own, or (supervisors) the one named."""
        user = current_session().user
        assert user is not None
        acd = self.acd
        agent: Agent | None
        if number:
            if user.role not in SUPERVISING:
                access.json_error(403, N_("only a supervisor acts for another agent"))
            agent = self.ctx.call(lambda: defer.succeed(acd.agent_by_number(number)))
            if agent is None:
                access.json_error(404, N_("no agent {number}", number=number))
        else:
            user_id = user.id
            agent = self.ctx.call(lambda: defer.succeed(acd.agent_of_user(user_id)))
            if agent is None:
                access.json_error(404, N_("this login is not an agent's"))
        assert agent is not None
        return agent

    def _as_json(self, agent: Agent) -> dict[str, Any]:
        acd = self.acd
        snap: dict[str, Any] = self.ctx.call(lambda: defer.succeed(agent_json(acd, agent)))
        return snap

    def _run(self, fn: Any, *args: Any) -> Any:
        try:
            return self.ctx.call_any(fn, *args)
        except ACDError as exc:
            access.json_error(409, exc)

    @api(methods=("GET", "POST"))
    @cherrypy.tools.json_out()
    def state(self, agent: str = "") -> dict[str, Any]:
        request = cherrypy.serving.request
        if request.method == "GET":
            return self._as_json(self._target(_bounded(agent, 16)))
        body = json_object()
        action = _text(body, "action", 16)
        if action not in ACTIONS:
            access.json_error(400, N_("action must be one of {items}", items=", ".join(ACTIONS)))
        reason = _text(body, "reason", 32, "break")
        named = _text(body, "agent", 16)
        target = self._target(named)
        acd = self.acd
        calls = {
            "login": lambda: acd.login(target.id),
            "logout": lambda: acd.logout(target.id),
            "pause": lambda: acd.pause(target.id, reason),
            "unpause": lambda: acd.unpause(target.id),
            "wrapup_done": lambda: acd.wrapup_done(target.id),
            "release": lambda: acd.release_agent(target.id, "released"),
        }
        before = target.state
        self._run(calls[action])
        if named:
            detail = {"reason": reason} if action == "pause" else {}
            if action == "release":
                detail = {"was": before}
            self._audit(action, target, detail)
        elif action == "release":
            audit_trail.record(self.ctx, "agent.release", f"agent:{target.number}", {"was": before})
        return self._as_json(target)

    @api(methods=("POST",))
    @cherrypy.tools.json_out()
    def transfer(self) -> dict[str, Any]:
        body = json_object()
        kind = _text(body, "kind", 16)
        if kind not in TRANSFER_KINDS:
            access.json_error(
                400, N_("kind must be one of {items}", items=", ".join(TRANSFER_KINDS))
            )
        target = _text(body, "target", 64)
        attended = body.get("attended", False)
        if not isinstance(attended, bool):
            access.json_error(400, N_("attended must be true or false"))
        named = _text(body, "agent", 16)
        agent = self._target(named)
        said = self._run(self.acd.transfer, agent.id, kind, target, attended)
        if named:
            detail = {"kind": kind, "to": target, "attended": attended, "result": said}
            self._audit("transfer", agent, detail)
        return {"result": i18n.translate(said)}

    def _audit(self, action: str, agent: Agent, detail: dict[str, Any]) -> None:
        """A supervisor's action on another agent: the audit log and the daemon's log."""
        user = current_session().user
        assert user is not None
        audit_trail.record(self.ctx, f"supervisor.{action}", f"agent:{agent.number}", detail)
        log.info(
            "{user} ({role}): supervisor.{action} for agent {agent} {detail}",
            user=user.username,
            role=user.role,
            action=action,
            agent=agent.number,
            detail=detail,
        )

    @api(*SUPERVISING)
    @cherrypy.tools.json_out()
    def snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = self.ctx.call(lambda: defer.succeed(self.acd.snapshot()))
        return snap


def _bounded(value: Any, max_len: int) -> str:
    if not isinstance(value, str) or len(value) > max_len:
        access.json_error(
            400, N_("agent must be a string of at most {max_len} characters", max_len=max_len)
        )
    return str(value)

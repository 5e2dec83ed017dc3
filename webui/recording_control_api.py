"""Recording control during a call: pause and resume (PCI), start on demand.

``/api/recording_control/pause``   POST ``{"call_id": 12}``: mute the recording both ways
                                   (it resumes by itself after ``[recording] pause_max_s``)
``/api/recording_control/resume``  POST ``{"call_id": 12}`` (409 when it is not paused)
``/api/recording_control/start``   POST ``{"call_id": 12}``: record a call the policy did not
``/api/recording_control/status``  GET ``?call_id=12``

An agent acts on its own current call only (``call_id`` may be left out; another call is
403); a supervisor or admin on any live call. Every change is audited by the recorder with
the user's name. Handlers run in WSGI threads; the recorder is called on the reactor.
"""

from __future__ import annotations

from typing import Any

import cherrypy
from twisted.internet import defer

from appliance.text import N_
from recorder.service import ControlError
from webui import access
from webui.access import api, current_session
from webui.context import WebContext
from webui.json_body import json_object

CONTROLLING = ("admin", "supervisor", "agent")
SUPERVISING = ("admin", "supervisor")
MAX_CALL_ID = 2**63 - 1


def _call_id(value: Any) -> int | None:
    """The requested call id (None: not given); 400 for anything but a positive integer."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_CALL_ID:
        access.json_error(400, N_("call_id must be a positive integer"))
    return int(value)


class RecordingControlApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def _target(self, requested: int | None) -> int:
        """The call the request acts on (see the module docstring)."""
        user = current_session().user
        assert user is not None
        if user.role in SUPERVISING:
            if requested is None:
                access.json_error(400, N_("name the call: call_id"))
            return requested
        ctx = self.ctx

        def own_call() -> defer.Deferred[int | None]:
            agent = ctx.acd.agent_of_user(user.id)
            if agent is None or agent.call is None:
                return defer.succeed(None)
            recorder = ctx.recorder
            if agent.call.record_id in recorder.live:  # its calls row (a callback's own)
                return defer.succeed(agent.call.record_id)
            return defer.succeed(recorder.call_of_uniqueid(agent.call.uniqueid))

        mine = self.ctx.call(own_call)
        if requested is not None and requested != mine:
            access.json_error(403, N_("an agent controls the recording of its own call only"))
        if mine is None:
            access.json_error(404, N_("you are not on a call"))
        return mine

    def _act(self, name: str) -> dict[str, Any]:
        call_id = self._target(_call_id(json_object().get("call_id")))
        user = current_session().user
        assert user is not None
        recorder = self.ctx.recorder
        fn = {
            "pause": recorder.pause,
            "resume": recorder.resume,
            "start": recorder.start_on_demand,
        }[name]
        ip = cherrypy.serving.request.remote.ip or ""
        try:
            result: dict[str, Any] = self.ctx.call(
                lambda: defer.ensureDeferred(fn(call_id, user.username, ip))
            )
        except ControlError as exc:
            access.json_error(exc.status, exc)
        return result

    @api(*CONTROLLING, methods=("POST",))
    @cherrypy.tools.json_out()
    def pause(self) -> dict[str, Any]:
        return self._act("pause")

    @api(*CONTROLLING, methods=("POST",))
    @cherrypy.tools.json_out()
    def resume(self) -> dict[str, Any]:
        return self._act("resume")

    @api(*CONTROLLING, methods=("POST",))
    @cherrypy.tools.json_out()
    def start(self) -> dict[str, Any]:
        return self._act("start")

    @api(*CONTROLLING)
    @cherrypy.tools.json_out()
    def status(self, call_id: str = "") -> dict[str, Any]:
        target = self._target(_call_id(call_id[:24]))
        recorder = self.ctx.recorder
        try:
            result: dict[str, Any] = self.ctx.call(
                lambda: defer.maybeDeferred(recorder.status, target)
            )
        except ControlError as exc:
            access.json_error(exc.status, exc)
        return result

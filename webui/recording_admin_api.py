"""Recording administration: delete every recording of one number (privacy requests).

``POST /api/recording_admin/delete_number`` ``{"number": "+8613800001111"}``, admins only:
files then rows, the count back, one audit entry (the number masked). The disk work runs
in a reactor thread, never in the WSGI thread holding the reactor's answer.
"""

from __future__ import annotations

from typing import Any

import cherrypy
from twisted.internet import defer, threads
from twisted.logger import Logger

from appliance.text import N_
from recorder import upkeep
from webui import access
from webui.access import api, current_session
from webui.context import WebContext
from webui.json_body import json_object

log = Logger(namespace="ccbox.web.recording_admin")


class RecordingAdminApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @api("admin", methods=("POST",))
    @cherrypy.tools.json_out()
    def delete_number(self) -> dict[str, Any]:
        body = json_object()
        number = body.get("number")
        if not isinstance(number, str) or len(number) > 64:
            access.json_error(
                400, N_("number must be text: 3 to 32 digits, optionally a leading +")
            )
        try:
            upkeep.number_forms(number)
        except upkeep.BadNumber as exc:
            access.json_error(400, exc)
        user = current_session().user
        assert user is not None
        ip = cherrypy.serving.request.remote.ip or ""
        db, root = self.ctx.db, self.ctx.config.recording_dir

        def run() -> defer.Deferred[tuple[int, int]]:
            return defer.ensureDeferred(
                upkeep.delete_number(db, root, number, user.username, _in_thread, ip=ip)
            )

        deleted, failed = self.ctx.call(run)
        return {"deleted": deleted, "failed": failed}


def _in_thread(fn: Any, *args: Any) -> defer.Deferred[Any]:
    return threads.deferToThread(fn, *args)

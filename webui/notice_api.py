"""Notices from supervisors to agents: post, list the current ones, withdraw.

``/api/notices/``          GET: the current notices (an agent: those for everyone, for
                           the queues it serves and for itself; the other roles: all,
                           with ``agent_number`` naming an agent's); POST (admin,
                           supervisor) ``{"text", "level": info|warning|urgent, "queue_id":
                           null|id, "minutes": 1..1440}``.
``/api/notices/withdraw``  POST ``{"id": 3}`` (admin, supervisor).

Posting and withdrawing are audited (``notice.post``, ``notice.withdraw``) and published on
the bus (webui/live_feed.py's ``NoticePosted``, ``NoticeWithdrawn``) for the live feed.
"""

from __future__ import annotations

from typing import Any

import cherrypy
from twisted.internet import defer

from appliance.db.notice_store import LEVELS, MAX_MINUTES, MAX_TEXT, NoticeRow
from appliance.text import N_
from webui import access, audit_trail
from webui.access import api, current_session
from webui.context import WebContext
from webui.json_body import json_object
from webui.live_feed import NoticePosted, NoticeWithdrawn

SUPERVISING = ("admin", "supervisor")
MAX_ID = 2**63 - 1


def notice_json(n: NoticeRow) -> dict[str, Any]:
    return n.as_message()


def _int(body: dict[str, Any], name: str, low: int, high: int, optional: bool = False) -> Any:
    value = body.get(name)
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        access.json_error(
            400,
            N_("{name} must be a whole number from {low} to {high}", name=name, low=low, high=high),
        )
    return value


class NoticeApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @property
    def db(self) -> Any:
        return self.ctx.db

    def _audience(self, user_id: int) -> tuple[list[int], int | None]:
        """The queues the user's agent serves, and that agent's id (None: no agent)."""
        acd = self.ctx.acd

        def read() -> defer.Deferred[tuple[list[int], int | None]]:
            agent = acd.agent_of_user(user_id)
            if agent is None:
                return defer.succeed(([], None))
            served = [q.id for q in acd.queues.values() if acd.serves(agent, q)]
            return defer.succeed((served, agent.id))

        found: tuple[list[int], int | None] = self.ctx.call(read)
        return found

    def _agent_numbers(self) -> dict[int, str]:
        acd = self.ctx.acd
        numbers: dict[int, str] = self.ctx.call(
            lambda: defer.succeed({a.id: a.number for a in acd.agents.values()})
        )
        return numbers

    def _publish(self, event: object) -> None:
        bus = self.ctx.bus

        def publish() -> defer.Deferred[None]:
            bus.publish(event)
            return defer.succeed(None)

        self.ctx.call(publish)

    def _audit(self, action: str, row: NoticeRow, detail: dict[str, Any]) -> None:
        audit_trail.record(self.ctx, action, f"notice:{row.id}", detail)

    @api(methods=("GET", "POST"))
    @cherrypy.tools.json_out()
    def index(self) -> dict[str, Any]:
        user = current_session().user
        assert user is not None
        if cherrypy.serving.request.method == "GET":
            if user.role == "agent":
                queues, agent_id = self._audience(user.id)
                rows = self.ctx.call(self.db.notices.current, queues, None, agent_id)
                return {"notices": [notice_json(n) for n in rows]}
            rows = self.ctx.call(self.db.notices.current)
            numbers = self._agent_numbers() if any(n.agent_id for n in rows) else {}
            notices = [
                {**notice_json(n), "agent_number": numbers.get(n.agent_id or 0, "")} for n in rows
            ]
            return {"notices": notices}
        if user.role not in SUPERVISING:
            access.json_error(403, N_("only a supervisor posts notices"))
        body = json_object()
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            access.json_error(
                400, N_("text must have 1 to {MAX_TEXT} characters", MAX_TEXT=MAX_TEXT)
            )
        level = body.get("level", "info")
        if level not in LEVELS:
            access.json_error(400, N_("level must be one of {items}", items=", ".join(LEVELS)))
        minutes = _int(body, "minutes", 1, MAX_MINUTES)
        queue_id = _int(body, "queue_id", 1, MAX_ID, optional=True)
        if queue_id is not None and queue_id not in self.ctx.acd.queues:
            access.json_error(400, N_("no queue {queue_id}", queue_id=queue_id))
        try:
            row = self.ctx.call(self.db.notices.post, text, level, user.username, minutes, queue_id)
        except ValueError as exc:
            access.json_error(400, exc)
        self._audit(
            "notice.post",
            row,
            {"text": text, "level": level, "queue_id": queue_id, "minutes": minutes},
        )
        self._publish(NoticePosted(row.as_message()))
        return notice_json(row)

    @api(*SUPERVISING, methods=("POST",))
    @cherrypy.tools.json_out()
    def withdraw(self) -> dict[str, Any]:
        notice_id = _int(json_object(), "id", 1, MAX_ID)
        row = self.ctx.call(self.db.notices.withdraw, notice_id)
        if row is None:
            access.json_error(404, N_("no current notice {notice_id}", notice_id=notice_id))
        self._audit("notice.withdraw", row, {"text": row.text})
        self._publish(NoticeWithdrawn(row.id))
        return notice_json(row)

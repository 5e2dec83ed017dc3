"""The audit log from a web request: who (the session's user), what, on what, from where.

Every handler that changes something a supervisor, QA user or admin is answerable for writes
one row here, on the database pool through the reactor (``ctx.call``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cherrypy

from webui.access import current_session

if TYPE_CHECKING:
    from webui.context import WebContext


def record(ctx: WebContext, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """Write ``action`` on ``target`` by the request's user (``?`` when none) and address."""
    user = current_session().user
    actor = user.username if user else "?"
    ip = cherrypy.serving.request.remote.ip or ""
    ctx.call(ctx.db.audit.add, actor, action, target, detail or {}, ip)

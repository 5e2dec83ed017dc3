"""The pages that replay a mirrored page (webui/cobrowse/): the supervisor's live view of an
agent's desk, ``/supervisor/desk/<agent_id>``, and the agent's window on a visitor's or a
caller's page, ``/desk/cobrowse?session=``. The relay's API (``/chat-desk/api/cobrowse``)
checks who may see what; these pages only draw the viewer.

A replay is the other page's DOM with its own stylesheets and images, drawn in a sandboxed
frame that runs no script: these two pages alone allow inline styles and images and fonts
from elsewhere (the center's sites), never scripts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cherrypy

from webui import admin_forms, vendor
from webui.access import page
from webui.i18n import _
from webui.render import render

if TYPE_CHECKING:
    from webui.context import WebContext

SUPERVISING = ("admin", "supervisor")
VIEWER_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline' http: https:; "
    "img-src 'self' data: blob: http: https:; font-src 'self' data: http: https:; "
    "media-src 'none'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
MAX_SESSION_ID = 64


def viewer_texts() -> dict[str, str]:
    """What cobrowse_view.js shows, translated."""
    return {
        "connecting": _("Connecting…"),
        "waiting_desk": _("Waiting for the agent's desk to send its page…"),
        "waiting_visitor": _("Waiting for the customer to allow it…"),
        "active": _("Live"),
        "ended": _("Ended"),
        "denied": _("The customer did not allow it."),
        "failed": _("Failed: {reason}"),
        "pushed": _("The customer's page is moving to {url}"),
        "point_on": _("Click an element to show it to the customer"),
        "missing": vendor.COBROWSE.message,
    }


def _viewer(ctx: WebContext, template: str, **values: Any) -> str:
    cherrypy.serving.response.headers["Content-Security-Policy"] = VIEWER_CSP
    return render(
        ctx,
        template,
        rrweb_url=vendor.url(vendor.RRWEB),
        rrweb_css_url=vendor.url(vendor.RRWEB_CSS),
        rrweb_missing=bool(set(vendor.COBROWSE.files) & set(vendor.missing())),
        texts=viewer_texts(),
        **values,
    )


class SupervisorDeskView:
    """``/supervisor/desk/<agent_id>``: the page starts the watch itself (a POST with the
    CSRF token, audited by the relay), so a link or a prefetch starts nothing."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @page(*SUPERVISING)
    def default(self, agent_id: Any = "", *rest: Any) -> str:
        if rest:
            raise cherrypy.NotFound()
        aid = admin_forms.page_id(agent_id)
        acd = self.ctx.acd
        agent = self.ctx.call_any(lambda: acd.agents.get(aid))
        if agent is None:
            raise cherrypy.NotFound()
        return _viewer(
            self.ctx,
            "supervisor_desk_view.html",
            agent={"id": agent.id, "name": agent.name, "number": agent.number},
        )


class DeskCobrowseView:
    """``/desk/cobrowse?session=``: an agent's window on the page it co-browses."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @page()
    def index(self, session: Any = "") -> str:
        if not isinstance(session, str) or not 0 < len(session) <= MAX_SESSION_ID:
            raise cherrypy.NotFound()
        if not all(c.isascii() and (c.isalnum() or c in "-_") for c in session):
            raise cherrypy.NotFound()
        return _viewer(self.ctx, "desk_cobrowse_view.html", session=session)


def mount(root: Any, ctx: WebContext) -> None:
    """Hang the pages on the app's tree: ``root.supervisor.desk``, ``root.desk.cobrowse``."""
    root.supervisor.desk = SupervisorDeskView(ctx)
    root.desk.cobrowse = DeskCobrowseView(ctx)

"""Render a page template with what every page needs (user, language, CSRF token)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cherrypy

from webui import i18n, labels
from webui.access import current_session

if TYPE_CHECKING:
    from webui.context import WebContext


def render(ctx: WebContext, template: str, **values: Any) -> str:
    request = cherrypy.serving.request
    session = current_session()
    flash, session.flash = session.flash, []
    page = ctx.templates.get_template(template)
    return page.render(
        user=session.user,
        csrf_token=session.csrf_token,
        locale=getattr(request, "ccbox_locale", "en"),
        locales=i18n.LOCALE_NAMES,
        path=request.path_info,
        # where the language switch comes back to (the query too: /flows/editor?id=3)
        here=request.path_info + (f"?{request.query_string}" if request.query_string else ""),
        flash=flash,
        # the reader's names for stored codes and health details (webui/labels.py)
        label=labels.label,
        health_detail=labels.health_detail,
        **values,
    )

"""The voicemail page: the messages a user may read, with a player, mark heard, forward and
delete. The same checks as the JSON API (webui/voicemail_api.py); every action is a POST
with the CSRF token, then back to the list."""

from __future__ import annotations

from typing import Any

import cherrypy

from webui import i18n
from webui.access import current_session, page
from webui.context import WebContext
from webui.render import render
from webui.voicemail_api import VoicemailAccess

ACTIONS = ("heard", "unheard", "forward", "delete")


class VoicemailPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.access = VoicemailAccess(ctx)

    @page()
    def index(self, mailbox: str = "") -> str:
        if not isinstance(mailbox, str) or len(mailbox) > 32:
            raise cherrypy.HTTPError(400, i18n._("mailbox must be text of at most 32 characters"))
        messages = self.access.messages(mailbox)
        boxes = self.ctx.call(self.ctx.db.voicemail.mailboxes)
        visible = self.access.visible_mailboxes()
        boxes = [b for b in boxes if visible is None or b.number in visible]
        return render(
            self.ctx, "voicemail.html", messages=messages, mailboxes=boxes, mailbox=mailbox
        )

    @page(methods=("POST",))
    def action(self, **params: Any) -> None:
        what, message_id = params.get("action"), params.get("id")
        if what not in ACTIONS or not isinstance(message_id, str):
            raise cherrypy.HTTPError(400, i18n._("unknown action"))
        session = current_session()
        if what == "delete":
            self.access.delete(message_id)
            session.flash.append(i18n._("Message deleted."))
        elif what == "forward":
            target = params.get("to", "")
            if not isinstance(target, str) or len(target) > 32:
                raise cherrypy.HTTPError(
                    400, i18n._("mailbox must be text of at most 32 characters")
                )
            self.access.forward(message_id, target)
            session.flash.append(i18n._("Message forwarded to {mailbox}.").format(mailbox=target))
        else:
            self.access.mark(message_id, what == "heard")
        raise cherrypy.HTTPRedirect("/voicemail", 303)

"""The IVR pages: the list of flows (and a new one) and the graphical editor. The editor is
webui/static/flow_editor.js on the JSON API (webui/ivr_api.py); this only serves the page
with the translated texts the script shows."""

from __future__ import annotations

from typing import Any

import cherrypy

from appliance.db.components import DuplicateError
from ivr.flow_model import NODE_TYPES
from ivr.flows import FlowError, check_name
from webui import i18n
from webui.access import current_session, page
from webui.context import WebContext
from webui.render import render

# The editor's own words (node types, outputs, properties, buttons), translated per request.
EDITOR_TEXTS = [
    i18n.N_("Select a node or a connection."),
    i18n.N_("Connection"),
    i18n.N_("Delete"),
    i18n.N_("Set as start"),
    i18n.N_("Problems found:"),
    i18n.N_("No problems."),
    i18n.N_("Saved as version"),
    i18n.N_("Published version"),
    i18n.N_("published"),
    i18n.N_("Publish this version"),
    i18n.N_("History"),
    i18n.N_("version"),
    i18n.N_("The call has ended."),
    i18n.N_("Type the digits, then #"),
    i18n.N_("Press a key"),
    i18n.N_("library prompt"),
    i18n.N_("text to speech"),
    i18n.N_("input"),
]
TYPE_NAMES = {
    "play": i18n.N_("Play"),
    "menu": i18n.N_("Menu"),
    "collect": i18n.N_("Collect digits"),
    "say": i18n.N_("Say"),
    "lookup": i18n.N_("Look up"),
    "condition": i18n.N_("Condition"),
    "time": i18n.N_("Time of day"),
    "queue": i18n.N_("Queue"),
    "voicemail": i18n.N_("Voicemail"),
    "record": i18n.N_("Record"),
    "transfer": i18n.N_("Transfer"),
    "set": i18n.N_("Set variable"),
    "goto": i18n.N_("Go to flow"),
    "dnc": i18n.N_("Don't call me"),
    "hangup": i18n.N_("Hang up"),
}
OUTPUT_NAMES = {
    "next": i18n.N_("next"),
    "failed": i18n.N_("failed"),
    "ok": i18n.N_("ok"),
    "found": i18n.N_("found"),
    "not_found": i18n.N_("not found"),
    "true": i18n.N_("true"),
    "false": i18n.N_("false"),
    "open": i18n.N_("open"),
    "closed": i18n.N_("closed"),
    "holiday": i18n.N_("holiday"),
    "unanswered": i18n.N_("unanswered"),
}
PROP_NAMES = {
    "prompt": i18n.N_("Prompt"),
    "barge_in": i18n.N_("Keys stop the prompt"),
    "options": i18n.N_("Keys"),
    "timeout_s": i18n.N_("Wait (seconds)"),
    "retries": i18n.N_("Retries"),
    "back": i18n.N_("* goes back"),
    "timeout_prompt": i18n.N_("Prompt when nothing is pressed"),
    "invalid_prompt": i18n.N_("Prompt for a wrong key"),
    "variable": i18n.N_("Variable"),
    "min_digits": i18n.N_("Fewest digits"),
    "max_digits": i18n.N_("Most digits"),
    "pattern": i18n.N_("Pattern"),
    "secret": i18n.N_("Secret (not written down)"),
    "mode": i18n.N_("Say as"),
    "value": i18n.N_("Value"),
    "source": i18n.N_("Look up in"),
    "key": i18n.N_("Key"),
    "book": i18n.N_("Record book"),
    "url": i18n.N_("URL"),
    "store": i18n.N_("Store as"),
    "left": i18n.N_("Left"),
    "op": i18n.N_("Test"),
    "right": i18n.N_("Right"),
    "timezone": i18n.N_("Time zone"),
    "open": i18n.N_("Opening hours"),
    "holidays": i18n.N_("Holidays"),
    "queue": i18n.N_("Queue"),
    "priority": i18n.N_("Priority"),
    "mailbox": i18n.N_("Mailbox"),
    "kind": i18n.N_("Kind"),
    "callback_queue": i18n.N_("Queue that calls back"),
    "ticket": i18n.N_("Open a ticket"),
    "max_s": i18n.N_("Longest (seconds)"),
    "silence_s": i18n.N_("Stop after silence (s)"),
    "number": i18n.N_("Number"),
    "flow": i18n.N_("Flow"),
}


def editor_texts() -> dict[str, str]:
    texts = {s: i18n._(s) for s in EDITOR_TEXTS}
    texts |= {f"type:{k}": i18n._(v) for k, v in TYPE_NAMES.items()}
    texts |= {f"out:{k}": i18n._(v) for k, v in OUTPUT_NAMES.items()}
    texts |= {f"prop:{k}": i18n._(v) for k, v in PROP_NAMES.items()}
    texts |= {"lang:en": "English", "lang:zh": "中文"}
    return texts


class FlowPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @page("admin")
    def index(self) -> str:
        flows = self.ctx.call(self.ctx.db.ivr.flows)
        return render(self.ctx, "flows.html", flows=flows)

    @page("admin", methods=("POST",))
    def add(self, **params: Any) -> None:
        name, description = params.get("name", ""), params.get("description", "")
        if not isinstance(name, str) or not isinstance(description, str) or len(description) > 255:
            raise cherrypy.HTTPError(400, i18n._("name and description must be text"))
        session = current_session()
        user = session.user
        assert user is not None
        empty = {"start": "", "nodes": [], "edges": []}
        try:
            check_name(name)
            row = self.ctx.call(
                self.ctx.db.ivr.create_flow, name, empty, user.username, description
            )
        except (FlowError, DuplicateError) as exc:
            session.flash.append(i18n._("Not added: {reason}").format(reason=exc))
            raise cherrypy.HTTPRedirect("/flows", 303) from None
        raise cherrypy.HTTPRedirect(f"/flows/editor?id={row.id}", 303)

    @page("admin")
    def editor(self, id: Any = "") -> str:
        number = id if isinstance(id, str) and id.isascii() and id.isdigit() else "0"
        if not 0 < int(number) < 2**31:
            raise cherrypy.HTTPError(400, i18n._("id must be a flow number"))
        flow = self.ctx.call(self.ctx.db.ivr.flow, int(number))
        if flow is None:
            raise cherrypy.HTTPError(404, i18n._("no such flow"))
        return render(
            self.ctx, "flow_editor.html", flow=flow, texts=editor_texts(), types=list(NODE_TYPES)
        )

"""Voicemail over the web: mailboxes, the messages in them, listening, marking, forwarding
and deleting. ``/api/voicemail/...`` (JSON) and the ``/voicemail`` page use the same checks.

Who sees what: admins and supervisors every mailbox; an agent only the mailboxes owned by
its own agent number. The audio is served only for a message the database knows, from a
file under the voicemail folder (never a path from the request).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cherrypy
from twisted.internet import defer, threads
from twisted.logger import Logger

from appliance.db.components import DuplicateError
from appliance.text import N_
from webui import access, i18n
from webui.access import api, current_session
from webui.context import WebContext
from webui.json_body import json_object

if TYPE_CHECKING:
    from appliance.db.voicemail_store import MailboxRow, VoicemailRow

log = Logger(namespace="ccbox.web.voicemail")
EVERY_MAILBOX = ("admin", "supervisor")


def message_json(m: VoicemailRow) -> dict[str, Any]:
    return {
        "id": m.id,
        "mailbox": m.mailbox,
        "caller_number": m.caller_number,
        "caller_name": m.caller_name,
        "received_at": m.received_at.isoformat(),
        "duration_ms": m.duration_ms,
        "heard": m.heard,
        "kind": m.kind,
        "forwarded_from": m.forwarded_from,
    }


def mailbox_json(b: MailboxRow) -> dict[str, Any]:
    return {
        "number": b.number,
        "name": b.name,
        "owner_kind": b.owner_kind,
        "owner": b.owner,
        "email": b.email,
        "has_pin": b.has_pin,
        "max_message_s": b.max_message_s,
    }


class VoicemailAccess:
    """The checks both the API and the page make."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @property
    def db(self) -> Any:
        return self.ctx.db

    def visible_mailboxes(self) -> set[str] | None:
        """The mailboxes the user may read (None: all of them)."""
        user = current_session().user
        assert user is not None
        if user.role in EVERY_MAILBOX:
            return None
        agent = self.ctx.acd.agent_of_user(user.id)
        if agent is None:
            return set()
        boxes = self.ctx.call(self.db.voicemail.mailboxes)
        return {b.number for b in boxes if b.owner_kind == "agent" and b.owner == agent.number}

    def messages(self, mailbox: str = "") -> list[VoicemailRow]:
        visible = self.visible_mailboxes()
        if mailbox and visible is not None and mailbox not in visible:
            raise cherrypy.HTTPError(403, i18n._("not your mailbox"))
        rows = self.ctx.call(self.db.voicemail.messages, mailbox or None)
        return [m for m in rows if visible is None or m.mailbox in visible]

    def message(self, message_id: Any) -> VoicemailRow:
        try:
            number = int(message_id)
        except (TypeError, ValueError):
            raise cherrypy.HTTPError(400, i18n._("id must be a whole number")) from None
        m = self.ctx.call(self.db.voicemail.message, number) if 0 < number < 2**31 else None
        visible = self.visible_mailboxes()
        if m is None or (visible is not None and m.mailbox not in visible):
            raise cherrypy.HTTPError(404, i18n._("no such message"))
        return m

    def audio(self, message_id: Any) -> bytes:
        m = self.message(message_id)
        path = self.ctx.ivr.voicemail.path_of(m.path)
        if path is None:
            raise cherrypy.HTTPError(404, i18n._("no such message"))
        try:
            data: bytes = self.ctx.call(threads.deferToThread, path.read_bytes)
        except OSError:
            raise cherrypy.HTTPError(404, i18n._("the message's file is missing")) from None
        user = current_session().user
        assert user is not None
        log.info("{user} listened to voicemail {id}", user=user.username, id=m.id)
        return data

    def mark(self, message_id: Any, heard: bool) -> None:
        m = self.message(message_id)
        self.ctx.call(self.db.voicemail.mark, m.id, heard)

    def forward(self, message_id: Any, mailbox: str) -> int:
        m = self.message(message_id)
        vm = self.ctx.ivr.voicemail
        try:
            new_id: int = self.ctx.call(lambda: defer.ensureDeferred(vm.forward(m.id, mailbox)))
        except LookupError as exc:
            raise cherrypy.HTTPError(404, i18n.error(exc)) from None
        return new_id

    def delete(self, message_id: Any) -> None:
        m = self.message(message_id)
        vm = self.ctx.ivr.voicemail
        self.ctx.call(lambda: defer.ensureDeferred(vm.delete(m.id)))
        user = current_session().user
        assert user is not None
        log.info("{user} deleted voicemail {id}", user=user.username, id=m.id)


def _as_json_errors(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except cherrypy.HTTPError as exc:
        access.json_error(exc.status, exc._message or N_("error"))


class VoicemailApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.access = VoicemailAccess(ctx)

    @api()
    @cherrypy.tools.json_out()
    def messages(self, mailbox: str = "") -> list[dict[str, Any]]:
        if not isinstance(mailbox, str) or len(mailbox) > 32:
            access.json_error(400, N_("mailbox must be text of at most 32 characters"))
        return [message_json(m) for m in _as_json_errors(self.access.messages, mailbox)]

    @api()
    def audio(self, id: str = "") -> bytes:
        data: bytes = _as_json_errors(self.access.audio, id)
        cherrypy.serving.response.headers["Content-Type"] = "audio/wav"
        return data

    @api(methods=("POST",))
    @cherrypy.tools.json_out()
    def mark(self) -> dict[str, Any]:
        body = json_object()
        heard = body.get("heard", True)
        if not isinstance(heard, bool):
            access.json_error(400, N_("heard must be true or false"))
        _as_json_errors(self.access.mark, body.get("id"), heard)
        return {"ok": True}

    @api(methods=("POST",))
    @cherrypy.tools.json_out()
    def forward(self) -> dict[str, Any]:
        body = json_object()
        mailbox = body.get("mailbox")
        if not isinstance(mailbox, str) or len(mailbox) > 32:
            access.json_error(400, N_("mailbox must be text of at most 32 characters"))
        return {"id": _as_json_errors(self.access.forward, body.get("id"), mailbox)}

    @api(methods=("POST",))
    @cherrypy.tools.json_out()
    def delete(self) -> dict[str, Any]:
        _as_json_errors(self.access.delete, json_object().get("id"))
        return {"ok": True}

    @api(*EVERY_MAILBOX, methods=("GET", "POST"))
    @cherrypy.tools.json_out()
    def mailboxes(self) -> Any:
        db = self.ctx.db
        if cherrypy.serving.request.method == "GET":
            return [mailbox_json(b) for b in self.ctx.call(db.voicemail.mailboxes)]
        user = current_session().user
        assert user is not None
        if user.role != "admin":
            access.json_error(403, N_("only an admin adds mailboxes"))
        body = json_object()
        fields: dict[str, Any] = {}
        for name, limit in (
            ("number", 16),
            ("name", 128),
            ("owner_kind", 16),
            ("owner", 64),
            ("email", 254),
        ):
            value = body.get(name, "department" if name == "owner_kind" else "")
            if not isinstance(value, str) or len(value) > limit:
                access.json_error(
                    400,
                    N_("{name} must be text of at most {limit} characters", name=name, limit=limit),
                )
            fields[name] = value
        max_s = body.get("max_message_s", 120)
        if isinstance(max_s, bool) or not isinstance(max_s, int):
            access.json_error(400, N_("max_message_s must be a whole number"))
        pin = body.get("pin", "")
        if not isinstance(pin, str) or (pin and not (pin.isdigit() and 4 <= len(pin) <= 8)):
            access.json_error(400, N_("pin must be 4-8 digits"))
        try:
            row = self.ctx.call(db.voicemail.add_mailbox, max_message_s=max_s, **fields)
        except DuplicateError as exc:
            access.json_error(409, exc)
        except ValueError as exc:
            access.json_error(400, exc)
        if pin:
            self.ctx.call(db.voicemail.set_pin, row.number, pin)
            row = self.ctx.call(db.voicemail.mailbox, row.number) or row
        cherrypy.serving.response.status = 201
        return mailbox_json(row)

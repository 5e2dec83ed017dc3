"""A ticket's attachments (upload checked by content, download as an attachment) and its
replies to the customer (a callback task, an e-mail, an SMS).

An upload's type is appliance/uploads.py's reading of its bytes, never its name or the
browser's word; a download is served only for a row the database knows, from the upload
store's own path for its hash, with the type sniffed at upload, ``Content-Disposition:
attachment`` and ``nosniff`` (the guard sets it on every answer), so a file is never shown
as a page of ours.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import cherrypy
from twisted.internet import defer

from appliance import uploads
from appliance.crm.tickets.messages import CrmMessage
from appliance.crm.tickets.replies import Replies, ReplyError
from appliance.db.upload_quota import UploadQuota
from appliance.text import N_
from webui import i18n
from webui.context import WebContext

if TYPE_CHECKING:
    from appliance.crm.tickets.store import Attachment, Ticket
    from webui.ticket_access import TicketAccess

MAX_BODY = uploads.MAX_SIZE + 256 * 1024  # the largest file and the form around it
CHUNK = 64 * 1024


def upload_root(config: Any) -> Path:
    """Where uploaded files live (tickets' and the knowledge base's: one store by hash)."""
    return uploads.uploads_root(config.data_dir)


def disposition(filename: str) -> str:
    """``attachment`` with the name as ASCII (quotes and controls out) and as UTF-8."""
    ascii_name = (
        "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename).strip()
        or "file"
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def sent_name(raw: str) -> str:
    """The file name a browser sent: UTF-8 bytes, which CherryPy's multipart parser reads
    as Latin-1 (a Chinese name would show as mojibake); any other name as it came."""
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


class TicketFiles:
    def __init__(self, ctx: WebContext, access: TicketAccess) -> None:
        self.ctx = ctx
        self.t = access
        self.store = uploads.UploadStore(upload_root(ctx.config))

    # ---- attachments --------------------------------------------------------------------

    def attach(self, ticket_id: int, part: Any) -> str:
        """Store the multipart ``file`` and record it on the ticket; ValueError (an
        UploadRefused) with what is wrong with it."""
        self.t.ticket(ticket_id)  # 404 before reading a file for nothing
        if part is None or isinstance(part, list | str) or getattr(part, "file", None) is None:
            raise ValueError(N_("choose a file to attach"))
        data = part.file.read(uploads.MAX_SIZE + 1)
        name = sent_name(str(part.filename or "file"))
        username, _role = self.t.user()
        self.ctx.call(UploadQuota(self.ctx.db).check, username, len(data))  # before the disk
        try:
            stored = self.store.put(data, name)
        except OSError:
            raise ValueError(N_("the file could not be stored: the disk may be full")) from None
        self.ctx.call(
            self.t.store.attach,
            username,
            ticket_id,
            stored.sha256,
            stored.filename,
            stored.mime,
            stored.size,
        )
        return i18n._("File {name} attached.").format(name=stored.filename)

    def attachment(self, attachment_id: int) -> Attachment | None:
        found: Attachment | None = self.ctx.call(self.t.store.attachment, attachment_id)
        return found

    def download(self, raw_id: Any) -> Iterator[bytes]:
        if not isinstance(raw_id, str) or not raw_id.isdigit() or len(raw_id) > 10:
            raise cherrypy.NotFound()
        row = self.attachment(int(raw_id))
        path = self.store.path(row.sha256) if row is not None else None
        if row is None or path is None or row.mime not in uploads.MAX_SIZES:
            raise cherrypy.NotFound()
        try:
            handle = path.open("rb")
            size = path.stat().st_size
        except OSError:
            raise cherrypy.NotFound() from None
        response = cherrypy.serving.response
        response.headers["Content-Type"] = row.mime
        response.headers["Content-Length"] = str(size)
        response.headers["Content-Disposition"] = disposition(row.filename)
        response.headers["X-Content-Type-Options"] = "nosniff"

        def chunks() -> Iterator[bytes]:
            with handle:
                while block := handle.read(CHUNK):
                    yield block

        return chunks()

    # ---- replies to the customer --------------------------------------------------------

    def replies(self, ticket: Ticket) -> list[CrmMessage]:
        """The messages sent (or waiting to be) about the ticket, newest first."""
        found: list[CrmMessage] = self.ctx.call(self.t.store.messages, ticket.id)
        return found

    def reply(
        self, ticket_id: int, channel: str, to: str, queue: str, subject: str, body: str
    ) -> str:
        """Reply by ``channel``; the message to show. ReplyError (a ValueError) when it is
        refused or could not leave."""
        username, role = self.t.user()
        ctx = self.ctx
        r = Replies(ctx.reactor, ctx.db, ctx.acd, ctx.config.smtp, bus=ctx.bus)
        if channel == "email":
            ctx.call(
                lambda: defer.ensureDeferred(r.email(username, role, ticket_id, to, subject, body))
            )
            return i18n._("E-mail sent.")
        if channel == "callback":
            ctx.call(
                lambda: defer.ensureDeferred(
                    r.callback(username, role, ticket_id, to, queue, None, body)
                )
            )
            return i18n._("Callback scheduled.")
        if channel == "sms":
            sms = ctx.hardware.sms if ctx.hardware is not None else None
            _row, note = ctx.call(
                lambda: defer.ensureDeferred(
                    r.sms(username, role, ticket_id, to, body, queued=sms is not None)
                )
            )
            if sms is not None:
                ctx.reactor.callFromThread(sms.kick)
                return i18n._("SMS queued: {note}").format(note=i18n.shown(note))
            return i18n._("SMS saved, waiting for the modem: {note}").format(note=i18n.shown(note))
        raise ReplyError(N_("choose how to reply: a callback, an e-mail or an SMS"))

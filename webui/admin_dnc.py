"""The do-not-call page: the center's list (add, remove, search), the campaigns' own lists,
and the national list (its date and size; a new one uploaded whole).

A number is normalised as the dialer stores it (acd/dialer/numbers.py), so "+86 138-0013-8000"
typed here finds and blocks the lead imported as "+8613800138000". A change goes through
the running dialer's index (acd/dialer/dnc.py: in force at once, before the database has
it; the dialer checks every number immediately before it dials), and adding a number marks
its waiting leads ``dnc`` (appliance/db/dialer_store.py). Admins and supervisors keep the
lists; only an admin replaces the national list (uploaded and read in a thread:
webui/list_upload.py).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import cherrypy

from acd.dialer.dnc import DoNotCall
from acd.dialer.numbers import normalise
from appliance.db.dialer_store import DncRow
from appliance.db.model import DNC_SCOPES
from webui import admin_forms as f
from webui import campaign_form as cf
from webui import i18n
from webui.access import current_session, page
from webui.admin_campaigns import upload_json
from webui.context import WebContext
from webui.list_upload import MAX_UPLOAD_BYTES, NationalListJob, UploadRefused, Uploads
from webui.render import render

VIEWERS = ("admin", "supervisor")
PAGE_ROWS = 100
SEARCH = re.compile(r"\+?[0-9]{1,20}")


def number_field(params: dict[str, Any]) -> str:
    label = i18n._("Number")
    raw = f.text(params, "number", label, 64, required=True)
    try:
        return normalise(raw)
    except ValueError as exc:
        raise f.FormError(
            i18n._("{field}: {reason}").format(field=label, reason=i18n.error(exc))
        ) from None


class DncAdmin:
    def __init__(self, ctx: WebContext, uploads: Uploads) -> None:
        self.ctx = ctx
        self.uploads = uploads

    @page(*VIEWERS)
    def index(self, q: Any = "", scope: Any = "") -> str:
        db = self.ctx.db
        error = ""
        prefix = ""
        if not isinstance(q, str) or len(q) > 64:
            q = ""
        query = "".join(c for c in q.strip() if c not in " -().")
        if query:
            if SEARCH.fullmatch(query):
                prefix = query
            else:
                error = i18n._("Search: digits, with an optional leading '+'.")
        shown_scope = scope if isinstance(scope, str) and scope in DNC_SCOPES else None
        rows: list[DncRow] = self.ctx.call(db.dialer.dnc_rows, shown_scope, None, prefix, PAGE_ROWS)
        campaigns = {c.id: c.name for c in self.ctx.call(db.dialer.campaigns)}
        upload = self.uploads.latest("national")
        if error:
            cherrypy.serving.response.status = 400
        return render(
            self.ctx,
            "admin_dnc.html",
            rows=[] if error else rows,
            error=error,
            q=q,
            scope=shown_scope or "",
            scopes=DNC_SCOPES,
            counts=self.ctx.call(db.dialer.dnc_counts),
            national_date=self.ctx.call(db.dialer.national_list_date),
            campaigns=campaigns,
            upload=upload_json(upload) if upload is not None else None,
            page_rows=PAGE_ROWS,
            max_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
        )

    def _campaign_choice(self, params: dict[str, Any]) -> int | None:
        campaign_id = f.optional_id(params, "campaign_id", i18n._("Campaign"))
        if campaign_id is not None:
            known = {c.id for c in self.ctx.call(self.ctx.db.dialer.campaigns)}
            if campaign_id not in known:
                raise f.FormError(
                    i18n._("{field}: not a valid choice.").format(field=i18n._("Campaign"))
                )
        return campaign_id

    @page(*VIEWERS, methods=("POST",))
    def add(self, **params: Any) -> None:
        """Put a number on the center's list, or on one campaign's (``campaign_id``)."""

        def work() -> str:
            number = number_field(params)
            campaign_id = self._campaign_choice(params)
            scope = "center" if campaign_id is None else "campaign"
            added = self.ctx.call(self._index().add, number, scope, "admin", campaign_id)
            if not added:
                raise f.FormError(i18n._("{number} is on that list already.").format(number=number))
            f.audit(self.ctx, "dnc.add", f"dnc:{number}", scope=scope, campaign_id=campaign_id)
            return i18n._("{number} will not be called.").format(number=number)

        f.finish("/admin/dnc", work)

    @page(*VIEWERS, methods=("POST",))
    def remove(self, **params: Any) -> None:
        """Take a number off the center's list or a campaign's (the national list is only
        replaced whole)."""

        def work() -> str:
            number = number_field(params)
            scope = f.choice(params, "scope", i18n._("List"), ("center", "campaign"))
            campaign_id = self._campaign_choice(params) if scope == "campaign" else None
            if scope == "campaign" and campaign_id is None:
                raise f.FormError(i18n._("{field}: required.").format(field=i18n._("Campaign")))
            removed = self.ctx.call(self._index().remove, number, scope, campaign_id)
            if not removed:
                raise f.FormError(i18n._("{number} is not on that list.").format(number=number))
            f.audit(self.ctx, "dnc.remove", f"dnc:{number}", scope=scope, campaign_id=campaign_id)
            return i18n._("{number} taken off the list.").format(number=number)

        f.finish("/admin/dnc", work)

    @page("admin", methods=("POST",))
    @cherrypy.config(**{"request.body.maxbytes": MAX_UPLOAD_BYTES + 64 * 1024})
    def national(self, **params: Any) -> None:
        """A new national list (multipart ``file``: one number a line, or a CSV whose first
        column is the number) dated ``list_date``: read in a thread, then it replaces the
        old list whole; a file with bad lines only when ``skip_bad`` is ticked."""
        session = current_session()
        part = params.get("file")
        try:
            list_date = self._list_date(params)
            if part is None or isinstance(part, list | str) or getattr(part, "file", None) is None:
                raise f.FormError(i18n._("Choose the national list's file to upload."))
        except f.FormError as exc:
            session.flash.append(i18n.error(exc))
            raise cherrypy.HTTPRedirect("/admin/dnc", 303) from None
        name = Path(str(part.filename or "national").replace("\\", "/")).name[:128]
        user = session.user
        assert user is not None
        ctx = self.ctx

        def replace(numbers: list[str], day: dt.date) -> Any:
            return self._index().replace_national(numbers, day)

        skip_bad = f.checkbox(params, "skip_bad")

        def make_job(file: Any) -> NationalListJob:
            return NationalListJob(file, list_date, replace, ctx.reactor, skip_bad)

        try:
            self.uploads.start("national", user.id, None, name, part.file, make_job)
        except UploadRefused as exc:
            session.flash.append(i18n.error(exc))
            raise cherrypy.HTTPRedirect("/admin/dnc", 303) from None
        part.file = None  # the job owns (and closes) the temporary file now
        f.audit(ctx, "dnc.national", "dnc:national", file=name, list_date=list_date.isoformat())
        raise cherrypy.HTTPRedirect("/admin/dnc#national", 303)

    def _list_date(self, params: dict[str, Any]) -> dt.date:
        return cf.date_field(params, "list_date", i18n._("The list's date"))

    def _index(self) -> DoNotCall:
        """The running dialer's index (a change is in force at once, then written), else
        one over the store alone (the dialer loads the lists when it starts)."""
        index = getattr(self.ctx.dialer, "dnc", None)
        if isinstance(index, DoNotCall):
            return index
        # its reactor's threads normalise and index a national list, never the reactor
        return DoNotCall(self.ctx.db.dialer, self.ctx.reactor)

"""Outbound campaigns: the list with their live figures, a campaign's page (every setting,
holidays, start/pause/stop, list upload with its progress, export).

Admins change campaigns; supervisors see them and start, pause and stop them (they run the
floor). The form is checked field by field (webui/campaign_form.py), then by the store
(appliance/db/dialer_store.py) in its stored form. Starting, pausing and stopping store
the state, then ask the running dialer (``ctx.dialer``, acd/dialer/service.py) to read the
campaigns again: a started campaign dials at once, a paused or stopped one places no new
call (calls in progress go on).

An upload is streamed to a temporary file by CherryPy (``request.body.maxbytes`` caps it),
then imported in a thread (webui/list_upload.py); the page polls ``progress`` and shows the
bad rows (line, reason) when it is done.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import cherrypy
from twisted.internet import defer

from acd.dialer.list_export import export_campaign
from acd.dialer.list_import import ImportJob
from appliance.db.call_list_store import CallListStore
from appliance.db.dialer_store import Campaign
from appliance.db.ivr_store import PromptRow
from appliance.db.lead_import_store import ConnectorSink
from appliance.db.model import CAMPAIGN_BACKOFF, CAMPAIGN_MODES, CAMPAIGN_RECORD, CAMPAIGN_STATES
from webui import access, i18n
from webui import admin_forms as f
from webui import campaign_form as cf
from webui.access import api, current_session, page
from webui.context import WebContext
from webui.i18n import N_
from webui.list_upload import MAX_UPLOAD_BYTES, Upload, UploadRefused, Uploads
from webui.render import render

VIEWERS = ("admin", "supervisor")
BAD_ROWS_SHOWN = 200
# The state buttons: what each asks the dialer to do, and the message when done.
STATE_DONE = {
    "running": N_("Campaign {name} started."),
    "paused": N_("Campaign {name} paused."),
    "stopped": N_("Campaign {name} stopped."),
}
# A new campaign's dispositions, in the language of the admin who adds it (then data).
DEFAULT_DISPOSITIONS = (N_("Done"), N_("Call back"), N_("Not interested"))


def upload_json(upload: Upload) -> dict[str, Any]:
    """A job's progress for the page (its bad rows once it is done), in the reader's words."""
    out = dict(upload.job.progress())
    out["token"] = upload.token
    out["name"] = upload.name
    out["done"] = not upload.running
    out["state_text"] = state_text(str(out.get("state", "")))
    if out["done"]:
        bad = upload.bad_rows()
        out["bad"] = [
            {"line": b.line, "reason": i18n.shown(b.reason)} for b in bad[:BAD_ROWS_SHOWN]
        ]
        out["error"] = i18n.shown(upload.error()) if upload.error() else ""
    return out


def state_text(state: str) -> str:
    return {
        "waiting": i18n._("Waiting"),
        "reading": i18n._("Importing"),
        "done": i18n._("Done"),
        "stopped": i18n._("Stopped"),
        "cancelled": i18n._("Cancelled"),
        "refused": i18n._("Refused"),
    }.get(state, state)


class CampaignsAdmin:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.uploads = Uploads()

    # ---- reading ---------------------------------------------------------------------------

    def _campaign(self, campaign_id: int) -> Campaign:
        row: Campaign | None = self.ctx.call(self.ctx.db.dialer.campaign, campaign_id)
        if row is None:
            raise cherrypy.NotFound()
        return row

    def _choices(self) -> tuple[list[Any], list[Any]]:
        db = self.ctx.db
        queues = self.ctx.call(db.queues.list_all)
        rows: list[PromptRow] = self.ctx.call(db.ivr.prompts)
        prompts = sorted(rows, key=lambda p: p.name)
        return queues, prompts

    def _today(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    @page(*VIEWERS)
    def index(self) -> str:
        db = self.ctx.db
        campaigns: list[Campaign] = self.ctx.call(db.dialer.campaigns)
        queues, _prompts = self._choices()
        since = self._today()
        figures = {c.id: self.ctx.call(db.dialer.campaign_figures, c.id, since) for c in campaigns}
        return render(
            self.ctx,
            "admin_campaigns.html",
            campaigns=campaigns,
            figures=figures,
            queues=queues,
            queue_names={q.id: q.display_name or q.name for q in queues},
            modes=CAMPAIGN_MODES,
        )

    @page(*VIEWERS)
    def edit(self, id: Any = "", job: Any = "") -> str:
        campaign = self._campaign(f.page_id(id))
        db = self.ctx.db
        queues, prompts = self._choices()
        upload = self.uploads.get(job) if job else None
        if upload is None or upload.campaign_id != campaign.id:
            upload = self.uploads.latest("list", campaign.id)
        return render(
            self.ctx,
            "admin_campaign.html",
            c=campaign,
            values=cf.form_values(campaign.__dict__),
            figures=self.ctx.call(db.dialer.campaign_figures, campaign.id, self._today()),
            holidays=self.ctx.call(db.dialer.holidays, campaign.id),
            lists=self.ctx.call(CallListStore(db).lists, campaign.id),
            upload=upload_json(upload) if upload is not None else None,
            queues=queues,
            prompts=prompts,
            modes=CAMPAIGN_MODES,
            records=CAMPAIGN_RECORD,
            backoffs=CAMPAIGN_BACKOFF,
            states=CAMPAIGN_STATES,
            weekdays=cf.WEEKDAYS,
            common_zones=cf.COMMON_ZONES,
            weekday_names=cf.WEEKDAY_NAMES,
            retry_outcomes=cf.RETRY_OUTCOMES,
            decimals=cf.DECIMALS,
            integers=cf.INTEGERS,
            max_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
        )

    # ---- changing --------------------------------------------------------------------------

    @page("admin", methods=("POST",))
    def add(self, **params: Any) -> None:
        """A new campaign (stopped) from a name, a mode, a queue and a caller ID; then its
        page, for the rest of the settings."""

        def work() -> str:
            queues, _prompts = self._choices()
            name = cf.campaign_name(params)
            mode = f.choice(params, "mode", i18n._("Mode"), CAMPAIGN_MODES)
            queue_id = cf.queue_choice(params, {q.id for q in queues})
            number = cf.caller_number(params)
            row = self.ctx.call(
                self.ctx.db.dialer.create_campaign,
                name,
                queue_id,
                mode=mode,
                caller_id_number=number,
                dispositions_json=json.dumps(
                    [i18n._(d) for d in DEFAULT_DISPOSITIONS], ensure_ascii=False
                ),
            )
            f.audit(self.ctx, "campaign.add", f"campaign:{row.id}", name=name, mode=mode)
            current_session().flash.append(
                i18n._("Campaign {name} added: check its settings, then upload a list.").format(
                    name=name
                )
            )
            raise cherrypy.HTTPRedirect(f"/admin/campaigns/edit?id={row.id}", 303)

        f.finish("/admin/campaigns", work)

    @page("admin", methods=("POST",))
    def save(self, **params: Any) -> None:
        campaign_id = f.target_id(params)

        def work() -> str:
            queues, prompts = self._choices()
            settings = cf.campaign_settings(
                params, {q.id for q in queues}, {p.name for p in prompts}
            )
            row = self.ctx.call(self.ctx.db.dialer.update_campaign, campaign_id, **settings)
            if row is None:
                raise f.FormError(i18n._("That campaign no longer exists."))
            self._reload(campaign_id)
            f.audit(self.ctx, "campaign.save", f"campaign:{campaign_id}", **settings)
            return i18n._("Campaign saved.")

        f.finish(f"/admin/campaigns/edit?id={campaign_id}", work)

    @page(*VIEWERS, methods=("POST",))
    def state(self, **params: Any) -> None:
        """Start (running), pause or stop: through the dialer when it runs."""
        campaign_id = f.target_id(params)

        def work() -> str:
            state = f.choice(params, "state", i18n._("State"), CAMPAIGN_STATES)
            campaign = self._campaign(campaign_id)
            self.ctx.call(self.ctx.db.dialer.set_state, campaign_id, state)
            self._reload(campaign_id)
            f.audit(self.ctx, "campaign.state", f"campaign:{campaign_id}", state=state)
            return i18n._(STATE_DONE[state]).format(name=campaign.name)

        back = f.text(params, "back", "back", 64)
        f.finish(
            "/admin/campaigns" if back == "list" else f"/admin/campaigns/edit?id={campaign_id}",
            work,
        )

    @page("admin", methods=("POST",))
    def holiday(self, **params: Any) -> None:
        """Add a day nobody is called, or take it off (``remove``)."""
        campaign_id = f.target_id(params)

        def work() -> str:
            day = cf.holiday(params)
            remove = f.checkbox(params, "remove")
            db = self.ctx.db
            if remove:
                self.ctx.call(db.dialer.remove_holiday, day, campaign_id)
            elif not self.ctx.call(db.dialer.add_holiday, day, campaign_id):
                raise f.FormError(i18n._("{day} is a holiday already.").format(day=day.isoformat()))
            self._reload(campaign_id)
            f.audit(
                self.ctx,
                "campaign.holiday",
                f"campaign:{campaign_id}",
                day=day.isoformat(),
                remove=remove,
            )
            return i18n._("Holiday removed.") if remove else i18n._("Holiday added.")

        f.finish(f"/admin/campaigns/edit?id={campaign_id}", work)

    def _reload(self, campaign_id: int) -> None:
        """Tell a running dialer that a campaign changed: it reads the campaigns again now
        (a started one dials from then on, a paused or stopped one places no new call)
        instead of at its next periodic reload."""
        dialer = self.ctx.dialer
        if dialer is not None:
            self.ctx.call(lambda: defer.ensureDeferred(dialer.reload()))

    # ---- lists -----------------------------------------------------------------------------

    @page("admin", methods=("POST",))
    @cherrypy.config(**{"request.body.maxbytes": MAX_UPLOAD_BYTES + 64 * 1024})
    def upload(self, **params: Any) -> None:
        """A CSV or XLSX list (multipart ``file``) imported into the campaign in a thread;
        back to the campaign page, which follows the import."""
        campaign_id = f.target_id(params)
        back = f"/admin/campaigns/edit?id={campaign_id}"
        session = current_session()
        part = params.get("file")
        if part is None or isinstance(part, list | str) or getattr(part, "file", None) is None:
            session.flash.append(i18n._("Choose a CSV or XLSX file to upload."))
            raise cherrypy.HTTPRedirect(back, 303)
        campaign = self._campaign(campaign_id)
        name = Path(str(part.filename or "list").replace("\\", "/")).name[:128] or "list"
        user = session.user
        assert user is not None
        sink = ConnectorSink(self.ctx.db, self.ctx.reactor)
        # the running dialer's do-not-call lists: a listed number is a bad row, not a lead
        index = getattr(self.ctx.dialer, "dnc", None)

        def make_job(file: Any) -> ImportJob:
            return ImportJob(
                file,
                sink,
                campaign_id=campaign.id,
                default_tz=campaign.default_tz,
                list_name=name,
                source_name=name,
                dnc=(lambda n: index.blocks(n, campaign.id)) if index is not None else None,
            )

        try:
            upload = self.uploads.start("list", user.id, campaign.id, name, part.file, make_job)
        except UploadRefused as exc:
            session.flash.append(i18n.error(exc))
            raise cherrypy.HTTPRedirect(back, 303) from None
        part.file = None  # the job owns (and closes) the temporary file now
        f.audit(self.ctx, "campaign.upload", f"campaign:{campaign.id}", file=name)
        raise cherrypy.HTTPRedirect(f"{back}&job={upload.token}", 303)

    @api(*VIEWERS)
    @cherrypy.tools.json_out()
    def progress(self, job: Any = "") -> dict[str, Any]:
        """An import's progress: bytes read of the total, rows good and bad; once done, the
        bad rows (line, reason) and why it stopped, if it did."""
        upload = self.uploads.get(job) if isinstance(job, str) else None
        if upload is None:
            access.json_error(404, N_("no such import (it may have been forgotten)"))
        return upload_json(upload)

    @page(*VIEWERS)
    def export(self, id: Any = "") -> Any:
        """Every lead of the campaign as CSV (formula cells escaped: acd/dialer/list_export.py),
        written to a temporary file first, then streamed."""
        campaign = self._campaign(f.page_id(id))
        sink = ConnectorSink(self.ctx.db, self.ctx.reactor)
        fd, tmp = tempfile.mkstemp(prefix="ccbox-export-", suffix=".csv")
        os.close(fd)
        try:
            export_campaign(sink, campaign.id, tmp)
            out = open(tmp, "rb")  # noqa: SIM115 (streamed, closed at its end)
        finally:
            os.unlink(tmp)  # the open file stays readable
        f.audit(self.ctx, "campaign.export", f"campaign:{campaign.id}")
        response = cherrypy.serving.response
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Content-Disposition"] = (
            f'attachment; filename="campaign-{campaign.id}.csv"'
        )
        response.headers["Content-Length"] = str(os.fstat(out.fileno()).st_size)
        return _chunks(out)

    export._cp_config = {"response.stream": True}  # type: ignore[attr-defined]


def _chunks(out: Any, size: int = 64 * 1024) -> Any:
    with out:
        while chunk := out.read(size):
            yield chunk

"""A report as a file, and the scheduled reports' admin page.

``/reports/export.csv``, ``.xlsx`` and ``.pdf`` take the report page's own query
(webui/report_query.py: report, kind, start, end, scope, key) and the same roles, build the
report like the page does and answer it as a download in the reader's language
(appliance/reports/export_*.py). A bad query is a 400 with its message. The file is made in
the CherryPy thread that serves the request (a big PDF is some CPU, never on the reactor).

``/reports/schedules/`` (admins): the scheduled reports (appliance/reports/schedule.py),
added and deleted; every field is checked by the store (appliance/db/schedule_store.py)
and the report and its scope by the catalog.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import cherrypy

from appliance.db.schedule_store import LOCALES, NewSchedule, ScheduleStore, check
from appliance.reports.export_cells import file_name
from appliance.reports.export_formats import CONTENT_TYPES, FORMATS, render
from appliance.reports.query import check_scope
from appliance.reports.schedule import first_period
from appliance.text import N_
from webui import admin_forms as f
from webui import i18n
from webui.access import current_session, page
from webui.context import WebContext
from webui.render import render as render_page
from webui.report_pages import (
    REPORT_ROLES,
    SCOPE_LABELS,
    catalog_build,
    catalog_kinds,
    read_query,
)

EVERY_LABELS = {"daily": N_("Every day"), "weekly": N_("Every Monday"), "monthly": N_("Every 1st")}
RANGE_LABELS = {
    "day": N_("The day before"),
    "week": N_("The week before"),
    "month": N_("The month before"),
}
FORMAT_LABELS = {"csv": "CSV", "xlsx": "Excel (XLSX)", "pdf": "PDF"}


class ReportExports:
    """The three downloads, mounted on the report pages as ``export.<format>``."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def _file(self, fmt: str, params: dict[str, Any]) -> bytes:
        try:
            query = read_query(self.ctx, params)
            report = self.ctx.call_any(catalog_build, self.ctx, query)
        except ValueError as exc:  # BadQuery, RangeError, a scope the report refuses
            raise cherrypy.HTTPError(400, i18n.error(exc)) from None
        data = render(report, fmt, i18n.translate)
        headers = cherrypy.serving.response.headers
        headers["Content-Type"] = CONTENT_TYPES[fmt]
        # file_name() is ASCII letters, digits, '-' and '_' only: nothing to quote
        headers["Content-Disposition"] = f'attachment; filename="{file_name(report, fmt)}"'
        headers["X-Content-Type-Options"] = "nosniff"
        return data

    @page(*REPORT_ROLES)
    def csv(self, **params: Any) -> bytes:
        return self._file("csv", params)

    @page(*REPORT_ROLES)
    def xlsx(self, **params: Any) -> bytes:
        return self._file("xlsx", params)

    @page(*REPORT_ROLES)
    def pdf(self, **params: Any) -> bytes:
        return self._file("pdf", params)


class ScheduleAdmin:
    """``/reports/schedules/``: the list, a form to add one, a button to delete each."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.store = ScheduleStore(ctx.db)

    @page("admin")
    def index(self) -> str:
        kinds = catalog_kinds()
        return render_page(
            self.ctx,
            "report_schedules.html",
            schedules=self.ctx.call(self.store.list_all),
            kinds=[(k, i18n.translate(label)) for k, label in kinds],
            kind_names={k: i18n.translate(label) for k, label in kinds},
            scopes=[(s, i18n._(label)) for s, label in SCOPE_LABELS.items()],
            ranges=[(k, i18n._(v)) for k, v in RANGE_LABELS.items()],
            every=[(k, i18n._(v)) for k, v in EVERY_LABELS.items()],
            formats=[(k, FORMAT_LABELS[k]) for k in FORMATS],
            languages=[(k, i18n.LOCALE_NAMES[k]) for k in LOCALES],
            hour=self.ctx.config.reports.schedule_hour,
            zone=self.ctx.config.reports.timezone,
        )

    @page("admin", methods=("POST",))
    def add(self, **params: Any) -> None:
        def work() -> str:
            from appliance.reports import catalog

            kinds = [k for k, _ in catalog_kinds()]
            new = NewSchedule(
                name=f.text(params, "name", i18n._("Name"), 100, required=True),
                kind=f.choice(params, "report", i18n._("Report"), tuple(kinds)),
                scope=f.text(params, "scope", i18n._("Scope"), 12),
                key=f.text(params, "key", i18n._("Which one"), 64),
                range_kind=f.text(params, "range_kind", i18n._("Covers"), 8),
                every=f.text(params, "every", i18n._("How often"), 8),
                format=f.text(params, "format", i18n._("File"), 4),
                recipients=f.text(params, "recipients", i18n._("To"), 1000, required=True),
                locale=f.text(params, "locale", i18n._("Language"), 8),
            )
            check(new)  # the store's own checks first: their messages are the clearest
            scopes = catalog.kind_of(new.kind).scopes
            if new.scope not in scopes:
                raise f.FormError(
                    i18n._("This report covers: {scopes}").format(
                        scopes=", ".join(i18n._(SCOPE_LABELS[s]) for s in scopes)
                    )
                )
            check_scope(new.scope, new.key.strip(), scopes)  # e.g. a queue's key is its id
            reports = self.ctx.config.reports
            seen = ""
            if new.every in EVERY_LABELS:  # else the store refuses it
                now = dt.datetime.now(dt.UTC)
                seen = first_period(new.every, now, reports.timezone, reports.schedule_hour)
            user = current_session().user
            row = self.ctx.call(self.store.add, new, user.username if user else "?", seen)
            f.audit(self.ctx, "report_schedule.add", f"report_schedule:{row.id}", name=row.name)
            return i18n._("Scheduled report {name} added.").format(name=row.name)

        f.finish("/reports/schedules/", work)

    @page("admin", methods=("POST",))
    def delete(self, **params: Any) -> None:
        schedule_id = f.target_id(params)

        def work() -> str:
            if not self.ctx.call(self.store.delete, schedule_id):
                raise f.FormError(i18n._("That scheduled report no longer exists."))
            f.audit(self.ctx, "report_schedule.delete", f"report_schedule:{schedule_id}")
            return i18n._("Scheduled report deleted.")

        f.finish("/reports/schedules/", work)


def mount(pages: Any, ctx: WebContext) -> None:
    """Hang the downloads and the schedules on the report pages: ``/reports/export.csv``
    (CherryPy reads the dot as ``export_csv``), ``/reports/schedules/``."""
    exports = ReportExports(ctx)
    pages.export_csv = exports.csv
    pages.export_xlsx = exports.xlsx
    pages.export_pdf = exports.pdf
    pages.schedules = ScheduleAdmin(ctx)

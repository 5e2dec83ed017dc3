"""The report pages for admins and supervisors: pick a report, a range and a scope, read its
figures, charts (Apache ECharts, webui/static/reports.js) and tables, and drill from a
figure, a chart's bucket or a table row down to the calls behind it and their recordings.

Any ``Report`` (appliance/reports/model.py) is rendered generically (webui/report_view.py);
the query string is webui/report_query.py's, shared with the exports (``/reports/export.*``
links carry the report's own query).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import cherrypy

from appliance.hardware.trunks import GROUP_RE, trunk_label
from appliance.reports import catalog, drill
from appliance.reports.catalog import sort_table
from appliance.reports.clock import center_zone
from appliance.reports.export_cells import SCOPE_LABELS
from appliance.reports.export_formats import FORMATS
from appliance.reports.model import Report, parse_drill_query
from appliance.reports.ranges import RANGE_KINDS
from appliance.text import N_
from webui import i18n, labels, report_view, vendor
from webui.access import page
from webui.context import WebContext
from webui.render import render
from webui.report_query import FIELDS, BadQuery, ReportQuery, field, parse_report_query

REPORT_ROLES = ("admin", "supervisor")
RANGE_LABELS = {
    "day": N_("Day"),
    "week": N_("Week"),
    "month": N_("Month"),
    "quarter": N_("Quarter"),
    "year": N_("Year"),
    "custom": N_("Custom"),
}
PER_PAGE = 50


def catalog_kinds() -> list[tuple[str, str]]:
    """(kind, label) of every report the catalog builds, in its order."""
    return [(k, spec.label) for k, spec in catalog.REPORT_KINDS.items()]


def catalog_scopes() -> dict[str, tuple[str, ...]]:
    """The scopes each report accepts (the picker offers only those)."""
    return {k: spec.scopes for k, spec in catalog.REPORT_KINDS.items()}


def read_query(ctx: WebContext, params: dict[str, Any]) -> ReportQuery:
    """The report query of a page, a drill or an export: any report the catalog builds, in
    the center's zone, now."""
    kinds = [k for k, _ in catalog_kinds()]
    return parse_report_query(params, kinds, ctx.config.reports.timezone, dt.datetime.now(dt.UTC))


async def catalog_build(ctx: WebContext, q: ReportQuery) -> Report:
    report: Report = await catalog.build_report(
        ctx.db, q.report, q.range, q.scope, q.key, ctx.config.reports
    )
    return report


async def drill_page(ctx: WebContext, q: ReportQuery, filter: str, **options: Any) -> Any:
    """A page of the calls behind a drill (appliance/reports/drill.py ``DrillPage``)."""
    return await drill.drill_calls(
        ctx.db, filter, q.range, q.scope, q.key, settings=ctx.config.reports, **options
    )


class ReportPages:
    """``/reports`` (a report) and ``/reports/calls`` (the calls behind a drill)."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @page(*REPORT_ROLES)
    def index(self, **params: Any) -> str:
        kinds = catalog_kinds()
        form = {k: v for k, v in params.items() if k in FIELDS and isinstance(v, str)}
        error = None
        report: Report | None = None
        query: ReportQuery | None = None
        sort: tuple[str, str] | None = None
        descending = False
        try:
            query = read_query(self.ctx, params)
            report = self.ctx.call_any(catalog_build, self.ctx, query)
            assert report is not None
            sort = report_view.parse_sort(report, field(params, "sort"))
            descending = field(params, "desc") == "1"
            if sort is not None:
                table = sort_table(report.table(sort[0]), sort[1], descending)
                report = replace(
                    report, tables=tuple(table if t.name == sort[0] else t for t in report.tables)
                )
        except ValueError as exc:  # BadQuery, RangeError, a scope or sort the report refuses
            error = i18n.error(exc)
            cherrypy.serving.response.status = 400
            report = None
        return render(
            self.ctx,
            "reports.html",
            **self._page_values(kinds, form, query, report, sort, descending),
            error=error,
        )

    def _page_values(
        self,
        kinds: list[tuple[str, str]],
        form: dict[str, str],
        query: ReportQuery | None,
        report: Report | None,
        sort: tuple[str, str] | None,
        descending: bool,
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "kinds": [(k, i18n.translate(label)) for k, label in kinds],
            "kind_scopes": catalog_scopes(),
            "ranges": [(k, i18n._(RANGE_LABELS[k])) for k in RANGE_KINDS],
            "scopes": self._scopes(),
            "form": self._form(form, query),
            "report": None,
            "charts_missing": (
                vendor.missing_message() if vendor.ECHARTS in vendor.missing() else None
            ),
            "echarts_url": vendor.url(vendor.ECHARTS),
        }
        if report is None or query is None:
            return values
        qs = query.query_string()

        def sort_link(table: str, column: str, desc: bool) -> str:
            sort = urlencode({"sort": f"{table}.{column}", "desc": "1" if desc else "0"})
            return f"/reports?{qs}&{sort}"

        drill_url = drill_link(query)
        values.update(
            report=report,
            title=i18n.translate(report.title),
            notes=[i18n.translate(n) for n in report.notes],
            tiles=report_view.tiles(report, drill_url),
            tables=[
                report_view.table_view(
                    t,
                    sort_link,
                    drill_url,
                    (sort[1], descending) if sort and sort[0] == t.name else None,
                )
                for t in report.tables
            ],
            charts=[report_view.chart_data(c, drill_url) for c in report.charts],
            exports=[(fmt, f"/reports/export.{fmt}?{qs}") for fmt in FORMATS],
            previous="/reports?" + query.with_range(query.range.previous()).query_string(),
            next="/reports?" + query.with_range(query.range.next()).query_string(),
        )
        return values

    @staticmethod
    def _form(form: dict[str, str], query: ReportQuery | None) -> dict[str, str]:
        """The pickers' values: the query as read (canonical), else what was sent."""
        if query is None:
            return form
        values = dict(query.params())
        if query.range.kind == "custom":
            values["to"] = query.range.last_day.isoformat()
        return values

    def _scopes(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """(scope, label, [(key, name)]) for the scope picker."""
        db = self.ctx.db
        call = self.ctx.call
        options: dict[str, list[tuple[str, str]]] = {"center": []}
        agents = call(db.agents.list_all)
        options["queue"] = [(str(q.id), q.display_name or q.name) for q in call(db.queues.list_all)]
        options["skill"] = [(str(s.id), s.name) for s in call(db.skills.list_all)]
        options["agent"] = [(str(a.id), f"{a.number} {a.name}".strip()) for a in agents]
        departments = sorted({a.department for a in agents if a.department})
        options["department"] = [(d, d) for d in departments]
        options["did"] = [(n, f"{n} {desc}".strip()) for n, _flow, desc in call(db.ivr.dids)]
        options["flow"] = [(str(f.id), f.name) for f in call(db.ivr.flows)]
        options["campaign"] = [(str(c.id), c.name) for c in call(db.dialer.campaigns)]
        return [(s, i18n._(label), options.get(s, [])) for s, label in SCOPE_LABELS.items()]

    @page(*REPORT_ROLES)
    def calls(self, **params: Any) -> str:
        """The calls behind a figure, a chart's bucket or a table row, each with a link to
        its recording's player."""
        error = None
        result: Any = None
        query: ReportQuery | None = None
        try:
            query = read_query(self.ctx, params)
            options = drill_options(params)
            what, ctx, q = field(params, "filter"), self.ctx, query
            result = self.ctx.call_any(lambda: drill_page(ctx, q, what, **options))
        except ValueError as exc:
            error = i18n.error(exc)
            cherrypy.serving.response.status = 400
        zone = self.ctx.config.reports.timezone
        values: dict[str, Any] = {"error": error, "page": result, "back": "/reports"}
        if query is not None and result is not None:
            kept = {k: v for k, v in params.items() if k in DRILL_FIELDS and isinstance(v, str)}
            kept.update(query.params())

            def link(**changes: Any) -> str:
                merged = {**kept, **{k: str(v) for k, v in changes.items()}}
                return "/reports/calls?" + urlencode([(k, v) for k, v in merged.items() if v])

            def sort_link(column: str) -> str:
                desc = not (result.sort == column and result.descending)
                return link(sort=column, desc="1" if desc else "0", page=1)

            values.update(
                back="/reports?" + query.query_string(),
                what=i18n.translate(result.label),
                span=span_text(result.start, result.end, zone),
                sort_link=sort_link,
                prev=link(page=result.page - 1) if result.page > 1 else None,
                next=link(page=result.page + 1) if result.page < result.pages else None,
                local=lambda t: t.astimezone(center_zone(zone)).strftime("%Y-%m-%d %H:%M:%S"),
                seconds=lambda v: report_view.value_text(v, "s"),
                outcome=lambda code: labels.label("queue_outcome", code) if code else "",
                trunk_label=trunk_label,
                # the trunk filter's form: this drill's other fields kept, from page 1
                hidden=[(k, v) for k, v in kept.items() if k not in ("group", "channel", "page")],
                group=kept.get("group", ""),
                channel=kept.get("channel", ""),
            )
        return render(self.ctx, "report_calls.html", **values)


DRILL_FIELDS = (*FIELDS, "filter", "grain", "bucket", "sort", "desc", "group", "channel")


def drill_options(params: dict[str, Any]) -> dict[str, Any]:
    """The drill's bucket, sort and page, read strictly (drill.py checks their values)."""
    options: dict[str, Any] = {}
    grain, bucket = field(params, "grain"), field(params, "bucket")
    if grain or bucket:
        if not (bucket.isascii() and bucket.isdigit() and len(bucket) <= 12):
            raise BadQuery(N_("Not a bucket: {bucket}", bucket=bucket))
        options.update(grain=grain, bucket=int(bucket))
    options["sort"] = field(params, "sort") or "started_at"
    options["descending"] = field(params, "desc") == "1"
    page_no = field(params, "page") or "1"
    if not (page_no.isascii() and page_no.isdigit() and len(page_no) <= 7):
        raise BadQuery(N_("Not a page number: {page}", page=page_no))
    options["page"] = int(page_no)
    options["per_page"] = PER_PAGE
    group, channel = field(params, "group"), field(params, "channel")
    if group:  # a DAHDI trunk group and channel (calls.trunk_group, trunk_channel)
        if not GROUP_RE.fullmatch(group):
            raise BadQuery(N_("Not a trunk group: {group}", group=group[:40]))
        options["trunk_group"] = group
    if channel:
        if not (channel.isascii() and channel.isdigit() and len(channel) <= 5):
            raise BadQuery(N_("Not a trunk channel: {channel}", channel=channel[:40]))
        options["trunk_channel"] = int(channel)
    return options


def drill_link(query: ReportQuery) -> Callable[[str], str]:
    """A drill_query string -> the URL of its calls, in the report's range and scope (the
    drill's own scope and key, when it names one, win)."""

    def url(drill: str) -> str:
        return "/reports/calls?" + urlencode({**dict(query.params()), **parse_drill_query(drill)})

    return url


def span_text(start: dt.datetime, end: dt.datetime, zone: str) -> str:
    """2026-11-03 09:30 to 10:00 (an en dash between), in the center's zone."""
    tz = center_zone(zone)
    a, b = start.astimezone(tz), end.astimezone(tz)
    if a.date() == b.date() or (b - a <= dt.timedelta(days=1) and b.time() == dt.time(0)):
        return f"{a:%Y-%m-%d %H:%M} \u2013 {b:%H:%M}"
    return f"{a:%Y-%m-%d %H:%M} \u2013 {b:%Y-%m-%d %H:%M}"

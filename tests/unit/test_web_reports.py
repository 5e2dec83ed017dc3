"""The report pages: the query every report URL carries (strict, bounded, through
ReportRange.parse), any Report rendered generically (figures with their drill links, charts
as ECharts data, tables sorted server-side by allowlisted columns only), who may open them,
and the npm-installed chart library they load."""

from __future__ import annotations

import datetime as dt
import json
import re
from html import unescape
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest

from appliance.reports.catalog import sort_table
from appliance.reports.model import (
    ChartSpec,
    Column,
    Figure,
    Report,
    Series,
    Table,
    drill_query,
)
from appliance.reports.ranges import ReportRange
from appliance.text import N_
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from webui import report_pages, report_view, vendor
from webui.report_query import parse_report_query

HOSTILE = "<img src=x onerror=alert(1)>"
NOW = dt.datetime(2026, 12, 6, 20, 0, tzinfo=dt.UTC)  # 7 December 04:00 in Shanghai
KINDS = ["traffic", "agents"]


def sample_report(rng: ReportRange, scope: str = "center", key: str = "") -> Report:
    """A report as the catalog builds one: figures (one without a value), a table of
    queues with a drill column (one queue named like an attack), a trend with one drill per
    half hour, and a heat map."""
    buckets = rng.trend_buckets("day")[:3]
    return Report(
        kind="traffic",
        title=N_("Traffic"),
        range_label=rng.label,
        scope=scope,
        key=key,
        figures=(
            Figure("offered", N_("Offered"), 12345, "count", drill="offered"),
            Figure("sl_answered", N_("Service level"), 81.25, "pct"),
            Figure("asa", N_("Average speed of answer"), 17.1, "s"),
            Figure("occupancy", N_("Occupancy"), None, "pct"),
        ),
        tables=(
            Table(
                "queues",
                N_("Queues"),
                (
                    Column("name", N_("Queue"), "text"),
                    Column("offered", N_("Offered"), "count"),
                    Column("sl", N_("Service level"), "pct"),
                    Column("calls", N_("Calls"), "drill"),
                ),
                (
                    ("support", 20, 90.0, drill_query("offered", "queue", "1")),
                    (HOSTILE, 300, None, drill_query("offered", "queue", "2")),
                    ("billing", 4, 50.0, None),
                ),
                sortable=("offered", "sl"),
            ),
        ),
        charts=(
            ChartSpec(
                "trend",
                N_("Offered"),
                "line",
                tuple(label for _b, label in buckets),
                (Series("offered", N_("Offered"), (5.0, None, 7.0)),),
                "count",
                drill="offered",
                buckets=tuple(("day", b) for b, _label in buckets),
            ),
            ChartSpec(
                "heat",
                N_("Service level"),
                "heatmap",
                ("09", "10"),
                (Series("mon", N_("Monday"), (80.0, 60.0)),),
                "pct",
            ),
        ),
    )


# -- the query ------------------------------------------------------------------------


def test_query_defaults_to_this_month_in_the_centers_zone() -> None:
    q = parse_report_query({}, KINDS, "Asia/Shanghai", NOW)
    assert (q.report, q.range.kind, q.range.start, q.scope, q.key) == (
        "traffic",
        "month",
        dt.date(2026, 12, 1),
        "center",
        "",
    )
    assert q.query_string() == "report=traffic&kind=month&start=2026-12-01&scope=center"
    # a day report "today" is the center's today, not UTC's
    assert parse_report_query({"kind": "day"}, KINDS, "Asia/Shanghai", NOW).range.start == (
        dt.date(2026, 12, 7)
    )


def test_query_reads_scopes_and_a_custom_range_by_its_last_day() -> None:
    q = parse_report_query(
        {
            "report": "agents",
            "kind": "custom",
            "start": "2026-11-01",
            "to": "2026-11-07",
            "scope": "queue",
            "key": "3",
        },
        KINDS,
        "UTC",
        NOW,
    )
    assert (q.range.start, q.range.end, q.range.days) == (
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 8),
        7,
    )
    assert (q.scope, q.key) == ("queue", "3")
    assert "end=2026-11-08" in q.query_string()
    # the center has no key, whatever was sent
    assert parse_report_query({"key": "9"}, KINDS, "UTC", NOW).key == ""


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"report": "payroll"}, "Unknown report"),
        ({"kind": "decade"}, "Unknown report range"),
        ({"start": "2026-13-01"}, "Not a date"),
        ({"start": "2026-12-01' OR '1'='1"}, "Not a date"),
        ({"kind": "custom", "start": "2026-12-01"}, "needs an end date"),
        ({"kind": "custom", "start": "2026-12-01", "end": "2020-01-01"}, "after the start"),
        ({"kind": "custom", "start": "2000-01-01", "end": "2026-01-01"}, "at most 3 years"),
        ({"scope": "planet"}, "Unknown scope"),
        ({"scope": "queue"}, "Pick which one"),
        ({"scope": "queue", "key": ["1", "2"]}, "send it once"),
        ({"key": "1" * 65, "scope": "agent"}, "at most 64"),
        ({"scope": "agent", "key": "1\r\nSet-Cookie: x"}, "printable"),
    ],
)
def test_query_refuses_bad_fields_with_a_message(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_report_query(params, KINDS, "UTC", NOW)


# -- the view -------------------------------------------------------------------------


def test_values_by_unit() -> None:
    shown = report_view.value_text
    assert [shown(12345, "count"), shown(81.25, "pct"), shown(17.1, "s"), shown(3723, "s")] == [
        "12,345",
        "81.2%",
        "0:17",
        "1:02:03",
    ]
    assert shown(None, "pct") == report_view.DASH  # no value is never 0
    assert shown(2.25, "agents") == "2.2"
    assert (shown(-0.04, "agents"), shown(-0.01, "pct")) == ("0.0", "0.0%")  # never "-0.0"
    # a month of logged-in time: whole hours, not 3460:04:21
    assert (shown(99 * 3600 + 61, "s"), shown(3460 * 3600 + 245, "s")) == ("99:01:01", "3,460 h")


def test_sorting_only_by_allowlisted_columns_with_no_value_last() -> None:
    table = sample_report(ReportRange.parse("month", "2026-11")).table("queues")
    by_sl = sort_table(table, "sl", descending=True)
    assert [r[0] for r in by_sl.rows] == ["support", "billing", HOSTILE]
    by_sl = sort_table(table, "sl", descending=False)
    assert [r[0] for r in by_sl.rows] == ["billing", "support", HOSTILE]
    with pytest.raises(ValueError, match="cannot be sorted by name"):
        sort_table(table, "name", descending=False)


# -- the pages ------------------------------------------------------------------------


class ReportPagesTests(WebTestCase):
    async def _start(self) -> None:
        await super()._start()
        self.built: list[Any] = []

        async def build(ctx: Any, q: Any) -> Report:
            self.built.append(q)
            if q.scope == "skill":
                raise ValueError(N_("The traffic report does not cover skills."))
            return sample_report(q.range, q.scope, q.key)

        for name, value in (
            ("catalog_build", build),
            ("catalog_kinds", lambda: [("traffic", N_("Traffic")), ("agents", N_("Agents"))]),
        ):
            patcher = mock.patch.object(report_pages, name, value)
            patcher.start()
            self.addCleanup(patcher.stop)

    # one appliance per test (a start costs a second or more): each test runs several checks

    async def test_who_opens_reports_and_what_they_show(self) -> None:
        await self._start()
        await self._check_only_admins_and_supervisors_open_reports()
        self.built.clear()
        await self._check_a_report_renders_its_figures_tables_charts_and_links()
        await self._check_tables_sort_server_side_by_allowlisted_columns_only()
        self.built.clear()
        await self._check_bad_queries_are_a_400_with_the_pickers_and_build_nothing()

    async def test_chinese_and_the_chart_library(self) -> None:
        await self._start()
        await self._check_chinese_page_and_the_library_served_from_node_modules()
        await self._check_a_missing_chart_library_is_said_on_the_page()

    async def _check_only_admins_and_supervisors_open_reports(self) -> None:
        for user, status in (("admin", 200), ("sup", 200), ("agent", 403), ("qa", 403)):
            b = await self.app.logged_in(user)
            r = await self.call(b.get, "/reports")
            self.assertEqual(r.status, status, user)
            home = await self.call(b.get, "/")
            self.assertEqual('href="/reports"' in home.body, status == 200, user)
            # the scheduled e-mails are the admins' (webui/report_export.py)
            self.assertEqual('href="/reports/schedules/"' in r.body, user == "admin", user)
        r = await self.call(self.app.browser().get, "/reports?kind=month")
        self.assertEqual(
            (r.status, r.location.split("?next=")[-1]), (303, "/reports%3Fkind%3Dmonth")
        )

    async def _check_a_report_renders_its_figures_tables_charts_and_links(self) -> None:
        b = await self.app.logged_in("sup")
        r = await self.call(b.get, "/reports?kind=month&start=2026-11-15&scope=queue&key=1")
        self.assertEqual(r.status, 200, r.body[:500])
        [q] = self.built
        self.assertEqual((q.range.start, q.scope, q.key), (dt.date(2026, 11, 1), "queue", "1"))
        page = r.body
        # figures, formatted by unit; no value is a dash
        tiles = dict(re.findall(r'data-name="(\w+)".*?class="num"[^>]*>([^<]*)<', page, re.S))
        self.assertEqual(
            tiles,
            {
                "offered": "12,345",
                "sl_answered": "81.2%",
                "asa": "0:17",
                "occupancy": report_view.DASH,
            },
        )
        # the figure with a drill links to its calls, with the report's range and scope
        [href] = re.findall(r'href="(/reports/calls\?[^"]*filter=offered[^"]*)" title', page)
        query = parse_qs(urlsplit(unescape(href)).query)
        self.assertEqual(
            {k: v[0] for k, v in query.items()},
            {
                "report": "traffic",
                "kind": "month",
                "start": "2026-11-01",
                "scope": "queue",
                "key": "1",
                "filter": "offered",
            },
        )
        # a table row's drill link names its own queue
        self.assertIn("scope=queue&amp;key=2&amp;filter=offered", page)
        # the hostile queue name is text, never markup
        self.assertNotIn(HOSTILE, page)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", page)
        # charts: the data island ECharts draws from, one drill per day of the trend
        island = re.search(
            r'<script type="application/json" id="rp-chart-data">(.*?)</script>', page, re.S
        )
        assert island is not None
        charts = json.loads(island.group(1))
        self.assertEqual([c["kind"] for c in charts], ["line", "heatmap"])
        self.assertEqual(charts[0]["series"][0]["values"], [5.0, None, 7.0])
        self.assertEqual(len(charts[0]["drills"]), 3)
        self.assertIn("grain=day&bucket=20261101", charts[0]["drills"][0])
        self.assertEqual(charts[1]["drills"], [])
        # the library is the npm install's, and the exports carry the report's query
        self.assertIn('<script src="/vendor/echarts.min.js">', page)
        self.assertIn(
            "/reports/export.xlsx?report=traffic&amp;kind=month&amp;start=2026-11-01"
            "&amp;scope=queue&amp;key=1",
            page,
        )
        self.assertIn("start=2026-10-01", page)  # previous month
        self.assertNotIn('id="rp-charts-missing"', page)

    async def _check_tables_sort_server_side_by_allowlisted_columns_only(self) -> None:
        b = await self.app.logged_in("admin")
        r = await self.call(b.get, "/reports?sort=queues.offered&desc=1")
        self.assertEqual(r.status, 200)
        rows = re.findall(r'<tr><td class="rp-text">([^<]*)</td>', r.body)
        self.assertEqual([unescape(x) for x in rows], [HOSTILE, "support", "billing"])
        self.assertIn('class="sort sorted desc"', r.body)
        for query, message in (
            ("sort=queues.name", "cannot be sorted by name"),
            ("sort=queues.offered%20desc", "cannot be sorted by"),
            ("sort=payroll.offered", "has no table payroll"),
        ):
            r = await self.call(b.get, "/reports?" + query)
            self.assertEqual(r.status, 400, query)
            self.assertIn(message, unescape(r.body), query)
            self.assertNotIn('id="rp-figures"', r.body)

    async def _check_bad_queries_are_a_400_with_the_pickers_and_build_nothing(self) -> None:
        b = await self.app.logged_in("admin")
        for query, message in (
            ("kind=decade", "Unknown report range: decade"),
            ("start=2026-02-30", "Not a date (YYYY-MM-DD): 2026-02-30"),
            ("scope=queue&key=1&key=2", "key: send it once"),
            ("report=%3Cscript%3E", "Unknown report: <script>"),
        ):
            r = await self.call(b.get, "/reports?" + query)
            self.assertEqual(r.status, 400, query)
            self.assertIn(message, unescape(r.body), query)
            self.assertIn('id="rp-pickers"', r.body)
            self.assertNotIn("<script>", r.body.split("</head>")[1].split("<script src=")[0])
        self.assertEqual(self.built, [])
        # a scope the report refuses: its own message, still a 400
        r = await self.call(b.get, "/reports?scope=skill&key=1")
        self.assertEqual(r.status, 400)
        self.assertIn("does not cover skills", r.body)

    async def _check_chinese_page_and_the_library_served_from_node_modules(self) -> None:
        b = await self.app.logged_in("sup")
        token = (await self.call(b.get, "/")).csrf()
        await self.call(b.post, "/locale", {"_csrf": token, "locale": "zh_CN", "next": "/"})
        r = await self.call(b.get, "/reports")
        self.assertEqual(r.status, 200)
        self.assertIn("<h1>报表</h1>", r.body)
        self.assertIn('lang="zh-CN"', r.body)
        js = await self.call(b.get, "/vendor/echarts.min.js")
        self.assertEqual(js.status, 200)
        self.assertIn("javascript", js.headers["Content-Type"])
        self.assertEqual(js.headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(
            len(js.body.encode()), vendor.FILES[vendor.ECHARTS].stat().st_size, "the whole file"
        )
        for path in ("/vendor/package.json", "/vendor/../webui/package.json", "/vendor/tslib"):
            self.assertEqual((await self.call(b.get, path)).status, 404, path)

    async def _check_a_missing_chart_library_is_said_on_the_page(self) -> None:
        gone = Path(temp_dir(self)) / "no-node-modules" / "echarts.min.js"
        with mock.patch.object(vendor, "FILES", {vendor.ECHARTS: gone}):
            b = await self.app.logged_in("sup")
            r = await self.call(b.get, "/reports")
        self.assertEqual(r.status, 200)
        self.assertIn('id="rp-charts-missing"', r.body)
        self.assertIn("run make deps", r.body)


# -- the real catalog and drill: a report and the calls behind its figures ---------------

NOV = dt.datetime(2026, 11, 3, 9, 40, tzinfo=dt.UTC)


def seed_calls(db: Any) -> None:
    """Three queue calls on 3 November (UTC): two abandoned (one a hostile caller), one
    answered and recorded."""
    from appliance.cli import resolved
    from appliance.db import model as m

    queue = resolved(db.queues.add("support"))
    agent = resolved(db.agents.add("1001", "Ann", "", "PJSIP/1001"))

    def call(conn: Any, at: dt.datetime, outcome: str, name: str) -> int:
        answered = at + dt.timedelta(seconds=12) if outcome == "answered" else None
        result = conn.execute(
            m.calls.insert().values(
                uniqueid=f"{at.timestamp()}",
                linkedid=f"{at.timestamp()}",
                direction="inbound",
                caller_number="13800138000",
                caller_name=name,
                called_number="4008001234",
                queue_id=queue.id,
                entry_queue_id=queue.id,
                agent_id=agent.id if answered else None,
                started_at=at,
                queued_at=at,
                answered_at=answered,
                agent_answered_at=answered,
                ended_at=at + dt.timedelta(minutes=3),
                queue_outcome=outcome,
                wait_ms=12_000 if answered else 40_000,
                talk_ms=150_000 if answered else None,
                # an E1 call (a DAHDI trunk group and channel) when answered
                trunk="DAHDI",
                trunk_group="g0" if answered else "",
                trunk_channel=17 if answered else None,
            )
        )
        return int(result.inserted_primary_key[0])

    def thd(conn: Any) -> int:
        call(conn, NOV, "abandoned", HOSTILE)
        call(conn, NOV + dt.timedelta(hours=2), "abandoned", "Li Lei")
        return call(conn, NOV + dt.timedelta(minutes=5), "answered", "Han Meimei")

    answered = resolved(db.run(thd))
    resolved(
        db.recordings.add(
            answered, "2026/11/03/a.wav", NOV, 150_000, 1, "0" * 64, caller_number="13800138000"
        )
    )


class DrillPagesTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed_calls)
        self.addCleanup(self.app.stop)

    async def test_the_calls_behind_a_figure_and_a_bucket_down_to_the_recording(self) -> None:
        await self._start()
        b = await self.app.logged_in("sup")
        # the real catalog's monthly report renders (figures and charts from the rollups)
        r = await self.call(b.get, "/reports?report=traffic&kind=month&start=2026-11-01")
        self.assertEqual(r.status, 200, r.body[:400])
        self.assertIn('id="rp-figures"', r.body)
        base = "/reports/calls?report=traffic&kind=month&start=2026-11-01&scope=center"
        r = await self.call(b.get, base + "&filter=abandoned")
        self.assertEqual(r.status, 200, r.body[:400])
        self.assertIn('<p id="rp-calls-total">2 calls</p>', r.body)
        self.assertEqual(len(re.findall(r"<tr data-call=", r.body)), 2)
        self.assertNotIn(HOSTILE, r.body)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", r.body)
        # one quarter hour of the day: only the call in it
        bucket = int(NOV.replace(minute=30).timestamp())
        r = await self.call(b.get, base + f"&filter=abandoned&grain=q15&bucket={bucket}")
        self.assertEqual(r.status, 200, r.body[:400])
        self.assertIn('<p id="rp-calls-total">1 call</p>', r.body)
        self.assertIn("onerror", r.body)
        self.assertNotIn("Li Lei", r.body)
        # the answered call links to its recording's player, which opens
        r = await self.call(b.get, base + "&filter=answered")
        self.assertIn('<td class="num rp-trunk">g0 / 17</td>', r.body)
        # filtered by the trunk group and channel: the E1 call, or none
        for trunk, total in (("group=g0&channel=17", "1 call"), ("group=g1", "0 calls")):
            page = await self.call(b.get, base + "&filter=answered&" + trunk)
            self.assertIn(f'<p id="rp-calls-total">{total}</p>', page.body, trunk)
        self.assertIn('<input type="hidden" name="filter" value="answered">', page.body)
        self.assertIn('<input name="group" value="g1"', page.body)
        [href] = re.findall(r'class="rp-recording" href="([^"]+)"', r.body)
        self.assertTrue(href.startswith("/recordings/view?id="), href)
        player = await self.call(b.get, href)
        self.assertEqual(player.status, 200)
        self.assertIn("13800138000", player.body)
        # bad drills: a clear 400 each
        for query, message in (
            ("&filter=everything", "Unknown call filter: everything"),
            ("&filter=abandoned&grain=q15&bucket=abc", "Not a bucket: abc"),
            ("&filter=abandoned&grain=q15&bucket=7", "Not a bucket of q15: 7"),
            ("&filter=abandoned&sort=caller_name", "cannot be sorted by caller_name"),
            ("&filter=abandoned&page=0", "Pages are numbered from 1"),
            ("&filter=abandoned&group=g0%27--", "Not a trunk group: g0'--"),
            ("&filter=abandoned&channel=-1", "Not a trunk channel: -1"),
        ):
            r = await self.call(b.get, base + query)
            self.assertEqual(r.status, 400, query)
            self.assertIn(message, unescape(r.body), query)
        # the agent may not list calls here
        agent = await self.app.logged_in("agent")
        self.assertEqual((await self.call(agent.get, base + "&filter=abandoned")).status, 403)

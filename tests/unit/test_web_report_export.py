"""The report downloads (/reports/export.csv|.xlsx|.pdf) on a running appliance with the real
catalog: the report page's query and roles, a safe file name, the reader's language, a bad
query as a 400 with its message; and the scheduled reports' admin page (every field checked,
admins only)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from html import unescape
from urllib.parse import quote

import openpyxl  # type: ignore[import-untyped]
import pypdf

from appliance.db.schedule_store import ScheduleStore
from tests.unit.test_web import WebTestCase

QUERY = "report=traffic&kind=month&start=2026-11-01"


class ReportExportTests(WebTestCase):
    async def test_each_format_downloads_the_report_of_the_query_and_only_that(self) -> None:
        await self._start()
        b = await self.app.logged_in("sup")
        r = await self.call(b.get, f"/reports/export.csv?{QUERY}")
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertTrue(r.headers["Content-Type"].startswith("text/csv"), r.headers)
        self.assertEqual(
            r.headers["Content-Disposition"],
            'attachment; filename="ccbox-traffic-center-2026-11.csv"',
        )
        rows = list(csv.reader(io.StringIO(r.raw.decode("utf-8-sig"))))
        self.assertEqual(rows[:3], [["Traffic"], ["Range", "2026-11"], ["Scope", "Whole center"]])

        r = await self.call(b.get, f"/reports/export.xlsx?{QUERY}&scope=queue&key=1")
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertIn("spreadsheetml", r.headers["Content-Type"])
        self.assertIn("ccbox-traffic-queue-1-2026-11.xlsx", r.headers["Content-Disposition"])
        wb = openpyxl.load_workbook(io.BytesIO(r.raw))
        self.assertEqual(wb.active["B3"].value, "Queue 1")
        self.assertTrue(any(ws._charts for ws in wb.worksheets), "a native chart")

        # the report page's roles; a bad query is a 400 with its message, and no file
        for user in ("agent", "qa"):
            other = await self.app.logged_in(user)
            r = await self.call(other.get, f"/reports/export.csv?{QUERY}")
            self.assertEqual(r.status, 403, user)
        r = await self.call(self.app.browser().get, f"/reports/export.pdf?{QUERY}")
        self.assertEqual(r.status, 303)  # to the login page
        for query, message in (
            ("kind=decade", "Unknown report range: decade"),
            ("kind=month&start=2026-13", "Not a month (YYYY-MM): 2026-13"),
            ("report=" + quote('=cmd|"/C calc"!A0'), "Unknown report"),
            ("scope=queue&key=1&key=2", "key: send it once"),
        ):
            r = await self.call(b.get, f"/reports/export.xlsx?{query}")
            self.assertEqual(r.status, 400, query)
            self.assertIn(message, unescape(r.body), query)
            self.assertNotIn("Content-Disposition", r.headers)

        # the reader's language: Chinese after the language switch
        token = (await self.call(b.get, "/")).csrf()
        await self.call(b.post, "/locale", {"_csrf": token, "locale": "zh_CN", "next": "/"})
        r = await self.call(b.get, f"/reports/export.pdf?{QUERY}")
        self.assertEqual((r.status, r.headers["Content-Type"]), (200, "application/pdf"))
        text = pypdf.PdfReader(io.BytesIO(r.raw)).pages[0].extract_text()
        self.assertIn("范围: 2026-11", text)
        self.assertIn("统计对象: 整个中心", text)


class ScheduleAdminTests(WebTestCase):
    async def test_admins_add_and_delete_schedules_and_every_field_is_checked(self) -> None:
        await self._start()
        b, token = await self._as("admin")
        reports = await self.call(b.get, f"/reports?{QUERY}")
        self.assertIn('<a class="rp-schedules" href="/reports/schedules/">', reports.body)
        page = await self.call(b.get, "/reports/schedules/")
        self.assertEqual(page.status, 200)
        self.assertIn("No scheduled reports yet.", page.body)
        form = {
            "_csrf": token,
            "name": "<b>Morning</b>",
            "report": "traffic",
            "scope": "center",
            "key": "",
            "range_kind": "day",
            "every": "daily",
            "format": "pdf",
            "recipients": "boss@cc.test, lead@cc.test",
            "locale": "zh_CN",
        }
        # 00:00 UTC has passed today: the first mail is tomorrow's, not today's at once
        ctx = self.app.master.web.ctx
        reports = dataclasses.replace(ctx.config.reports, schedule_hour=0, timezone="UTC")
        ctx.config = dataclasses.replace(ctx.config, reports=reports)
        r = await self.call(b.post, "/reports/schedules/add", form)
        self.assertEqual((r.status, r.location.endswith("/reports/schedules/")), (303, True))
        page = await self.call(b.get, "/reports/schedules/")
        self.assertIn("Scheduled report &lt;b&gt;Morning&lt;/b&gt; added.", page.body)
        self.assertIn("boss@cc.test, lead@cc.test", page.body)
        [row] = await ScheduleStore(self.app.master.db).list_all()
        self.assertEqual(
            (row.kind, row.every, row.format, row.locale), ("traffic", "daily", "pdf", "zh_CN")
        )
        self.assertEqual(row.created_by, "admin")
        self.assertEqual(row.last_period, dt.datetime.now(dt.UTC).date().isoformat())
        self.assertTrue(self.app.master.report_schedule.running)  # the daemon sends them

        for change, message in (
            ({"recipients": "boss@cc.test\r\nBcc: victim@cc.test"}, "control characters"),
            ({"recipients": "Boss <boss@cc.test>"}, "Not an e-mail address"),
            ({"every": "hourly"}, "Unknown repetition: hourly"),
            ({"format": "exe"}, "Unknown file format: exe"),
            ({"report": "payroll"}, "not a valid choice"),
            ({"scope": "queue"}, "needs a key"),
            ({"scope": "queue", "key": "=1+1"}, "Not a queue id: =1+1"),
            ({"name": "x" * 101}, "at most 100 characters"),
            ({"name": "<b>Morning</b>"}, "already exists"),
        ):
            r = await self.call(b.post, "/reports/schedules/add", {**form, **change})
            self.assertEqual(r.status, 303, change)
            page = await self.call(b.get, "/reports/schedules/")
            self.assertIn(message, unescape(page.body), change)
        self.assertEqual(len(await ScheduleStore(self.app.master.db).list_all()), 1)

        r = await self.call(
            b.post, "/reports/schedules/delete", {"_csrf": token, "id": str(row.id)}
        )
        self.assertEqual(r.status, 303)
        self.assertEqual(await ScheduleStore(self.app.master.db).list_all(), [])
        # supervisors read reports but do not schedule them; a POST needs its token
        sup = await self.app.logged_in("sup")
        self.assertEqual((await self.call(sup.get, "/reports/schedules/")).status, 403)
        r = await self.call(b.post, "/reports/schedules/add", {**form, "_csrf": "forged"})
        self.assertEqual(r.status, 403)

"""Issue 17's "Done when", through the real web app: a manager opens the monthly report of
the demo (seeded with weeks of its synthetic history), sees the trend charts, drills into a
bad half hour down to its calls and a recording that plays, exports the month to XLSX and
PDF, and reads how many agents that half hour needed.

The appliance is ccboxd's master on the demo's own seed (appliance/demo.py: agents, teams,
queues, the sample flow, the QA form) and its history (appliance/demo_history.py: five
weeks, smaller than the demo's, short of agents at 10:00 on weekdays), served over HTTP on
loopback and read as a browser would.
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
import re
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import openpyxl  # type: ignore[import-untyped]
import pypdf

from appliance import config as config_mod
from appliance import demo, demo_history
from appliance.reports import synthetic
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase

ZONE = "Asia/Shanghai"
DAYS = 36


def charts_of(body: str) -> dict[str, dict[str, Any]]:
    """The charts a report page hands to ECharts, by name."""
    m = re.search(r'<script type="application/json" id="rp-chart-data">(.*?)</script>', body, re.S)
    assert m is not None, body[:500]
    return {c["name"]: c for c in json.loads(html.unescape(m.group(1)))}


def figure(body: str, name: str) -> str:
    m = re.search(
        rf'data-name="{name}"[^>]*>\s*<span class="label">[^<]*</span>\s*<[^>]*>([^<]*)<', body
    )
    assert m is not None, name
    return m.group(1).strip()


def staffing_rows(body: str) -> dict[str, list[str]]:
    """The staffing report's half hours as shown: time -> the row's cells' text."""
    table = re.search(r'<table class="rp-table" data-table="half_hours">(.*?)</table>', body, re.S)
    assert table is not None, body[:500]
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        if cells:
            text = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells]
            rows[text[0]] = text
    return rows


def path_of(url: str) -> str:
    parts = urlsplit(html.unescape(url))
    return f"{parts.path}?{parts.query}"


def short_mornings(conn: Any, zone: str) -> synthetic.Center:
    """The demo center, with a third of each team at 10:00-10:30 on weekdays (and no
    random bad half hours): the bad half hours are known."""
    where = CENTER(conn, zone)
    short = {(weekday, 20): 0.3 for weekday in range(5)}
    return dataclasses.replace(where, short_staffed=short)


CENTER = demo_history.center


class DoneWhenTests(WebTestCase):
    async def _start_demo(self) -> synthetic.Summary:
        seeded: list[synthetic.Summary] = []

        def configure(config: config_mod.Config) -> config_mod.Config:
            config = dataclasses.replace(
                config, reports=dataclasses.replace(config.reports, timezone=ZONE)
            )
            demo.seed(config)  # the demo center; the test's users are there already
            summary = demo_history.seed_history(config, DAYS, say=lambda _: None)
            assert summary is not None
            seeded.append(summary)
            return config

        with (
            mock.patch.object(synthetic, "BAD_SHARE", 0.0),
            mock.patch.object(demo_history, "CALLS_PER_DAY", 600.0),
            mock.patch.object(demo_history, "center", short_mornings),
        ):
            self.app = await RunningAppliance.start(temp_dir(self), configure=configure)
        self.addCleanup(self.app.stop)
        return seeded[0]

    async def test_a_manager_reads_the_month_down_to_a_bad_half_hour(self) -> None:
        summary = await self._start_demo()
        zone = ZoneInfo(ZONE)
        # the newest bad half hour (its recordings have files that play)
        bad = max(summary.bad_half_hours)
        local = bad.astimezone(zone)
        self.assertEqual((local.weekday() < 5, local.hour, local.minute), (True, 10, 0))
        month = f"{local:%Y-%m}"
        b = await self.app.logged_in("sup")

        # the monthly report: figures, the trend charts day by day
        page = await self.call(b.get, f"/reports?report=traffic&kind=month&start={month}")
        self.assertEqual(page.status, 200, page.body[:500])
        charts = charts_of(page.body)
        self.assertLessEqual({"trend", "trend_sl", "abandon_times", "heatmap"}, set(charts))
        trend = charts["trend"]
        offered = dict(zip(trend["categories"], trend["series"][0]["values"], strict=True))
        self.assertGreater(sum(v or 0 for v in offered.values()), 1000)
        self.assertEqual(
            figure(page.body, "offered"), f"{sum(v or 0 for v in offered.values()):,.0f}"
        )
        self.assertGreater(offered[local.date().isoformat()], 0)  # the bad day is a point

        # the bad day, half hour by half hour: the bad one drops calls
        day_url = f"/reports?report=traffic&kind=day&start={local.date().isoformat()}"
        day = await self.call(b.get, day_url)
        self.assertEqual(day.status, 200, day.body[:500])
        halves = charts_of(day.body)["trend"]
        bucket = str(int(bad.timestamp()))
        i = next(k for k, url in enumerate(halves["drills"]) if f"bucket={bucket}" in url)
        values = {s["name"]: s["values"] for s in halves["series"]}
        here_rate = values["abandoned"][i] / values["offered"][i]
        day_rate = sum(v or 0 for v in values["abandoned"]) / sum(v or 0 for v in values["offered"])
        self.assertGreater(here_rate, day_rate)

        # its calls, each with its recording; one of them plays
        calls = await self.call(b.get, path_of(halves["drills"][i]))
        self.assertEqual(calls.status, 200, calls.body[:500])
        self.assertIn(f"{local:%Y-%m-%d %H:%M}", html.unescape(calls.body))
        self.assertIn(f"{values['offered'][i]:.0f} calls", calls.body)
        listen = re.findall(r'class="rp-recording" href="([^"]+)"', calls.body)
        self.assertTrue(listen, calls.body[-2000:])
        player = await self.call(b.get, html.unescape(listen[0]))
        self.assertEqual(player.status, 200, player.body[:300])
        audio = re.search(r'<audio id="rec-audio"[^>]*src="([^"]+)"', player.body)
        assert audio is not None
        sound = await self.call(b.get, html.unescape(audio.group(1)))
        self.assertEqual(sound.status, 200)
        self.assertEqual(sound.raw[:4] + sound.raw[8:12], b"RIFFWAVE")

        # the month as XLSX and PDF, with the page's figures and charts
        query = f"report=traffic&kind=month&start={month}"
        xlsx = await self.call(b.get, f"/reports/export.xlsx?{query}")
        self.assertEqual(xlsx.status, 200, xlsx.body[:300])
        book = openpyxl.load_workbook(io.BytesIO(xlsx.raw))
        cells = [c for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row]
        self.assertIn(sum(v or 0 for v in offered.values()), cells)
        self.assertTrue(any(ws._charts for ws in book.worksheets), "a native chart")
        pdf = await self.call(b.get, f"/reports/export.pdf?{query}")
        self.assertEqual(pdf.status, 200, pdf.body[:300])
        reader = pypdf.PdfReader(io.BytesIO(pdf.raw))
        text = "\n".join(p.extract_text() for p in reader.pages)
        self.assertIn(month, text)
        self.assertIn(f"{sum(v or 0 for v in offered.values()):,.0f}", text)

        # how many agents that half hour needed, beside those logged in: each team answers
        # its own queue, and the half hour was short of agents in at least one
        short = []
        for q in await self.app.master.db.queues.list_all():
            if q.name not in ("support", "sales", "billing"):
                continue
            staffing = await self.call(
                b.get,
                f"/reports?report=staffing&kind=day&start={local.date().isoformat()}"
                f"&scope=queue&key={q.id}",
            )
            self.assertEqual(staffing.status, 200, staffing.body[:500])
            row = staffing_rows(staffing.body)[f"{local:%H:%M}"]
            needed, logged_in = float(row[4]), float(row[6])
            self.assertGreaterEqual(needed, 1, row)
            if needed > logged_in:
                short.append(q.name)
        self.assertTrue(short, "no queue short of agents in the bad half hour")
        drilled = parse_qs(urlsplit(html.unescape(halves["drills"][i])).query)
        self.assertEqual(drilled["bucket"], [bucket])

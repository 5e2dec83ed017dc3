"""A scheduled report through a real SMTP server on loopback (Twisted's, as the voicemail
mail test starts it) with ivr/mail_notify.py's client: the mail reaches every recipient
with the report attached as a PDF whose text reads back; a dead server gives the period
back for a later try."""

from __future__ import annotations

import io
from typing import Any

import pypdf
from twisted.internet import reactor
from twisted.trial import unittest

from appliance.config import SmtpConfig
from appliance.db import migrate
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine
from appliance.db.schedule_store import NewSchedule, ScheduleRow, ScheduleStore
from appliance.reports import catalog
from appliance.reports.model import Report
from appliance.reports.ranges import ReportRange
from appliance.reports.schedule import ReportScheduler
from tests.integration.test_voicemail_mail import _Factory, parsed
from tests.support.tmp import temp_dir
from webui.i18n import translator


class ScheduledReportMailTests(unittest.TestCase):
    timeout = 60

    async def start_db(self) -> None:
        url = f"sqlite:///{temp_dir(self) / 'r.sqlite'}"
        engine = create_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        self.db = DBConnector(reactor, url)
        await self.db.startService()
        self.addCleanup(self.db.stopService)
        self.store = ScheduleStore(self.db)
        await self.store.add(
            NewSchedule(
                "Daily 日报",
                "traffic",
                "center",
                "",
                "day",
                "daily",
                "pdf",
                "boss@cc.test lead@cc.test",
                "en",
            ),
            "admin",
        )

    def scheduler(self, port: int) -> ReportScheduler:
        async def build(s: ScheduleRow, rng: ReportRange) -> Report:
            return await catalog.build_report(self.db, s.kind, rng, s.scope, s.key, None)

        return ReportScheduler(
            reactor,
            self.store,
            zone="UTC",
            hour=0,  # every moment of the day is after it: the day's mail is due now
            smtp=SmtpConfig(host="127.0.0.1", port=port, sender="box@cc.test", timeout_s=5),
            build=build,
            translator=translator,
        )

    async def test_the_report_is_mailed_as_a_pdf_attachment(self) -> None:
        await self.start_db()
        inbox: list[tuple[list[str], bytes]] = []
        port: Any = reactor.listenTCP(0, _Factory(inbox), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        sent = await self.scheduler(port.getHost().port).run_once()
        self.assertEqual(sent, 1)
        # one SMTP transaction to both (the test server keeps one copy per RCPT TO)
        self.assertEqual(inbox[-1][0], ["boss@cc.test", "lead@cc.test"])
        [raw] = {raw for _, raw in inbox}
        msg = parsed(raw)
        self.assertTrue(msg["Subject"].startswith("Traffic "), msg["Subject"])
        self.assertTrue(msg["Subject"].endswith(" - Daily 日报"), msg["Subject"])
        [attachment] = list(msg.iter_attachments())
        self.assertEqual(attachment.get_content_type(), "application/pdf")
        text = pypdf.PdfReader(io.BytesIO(attachment.get_content())).pages[0].extract_text()
        self.assertIn("Traffic", text)
        self.assertIn("Scope: Whole center", text)
        # once per period: a second check sends nothing
        self.assertEqual(await self.scheduler(port.getHost().port).run_once(), 0)
        self.assertEqual(len(inbox), 2)

    async def test_a_dead_mail_server_gives_the_period_back(self) -> None:
        await self.start_db()
        dead = self.scheduler(9)  # the discard port: nothing listens
        self.assertEqual(await dead.run_once(), 0)
        [row] = await self.store.list_all()
        self.assertEqual((row.last_period, row.last_sent_at), ("", None))

"""Scheduled reports: built and e-mailed as an attachment every day, week or month.

A schedule (``report_schedules``, appliance/db/schedule_store.py) is sent once per period
of its ``every``: each day, each ISO week (on Monday) or each month (on the 1st), at
``[reports] schedule_hour`` in the center's zone, or as soon after as the box runs (a
week's report missed on Monday goes on Tuesday; a day's report missed all day is not sent
late). It covers the whole day, week or month (``range_kind``) before the period's first
day, so the Monday mail of a weekly schedule holds last week; a forecast (``AHEAD_KINDS``)
covers the one that starts with it: Monday's is this week's.

Never twice for one period, across restarts too: the period is claimed in the database
(``last_period``, a conditional UPDATE) before the mail is built; a mail that could not be
built or sent gives the claim back and is tried again ``RETRY_S`` later. A crash between the
claim and the mail loses that one mail rather than sending it twice.

The report is built by ``build`` (the root hands ``catalog.build_report``), rendered in a
thread (a PDF takes CPU) in the schedule's language (``translator(locale)``, from the web
UI's catalogs: the root hands it, this package imports no web code) and sent through
ivr/mail_notify.py's SMTP client with the ``[smtp]`` settings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from twisted.application import service
from twisted.internet import defer, task, threads
from twisted.logger import Logger

from appliance.config import SmtpConfig
from appliance.db.schedule_store import ScheduleRow, ScheduleStore
from appliance.periods import period_due
from appliance.reports.export_cells import Translate, file_name, no_translation, scope_text
from appliance.reports.export_formats import CONTENT_TYPES, render
from appliance.reports.model import Report
from appliance.reports.ranges import ReportRange
from appliance.text import N_
from ivr import mail_notify

log = Logger(namespace="ccbox.reports.schedule")
T = TypeVar("T")
CHECK_EVERY_S = 60.0
RETRY_S = 15 * 60.0
MAIL_BODY = N_("The report {title} for {range} ({scope}) is attached.")
MAIL_FOOTER = N_("Sent by ccbox for the scheduled report {name}.")

# Reports of the period to come: Monday's forecast is this week's, not the week just gone.
AHEAD_KINDS = frozenset({"forecast"})

Build = Callable[[ScheduleRow, ReportRange], Awaitable[Report]]
Send = Callable[[SmtpConfig, list[str], EmailMessage], Awaitable[bool]]


def report_range(
    range_kind: str, period_start: dt.date, zone: str, ahead: bool = False
) -> ReportRange:
    """The whole day, week or month just before the period's first day; ``ahead`` (a
    report of what is to come: ``AHEAD_KINDS``) the one that starts with it."""
    rng = ReportRange.parse(range_kind, period_start, zone=zone)
    return rng if ahead else rng.previous()


def first_period(every: str, now: dt.datetime, zone: str, hour: int) -> str:
    """What a new schedule starts with as its last period: the current one when its time has
    already passed (so the first mail is the next one, not one at once), else none."""
    due = period_due(every, now.astimezone(ZoneInfo(zone)), hour)
    return due[0] if due is not None else ""


def build_mail(
    smtp: SmtpConfig, schedule: ScheduleRow, report: Report, data: bytes, tr: Translate
) -> EmailMessage:
    """The mail: subject and body in the schedule's language, the file attached. Names an
    admin typed go into headers cleaned of control characters (no header injection)."""
    title = tr(report.title)
    scope = scope_text(report, tr)
    msg = EmailMessage()
    msg["Subject"] = mail_notify.clean(f"{title} {tr(report.range_label)} - {schedule.name}", 200)
    msg["From"] = smtp.sender
    msg["To"] = ", ".join(schedule.recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=smtp.sender.rsplit("@", 1)[-1])
    body = tr(MAIL_BODY).format(title=title, range=tr(report.range_label), scope=scope)
    footer = tr(MAIL_FOOTER).format(name=schedule.name)
    msg.set_content(f"{body}\n\n{footer}\n")
    maintype, _, subtype = CONTENT_TYPES[schedule.format].split(";")[0].partition("/")
    msg.add_attachment(
        data, maintype=maintype, subtype=subtype, filename=file_name(report, schedule.format)
    )
    return msg


class ReportScheduler(service.Service):
    """Checks the schedules every ``CHECK_EVERY_S`` seconds and sends what is due."""

    name = "report-schedule"

    def __init__(
        self,
        reactor: Any,
        store: ScheduleStore,
        *,
        zone: str,
        hour: int,
        smtp: SmtpConfig,
        build: Build,
        translator: Callable[[str], Translate] = lambda locale: no_translation,
        send: Send | None = None,
    ) -> None:
        self.reactor = reactor
        self.store = store
        self.zone = ZoneInfo(zone)
        self.hour = hour
        self.smtp = smtp
        self.build = build
        self.translator = translator
        self.send = send or self._smtp_send
        self._loop: task.LoopingCall | None = None
        self._running: defer.Deferred[int] | None = None
        self._failed: dict[int, float] = {}  # schedule id -> when its last try failed

    def startService(self) -> None:
        super().startService()
        if not self.smtp.host:
            log.info("scheduled reports are not e-mailed: [smtp] host is not set")
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = self.reactor
        self._loop.start(CHECK_EVERY_S, now=True)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        d: defer.Deferred[Any] = self._running or defer.succeed(None)
        return d.addBoth(lambda _: None)

    def _tick(self) -> defer.Deferred[None]:
        if self._running is not None or not self.smtp.host:
            return defer.succeed(None)
        d = defer.ensureDeferred(self.run_once())
        self._running = d

        def done(result: object) -> None:
            self._running = None

        d.addErrback(lambda f: log.failure("scheduled reports: the check failed", f))
        return d.addBoth(done)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.reactor.seconds(), dt.UTC)

    async def run_once(self) -> int:
        """Send every schedule whose period is due and not yet sent; how many went."""
        now = self.now()
        local = now.astimezone(self.zone)
        sent = 0
        for schedule in await self.store.list_all():
            due = period_due(schedule.every, local, self.hour)
            if due is None or due[0] <= schedule.last_period:
                continue
            failed = self._failed.get(schedule.id)
            if failed is not None and self.reactor.seconds() - failed < RETRY_S:
                continue
            key, start = due
            if not await self.store.claim(schedule.id, schedule.last_period, key):
                continue  # another check took it (or it was deleted)
            if await self._send_one(schedule, start):
                self._failed.pop(schedule.id, None)
                await self.store.sent(schedule.id, now)
                sent += 1
            else:
                self._failed[schedule.id] = self.reactor.seconds()
                await self.store.release(schedule.id, key, schedule.last_period)
        return sent

    async def _send_one(self, schedule: ScheduleRow, period_start: dt.date) -> bool:
        """True once the mail went. Never raises: a claimed period must be given back
        whatever failed (a send that raises instead of answering False too), else that
        period would never be sent, and the other schedules of the check would wait."""
        try:
            ahead = schedule.kind in AHEAD_KINDS
            rng = report_range(schedule.range_kind, period_start, self.zone.key, ahead)
            report = await self.build(schedule, rng)
            tr = self.translator(schedule.locale)
            data = await self._off_reactor(lambda: render(report, schedule.format, tr))
            msg = build_mail(self.smtp, schedule, report, data, tr)
            ok = await self.send(self.smtp, list(schedule.recipients), msg)
        except Exception:
            log.failure("scheduled report {name}: not built or not sent", name=schedule.name)
            return False
        if ok:
            log.info(
                "scheduled report {name} ({range}) sent to {n} address(es)",
                name=schedule.name,
                range=rng.label,
                n=len(schedule.recipients),
            )
        return ok

    def _off_reactor(self, fn: Callable[[], T]) -> defer.Deferred[T]:
        """``fn`` in the reactor's thread pool (inline under a test clock, which has none)."""
        pool = getattr(self.reactor, "getThreadPool", None)
        if pool is None:
            return defer.maybeDeferred(fn)
        return cast(defer.Deferred[T], threads.deferToThreadPool(self.reactor, pool(), fn))

    async def _smtp_send(self, smtp: SmtpConfig, to: list[str], msg: EmailMessage) -> bool:
        return await mail_notify.send(self.reactor, smtp, to, msg, "scheduled report")

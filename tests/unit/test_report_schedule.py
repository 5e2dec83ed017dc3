"""Scheduled reports: which period is due when (the center's zone, DST included); the store's
checks (recipients as e-mail addresses, bounded); the scheduler on a MemoryReactorClock and
a real database sends once per period, never twice across a restart, and tries a failed
mail again later. The mail through a real SMTP server: tests/integration/
test_report_schedule_mail.py."""

from __future__ import annotations

import datetime as dt
import io
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import openpyxl  # type: ignore[import-untyped]
import pytest
from twisted.internet.testing import MemoryReactorClock

from appliance.cli import resolved
from appliance.config import SmtpConfig
from appliance.db.components import DuplicateError
from appliance.db.connector import DBConnector
from appliance.db.schedule_store import (
    MAX_RECIPIENTS,
    NewSchedule,
    ScheduleRow,
    ScheduleStore,
    check,
    recipients_of,
)
from appliance.reports import catalog
from appliance.reports.model import Report
from appliance.reports.ranges import ReportRange
from appliance.reports.schedule import (
    CHECK_EVERY_S,
    RETRY_S,
    ReportScheduler,
    first_period,
    period_due,
    report_range,
)
from appliance.text import message_of
from webui.i18n import translator

SHANGHAI = "Asia/Shanghai"
SMTP = SmtpConfig(host="mail.test", sender="ccbox@cc.test")


def local(zone: str, y: int, m: int, d: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(y, m, d, hour, minute, tzinfo=ZoneInfo(zone))


def new(**changes: str) -> NewSchedule:
    fields = {
        "name": "Morning traffic",
        "kind": "traffic",
        "scope": "center",
        "key": "",
        "range_kind": "day",
        "every": "daily",
        "format": "xlsx",
        "recipients": "boss@cc.test, lead@cc.test",
        "locale": "zh_CN",
    }
    fields.update(changes)
    return NewSchedule(**fields)


def test_the_period_due_and_the_range_it_covers() -> None:
    z = SHANGHAI
    assert period_due("daily", local(z, 2026, 12, 7, 6, 59), 7) is None
    assert period_due("daily", local(z, 2026, 12, 7, 7, 0), 7) == (
        "2026-12-07",
        dt.date(2026, 12, 7),
    )
    # weekly: Monday from the hour on, and all week after (a box that was off on Monday)
    assert period_due("weekly", local(z, 2026, 12, 7, 6, 0), 7) is None
    assert period_due("weekly", local(z, 2026, 12, 9, 3, 0), 7) == (
        "2026-W50",
        dt.date(2026, 12, 7),
    )
    assert period_due("monthly", local(z, 2026, 12, 1, 6, 0), 7) is None
    assert period_due("monthly", local(z, 2026, 12, 15, 0, 0), 7) == (
        "2026-12",
        dt.date(2026, 12, 1),
    )
    # the range: the whole day/week/month before the period's first day
    assert report_range("day", dt.date(2026, 12, 7), z).label == "2026-12-06"
    assert report_range("week", dt.date(2026, 12, 7), z).label == "2026-W49"
    assert report_range("month", dt.date(2026, 12, 1), z).label == "2026-11"
    assert report_range("week", dt.date(2027, 1, 4), z).label == "2026-W53"
    # DST: 02:00 does not exist on 2026-03-08 in New York; the 02:00 mail goes at 03:00
    ny = "America/New_York"
    assert period_due("daily", local(ny, 2026, 3, 8, 1, 59), 2) is None
    after = dt.datetime(2026, 3, 8, 7, 0, tzinfo=dt.UTC).astimezone(ZoneInfo(ny))
    assert after.hour == 3 and period_due("daily", after, 2) == ("2026-03-08", dt.date(2026, 3, 8))
    # a schedule added after today's hour starts with today behind it, before it with none
    noon = local(z, 2026, 12, 7, 12, 0).astimezone(dt.UTC)
    assert first_period("daily", noon, z, 7) == "2026-12-07"
    assert first_period("daily", noon, z, 13) == ""


def test_the_store_checks_every_field() -> None:
    assert check(new()) == ("boss@cc.test", "lead@cc.test")
    assert recipients_of("a@b.cn;a@b.cn  c@d.com") == ("a@b.cn", "c@d.com")
    refused = {
        "recipients": [
            "",
            "boss",
            "boss@localhost",
            "Boss <boss@cc.test>",
            "boss@cc.test\r\nBcc: victim@cc.test",
            ",".join(f"u{i}@cc.test" for i in range(MAX_RECIPIENTS + 1)),
            "x" * 65 + "@cc.test",
        ],
        "name": ["", " ", "x" * 101, "a\nb"],
        "scope": ["nowhere", ""],
        "key": ["x" * 65],
        "range_kind": ["year", ""],
        "every": ["hourly"],
        "format": ["docx"],
        "locale": ["fr"],
    }
    for field, values in refused.items():
        for value in values:
            with pytest.raises(ValueError):
                check(new(**{field: value}))
    with pytest.raises(ValueError) as caught:
        check(new(scope="queue"))  # a queue needs its key
    assert "needs a key" in message_of(caught.value)
    with pytest.raises(ValueError):
        check(new(key="3"))  # the whole center takes none


class Outbox:
    """Where the scheduler's mails go in these tests (the real SMTP client is in the
    integration test); ``fail`` makes the next sends fail like a dead server."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], EmailMessage]] = []
        self.fail = False

    async def send(self, smtp: SmtpConfig, to: list[str], msg: EmailMessage) -> bool:
        if self.fail:
            return False
        self.mails.append((to, msg))
        return True


def scheduler(clock: MemoryReactorClock, db: DBConnector, outbox: Outbox) -> ReportScheduler:
    async def build(s: ScheduleRow, rng: ReportRange) -> Report:
        return await catalog.build_report(db, s.kind, rng, s.scope, s.key, None)

    return ReportScheduler(
        clock,
        ScheduleStore(db),
        zone=SHANGHAI,
        hour=7,
        smtp=SMTP,
        build=build,
        translator=translator,
        send=outbox.send,
    )


def test_a_schedule_is_sent_once_per_period_and_not_again_after_a_restart(
    db: DBConnector,
) -> None:
    store = ScheduleStore(db)
    added = resolved(store.add(new(), "admin"))
    with pytest.raises(DuplicateError):
        resolved(store.add(new(), "admin"))
    clock = MemoryReactorClock()
    clock.advance(local(SHANGHAI, 2026, 12, 7, 6, 58).timestamp())
    outbox = Outbox()
    first = scheduler(clock, db, outbox)
    first.startService()
    assert outbox.mails == []  # checked at once: before 07:00 nothing is due
    for _ in range(5):
        clock.advance(CHECK_EVERY_S)
    [(to, mail)] = outbox.mails  # 07:00 came: one mail
    assert to == ["boss@cc.test", "lead@cc.test"]
    assert mail["Subject"].startswith("话务 2026-12-06")  # the day before, in Chinese
    [attachment] = mail.iter_attachments()
    assert attachment.get_filename() == "ccbox-traffic-center-2026-12-06.xlsx"
    workbook = openpyxl.load_workbook(io.BytesIO(attachment.get_content()))
    assert workbook.active["A1"].value == "话务"
    for _ in range(120):  # two more hours of checks: nothing new
        clock.advance(CHECK_EVERY_S)
    assert len(outbox.mails) == 1
    [row] = resolved(store.list_all())
    assert row.last_period == "2026-12-07" and row.last_sent_at is not None
    first.stopService()

    # a restart the same day sends nothing; the next day's 07:00 sends the next one
    second = scheduler(clock, db, outbox)
    second.startService()
    clock.advance(CHECK_EVERY_S)
    assert len(outbox.mails) == 1
    clock.advance(local(SHANGHAI, 2026, 12, 8, 7, 0).timestamp() - clock.seconds())
    assert len(outbox.mails) == 2
    assert outbox.mails[1][1]["Subject"].startswith("话务 2026-12-07")

    # a mail that cannot go is given back and tried again RETRY_S later, once
    outbox.fail = True
    clock.advance(local(SHANGHAI, 2026, 12, 9, 7, 0).timestamp() - clock.seconds())
    [row] = resolved(store.list_all())
    assert row.last_period == "2026-12-08"  # released: not sent
    outbox.fail = False
    clock.advance(CHECK_EVERY_S)
    assert len(outbox.mails) == 2  # not before RETRY_S
    clock.advance(RETRY_S)
    assert len(outbox.mails) == 3
    clock.advance(RETRY_S)
    assert len(outbox.mails) == 3
    second.stopService()
    assert resolved(store.delete(added.id)) and resolved(store.list_all()) == []


def test_a_send_that_raises_gives_its_period_back_and_spares_the_others(
    db: DBConnector,
) -> None:
    """A send that raises (not the False of a refused mail) must not keep the period
    claimed (it would never be sent) nor stop the check before the next schedule."""
    store = ScheduleStore(db)
    resolved(store.add(new(name="A raises", format="csv"), "admin"))
    resolved(store.add(new(name="B goes", format="csv"), "admin"))
    raising = {"A raises"}
    sent: list[str] = []

    async def send(smtp: SmtpConfig, to: list[str], msg: EmailMessage) -> bool:
        name = next(n for n in ("A raises", "B goes") if msg["Subject"].endswith(n))
        if name in raising:
            raise OSError("connection reset")
        sent.append(name)
        return True

    async def build(s: ScheduleRow, rng: ReportRange) -> Report:
        return Report(s.kind, "Traffic", rng.label, "center", "", (), (), ())

    clock = MemoryReactorClock()
    clock.advance(local(SHANGHAI, 2026, 12, 7, 7, 0).timestamp())
    service = ReportScheduler(
        clock, store, zone=SHANGHAI, hour=7, smtp=SMTP, build=build, send=send
    )
    service.startService()
    assert sent == ["B goes"]
    periods = {r.name: r.last_period for r in resolved(store.list_all())}
    assert periods == {"A raises": "", "B goes": "2026-12-07"}
    raising.clear()
    clock.advance(RETRY_S)
    assert sent == ["B goes", "A raises"]
    periods = {r.name: r.last_period for r in resolved(store.list_all())}
    assert periods == {"A raises": "2026-12-07", "B goes": "2026-12-07"}
    service.stopService()


def test_a_period_is_claimed_by_one_check_only(db: DBConnector) -> None:
    store = ScheduleStore(db)
    row = resolved(store.add(new(), "admin"))
    assert resolved(store.claim(row.id, "", "2026-12-07"))
    assert not resolved(store.claim(row.id, "", "2026-12-07"))  # the other check lost
    assert not resolved(store.release(row.id, "2026-12-06", ""))  # not the one it holds
    assert resolved(store.release(row.id, "2026-12-07", ""))
    assert resolved(store.claim(row.id, "", "2026-12-07"))


def test_a_scheduled_forecast_covers_the_week_to_come(db: DBConnector) -> None:
    """Monday's mails: the traffic of the week just gone, the forecast of this week (the
    forecast of a week already over would be no use to anyone)."""
    store = ScheduleStore(db)
    for name, kind in (("Last week", "traffic"), ("Next days", "forecast")):
        resolved(store.add(new(name=name, kind=kind, range_kind="week", every="weekly"), "a"))
    ranges: dict[str, str] = {}

    async def build(s: ScheduleRow, rng: ReportRange) -> Report:
        ranges[s.kind] = rng.label
        return Report(s.kind, s.kind, rng.label, "center", "", (), (), ())

    clock = MemoryReactorClock()
    clock.advance(local(SHANGHAI, 2026, 12, 7, 7, 0).timestamp())  # a Monday, 07:00
    outbox = Outbox()
    service = ReportScheduler(
        clock, store, zone=SHANGHAI, hour=7, smtp=SMTP, build=build, send=outbox.send
    )
    service.startService()
    assert ranges == {"traffic": "2026-W49", "forecast": "2026-W50"}
    assert len(outbox.mails) == 2
    service.stopService()

"""Scheduled reports (``report_schedules``): added and deleted by admins, read and marked
sent by the scheduler (appliance/reports/schedule.py).

Every field is checked here, whoever calls: the name and key bounded, the choices from
their tuples, the recipients as at most ``MAX_RECIPIENTS`` plain e-mail addresses (no
display names, no CR/LF: they go into a header). The report kind is checked by the caller
against the report catalog (the database knows no report).

A period is sent at most once: ``claim`` moves ``last_period`` from what the scheduler read
to the new period in one conditional UPDATE (two schedulers, or a tick that overlaps a
restart, cannot both win), and ``release`` moves it back when the mail could not go, so a
later tick tries again.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import _Component, _insert, utcnow
from appliance.email_address import is_email
from appliance.text import N_

MAX_NAME = 100
MAX_KEY = 64
MAX_RECIPIENTS = 10
MAX_SCHEDULES = 200
LOCALES = ("en", "zh_CN")
EVERY = model.REPORT_SCHEDULE_EVERY
RANGES = model.REPORT_SCHEDULE_RANGES
FORMATS = model.REPORT_EXPORT_FORMATS
SCOPES = model.REPORT_SCOPES
_SPLIT = re.compile(r"[,;\s]+")


@dataclass(frozen=True)
class ScheduleRow:
    id: int
    name: str
    kind: str
    scope: str
    key: str
    range_kind: str
    every: str
    format: str
    recipients: tuple[str, ...]
    locale: str
    last_period: str
    last_sent_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime


@dataclass(frozen=True)
class NewSchedule:
    """What an admin asks for; ``check`` says what is wrong with it."""

    name: str
    kind: str
    scope: str
    key: str
    range_kind: str
    every: str
    format: str
    recipients: str
    locale: str


def recipients_of(text: str) -> tuple[str, ...]:
    """The addresses in ``text`` (separated by commas, semicolons or spaces), each checked;
    ValueError (an N_() message) for a bad one, none, or more than MAX_RECIPIENTS."""
    found = [a for a in _SPLIT.split(text.strip()) if a]
    if not found:
        raise ValueError(N_("Name at least one e-mail address."))
    if len(found) > MAX_RECIPIENTS:
        raise ValueError(N_("At most {n} e-mail addresses.", n=MAX_RECIPIENTS))
    for address in found:
        if not is_email(address):
            raise ValueError(N_("Not an e-mail address: {address}", address=address[:80]))
    return tuple(dict.fromkeys(found))


def check(new: NewSchedule) -> tuple[str, ...]:
    """The schedule's recipients once every field is right; ValueError (N_()) else."""
    name = new.name.strip()
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise ValueError(N_("The name must have 1 to {n} characters.", n=MAX_NAME))
    if new.scope not in SCOPES:
        raise ValueError(N_("Unknown scope: {scope}", scope=new.scope[:20]))
    key = new.key.strip()
    if len(key) > MAX_KEY or any(ord(c) < 32 for c in key):
        raise ValueError(N_("The key must have at most {n} characters.", n=MAX_KEY))
    if (new.scope == "center") != (key == ""):
        raise ValueError(N_("A scope other than the whole center needs a key, and only it."))
    if new.range_kind not in RANGES:
        raise ValueError(N_("Unknown report range: {kind}", kind=new.range_kind[:20]))
    if new.every not in EVERY:
        raise ValueError(N_("Unknown repetition: {every}", every=new.every[:20]))
    if new.format not in FORMATS:
        raise ValueError(N_("Unknown file format: {format}", format=new.format[:20]))
    if new.locale not in LOCALES:
        raise ValueError(N_("Unknown language: {locale}", locale=new.locale[:20]))
    recipients = recipients_of(new.recipients)
    if len(", ".join(recipients)) > 1000:
        raise ValueError(N_("The e-mail addresses are too long together."))
    return recipients


class ScheduleStore(_Component):
    @staticmethod
    def _row(r: Any) -> ScheduleRow:
        return ScheduleRow(
            id=r.id,
            name=r.name,
            kind=r.kind,
            scope=r.scope,
            key=r.key,
            range_kind=r.range_kind,
            every=r.every,
            format=r.format,
            recipients=tuple(a for a in r.recipients.split(", ") if a),
            locale=r.locale,
            last_period=r.last_period,
            last_sent_at=r.last_sent_at,
            created_by=r.created_by,
            created_at=r.created_at,
        )

    def add(
        self,
        new: NewSchedule,
        created_by: str,
        last_period: str = "",
        now: dt.datetime | None = None,
    ) -> defer.Deferred[ScheduleRow]:
        """Store a checked schedule (ValueError when a field is wrong, DuplicateError for a
        name in use). ``last_period``: the period already behind it (the one whose sending
        time has passed when it is added, so the first mail is the next one)."""
        recipients = check(new)
        t = model.report_schedules

        def thd(conn: Connection) -> ScheduleRow:
            count = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            if count >= MAX_SCHEDULES:
                raise ValueError(N_("At most {n} scheduled reports.", n=MAX_SCHEDULES))
            new_id = _insert(
                conn,
                t,
                N_("A scheduled report named {name}", name=new.name.strip()),
                name=new.name.strip(),
                kind=new.kind,
                scope=new.scope,
                key=new.key.strip(),
                range_kind=new.range_kind,
                every=new.every,
                format=new.format,
                recipients=", ".join(recipients),
                locale=new.locale,
                last_period=last_period,
                created_by=created_by[:64],
                created_at=now or utcnow(),
            )
            return self._row(conn.execute(t.select().where(t.c.id == new_id)).one())

        return self.db.run(thd)

    def list_all(self) -> defer.Deferred[list[ScheduleRow]]:
        t = model.report_schedules

        def thd(conn: Connection) -> list[ScheduleRow]:
            return [self._row(r) for r in conn.execute(t.select().order_by(t.c.name, t.c.id))]

        return self.db.run(thd)

    def delete(self, schedule_id: int) -> defer.Deferred[bool]:
        t = model.report_schedules

        def thd(conn: Connection) -> bool:
            return conn.execute(t.delete().where(t.c.id == schedule_id)).rowcount > 0

        return self.db.run(thd)

    def claim(self, schedule_id: int, seen: str, period: str) -> defer.Deferred[bool]:
        """Take ``period`` for sending: True only when ``last_period`` still is ``seen``."""
        t = model.report_schedules

        def thd(conn: Connection) -> bool:
            done = conn.execute(
                t.update()
                .where(t.c.id == schedule_id, t.c.last_period == seen)
                .values(last_period=period)
            )
            return done.rowcount == 1

        return self.db.run(thd)

    def sent(self, schedule_id: int, at: dt.datetime) -> defer.Deferred[None]:
        t = model.report_schedules

        def thd(conn: Connection) -> None:
            conn.execute(t.update().where(t.c.id == schedule_id).values(last_sent_at=at))

        return self.db.run(thd)

    def release(self, schedule_id: int, period: str, back_to: str) -> defer.Deferred[bool]:
        """Give a claimed period back (its mail could not be sent): tried again later. The
        same conditional move as ``claim``, backwards."""
        return self.claim(schedule_id, period, back_to)

"""SMS notices the center sends by itself: a web callback request's confirmation and a
missed-call notice to a caller who hung up waiting in a queue.

Each is switched on in ``[sms]`` (``callback_confirmation``, ``missed_call_notice``) with
its text (``callback_text``, ``missed_call_text``: {number}, {queue} and {when} filled in;
empty: the built-in text in the center's language). A notice is an outbound ``crm_messages``
row the outbox sends. One number gets at most one notice every ``notice_interval_min``
minutes: the check and the row are one transaction on the rows themselves, so neither a
burst of abandons nor a restart sends more.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from datetime import tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.logger import Logger

from appliance.config import SmsConfig
from appliance.crm.tickets.replies import SMS_MAX
from appliance.db import model
from appliance.text import N_

log = Logger()

ACTOR = "sms:notice"
CALLBACK = "callback_confirmation"
MISSED_CALL = "missed_call"
# A number an SMS can reach: digits with an optional +, as a mobile number is written
# (a withheld or hostile caller ID sends nothing).
_MOBILE = re.compile(r"\+?[0-9]{5,20}")
CALLBACK_TEXT = N_("We have your callback request: we will call you back at {number} {when}.")
MISSED_CALL_TEXT = N_(
    "Sorry we missed your call to {queue}. Please call us again, or reply to this message."
)
SOON = N_("as soon as an agent is free")
AT = N_("at {time}")


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


class SmsNotices:
    """The notices (see the module's docstring). ``queue_name``: a queue's name by id (the
    ACD's); ``zone``: the center's zone for {when}; ``kick``: told when a notice was queued
    (the outbox's ``kick``)."""

    def __init__(
        self,
        db: Any,
        settings: SmsConfig,
        *,
        translate: Callable[[str], str] = str,
        queue_name: Callable[[int], str] = lambda _id: "",
        zone: tzinfo = dt.UTC,
        kick: Callable[[], object] = lambda: None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.translate = translate
        self.queue_name = queue_name
        self.zone = zone
        self.kick = kick
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        # The check and the insert run one at a time: two transactions at once (the db
        # pool has several threads) would each see no recent notice and both insert
        # (PostgreSQL's read committed), or the second fail on SQLite's write lock.
        self._lock = defer.DeferredLock()

    def callback_requested(
        self, number: str, queue: str, due: dt.datetime | None
    ) -> defer.Deferred[int | None]:
        """A web callback request was scheduled: confirm it (the row's id, or None: off,
        not a mobile number, or rate-limited)."""
        if not self.settings.callback_confirmation:
            return defer.succeed(None)
        when = (
            self.translate(AT).format(time=f"{due.astimezone(self.zone):%Y-%m-%d %H:%M}")
            if due is not None
            else self.translate(SOON)
        )
        fields = {"number": number, "queue": queue, "when": when}
        return self._queue(number, CALLBACK, self.settings.callback_text or CALLBACK_TEXT, fields)

    def queue_step(self, step: Any) -> defer.Deferred[int | None]:
        """A queued call's step (acd/queue_events.py ``QueueCallStep``): an abandon sends the
        missed-call notice."""
        if step.step != "abandoned" or not self.settings.missed_call_notice:
            return defer.succeed(None)
        queue = self.queue_name(step.queue_id)
        fields = {"number": step.caller, "queue": queue, "when": ""}
        return self._queue(
            step.caller, MISSED_CALL, self.settings.missed_call_text or MISSED_CALL_TEXT, fields
        )

    def _queue(
        self, number: str, kind: str, template: str, fields: Mapping[str, str]
    ) -> defer.Deferred[int | None]:
        number = (number or "").strip()
        if not _MOBILE.fullmatch(number):
            return defer.succeed(None)
        try:
            text = self.translate(template).format_map(_Fields(fields)).strip()[:SMS_MAX]
        except (ValueError, IndexError, AttributeError):  # a broken translation or template
            log.warn("SMS {kind}: its text is not a template: {t!r}", kind=kind, t=template)
            return defer.succeed(None)
        if not text:
            return defer.succeed(None)
        now = self.clock()
        since = now - dt.timedelta(minutes=self.settings.notice_interval_min)

        def thd(conn: Connection) -> int | None:
            m = model.crm_messages
            recent = conn.execute(
                sa.select(m.c.id)
                .where(
                    (m.c.address == number)
                    & (m.c.at >= since)
                    & (m.c.channel == "sms")
                    & (m.c.created_by == ACTOR)
                )
                .limit(1)
            ).first()
            if recent is not None:
                return None
            pk = conn.execute(
                m.insert().values(
                    channel="sms",
                    direction="outbound",
                    address=number,
                    subject=kind,
                    body=text,
                    state="queued",
                    created_by=ACTOR,
                    at=now,
                )
            ).inserted_primary_key
            assert pk is not None
            return int(pk[0])

        def queued(message_id: int | None) -> int | None:
            if message_id is None:
                log.info("SMS {kind} to {number}: one was sent lately", kind=kind, number=number)
            else:
                self.kick()
            return message_id

        def failed(failure: Any) -> None:
            log.failure(
                "SMS {kind} to {number} could not be queued", failure, kind=kind, number=number
            )

        return self._lock.run(self.db.run, thd).addCallbacks(queued, failed)

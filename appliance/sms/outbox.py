"""The SMS outbox: outbound SMS rows (``crm_messages``, channel sms) through the GSM modem.

One SMS at a time goes to ``GsmModemService.send_sms``. A row is ``queued`` until the modem
answered ``+CMGS`` for every part: only then is it ``sent`` (with each part's message
reference in ``sms_parts``), so nothing is ever shown as sent that the modem did not take.
A modem error is retried ``[sms] retry_s`` later, doubling up to an hour; after ``[sms]
attempts`` tries the row is ``failed`` with the modem's error. While no modem can send (none
configured, no SIM, PIN required, not registered) due rows are ``waiting_for_modem`` and go
out once it is ready. A delivery report marks the row ``delivered`` when every part was
delivered, ``undeliverable`` when the network gave one up.

Everything the outbox knows is in the database (attempts, the next attempt's time, the
references), so a restart picks up where it stopped: a row whose send was cut by the
restart is tried again (an SMS may then arrive twice; one is never lost).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

from appliance.crm.tickets import events
from appliance.crm.tickets.replies import REPLY_STATES, _replied
from appliance.crm.tickets.store import load, write_history
from appliance.db import model
from appliance.text import N_

log = Logger()

POLL_S = 5.0  # how often due rows and the modem's readiness are looked at
RETRY_MAX_S = 3600
# A stop waits this long for the send in flight (its +CMGS and its row), under systemd's
# TimeoutStopSec: a row the modem took but the stop cut is sent again after the restart.
STOP_WAIT_S = 20.0
ERROR_MAX = 500
ACTOR = "sms"
NOT_READY = N_("waiting for the GSM modem: it cannot send now ({state})")
PENDING = ("queued", "waiting_for_modem")
# A delivery report's TP-Status (3GPP TS 23.040 9.2.3.15): 0x00-0x1f the transaction is
# completed (delivered), 0x20-0x3f the SMSC still tries, 0x40 and up it has given up.
GIVEN_UP = 0x40


class Modem(Protocol):
    """What the outbox needs of drivers/serial/gsm/modem.py's ``GsmModemService``."""

    def send_sms(self, number: str, text: str) -> defer.Deferred[tuple[int, ...]]: ...

    def status(self) -> Any: ...


@dataclass(frozen=True)
class OutboxCounts:
    """The System page's modem card: what waits and what failed today (UTC day)."""

    queued: int
    waiting: int
    failed_today: int
    sent_today: int


@dataclass(frozen=True)
class _Due:
    id: int
    ticket_id: int | None
    address: str
    body: str
    attempts: int
    created_by: str


def retry_delay(attempts: int, retry_s: int) -> int:
    """Seconds before the next try after ``attempts`` failed ones (doubling, at most 1 h)."""
    return int(min(RETRY_MAX_S, retry_s * 2 ** max(0, attempts - 1)))


def _error_text(failure: Exception) -> str:
    code = getattr(failure, "code", None)
    text = str(getattr(failure, "text", "") or failure) or type(failure).__name__
    text = "".join(c if c.isprintable() else " " for c in text)
    return (f"{text} ({code})" if code is not None else text)[:ERROR_MAX]


class SmsOutbox(service.Service):
    """The outbox (see the module's docstring). ``modem``: the GSM modem service, None when
    the box has none (every SMS then waits for one); ``bus``: told of each ticket whose
    reply changed state."""

    def __init__(
        self,
        reactor: Any,
        db: Any,
        modem: Modem | None,
        *,
        attempts: int = 5,
        retry_s: int = 30,
        clock: Callable[[], dt.datetime] | None = None,
        bus: Any = None,
    ) -> None:
        self.reactor = reactor
        self.db = db
        self.modem = modem
        self.attempts = attempts
        self.retry_s = retry_s
        self.bus = bus
        self.clock = clock or (lambda: dt.datetime.fromtimestamp(reactor.seconds(), dt.UTC))
        self.last_error = ""
        self._busy = False
        self._again = False
        self._stopping = False
        self._pass: defer.Deferred[None] | None = None
        self._loop: task.LoopingCall | None = None

    # ---- service ------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._stopping = False
        self._loop = task.LoopingCall(self.kick)
        self._loop.clock = self.reactor
        self._loop.start(POLL_S, now=True).addErrback(
            lambda f: log.failure("the SMS outbox's poll stopped", f)
        )

    def stopService(self) -> defer.Deferred[None] | None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        self._stopping = True  # the pass in flight takes no further row
        super().stopService()
        if self._pass is None:
            return None
        waited: defer.Deferred[None] = defer.Deferred()

        def ended(result: object) -> object:
            if not waited.called:
                waited.callback(None)
            return result

        self._pass.addBoth(ended)
        return waited.addTimeout(STOP_WAIT_S, self.reactor, onTimeoutCancel=lambda *_: None)

    # ---- the queue ----------------------------------------------------------------------

    def modem_state(self) -> str:
        """The modem's state ("absent" without one)."""
        if self.modem is None:
            return "absent"
        return str(getattr(self.modem.status(), "state", "error"))

    def kick(self) -> defer.Deferred[None]:
        """Send what is due now (called by the poll, and when a row was queued). Never
        runs twice at once: a kick while sending makes the running pass look again."""
        if self._busy or self._stopping:
            self._again = not self._stopping
            return defer.succeed(None)
        self._busy = True
        d = defer.ensureDeferred(self._pump())

        def done(result: object) -> object:
            self._busy = False
            self._pass = None
            if self._again:
                self._again = False
                self.reactor.callLater(0, self.kick)
            return result

        d.addBoth(done)
        d.addErrback(lambda f: log.failure("the SMS outbox failed a pass", f))
        if self._busy:
            self._pass = d
        return d

    async def _pump(self) -> None:
        while not self._stopping:
            self._again = False
            state = self.modem_state()
            if state != "ready":
                await self.db.run(functools.partial(self._park, state=state))
                return
            due = await self.db.run(functools.partial(self._next, now=self.clock()))
            if due is None:
                return
            await self._send(due)

    def _park(self, conn: Connection, state: str) -> None:
        """No modem can send: due queued rows wait for one (the reason on the row)."""
        m = model.crm_messages
        due = _outbound_sms() & (m.c.state == "queued") & _due(self.clock())
        if conn.execute(sa.select(m.c.id).where(due).limit(1)).first() is None:
            return  # a read every poll, not a write (SQLite's one writer stays free)
        conn.execute(
            m.update()
            .where(due)
            .values(state="waiting_for_modem", error=N_(NOT_READY, state=state)[:ERROR_MAX])
        )

    def _next(self, conn: Connection, now: dt.datetime) -> _Due | None:
        """The oldest due row, its attempt counted before the modem is asked."""
        m = model.crm_messages
        row = conn.execute(
            sa.select(m.c.id, m.c.ticket_id, m.c.address, m.c.body, m.c.attempts, m.c.created_by)
            .where(_outbound_sms() & m.c.state.in_(PENDING) & _due(now))
            .order_by(m.c.id)
            .limit(1)
        ).first()
        if row is None:
            return None
        attempts = int(row.attempts) + 1
        conn.execute(
            m.update()
            .where(m.c.id == row.id)
            .values(state="queued", attempts=attempts, next_attempt_at=None)
        )
        return _Due(row.id, row.ticket_id, row.address, row.body, attempts, row.created_by)

    async def _send(self, due: _Due) -> None:
        assert self.modem is not None
        try:
            references = await self.modem.send_sms(due.address, due.body)
        except Exception as exc:
            error = _error_text(exc)
            self.last_error = error
            log.warn(
                "SMS {id} to {number}: the modem refused it: {error}",
                id=due.id,
                number=due.address,
                error=error,
            )
            ticket_id = await self.db.run(lambda conn: self._failed(conn, due, error))
        else:
            ticket_id = await self.db.run(lambda conn: self._sent(conn, due, tuple(references)))
        if ticket_id is not None:
            events.publish(self.bus, ticket_id)

    def _sent(self, conn: Connection, due: _Due, references: tuple[int, ...]) -> int | None:
        m, p = model.crm_messages, model.sms_parts
        now = self.clock()
        conn.execute(
            m.update().where(m.c.id == due.id).values(state="sent", error="", next_attempt_at=None)
        )
        for reference in references:
            conn.execute(
                p.insert().values(
                    message_id=due.id,
                    reference=int(reference) & 0xFF,
                    recipient=due.address[:32],
                    sent_at=now,
                )
            )
        if due.ticket_id is None:
            return None
        ticket = load(conn, due.ticket_id, for_update=True)
        if ticket.state in REPLY_STATES:
            _replied(conn, ticket, due.created_by or ACTOR, now)
        return ticket.id

    def _failed(self, conn: Connection, due: _Due, error: str) -> int | None:
        m = model.crm_messages
        now = self.clock()
        if due.attempts < self.attempts:
            later = now + dt.timedelta(seconds=retry_delay(due.attempts, self.retry_s))
            conn.execute(
                m.update()
                .where(m.c.id == due.id)
                .values(state="queued", error=error, next_attempt_at=later)
            )
            return None
        conn.execute(
            m.update()
            .where(m.c.id == due.id)
            .values(state="failed", error=error, next_attempt_at=None)
        )
        if due.ticket_id is None:
            return None
        write_history(conn, due.ticket_id, now, ACTOR, "reply_failed", "", "sms", message_id=due.id)
        return due.ticket_id

    # ---- delivery reports ---------------------------------------------------------------

    def report_received(self, report: Any) -> defer.Deferred[int | None]:
        """A delivery report (``DeliveryReport(reference, recipient, delivered, status,
        at)``): its part, then its row once every part is known. The row's id, or None
        when no sent part waits for this reference (a late or foreign report)."""
        d = self.db.run(lambda conn: self._report(conn, report))

        def told(ticket_and_id: tuple[int | None, int | None]) -> int | None:
            ticket_id, message_id = ticket_and_id
            if ticket_id is not None:
                events.publish(self.bus, ticket_id)
            return message_id

        return d.addCallback(told)

    def _report(self, conn: Connection, report: Any) -> tuple[int | None, int | None]:
        m, p = model.crm_messages, model.sms_parts
        now = self.clock()
        reference = int(getattr(report, "reference", -1)) & 0xFF
        recipient = str(getattr(report, "recipient", ""))
        candidates = conn.execute(
            sa.select(p.c.id, p.c.message_id, p.c.recipient)
            .where((p.c.reference == reference) & (p.c.state == "sent"))
            .order_by(p.c.sent_at.desc(), p.c.id.desc())
            .limit(20)
        ).all()
        part = next((c for c in candidates if _same_number(c.recipient, recipient)), None)
        if part is None:
            log.info("SMS delivery report for reference {ref}: no SMS waits for it", ref=reference)
            return None, None
        status = int(getattr(report, "status", 0))
        delivered = bool(getattr(report, "delivered", status < 0x20))
        if not delivered and status < GIVEN_UP:
            return None, int(part.message_id)  # the network still tries: not final
        conn.execute(
            p.update()
            .where(p.c.id == part.id)
            .values(
                state="delivered" if delivered else "undeliverable",
                status=status,
                reported_at=now,
            )
        )
        states = set(
            conn.execute(sa.select(p.c.state).where(p.c.message_id == part.message_id)).scalars()
        )
        row = conn.execute(
            sa.select(m.c.ticket_id, m.c.state).where(m.c.id == part.message_id)
        ).one()
        if "undeliverable" in states:
            values: dict[str, Any] = {"state": "undeliverable", "delivered_at": now}
            values["error"] = N_(
                "the network could not deliver it (status {status})", status=status
            )
        elif states == {"delivered"}:
            values = {"state": "delivered", "delivered_at": now}
        else:
            return None, int(part.message_id)
        if row.state in ("sent", "delivered"):
            conn.execute(m.update().where(m.c.id == part.message_id).values(**values))
        return row.ticket_id, int(part.message_id)

    # ---- the System page ----------------------------------------------------------------

    def counts(self) -> defer.Deferred[OutboxCounts]:
        """What waits and what failed or left today (UTC)."""
        start = self.clock().replace(hour=0, minute=0, second=0, microsecond=0)

        def thd(conn: Connection) -> OutboxCounts:
            m = model.crm_messages
            rows: dict[str, int] = dict(
                conn.execute(
                    sa.select(m.c.state, sa.func.count())
                    .where(_outbound_sms() & (m.c.state.in_(PENDING) | (m.c.at >= start)))
                    .group_by(m.c.state)
                ).all()
            )
            return OutboxCounts(
                queued=int(rows.get("queued", 0)),
                waiting=int(rows.get("waiting_for_modem", 0)),
                failed_today=int(rows.get("failed", 0)) + int(rows.get("undeliverable", 0)),
                sent_today=int(rows.get("sent", 0)) + int(rows.get("delivered", 0)),
            )

        return self.db.run(thd)


def _outbound_sms() -> sa.ColumnElement[bool]:
    m = model.crm_messages
    return (m.c.channel == "sms") & (m.c.direction == "outbound")


def _due(now: dt.datetime) -> sa.ColumnElement[bool]:
    m = model.crm_messages
    return m.c.next_attempt_at.is_(None) | (m.c.next_attempt_at <= now)


def _same_number(stored: str, reported: str) -> bool:
    """A report's recipient is the number as the network writes it (+86..., 86...): the
    last nine digits compare, an empty one matches any."""
    a = "".join(c for c in stored if c.isdigit())[-9:]
    b = "".join(c for c in reported if c.isdigit())[-9:]
    return not b or a == b

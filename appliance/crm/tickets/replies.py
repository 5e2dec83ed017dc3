"""Replies to a ticket's customer: a callback task, an e-mail, an SMS.

Each reply is a ``crm_messages`` row (what was said, to which address, and what became of
it) and a ``reply`` history row. The ticket goes to "replied" when the reply has left: the
callback is in the ACD's line (``acd.schedule_callback``, as a web callback request), the
e-mail was taken by the SMTP server (ivr/mail_notify.py's client, ``[smtp]``). An e-mail
the server refused stays as a ``failed`` row with the reason, and the ticket where it was.
An SMS is ``queued`` for the SMS outbox (appliance/sms/outbox.py) when the box has one, else
``waiting_for_modem``; it is shown as sent, and the ticket as replied, only once the modem
took it (the outbox moves both).

Replying is the move in_progress -> replied of the transition table (an accepted ticket
goes through in_progress first), so the same people may do it: the agent whose ticket it
is, supervisors and admins. Run the methods on the reactor thread (the ACD's state is its
own): a web handler goes through ``ctx.call``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from appliance.config import SmtpConfig
from appliance.crm.tickets import events, transitions
from appliance.crm.tickets.messages import CrmMessage, message_of_row
from appliance.crm.tickets.store import (
    Ticket,
    agent_self,
    load,
    next_escalation,
    update,
    write_history,
)
from appliance.db import model
from appliance.email_address import is_email
from appliance.text import N_
from ivr import mail_notify

if TYPE_CHECKING:
    from acd.service import ACD
    from appliance.eventbus import EventBus

SUBJECT_MAX = 200
BODY_MAX = 10_000
SMS_MAX = 670  # ten concatenated UCS-2 parts of 67 characters
_NUMBER = re.compile(r"\+?[0-9]{3,20}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
WAITING_FOR_MODEM = N_(
    "kept until the GSM modem is installed: SMS cannot be sent yet, and this one has not been"
)
QUEUED_FOR_MODEM = N_("the GSM modem sends it; the ticket shows when it was sent and delivered")
REPLY_STATES = ("accepted", "in_progress", "replied")

Send = Callable[[Any, SmtpConfig, list[str], EmailMessage, str], Awaitable[bool]]


class ReplyError(ValueError):
    """The reply was refused or could not leave (an ``N_`` text)."""


def _text(value: str, limit: int, what: str) -> str:
    if not isinstance(value, str):
        raise ReplyError(N_("{what} must be text", what=what))
    value = _CONTROL.sub("", value).strip()
    if not value:
        raise ReplyError(N_("{what} is required", what=what))
    if len(value) > limit:
        raise ReplyError(N_("{what} has at most {max} characters", what=what, max=limit))
    return value


def _may_reply(conn: Connection, actor: str, role: str, ticket_id: int) -> Ticket:
    ticket = load(conn, ticket_id, for_update=True)
    if ticket.state not in REPLY_STATES:
        raise ReplyError(N_("accept the ticket before replying"))
    me = agent_self(conn, actor) if role == "agent" else None
    try:
        transitions.check(role, me, "in_progress", "replied", ticket.assignee_kind, ticket.assignee)
    except transitions.TransitionError as exc:
        raise ReplyError(exc.args[0]) from None
    return ticket


def _replied(conn: Connection, ticket: Ticket, actor: str, now: dt.datetime) -> None:
    """The ticket's moves to "replied" (through in_progress from accepted)."""
    state = ticket.state
    for to_state in ("in_progress", "replied"):
        if (state, to_state) in transitions.TRANSITIONS:
            write_history(conn, ticket.id, now, actor, "state", state, to_state)
            state = to_state
    update(
        conn,
        ticket.id,
        state=state,
        updated_at=now,
        next_escalation_at=next_escalation(conn, ticket, state),
    )


def _insert(conn: Connection, **values: Any) -> CrmMessage:
    m = model.crm_messages
    result = conn.execute(m.insert().values(direction="outbound", **values))
    pk = result.inserted_primary_key
    assert pk is not None
    return message_of_row(conn.execute(m.select().where(m.c.id == pk[0])).one())


class Replies:
    """Replies on tickets (see the module's docstring). ``send``: the SMTP sender (tests
    hand a fake one; the default is ivr/mail_notify.py's)."""

    def __init__(
        self,
        reactor: Any,
        db: Any,
        acd: ACD | None,
        smtp: SmtpConfig,
        *,
        send: Send = mail_notify.send,
        clock: Callable[[], dt.datetime] | None = None,
        bus: EventBus | None = None,
    ) -> None:
        """``bus``: told of each ticket a reply changed (``events.TicketsChanged``)."""
        self.bus = bus
        self.reactor = reactor
        self.db = db
        self.acd = acd
        self.smtp = smtp
        self.send = send
        self.clock = clock or (lambda: dt.datetime.fromtimestamp(reactor.seconds(), dt.UTC))

    async def email(
        self, actor: str, role: str, ticket_id: int, to: str, subject: str, body: str
    ) -> CrmMessage:
        """Mail the customer; the message row (``sent``). ReplyError: refused, or the
        server did not take it (the row stays, ``failed``, with the reason)."""
        to = to.strip() if isinstance(to, str) else ""
        if not is_email(to):
            raise ReplyError(N_("not an e-mail address: {address}", address=to[:80]))
        subject = mail_notify.clean(_text(subject, SUBJECT_MAX, N_("the subject")), SUBJECT_MAX)
        body = _text(body, BODY_MAX, N_("the message"))
        if not self.smtp.host:
            raise ReplyError(N_("e-mail is not set up: an admin fills in [smtp] in ccbox.conf"))
        now = self.clock()

        def queued(conn: Connection) -> tuple[Ticket, CrmMessage]:
            ticket = _may_reply(conn, actor, role, ticket_id)
            row = _insert(
                conn,
                customer_id=ticket.customer_id,
                ticket_id=ticket.id,
                channel="email",
                address=to,
                subject=subject,
                body=body,
                state="queued",
                created_by=actor[:64],
                at=now,
            )
            write_history(conn, ticket.id, now, actor, "reply", "", "email", message_id=row.id)
            return ticket, row

        ticket, row = await self.db.run(queued)
        msg = EmailMessage()
        msg["Subject"] = f"[{ticket.number}] {subject}"
        msg["From"] = self.smtp.sender
        msg["To"] = to
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.smtp.sender.rsplit("@", 1)[-1])
        msg.set_content(body)
        sent = await self.send(self.reactor, self.smtp, [to], msg, f"ticket {ticket.number} reply")
        error = "" if sent else N_("the mail server did not take the e-mail (see the log)")

        def done(conn: Connection) -> CrmMessage:
            m = model.crm_messages
            conn.execute(
                m.update()
                .where(m.c.id == row.id)
                .values(state="sent" if sent else "failed", error=error)
            )
            current = load(conn, ticket.id, for_update=True)
            if sent and current.state in REPLY_STATES:
                _replied(conn, current, actor, self.clock())
            elif not sent:
                write_history(
                    conn,
                    ticket.id,
                    self.clock(),
                    actor,
                    "reply_failed",
                    "",
                    "email",
                    message_id=row.id,
                )
            return message_of_row(conn.execute(m.select().where(m.c.id == row.id)).one())

        result: CrmMessage = await self.db.run(done)
        events.publish(self.bus, ticket.id)
        if not sent:
            raise ReplyError(error)
        return result

    async def callback(
        self,
        actor: str,
        role: str,
        ticket_id: int,
        number: str,
        queue: str = "",
        due_at: dt.datetime | None = None,
        note: str = "",
    ) -> CrmMessage:
        """Have the customer called back by ``queue``'s agents (default: the queue the
        ticket is assigned to) at ``due_at`` or as soon as one is free: an ACD callback,
        as a web request's. The message row names it."""
        if self.acd is None:
            raise ReplyError(N_("callbacks need the ACD"))
        number = number.strip() if isinstance(number, str) else ""
        if not _NUMBER.fullmatch(number):
            raise ReplyError(N_("not a number to call back: {number}", number=number[:32]))
        note = _CONTROL.sub("", note).strip()[:BODY_MAX] if isinstance(note, str) else ""
        now = self.clock()
        ticket: Ticket = await self.db.run(lambda conn: _may_reply(conn, actor, role, ticket_id))
        if not queue and ticket.assignee_kind == "queue":
            queue = ticket.assignee
        if not queue or queue not in self.acd.queue_by_name:
            raise ReplyError(N_("choose the queue whose agents call back"))
        if self.acd.is_blacklisted(number):
            raise ReplyError(N_("this number is on the black list"))
        callback_id = await self.acd.schedule_callback(
            queue, number, ticket.number, "ticket", due_at
        )
        if callback_id is None:
            raise ReplyError(N_("not a number to call back: {number}", number=number[:32]))

        def thd(conn: Connection) -> CrmMessage:
            current = load(conn, ticket.id, for_update=True)
            row = _insert(
                conn,
                customer_id=current.customer_id,
                ticket_id=current.id,
                channel="callback",
                address=number,
                subject=queue[:SUBJECT_MAX],
                body=note,
                state="queued",
                callback_id=callback_id,
                created_by=actor[:64],
                at=now,
            )
            write_history(
                conn,
                current.id,
                now,
                actor,
                "reply",
                "",
                "callback",
                message_id=row.id,
                callback_id=callback_id,
            )
            if current.state in REPLY_STATES:
                _replied(conn, current, actor, now)
            return row

        result: CrmMessage = await self.db.run(thd)
        events.publish(self.bus, ticket.id)
        return result

    async def sms(
        self, actor: str, role: str, ticket_id: int, number: str, body: str, *, queued: bool = False
    ) -> tuple[CrmMessage, str]:
        """Store an SMS for the customer: ``queued`` for the SMS outbox when there is one
        (``queued``), else ``waiting_for_modem``; the row, and the message to show (it has
        not been sent)."""
        number = number.strip() if isinstance(number, str) else ""
        if not _NUMBER.fullmatch(number):
            raise ReplyError(N_("not a mobile number: {number}", number=number[:32]))
        body = _text(body, SMS_MAX, N_("the message"))
        now = self.clock()

        def thd(conn: Connection) -> CrmMessage:
            ticket = _may_reply(conn, actor, role, ticket_id)
            row = _insert(
                conn,
                customer_id=ticket.customer_id,
                ticket_id=ticket.id,
                channel="sms",
                address=number,
                body=body,
                state="queued" if queued else "waiting_for_modem",
                error="" if queued else WAITING_FOR_MODEM,
                created_by=actor[:64],
                at=now,
            )
            write_history(conn, ticket.id, now, actor, "reply", "", "sms", message_id=row.id)
            return row

        row: CrmMessage = await self.db.run(thd)
        events.publish(self.bus, row.ticket_id or ticket_id)
        return row, (QUEUED_FOR_MODEM if queued else WAITING_FOR_MODEM)

"""The SMS inbox: an SMS from a customer becomes a ``crm_messages`` row (inbound) on a ticket,
and a notice on the agents' desks.

The sender is looked up as a caller is (``CustomerStore.by_number``). The SMS joins the
newest open ticket of that customer, or else the newest open ticket an earlier SMS from the
same number joined (a sender no customer has); with neither, a new ticket (source "sms",
``[sms] ticket_type``, for ``[sms] queue``'s agents). On a ticket it is a message (the
ticket page's replies list) and a comment (the conversation), so the agent answers with the
ticket page's SMS reply, which the outbox sends.

A flood (many senders, each opening a ticket): at most ``[sms] max_new_tickets_per_hour``
tickets are opened by SMS in any hour; past that, an SMS that would open one joins the one
open "flood" ticket instead (created by ``sms-flood``, unassigned to a customer, one notice
when it opens), where it is stored and listed like any other (a message and a comment with
its sender), so nothing is lost and the desks are not flooded; an agent sorts them out.

The sender and the text are whatever reached the modem: control characters are dropped,
both are bounded, and the comment is the text escaped and cleaned as any comment
(appliance.rich_text), never markup of the sender's.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.logger import Logger

from appliance.crm.customer_store import CustomerStore
from appliance.crm.tickets import events
from appliance.crm.tickets.store import (
    TicketStore,
    check_assignee,
    load,
    update,
    write_history,
)
from appliance.db import model, notice_store
from appliance.db.notice_store import NoticeRow
from appliance.rich_text import clean_html
from appliance.text import N_

log = Logger()

ACTOR = "sms"
FLOOD_ACTOR = "sms-flood"  # the creator of the one ticket SMS past the hourly cap join
SENDER_MAX = 32
TEXT_MAX = 2000  # more than ten concatenated parts of 153 GSM characters
SUBJECT_CHARS = 40
NOTICE_MINUTES = 60
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")

Translate = Callable[[str], str]


@dataclass(frozen=True)
class Received:
    """What became of one inbound SMS."""

    message_id: int
    ticket_id: int
    new_ticket: bool
    customer_id: int | None
    notices: tuple[NoticeRow, ...]


def clean_sender(sender: object) -> str:
    """The sender as stored and shown: printable, bounded (an alphanumeric sender ID may be
    any text)."""
    text = _CONTROL.sub("", str(sender or "")).replace("\n", " ").replace("\r", " ")
    return text.strip()[:SENDER_MAX] or "?"


def clean_text(text: object) -> str:
    """The SMS's text as stored: control characters (but line breaks) dropped, bounded."""
    value = str(text or "").replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value).strip()
    if len(value) > TEXT_MAX:
        value = value[: TEXT_MAX - 1] + "…"
    return value


def _comment_html(sender: str, text: str, translate: Translate) -> str:
    head = html.escape(translate(N_("SMS from {sender}:", sender=sender)))
    body = "<br>".join(html.escape(line) for line in text.split("\n"))
    return clean_html(f"<p><strong>{head}</strong></p><p>{body}</p>")


class SmsInbox:
    """Inbound SMS (see the module's docstring). ``translate``: into the center's language
    (the ticket's subject, the comment's heading, the notice); ``on_notice``: told of each
    notice posted (the root puts it on the desks' live feed); ``bus``: told of each ticket
    an SMS changed."""

    def __init__(
        self,
        db: Any,
        customers: CustomerStore,
        tickets: TicketStore,
        *,
        queue: str = "",
        ticket_type: str = "inquiry",
        translate: Translate = str,
        on_notice: Callable[[NoticeRow], object] | None = None,
        bus: Any = None,
        clock: Callable[[], dt.datetime] | None = None,
        max_new_tickets_per_hour: int = 60,
    ) -> None:
        self.db = db
        self.customers = customers
        self.tickets = tickets
        self.queue = queue
        self.ticket_type = ticket_type
        self.translate = translate
        self.on_notice = on_notice
        self.bus = bus
        self.clock = clock or tickets.clock
        self.max_new_tickets_per_hour = max_new_tickets_per_hour

    def sms_received(self, sms: Any) -> defer.Deferred[Received]:
        """Route one ``ReceivedSms(sender, text, sent_at, parts)``."""
        return defer.ensureDeferred(self._received(sms))

    async def _received(self, sms: Any) -> Received:
        sender = clean_sender(getattr(sms, "sender", ""))
        text = clean_text(getattr(sms, "text", ""))
        customer = await self.customers.by_number(sender)
        customer_id = customer.id if customer is not None else None
        ticket_id = await self.db.run(lambda conn: _open_ticket(conn, customer_id, sender))
        new_ticket = ticket_id is None
        flood = False
        if ticket_id is None:
            since = self.clock() - dt.timedelta(hours=1)
            opened = await self.db.run(lambda conn: _sms_tickets_since(conn, since))
            if opened >= self.max_new_tickets_per_hour:
                flood = True
                ticket_id = await self.db.run(_flood_ticket)
                new_ticket = ticket_id is None
                if ticket_id is None:
                    log.warn(
                        "SMS flood: {n} tickets opened by SMS in an hour; more join one ticket",
                        n=opened,
                    )
                    ticket_id = await self._new_ticket(sender, text, None, flood=True)
            else:
                ticket_id = await self._new_ticket(sender, text, customer_id)
        now = self.clock()
        comment = _comment_html(sender, text, self.translate)

        def thd(conn: Connection) -> tuple[int, tuple[NoticeRow, ...]]:
            ticket = load(conn, ticket_id, for_update=True)
            m = model.crm_messages
            result = conn.execute(
                m.insert().values(
                    customer_id=customer_id if customer_id is not None else ticket.customer_id,
                    ticket_id=ticket.id,
                    channel="sms",
                    direction="inbound",
                    address=sender,
                    body=text,
                    state="delivered",
                    created_by=ACTOR,
                    at=now,
                    delivered_at=now,
                )
            )
            pk = result.inserted_primary_key
            assert pk is not None
            message_id = int(pk[0])
            c = model.ticket_comments
            cpk = conn.execute(
                c.insert().values(ticket_id=ticket.id, author=ACTOR, html=comment, created_at=now)
            ).inserted_primary_key
            assert cpk is not None
            write_history(conn, ticket.id, now, ACTOR, "comment", comment_id=int(cpk[0]))
            update(conn, ticket.id, updated_at=now)
            if flood and not new_ticket:
                return message_id, ()  # the flood ticket's notice went out when it opened
            notices = self._notices(conn, ticket, sender, text, now)
            return message_id, notices

        message_id, notices = await self.db.run(thd)
        events.publish(self.bus, ticket_id)
        for notice in notices:
            if self.on_notice is not None:
                try:
                    self.on_notice(notice)
                except Exception:
                    log.failure("publishing an SMS notice failed")
        return Received(message_id, ticket_id, new_ticket, customer_id, notices)

    async def _new_ticket(
        self, sender: str, text: str, customer_id: int | None, *, flood: bool = False
    ) -> int:
        first = " ".join(text.split())[:SUBJECT_CHARS] or "…"
        subject = self.translate(N_("SMS from {sender}: {text}", sender=sender, text=first))
        if flood:
            subject = f"{self.translate(N_('Too many requests'))} (SMS): {subject}"
        queue = await self.db.run(lambda conn: _queue_or_none(conn, self.queue))

        async def create(type_key: str) -> int:
            ticket_id: int = await self.tickets.create(
                FLOOD_ACTOR if flood else ACTOR,
                type_key=type_key,
                subject=subject[:200],
                body=text,
                customer_id=customer_id,
                source="sms",
                assignee_kind="queue" if queue else None,
                assignee=queue,
            )
            return ticket_id

        try:
            return await create(self.ticket_type)
        except ValueError as exc:  # the type was switched off or removed: the SMS is kept
            fallback = await self.db.run(_an_active_type)
            log.warn(
                "SMS ticket: [sms] ticket_type {key}: {error}; made a {fallback} ticket",
                key=self.ticket_type,
                error=exc,
                fallback=fallback,
            )
            return await create(fallback)

    def _notices(
        self, conn: Connection, ticket: Any, sender: str, text: str, now: dt.datetime
    ) -> tuple[NoticeRow, ...]:
        """The agents who should read it: the ticket's queue's or agent's, else everyone."""
        notice = self.translate(
            N_(
                "SMS from {sender} (ticket {number}): {text}",
                sender=sender,
                number=ticket.number,
                text=" ".join(text.split())[:200],
            )
        )[: notice_store.MAX_TEXT]

        def post(queue_id: int | None, **audience: Any) -> NoticeRow:
            return notice_store.add(
                conn, notice, "info", ACTOR, NOTICE_MINUTES, queue_id, now, **audience
            )

        if ticket.assignee_kind == "queue":
            q = model.queues.c
            queue_id = conn.execute(sa.select(q.id).where(q.name == ticket.assignee)).scalar()
            if queue_id is not None:
                return (post(int(queue_id)),)
        if ticket.assignee_kind == "agent":
            a = model.agents.c
            agent_id = conn.execute(sa.select(a.id).where(a.number == ticket.assignee)).scalar()
            if agent_id is not None:
                return (post(None, agent_id=int(agent_id)),)
        return (post(None),)


def _open_ticket(conn: Connection, customer_id: int | None, sender: str) -> int | None:
    """The ticket an SMS joins: the customer's newest open one, else the newest open one an
    SMS from this number joined."""
    t, m = model.tickets, model.crm_messages
    if customer_id is not None:
        found = conn.execute(
            sa.select(t.c.id)
            .where((t.c.customer_id == customer_id) & (t.c.state != "closed"))
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(1)
        ).scalar()
        if found is not None:
            return int(found)
    found = conn.execute(
        sa.select(t.c.id)
        .join(m, m.c.ticket_id == t.c.id)
        .where(
            (m.c.address == sender)
            & (m.c.channel == "sms")
            & (m.c.direction == "inbound")
            & (t.c.state != "closed")
        )
        .order_by(m.c.at.desc(), m.c.id.desc())
        .limit(1)
    ).scalar()
    return int(found) if found is not None else None


def _sms_tickets_since(conn: Connection, since: dt.datetime) -> int:
    """Tickets SMS opened since ``since`` (the flood ticket not counted)."""
    t = model.tickets.c
    count = conn.execute(
        sa.select(sa.func.count())
        .select_from(model.tickets)
        .where((t.source == "sms") & (t.created_by == ACTOR) & (t.created_at >= since))
    ).scalar()
    return int(count or 0)


def _flood_ticket(conn: Connection) -> int | None:
    """The open ticket SMS past the hourly cap join (the newest, if several)."""
    t = model.tickets.c
    found = conn.execute(
        sa.select(t.id)
        .where((t.created_by == FLOOD_ACTOR) & (t.state != "closed"))
        .order_by(t.created_at.desc(), t.id.desc())
        .limit(1)
    ).scalar()
    return int(found) if found is not None else None


def _an_active_type(conn: Connection) -> str:
    """A ticket type new tickets may take (a built-in one first)."""
    t = model.ticket_types.c
    key = conn.execute(
        sa.select(t.key).where(t.active).order_by(t.builtin.desc(), t.key).limit(1)
    ).scalar()
    if key is None:
        raise ValueError(N_("no ticket type is offered"))
    return str(key)


def _queue_or_none(conn: Connection, name: str) -> str:
    if not name:
        return ""
    try:
        return check_assignee(conn, "queue", name)
    except ValueError:
        log.warn("[sms] queue {name} does not exist: the SMS ticket is unassigned", name=name)
        return ""

"""Tickets (work orders): created, moved through their states, assigned, commented on.

Every change writes a ``ticket_history`` row (who, when, from, to) in the same transaction.
The due dates come from the SLA rule of the ticket's (type, priority); the escalation
service (escalation.py) reads ``next_escalation_at``, which every change here keeps right.
Texts are stored as given (bounded) and escaped where shown; comments are HTML cleaned by
appliance.rich_text before they are stored.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.crm.fields import clean_values
from appliance.crm.tickets import catalog, events, sla
from appliance.crm.tickets.messages import CrmMessage, messages_of
from appliance.crm.tickets.transitions import (
    MANAGERS,
    RUNNING_STATES,
    AgentSelf,
    TransitionError,
    check,
    state_after_assignment,
)
from appliance.db import model, upload_quota
from appliance.db.components import _Component, utcnow
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.eventbus import EventBus

T = TypeVar("T")

SUBJECT_MAX = 200
BODY_MAX = 20_000
NOTE_MAX = 1000
COMMENT_MAX = 50_000  # the HTML as sent, before cleaning
PAGE_MAX = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

__all__ = [
    "Attachment",
    "Comment",
    "HistoryItem",
    "NoTicket",
    "Ticket",
    "TicketStore",
    "TransitionError",
]


class NoTicket(LookupError):
    """No ticket with that id (an ``N_`` text)."""


@dataclass(frozen=True)
class Ticket:
    id: int
    number: str
    type_key: str
    subject: str
    body: str
    state: str
    priority: str
    source: str
    customer_id: int | None
    call_id: int | None
    voicemail_id: int | None
    recording_id: int | None
    assignee_kind: str | None
    assignee: str
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    respond_due_at: dt.datetime | None
    due_at: dt.datetime | None
    escalation_level: int
    next_escalation_at: dt.datetime | None
    closed_at: dt.datetime | None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        """Its SLA timers run (it waits on the center, not on the customer)."""
        return self.state in RUNNING_STATES

    def overdue(self, now: dt.datetime) -> bool:
        return self.running and self.due_at is not None and self.due_at <= now


@dataclass(frozen=True)
class HistoryItem:
    id: int
    ticket_id: int
    at: dt.datetime
    actor: str
    action: str  # created, state, assigned, priority, comment, attachment, reply, escalation
    from_value: str
    to_value: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Comment:
    id: int
    ticket_id: int
    author: str
    html: str  # cleaned
    created_at: dt.datetime


@dataclass(frozen=True)
class Attachment:
    id: int
    ticket_id: int
    sha256: str
    filename: str
    mime: str
    size: int
    uploaded_by: str
    created_at: dt.datetime


def ticket_of_row(r: Any) -> Ticket:
    try:
        values = json.loads(r.fields)
    except ValueError:
        values = {}
    return Ticket(
        id=r.id,
        number=r.number,
        type_key=r.type_key,
        subject=r.subject,
        body=r.body,
        state=r.state,
        priority=r.priority,
        source=r.source,
        customer_id=r.customer_id,
        call_id=r.call_id,
        voicemail_id=r.voicemail_id,
        recording_id=r.recording_id,
        assignee_kind=r.assignee_kind,
        assignee=r.assignee,
        created_by=r.created_by,
        created_at=r.created_at,
        updated_at=r.updated_at,
        respond_due_at=r.respond_due_at,
        due_at=r.due_at,
        escalation_level=r.escalation_level,
        next_escalation_at=r.next_escalation_at,
        closed_at=r.closed_at,
        fields={str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {},
    )


def attachment_of_row(r: Any) -> Attachment:
    return Attachment(
        r.id, r.ticket_id, r.sha256, r.filename, r.mime, r.size, r.uploaded_by, r.created_at
    )


def load(conn: Connection, ticket_id: int, for_update: bool = False) -> Ticket:
    """The ticket (its row locked for the transaction with ``for_update``); NoTicket."""
    t = model.tickets
    q = t.select().where(t.c.id == ticket_id)
    if for_update:
        q = q.with_for_update()
    r = conn.execute(q).first()
    if r is None:
        raise NoTicket(N_("no ticket {ticket_id}", ticket_id=ticket_id))
    return ticket_of_row(r)


def write_history(
    conn: Connection,
    ticket_id: int,
    at: dt.datetime,
    actor: str,
    action: str,
    from_value: str = "",
    to_value: str = "",
    **detail: Any,
) -> None:
    conn.execute(
        model.ticket_history.insert().values(
            ticket_id=ticket_id,
            at=at,
            actor=actor[:64],
            action=action,
            from_value=from_value[:100],
            to_value=to_value[:100],
            detail=json.dumps(detail, ensure_ascii=False, default=str),
        )
    )


def update(conn: Connection, ticket_id: int, **values: Any) -> None:
    t = model.tickets
    conn.execute(t.update().where(t.c.id == ticket_id).values(**values))


def assignee_text(kind: str | None, target: str) -> str:
    return f"{kind}:{target}" if kind else ""


def agent_self(conn: Connection, username: str) -> AgentSelf | None:
    """The agent a web login is linked to, with its department and the queues it is a
    member of; None when the login is no agent's."""
    a, u = model.agents.c, model.users.c
    row = conn.execute(
        sa.select(a.id, a.number, a.department)
        .select_from(model.agents.join(model.users, a.user_id == u.id))
        .where(u.username == username)
    ).first()
    if row is None:
        return None
    qm, q = model.queue_members.c, model.queues.c
    names = conn.execute(
        sa.select(q.name)
        .select_from(model.queue_members.join(model.queues, qm.queue_id == q.id))
        .where(qm.agent_id == row.id)
    ).scalars()
    return AgentSelf(row.number, row.department, frozenset(names))


def check_assignee(conn: Connection, kind: str, target: str) -> str:
    """``target`` checked for ``kind``: an active agent's number, a queue's name, or a
    department some agent belongs to. ValueError with an ``N_`` text."""
    target = target.strip()
    a, q = model.agents.c, model.queues.c
    if kind == "agent":
        found = conn.execute(
            sa.select(a.id).where((a.number == target) & (a.status == "active"))
        ).first()
        if found is None:
            raise ValueError(N_("no active agent {number}", number=target[:16]))
    elif kind == "queue":
        if conn.execute(sa.select(q.id).where(q.name == target)).first() is None:
            raise ValueError(N_("no queue {name}", name=target[:64]))
    elif kind == "department":
        if (
            not target
            or conn.execute(sa.select(a.id).where(a.department == target)).first() is None
        ):
            raise ValueError(N_("no department {name}", name=target[:64]))
    else:
        raise ValueError(N_("assign to one of: {items}", items=", ".join(model.ASSIGNEE_KINDS)))
    return target


def dues(
    conn: Connection, type_key: str, priority: str, start: dt.datetime, level: int, running: bool
) -> dict[str, Any]:
    """The due dates and next escalation moment of a ticket of (type, priority) whose
    clock started at ``start`` with ``level`` steps done."""
    rule = catalog.load_rule(conn, type_key, priority)
    if rule is None:
        return {"respond_due_at": None, "due_at": None, "next_escalation_at": None}
    respond, resolve = rule.due_dates(start)
    nxt = sla.next_moment(resolve, rule.steps, level) if running else None
    return {"respond_due_at": respond, "due_at": resolve, "next_escalation_at": nxt}


def next_escalation(conn: Connection, ticket: Ticket, state: str) -> dt.datetime | None:
    if state not in RUNNING_STATES:
        return None
    rule = catalog.load_rule(conn, ticket.type_key, ticket.priority)
    steps = rule.steps if rule is not None else ()
    return sla.next_moment(ticket.due_at, steps, ticket.escalation_level)


def _late(now: dt.datetime) -> sa.ColumnElement[bool]:
    """The tickets running past their due date at ``now`` (``Ticket.overdue`` in SQL)."""
    t = model.tickets.c
    return t.state.in_(RUNNING_STATES) & t.due_at.is_not(None) & (t.due_at <= now)


def _text(value: str, max_len: int, what: str, required: bool = True) -> str:
    if not isinstance(value, str):
        raise ValueError(N_("{what} must be text", what=what))
    value = value.strip()
    if required and not value:
        raise ValueError(N_("{what} is required", what=what))
    if len(value) > max_len:
        raise ValueError(N_("{what} has at most {max} characters", what=what, max=max_len))
    return value


def _clean_comment(html: str) -> str:
    from appliance.rich_text import clean_html

    return clean_html(html)


class TicketStore(_Component):
    """Tickets on the database: every public method returns a Deferred of plain data.

    ``clock`` gives "now" (tests drive it); ``zone`` is where a ticket number's day is cut
    (default: the box's own zone, as the reports' default); ``bus``: told of each write
    (``events.TicketsChanged``, on the reactor thread, once it committed)."""

    def __init__(
        self,
        db: Any,
        clock: Callable[[], dt.datetime] = utcnow,
        zone: tzinfo | None = None,
        bus: EventBus | None = None,
    ) -> None:
        super().__init__(db)
        self.clock = clock
        self.bus = bus
        if zone is None:
            from appliance.zones import box_zone_name, center_zone

            try:
                zone = center_zone(box_zone_name())
            except Exception:
                zone = dt.UTC
        self.zone = zone

    def _written(self, d: defer.Deferred[T], ticket_of: Callable[[T], int]) -> defer.Deferred[T]:
        """``d`` (a write), telling the bus which ticket it changed once it committed."""

        def told(result: T) -> T:
            events.publish(self.bus, ticket_of(result))
            return result

        return d.addCallback(told) if self.bus is not None else d

    # ---- creating and reading -----------------------------------------------------------

    def create(
        self,
        actor: str,
        *,
        type_key: str,
        subject: str,
        body: str = "",
        customer_id: int | None = None,
        priority: str = "normal",
        source: str = "manual",
        call_id: int | None = None,
        voicemail_id: int | None = None,
        recording_id: int | None = None,
        fields: Mapping[str, object] | None = None,
        assignee_kind: str | None = None,
        assignee: str = "",
    ) -> defer.Deferred[int]:
        """A new ticket's id. ValueError (or fields.FieldErrors) with ``N_`` texts for a bad
        subject, body, priority, source, type, customer, assignee or field value."""
        try:
            subject = _text(subject, SUBJECT_MAX, N_("the subject"))
            subject = _CONTROL.sub(" ", subject)
            body = _text(body, BODY_MAX, N_("the description"), required=False)
            if priority not in model.TICKET_PRIORITIES:
                raise ValueError(
                    N_("priority must be one of: {items}", items=", ".join(model.TICKET_PRIORITIES))
                )
            if source not in model.TICKET_SOURCES:
                raise ValueError(
                    N_("source must be one of: {items}", items=", ".join(model.TICKET_SOURCES))
                )
        except ValueError as exc:
            return defer.fail(exc)
        raw_fields = dict(fields or {})
        now = self.clock()
        t = model.tickets

        def thd(conn: Connection) -> int:
            kind = catalog.load_type(conn, type_key)
            if kind is None or not kind.active:
                raise ValueError(N_("no ticket type {key}", key=str(type_key)[:32]))
            values = clean_values(kind.fields, raw_fields)
            if customer_id is not None:
                c = model.customers.c
                if conn.execute(sa.select(c.id).where(c.id == customer_id)).first() is None:
                    raise ValueError(N_("no customer {customer_id}", customer_id=customer_id))
            target = ""
            if assignee_kind is not None:
                target = check_assignee(conn, assignee_kind, assignee)
            row: dict[str, Any] = dict(
                type_key=type_key,
                subject=subject,
                body=body,
                state="new",
                priority=priority,
                source=source,
                customer_id=customer_id,
                call_id=call_id,
                voicemail_id=voicemail_id,
                recording_id=recording_id,
                assignee_kind=assignee_kind,
                assignee=target,
                created_by=actor[:64],
                created_at=now,
                updated_at=now,
                escalation_level=0,
                fields=json.dumps(values, ensure_ascii=False),
                **dues(conn, type_key, priority, now, 0, running=True),
            )
            new_id = self._insert_numbered(conn, row, now)
            number = conn.execute(sa.select(t.c.number).where(t.c.id == new_id)).scalar_one()
            write_history(conn, new_id, now, actor, "created", "", "new", number=number)
            if assignee_kind is not None:
                write_history(
                    conn, new_id, now, actor, "assigned", "", assignee_text(assignee_kind, target)
                )
            return new_id

        return self._written(self.db.run(thd), lambda tid: tid)

    def _insert_numbered(self, conn: Connection, row: dict[str, Any], now: dt.datetime) -> int:
        """Insert with the day's next number, T<yyyymmdd>-<nnnn> (the center's day); two
        writers that pick the same number: the second tries the next one."""
        t = model.tickets
        prefix = f"T{now.astimezone(self.zone):%Y%m%d}-"
        for _ in range(20):
            last = conn.execute(
                sa.select(t.c.number)
                .where(t.c.number.like(prefix + "%"))
                .order_by(sa.func.length(t.c.number).desc(), t.c.number.desc())
                .limit(1)
            ).scalar()
            seq = int(last[len(prefix) :]) + 1 if last else 1
            number = f"{prefix}{seq:04d}"
            try:
                with conn.begin_nested():
                    result = conn.execute(t.insert().values(number=number, **row))
            except sa.exc.IntegrityError:
                if conn.execute(sa.select(t.c.id).where(t.c.number == number)).first():
                    continue  # another writer took the number first
                raise ValueError(
                    N_("the call, voicemail or recording the ticket names does not exist")
                ) from None
            pk = result.inserted_primary_key
            assert pk is not None
            return int(pk[0])
        raise RuntimeError("no free ticket number")

    def get(self, ticket_id: int) -> defer.Deferred[Ticket]:
        """The ticket; NoTicket when there is none."""
        return self.db.run(lambda conn: load(conn, ticket_id))

    def by_number(self, number: str) -> defer.Deferred[Ticket | None]:
        t = model.tickets

        def thd(conn: Connection) -> Ticket | None:
            r = conn.execute(t.select().where(t.c.number == number.strip()[:24])).first()
            return ticket_of_row(r) if r is not None else None

        return self.db.run(thd)

    # ---- changes ------------------------------------------------------------------------

    def transition(
        self, actor: str, role: str, ticket_id: int, to_state: str, note: str = ""
    ) -> defer.Deferred[Ticket]:
        """Move the ticket (transitions.TRANSITIONS says who may): TransitionError,
        NoTicket. Accepting makes an agent its assignee; reopening starts its SLA again."""
        try:
            note = _text(note, NOTE_MAX, N_("the note"), required=False)
        except ValueError as exc:
            return defer.fail(exc)
        now = self.clock()

        def thd(conn: Connection) -> Ticket:
            ticket = load(conn, ticket_id, for_update=True)
            me = agent_self(conn, actor) if role in ("agent", *MANAGERS) else None
            check(
                role,
                me if role == "agent" else None,
                ticket.state,
                to_state,
                ticket.assignee_kind,
                ticket.assignee,
            )
            values: dict[str, Any] = {"state": to_state, "updated_at": now}
            kind, target = ticket.assignee_kind, ticket.assignee
            if to_state == "accepted" and me is not None:
                kind, target = "agent", me.number
            if to_state == "dispatched" and kind is None:
                raise TransitionError(N_("assign the ticket to someone to dispatch it"))
            if (kind, target) != (ticket.assignee_kind, ticket.assignee):
                values.update(assignee_kind=kind, assignee=target)
                write_history(
                    conn,
                    ticket_id,
                    now,
                    actor,
                    "assigned",
                    assignee_text(ticket.assignee_kind, ticket.assignee),
                    assignee_text(kind, target),
                )
            if to_state == "closed":
                values.update(closed_at=now, next_escalation_at=None)
            elif to_state == "reopened":
                values.update(closed_at=None, escalation_level=0)
                values.update(dues(conn, ticket.type_key, ticket.priority, now, 0, running=True))
            else:
                values["next_escalation_at"] = next_escalation(conn, ticket, to_state)
            update(conn, ticket_id, **values)
            extra = {"note": note} if note else {}
            write_history(conn, ticket_id, now, actor, "state", ticket.state, to_state, **extra)
            return load(conn, ticket_id)

        return self._written(self.db.run(thd), lambda t: t.id)

    def assign(
        self, actor: str, role: str, ticket_id: int, kind: str, target: str
    ) -> defer.Deferred[Ticket]:
        """Give the ticket to an agent, a queue's agents or a department (supervisors and
        admins): a new or reopened ticket is "dispatched" by it, and so is an accepted or
        in-progress one given to a group (``transitions.state_after_assignment``)."""
        if role not in MANAGERS:
            return defer.fail(TransitionError(N_("only a supervisor or an admin may do that")))
        now = self.clock()

        def thd(conn: Connection) -> Ticket:
            ticket = load(conn, ticket_id, for_update=True)
            if ticket.state == "closed":
                raise TransitionError(N_("a closed ticket must be reopened first"))
            checked = check_assignee(conn, kind, target)
            values: dict[str, Any] = {
                "assignee_kind": kind,
                "assignee": checked,
                "updated_at": now,
            }
            write_history(
                conn,
                ticket_id,
                now,
                actor,
                "assigned",
                assignee_text(ticket.assignee_kind, ticket.assignee),
                assignee_text(kind, checked),
            )
            state = state_after_assignment(ticket.state, kind)
            if state != ticket.state:
                values["state"] = state
                write_history(conn, ticket_id, now, actor, "state", ticket.state, state)
            update(conn, ticket_id, **values)
            return load(conn, ticket_id)

        return self._written(self.db.run(thd), lambda t: t.id)

    def set_priority(
        self, actor: str, role: str, ticket_id: int, priority: str
    ) -> defer.Deferred[Ticket]:
        """A new priority (supervisors and admins): the due dates follow the rule of the new
        (type, priority), counted from the ticket's creation; steps done stay done."""
        if role not in MANAGERS:
            return defer.fail(TransitionError(N_("only a supervisor or an admin may do that")))
        if priority not in model.TICKET_PRIORITIES:
            return defer.fail(
                ValueError(
                    N_("priority must be one of: {items}", items=", ".join(model.TICKET_PRIORITIES))
                )
            )
        now = self.clock()

        def thd(conn: Connection) -> Ticket:
            ticket = load(conn, ticket_id, for_update=True)
            if ticket.priority == priority:
                return ticket
            start = ticket.created_at
            values = dues(
                conn, ticket.type_key, priority, start, ticket.escalation_level, ticket.running
            )
            update(conn, ticket_id, priority=priority, updated_at=now, **values)
            write_history(conn, ticket_id, now, actor, "priority", ticket.priority, priority)
            return load(conn, ticket_id)

        return self._written(self.db.run(thd), lambda t: t.id)

    def edit(
        self,
        actor: str,
        role: str,
        ticket_id: int,
        *,
        subject: str | None = None,
        body: str | None = None,
        fields: Mapping[str, object] | None = None,
        customer_id: int | None = None,
    ) -> defer.Deferred[Ticket]:
        """Change what the ticket says (None: leave it): its subject, description, field
        values (checked against its type, replacing them all) or customer. Supervisors and
        admins, and the agent whose ticket it is; not once it is closed."""
        try:
            if subject is not None:
                subject = _CONTROL.sub(" ", _text(subject, SUBJECT_MAX, N_("the subject")))
            if body is not None:
                body = _text(body, BODY_MAX, N_("the description"), required=False)
        except ValueError as exc:
            return defer.fail(exc)
        raw_fields = dict(fields) if fields is not None else None
        now = self.clock()

        def thd(conn: Connection) -> Ticket:
            ticket = load(conn, ticket_id, for_update=True)
            if role not in MANAGERS:
                me = agent_self(conn, actor) if role == "agent" else None
                if me is None or me.relation(ticket.assignee_kind, ticket.assignee) != "own":
                    raise TransitionError(N_("this ticket is not yours"))
            if ticket.state == "closed":
                raise TransitionError(N_("a closed ticket must be reopened first"))
            values: dict[str, Any] = {}
            if subject is not None and subject != ticket.subject:
                values["subject"] = subject
            if body is not None and body != ticket.body:
                values["body"] = body
            if raw_fields is not None:
                kind = catalog.load_type(conn, ticket.type_key)
                cleaned = clean_values(kind.fields if kind else (), raw_fields)
                if cleaned != ticket.fields:
                    values["fields"] = json.dumps(cleaned, ensure_ascii=False)
            if customer_id is not None and customer_id != ticket.customer_id:
                c = model.customers.c
                if conn.execute(sa.select(c.id).where(c.id == customer_id)).first() is None:
                    raise ValueError(N_("no customer {customer_id}", customer_id=customer_id))
                values["customer_id"] = customer_id
            if not values:
                return ticket
            changed = sorted(values)
            update(conn, ticket_id, updated_at=now, **values)
            write_history(conn, ticket_id, now, actor, "edited", "", ", ".join(changed))
            return load(conn, ticket_id)

        return self._written(self.db.run(thd), lambda t: t.id)

    def comment(self, actor: str, ticket_id: int, html: str) -> defer.Deferred[int]:
        """A comment's id: its HTML cleaned (appliance.rich_text) before it is stored;
        ValueError when nothing is left or it is too long."""
        if not isinstance(html, str) or len(html) > COMMENT_MAX:
            return defer.fail(
                ValueError(N_("a comment has at most {max} characters", max=COMMENT_MAX))
            )
        cleaned = _clean_comment(html)
        if not re.sub(r"<[^>]*>|&nbsp;|\s", "", cleaned) and "<img" not in cleaned:
            return defer.fail(ValueError(N_("the comment is empty")))
        now = self.clock()
        c = model.ticket_comments

        def thd(conn: Connection) -> int:
            load(conn, ticket_id)
            result = conn.execute(
                c.insert().values(
                    ticket_id=ticket_id, author=actor[:64], html=cleaned, created_at=now
                )
            )
            pk = result.inserted_primary_key
            assert pk is not None
            write_history(conn, ticket_id, now, actor, "comment", comment_id=int(pk[0]))
            update(conn, ticket_id, updated_at=now)
            return int(pk[0])

        return self._written(self.db.run(thd), lambda _id: ticket_id)

    def attach(
        self, actor: str, ticket_id: int, sha256: str, filename: str, mime: str, size: int
    ) -> defer.Deferred[int]:
        """Record a file appliance.uploads.UploadStore stored (its StoredFile's fields);
        QuotaExceeded past the uploader's hour (appliance/db/upload_quota.py)."""
        now = self.clock()
        a = model.ticket_attachments

        def thd(conn: Connection) -> int:
            load(conn, ticket_id)
            upload_quota.check(conn, actor, size, now)
            result = conn.execute(
                a.insert().values(
                    ticket_id=ticket_id,
                    sha256=sha256,
                    filename=filename[:255],
                    mime=mime[:100],
                    size=size,
                    uploaded_by=actor[:64],
                    created_at=now,
                )
            )
            pk = result.inserted_primary_key
            assert pk is not None
            write_history(
                conn,
                ticket_id,
                now,
                actor,
                "attachment",
                "",
                filename[:100],
                attachment_id=int(pk[0]),
            )
            update(conn, ticket_id, updated_at=now)
            return int(pk[0])

        return self._written(self.db.run(thd), lambda _id: ticket_id)

    # ---- lists --------------------------------------------------------------------------

    def history(self, ticket_id: int) -> defer.Deferred[list[HistoryItem]]:
        """Every change, oldest first."""
        h = model.ticket_history

        def thd(conn: Connection) -> list[HistoryItem]:
            rows = conn.execute(
                h.select().where(h.c.ticket_id == ticket_id).order_by(h.c.at, h.c.id)
            )
            out = []
            for r in rows:
                try:
                    detail = json.loads(r.detail)
                except ValueError:
                    detail = {}
                out.append(
                    HistoryItem(
                        r.id,
                        r.ticket_id,
                        r.at,
                        r.actor,
                        r.action,
                        r.from_value,
                        r.to_value,
                        detail if isinstance(detail, dict) else {},
                    )
                )
            return out

        return self.db.run(thd)

    def comments(self, ticket_id: int) -> defer.Deferred[list[Comment]]:
        c = model.ticket_comments

        def thd(conn: Connection) -> list[Comment]:
            rows = conn.execute(
                c.select().where(c.c.ticket_id == ticket_id).order_by(c.c.created_at, c.c.id)
            )
            return [Comment(r.id, r.ticket_id, r.author, r.html, r.created_at) for r in rows]

        return self.db.run(thd)

    def attachments(self, ticket_id: int) -> defer.Deferred[list[Attachment]]:
        a = model.ticket_attachments

        def thd(conn: Connection) -> list[Attachment]:
            rows = conn.execute(a.select().where(a.c.ticket_id == ticket_id).order_by(a.c.id))
            return [attachment_of_row(r) for r in rows]

        return self.db.run(thd)

    def agent_of(self, username: str) -> defer.Deferred[AgentSelf | None]:
        """The agent a web login is linked to (its number, department and queues: what the
        ticket rules ask of it); None when the login is no agent's."""
        return self.db.run(lambda conn: agent_self(conn, username))

    def attachment(self, attachment_id: int) -> defer.Deferred[Attachment | None]:
        """One attached file by its id (a download); None for an id no ticket has."""
        a = model.ticket_attachments

        def thd(conn: Connection) -> Attachment | None:
            r = conn.execute(a.select().where(a.c.id == attachment_id)).first()
            return attachment_of_row(r) if r is not None else None

        return self.db.run(thd)

    def messages(self, ticket_id: int) -> defer.Deferred[list[CrmMessage]]:
        """The replies and messages of the ticket, newest first."""
        return self.db.run(lambda conn: messages_of(conn, ticket_id=ticket_id))

    def open_for_customer(self, customer_id: int, limit: int = 10) -> defer.Deferred[list[Ticket]]:
        """The customer's tickets that are not closed, newest first (the screen pop)."""
        t = model.tickets
        q = (
            t.select()
            .where((t.c.customer_id == customer_id) & (t.c.state != "closed"))
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(max(1, min(limit, PAGE_MAX)))
        )
        return self.db.run(lambda conn: [ticket_of_row(r) for r in conn.execute(q)])

    def for_customer(self, customer_id: int, limit: int = PAGE_MAX) -> defer.Deferred[list[Ticket]]:
        """Every ticket of the customer, newest first (the timeline)."""
        t = model.tickets
        q = (
            t.select()
            .where(t.c.customer_id == customer_id)
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(max(1, min(limit, 1000)))
        )
        return self.db.run(lambda conn: [ticket_of_row(r) for r in conn.execute(q)])

    def board(
        self,
        state: str | None = None,
        overdue: bool | None = None,
        assignee: tuple[str, str] | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        type_key: str | None = None,
        priority: str | None = None,
        open_only: bool = False,
        anyone_of: Sequence[tuple[str, str]] = (),
        unassigned_in: Sequence[str] = (),
    ) -> defer.Deferred[list[Ticket]]:
        """Tickets for the supervisors' board, the soonest due first (no due date last).
        ``overdue`` True: only running tickets past their due date; False: only the others.
        ``assignee``: (kind, target). ``open_only``: every state but closed, in the query
        (so closed tickets never take the places of the limit). ``anyone_of`` and
        ``unassigned_in`` (an agent's list, one query): only tickets assigned to one of
        these (kind, target) or nobody's in one of those states (either given)."""
        if state is not None and state not in model.TICKET_STATES:
            return defer.fail(ValueError(N_("unknown ticket state {state}", state=state[:32])))
        now = self.clock()
        t = model.tickets
        late = _late(now)
        q = t.select()
        if state is not None:
            q = q.where(t.c.state == state)
        if open_only:
            q = q.where(t.c.state != "closed")
        if overdue is True:
            q = q.where(late)
        elif overdue is False:
            q = q.where(sa.not_(late))
        if assignee is not None:
            q = q.where((t.c.assignee_kind == assignee[0]) & (t.c.assignee == assignee[1]))
        either = [(t.c.assignee_kind == kind) & (t.c.assignee == to) for kind, to in anyone_of]
        if unassigned_in:
            either.append(t.c.assignee_kind.is_(None) & t.c.state.in_(list(unassigned_in)))
        if either:
            q = q.where(sa.or_(*either))
        if type_key is not None:
            q = q.where(t.c.type_key == type_key)
        if priority is not None:
            q = q.where(t.c.priority == priority)
        q = (
            q.order_by(t.c.due_at.is_(None), t.c.due_at, t.c.id.desc())
            .limit(max(1, min(limit, PAGE_MAX)))
            .offset(max(0, offset))
        )
        return self.db.run(lambda conn: [ticket_of_row(r) for r in conn.execute(q)])

    def board_counts(self) -> defer.Deferred[dict[str, int]]:
        """How many tickets are in each state, and ``overdue``: running past due."""
        now = self.clock()
        t = model.tickets

        def thd(conn: Connection) -> dict[str, int]:
            counts = dict.fromkeys(model.TICKET_STATES, 0)
            for state, n in conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state)):
                counts[state] = int(n)
            late = conn.execute(sa.select(sa.func.count()).where(_late(now))).scalar_one()
            counts["overdue"] = int(late)
            return counts

        return self.db.run(thd)

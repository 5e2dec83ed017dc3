"""A customer's timeline: every call, recording, voicemail, callback request, ticket,
campaign dial attempt, SMS and e-mail, web chat and e-mail thread, newest first, a page at
a time.

An item belongs to the customer through a ``customer_id`` column (calls, written when the
call's customer is known; tickets and messages; a merge re-points them) or through one of the
customer's numbers. Caller IDs are stored as the switch gave them, so a number is searched
in each of the forms it may arrive in (``+8613800138000``, ``8613800138000``,
``008613800138000``, ``13800138000``, ``013800138000``): equality on indexed columns,
never a scan, and each source asked for one page only (``limit`` rows, from the cursor).

Pages: items are ordered by (time, kind, id), newest first; ``before`` is the last item's
:class:`Cursor` of the page before, so equal times are never skipped nor shown twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from appliance.crm.numbers import number_forms
from appliance.db import model
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector

# The kinds an item may have; their order breaks ties between items of the same time.
KINDS = (
    "call",
    "recording",
    "voicemail",
    "callback",
    "ticket",
    "attempt",
    "sms",
    "email",
    "chat",
    "email_thread",
)
_RANK = {k: i for i, k in enumerate(KINDS)}
MAX_LIMIT = 200
MAX_NUMBERS = 50  # numbers of one customer searched (a customer has a few)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class TimelineItem:
    """One thing that happened with the customer. ``title`` and ``detail`` are ``N_()``
    texts or stored text (caller IDs, names, notes: attacker-controlled, shown escaped).
    ``ref_kind``/``ref_id`` name what the item opens ("call", "recording", "voicemail",
    "callback", "attempt", "ticket", ...); ``ref_group`` what the link also needs (a
    voicemail's mailbox, an attempt's campaign id)."""

    at: dt.datetime
    kind: str
    title: str
    detail: str
    ref_kind: str
    ref_id: int
    ref_group: str = ""
    # a stored code the reader sees in words: the label table that names it, and the code
    # (a call's queue outcome, a callback's state, a ticket's, a dial attempt's outcome)
    state_table: str = ""
    state: str = ""

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.at, self.kind, self.ref_id)


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last item's time, kind and id."""

    at: dt.datetime
    kind: str
    id: int

    def token(self) -> str:
        """For a URL: ``<microseconds since 1970>.<kind>.<id>``."""
        us = (self.at - _EPOCH) // dt.timedelta(microseconds=1)
        return f"{us}.{self.kind}.{self.id}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        """ValueError for anything but a token :meth:`token` made."""
        if not isinstance(token, str) or len(token) > 64:
            raise ValueError(N_("not a timeline position"))
        parts = token.split(".")
        if (
            len(parts) != 3
            or parts[1] not in _RANK
            or not all(p.isascii() and p.isdigit() for p in (parts[0], parts[2]))
            or len(parts[0]) > 17
            or len(parts[2]) > 12
        ):
            raise ValueError(N_("not a timeline position"))
        at = _EPOCH + dt.timedelta(microseconds=int(parts[0]))
        return cls(at, parts[1], int(parts[2]))


def customer_forms(
    conn: Connection,
    customer_id: int,
    country_code: str,
    trunk_prefix: str,
    limit: int | None = MAX_NUMBERS,
) -> list[str]:
    """Every form of every number of the customer (see :func:`number_forms`): of its first
    ``limit`` numbers, or of all of them (None: the erasure, as merges chain past any
    bound a page may keep)."""
    numbers = model.customer_numbers
    query = (
        sa.select(numbers.c.number, numbers.c.match)
        .where(numbers.c.customer_id == customer_id)
        .order_by(numbers.c.id)
    )
    rows = conn.execute(query if limit is None else query.limit(limit))
    forms: set[str] = set()
    for number, match in rows:
        forms |= number_forms(number, country_code, trunk_prefix)
        if match:
            forms |= number_forms(match, country_code, trunk_prefix)
    return sorted(forms)


# ---- the sources ------------------------------------------------------------------------------


def _before(col: Any, id_col: Any, kind: str, cursor: Cursor | None) -> Any:
    """The rows of ``kind`` that come after ``cursor`` (older, or as old and lower)."""
    if cursor is None:
        return sa.true()
    rank, at = _RANK[kind], cursor.at
    if rank < _RANK[cursor.kind]:
        return col <= at
    if rank > _RANK[cursor.kind]:
        return col < at
    return sa.or_(col < at, sa.and_(col == at, id_col < cursor.id))


def _page(conn: Connection, query: Any, col: Any, id_col: Any, limit: int) -> list[Any]:
    return list(conn.execute(query.order_by(col.desc(), id_col.desc()).limit(limit)))


def _pages(
    conn: Connection, query: Any, terms: list[Any], col: Any, id_col: Any, limit: int
) -> list[Any]:
    """One indexed query per way of belonging (``terms``), each a page at most; each row
    once."""
    rows: dict[int, Any] = {}
    for term in terms:
        for r in _page(conn, query.where(term), col, id_col, limit):
            rows[r.id] = r
    return list(rows.values())


def _duration(ms: int | None) -> str:
    s = max(0, ms or 0) // 1000
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def _join(*parts: str) -> str:
    return " · ".join(p for p in parts if p)


def _agent(number: str | None, name: str | None) -> str:
    return f"{number or ''} {name or ''}".strip()


def _call_ids(customer_id: int) -> Any:
    return sa.select(model.calls.c.id).where(model.calls.c.customer_id == customer_id)


class _Ctx:
    """What every source reads: the customer, its numbers' forms, the cursor, the page."""

    def __init__(self, customer_id: int, forms: list[str], cursor: Cursor | None, limit: int):
        self.customer_id, self.forms, self.cursor, self.limit = customer_id, forms, cursor, limit


def _calls(conn: Connection, c: _Ctx) -> list[TimelineItem]:
    calls, queues, agents = model.calls, model.queues, model.agents
    base = (
        sa.select(
            calls.c.id,
            calls.c.started_at,
            calls.c.direction,
            calls.c.caller_number,
            calls.c.caller_name,
            calls.c.called_number,
            calls.c.talk_ms,
            calls.c.queue_outcome,
            queues.c.display_name.label("queue"),
            agents.c.number.label("agent_number"),
            agents.c.name.label("agent_name"),
        )
        .select_from(
            calls.outerjoin(queues, queues.c.id == calls.c.queue_id).outerjoin(
                agents, agents.c.id == calls.c.agent_id
            )
        )
        .where(_before(calls.c.started_at, calls.c.id, "call", c.cursor))
    )
    terms: list[Any] = [calls.c.customer_id == c.customer_id]
    if c.forms:
        terms += [calls.c.caller_number.in_(c.forms), calls.c.called_number.in_(c.forms)]
    rows = _pages(conn, base, terms, calls.c.started_at, calls.c.id, c.limit)
    if not rows:
        return []
    # what the agent wrote after the call (its disposition and notes: the last note's)
    notes = model.call_notes
    last_note: dict[int, str] = {}
    for call_id, disposition, text in conn.execute(
        sa.select(notes.c.call_id, notes.c.disposition, notes.c.notes)
        .where(notes.c.call_id.in_([r.id for r in rows]))
        .order_by(notes.c.id)
    ):
        if disposition or text:
            last_note[call_id] = _join(disposition, text)
    items = []
    for r in rows:
        if r.direction == "outbound":
            title = N_("Outbound call to {number}", number=r.called_number)
        elif r.direction == "internal":
            title = N_("Internal call from {number}", number=r.caller_number)
        else:
            title = N_("Call from {number}", number=r.caller_number)
        talk = _duration(r.talk_ms) if r.talk_ms else ""
        detail = _join(
            r.queue or "",
            _agent(r.agent_number, r.agent_name),
            talk,
            last_note.get(r.id, ""),
        )
        items.append(
            TimelineItem(
                r.started_at,
                "call",
                title,
                detail,
                "call",
                r.id,
                state_table="queue_outcome",
                state=r.queue_outcome or "",
            )
        )
    return items


def _recordings(conn: Connection, c: _Ctx) -> list[TimelineItem]:
    rec, agents = model.recordings, model.agents
    base = (
        sa.select(
            rec.c.id,
            rec.c.started_at,
            rec.c.duration_ms,
            rec.c.direction,
            rec.c.caller_number,
            rec.c.called_number,
            agents.c.number.label("agent_number"),
            agents.c.name.label("agent_name"),
        )
        .select_from(rec.outerjoin(agents, agents.c.id == rec.c.agent_id))
        .where(_before(rec.c.started_at, rec.c.id, "recording", c.cursor))
    )
    terms: list[Any] = [rec.c.call_id.in_(_call_ids(c.customer_id))]
    if c.forms:
        terms += [rec.c.caller_number.in_(c.forms), rec.c.called_number.in_(c.forms)]
    rows = _pages(conn, base, terms, rec.c.started_at, rec.c.id, c.limit)
    return [
        TimelineItem(
            r.started_at,
            "recording",
            N_("Recording, {duration}", duration=_duration(r.duration_ms)),
            _agent(r.agent_number, r.agent_name),
            "recording",
            r.id,
        )
        for r in rows
    ]


def _voicemails(conn: Connection, c: _Ctx) -> list[TimelineItem]:
    vm = model.voicemails
    base = sa.select(
        vm.c.id, vm.c.received_at, vm.c.mailbox, vm.c.duration_ms, vm.c.kind, vm.c.caller_name
    ).where(_before(vm.c.received_at, vm.c.id, "voicemail", c.cursor))
    terms: list[Any] = [vm.c.call_id.in_(_call_ids(c.customer_id))]
    if c.forms:
        terms.append(vm.c.caller_number.in_(c.forms))
    items = []
    for r in _pages(conn, base, terms, vm.c.received_at, vm.c.id, c.limit):
        duration = _duration(r.duration_ms)
        if r.kind == "complaint":
            title = N_(
                "Complaint message in mailbox {mailbox}, {duration}",
                mailbox=r.mailbox,
                duration=duration,
            )
        else:
            title = N_(
                "Voicemail in mailbox {mailbox}, {duration}", mailbox=r.mailbox, duration=duration
            )
        detail = r.caller_name or ""
        items.append(
            TimelineItem(r.received_at, "voicemail", title, detail, "voicemail", r.id, r.mailbox)
        )
    return items


def _callbacks(conn: Connection, c: _Ctx) -> list[TimelineItem]:
    if not c.forms:
        return []
    cb, queues = model.callbacks, model.queues
    query = (
        sa.select(
            cb.c.id,
            cb.c.requested_at,
            cb.c.number,
            cb.c.state,
            cb.c.due_at,
            queues.c.display_name.label("queue"),
        )
        .select_from(cb.outerjoin(queues, queues.c.id == cb.c.queue_id))
        .where(cb.c.number.in_(c.forms))
        .where(_before(cb.c.requested_at, cb.c.id, "callback", c.cursor))
    )
    return [
        TimelineItem(
            r.requested_at,
            "callback",
            N_("Callback to {number} requested", number=r.number),
            r.queue or "",
            "callback",
            r.id,
            state_table="callback_state",
            state=r.state,
        )
        for r in _page(conn, query, cb.c.requested_at, cb.c.id, c.limit)
    ]


def _attempts(conn: Connection, c: _Ctx) -> list[TimelineItem]:
    if not c.forms:
        return []
    da, leads, campaigns, agents = model.dial_attempts, model.leads, model.campaigns, model.agents
    query = (
        sa.select(
            da.c.id,
            da.c.started_at,
            da.c.outcome,
            da.c.campaign_id,
            leads.c.number,
            campaigns.c.name.label("campaign"),
            agents.c.number.label("agent_number"),
            agents.c.name.label("agent_name"),
        )
        .select_from(
            da.join(leads, leads.c.id == da.c.lead_id)
            .join(campaigns, campaigns.c.id == da.c.campaign_id)
            .outerjoin(agents, agents.c.id == da.c.agent_id)
        )
        .where(leads.c.number.in_(c.forms))
        .where(_before(da.c.started_at, da.c.id, "attempt", c.cursor))
    )
    return [
        TimelineItem(
            r.started_at,
            "attempt",
            N_("Campaign {campaign} called {number}", campaign=r.campaign, number=r.number),
            _agent(r.agent_number, r.agent_name),
            "attempt",
            r.id,
            str(r.campaign_id),
            state_table="dial_outcome",
            state=r.outcome or "",
        )
        for r in _page(conn, query, da.c.started_at, da.c.id, c.limit)
    ]


def _tickets(conn: Connection, c: _Ctx) -> list[TimelineItem]:
    t = model.tickets
    query = sa.select(
        t.c.id,
        t.c.number,
        t.c.subject,
        t.c.type_key,
        t.c.state,
        t.c.priority,
        t.c.created_at,
    ).where(t.c.customer_id == c.customer_id, _before(t.c.created_at, t.c.id, "ticket", c.cursor))
    return [
        TimelineItem(
            r.created_at,
            "ticket",
            N_("Ticket {number}: {subject}", number=r.number, subject=r.subject),
            "",
            "ticket",
            r.id,
            state_table="ticket_state",
            state=r.state,
        )
        for r in _page(conn, query, t.c.created_at, t.c.id, c.limit)
    ]


_EXCERPT = 200


def _messages(conn: Connection, c: _Ctx) -> list[TimelineItem]:
    """SMS and e-mail to or from the customer (a callback reply is the callback's item)."""
    m = model.crm_messages
    rows: list[Any] = []
    for kind in ("sms", "email"):
        query = sa.select(
            m.c.id,
            m.c.at,
            m.c.channel,
            m.c.direction,
            m.c.address,
            m.c.subject,
            m.c.body,
            m.c.state,
            m.c.ticket_id,
        ).where(
            m.c.customer_id == c.customer_id,
            m.c.channel == kind,
            _before(m.c.at, m.c.id, kind, c.cursor),
        )
        rows += _page(conn, query, m.c.at, m.c.id, c.limit)
    items = []
    for r in rows:
        inbound = r.direction == "inbound"
        if r.channel == "sms":
            title = (
                N_("SMS from {address}", address=r.address)
                if inbound
                else N_("SMS to {address}", address=r.address)
            )
        else:
            title = (
                N_("E-mail from {address}: {subject}", address=r.address, subject=r.subject)
                if inbound
                else N_("E-mail to {address}: {subject}", address=r.address, subject=r.subject)
            )
        body = " ".join((r.body or "")[: _EXCERPT * 2].split())[:_EXCERPT]
        group = str(r.ticket_id) if r.ticket_id is not None else ""
        items.append(
            TimelineItem(
                r.at,
                r.channel,
                title,
                body,
                "message",
                r.id,
                group,
                state_table="message_state",
                state=r.state,
            )
        )
    return items


# A conversation's medium -> its timeline kind.
_CONVERSATION_KINDS = {"chat": "chat", "email": "email_thread"}


def _conversations(conn: Connection, c: _Ctx) -> list[TimelineItem]:
    """Web chats and e-mail threads (acd/channels/) linked to the customer; one opens its
    ticket when it made one."""
    conv, queues, agents = model.conversations, model.queues, model.agents
    rows: list[Any] = []
    for media, kind in _CONVERSATION_KINDS.items():
        query = (
            sa.select(
                conv.c.id,
                conv.c.media,
                conv.c.created_at,
                conv.c.name,
                conv.c.email,
                conv.c.subject,
                conv.c.state,
                conv.c.ticket_id,
                queues.c.display_name.label("queue"),
                agents.c.number.label("agent_number"),
                agents.c.name.label("agent_name"),
            )
            .select_from(
                conv.outerjoin(queues, queues.c.id == conv.c.queue_id).outerjoin(
                    agents, agents.c.id == conv.c.agent_id
                )
            )
            .where(
                conv.c.customer_id == c.customer_id,
                conv.c.media == media,
                _before(conv.c.created_at, conv.c.id, kind, c.cursor),
            )
        )
        rows += _page(conn, query, conv.c.created_at, conv.c.id, c.limit)
    items = []
    for r in rows:
        who = r.name or r.email
        title = (
            N_("Chat with {name}", name=who)
            if r.media == "chat"
            else N_("E-mail from {name}", name=who)
        )
        items.append(
            TimelineItem(
                r.created_at,
                _CONVERSATION_KINDS[r.media],
                title,
                _join(r.subject, r.queue or "", _agent(r.agent_number, r.agent_name)),
                "conversation",
                r.id,
                str(r.ticket_id) if r.ticket_id is not None else "",
            )
        )
    return items


@dataclass(frozen=True)
class CallNote:
    at: dt.datetime
    agent: str
    disposition: str
    notes: str


@dataclass(frozen=True)
class CallDetail:
    """One call as a timeline opens it."""

    id: int
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    direction: str
    caller_number: str
    caller_name: str
    called_number: str
    queue: str
    agent: str
    talk: str
    queue_outcome: str
    customer_id: int | None
    notes: tuple[CallNote, ...]
    recordings: tuple[tuple[int, dt.datetime, str], ...]  # (id, started, duration)


def call_detail(conn: Connection, call_id: int) -> CallDetail | None:
    calls, queues, agents = model.calls, model.queues, model.agents
    r = conn.execute(
        sa.select(
            calls,
            queues.c.display_name.label("queue"),
            agents.c.number.label("agent_number"),
            agents.c.name.label("agent_name"),
        )
        .select_from(
            calls.outerjoin(queues, queues.c.id == calls.c.queue_id).outerjoin(
                agents, agents.c.id == calls.c.agent_id
            )
        )
        .where(calls.c.id == call_id)
    ).first()
    if r is None:
        return None
    notes, rec = model.call_notes, model.recordings
    note_rows = conn.execute(
        sa.select(notes, agents.c.number.label("agent_number"), agents.c.name.label("agent_name"))
        .select_from(notes.outerjoin(agents, agents.c.id == notes.c.agent_id))
        .where(notes.c.call_id == call_id)
        .order_by(notes.c.id)
        .limit(20)
    )
    rec_rows = conn.execute(
        sa.select(rec.c.id, rec.c.started_at, rec.c.duration_ms)
        .where(rec.c.call_id == call_id)
        .order_by(rec.c.started_at)
        .limit(20)
    )
    return CallDetail(
        r.id,
        r.started_at,
        r.answered_at,
        r.ended_at,
        r.direction,
        r.caller_number,
        r.caller_name,
        r.called_number,
        r.queue or "",
        _agent(r.agent_number, r.agent_name),
        _duration(r.talk_ms) if r.talk_ms else "",
        r.queue_outcome or "",
        r.customer_id,
        tuple(
            CallNote(n.created_at, _agent(n.agent_number, n.agent_name), n.disposition, n.notes)
            for n in note_rows
        ),
        tuple((x.id, x.started_at, _duration(x.duration_ms)) for x in rec_rows),
    )


Source = Callable[[Connection, _Ctx], list[TimelineItem]]
SOURCES: tuple[Source, ...] = (
    _calls,
    _recordings,
    _voicemails,
    _callbacks,
    _tickets,
    _attempts,
    _messages,
    _conversations,
)


def _sort_key(item: TimelineItem) -> tuple[dt.datetime, int, int]:
    return (item.at, _RANK[item.kind], item.ref_id)


def merge_page(items: Iterable[TimelineItem], limit: int) -> list[TimelineItem]:
    """The newest ``limit`` of ``items`` (each source's page), newest first."""
    return sorted(items, key=_sort_key, reverse=True)[:limit]


def read_timeline(
    conn: Connection,
    customer_id: int,
    before: Cursor | None = None,
    limit: int = 50,
    country_code: str = "86",
    trunk_prefix: str = "0",
) -> list[TimelineItem]:
    """In one transaction: the page of the timeline after ``before``."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    forms = customer_forms(conn, customer_id, country_code, trunk_prefix)
    c = _Ctx(customer_id, forms, before, limit)
    items: list[TimelineItem] = []
    for source in SOURCES:
        items += source(conn, c)
    return merge_page(items, limit)


async def timeline(
    db: DBConnector,
    customer_id: int,
    *,
    before: Cursor | None = None,
    limit: int = 50,
    country_code: str = "86",
    trunk_prefix: str = "0",
) -> list[TimelineItem]:
    """The customer's timeline, newest first, ``limit`` items older than ``before``."""
    result: list[TimelineItem] = await db.run(
        lambda conn: read_timeline(conn, customer_id, before, limit, country_code, trunk_prefix)
    )
    return result


COUNT_LIMIT = 1000  # items of a kind counted for the erasure page (more: "at least")


def counts(
    conn: Connection, customer_id: int, country_code: str = "86", trunk_prefix: str = "0"
) -> dict[str, int]:
    """How many items of each kind the customer's timeline has (at most COUNT_LIMIT each,
    every source asked for that many): what an erasure would touch."""
    forms = customer_forms(conn, customer_id, country_code, trunk_prefix)
    c = _Ctx(customer_id, forms, None, COUNT_LIMIT)
    out = dict.fromkeys(KINDS, 0)
    for source in SOURCES:
        for item in source(conn, c):
            out[item.kind] += 1
    return {k: min(n, COUNT_LIMIT) for k, n in out.items()}

"""What the agent desktop reads and writes: the screen pop (the caller's and the customer's
previous calls with their notes, the IVR path of this call) and the call notes. The customer
itself is appliance/crm/customer_store.py's.

Every text here (caller ID, customer fields, notes) is attacker-controlled: stored as given,
bounded by the columns, escaped by whoever shows it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import _Component, _insert, utcnow
from appliance.text import N_

# What an agent may say about a call afterwards (the UI shows them translated).
DISPOSITIONS = ("resolved", "follow_up", "escalated", "wrong_number", "complaint", "other")
MAX_NOTES = 4000
HISTORY = 10
MAX_FORMS = 60  # the forms of a customer's numbers a history reads by (one query each)


@dataclass(frozen=True)
class CallFacts:
    """The calls row as the desk needs it."""

    id: int
    uniqueid: str
    caller_number: str
    caller_name: str
    queue_id: int | None
    agent_id: int | None
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None


@dataclass(frozen=True)
class NoteRow:
    id: int
    call_id: int
    agent_id: int | None
    agent_name: str
    disposition: str
    notes: str
    created_at: dt.datetime


@dataclass(frozen=True)
class PastCall:
    id: int
    started_at: dt.datetime
    queue: str
    agent: str
    outcome: str  # the calls row's disposition (completed, abandoned, voicemail, ...)
    notes: tuple[NoteRow, ...]


@dataclass(frozen=True)
class IvrInput:
    at: dt.datetime
    flow: str
    node: str
    type: str
    input: str


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class DeskStore(_Component):
    def call(self, call_id: int) -> defer.Deferred[CallFacts | None]:
        c = model.calls.c

        def thd(conn: Connection) -> CallFacts | None:
            r = conn.execute(
                sa.select(
                    c.id,
                    c.uniqueid,
                    c.caller_number,
                    c.caller_name,
                    c.queue_id,
                    c.agent_id,
                    c.started_at,
                    c.answered_at,
                    c.ended_at,
                ).where(c.id == call_id)
            ).first()
            return CallFacts(**r._mapping) if r is not None else None

        return self.db.run(thd)

    def last_call_of_agent(self, agent_id: int) -> defer.Deferred[int | None]:
        """The agent's latest call the calls table credits to it (written when the call
        ends): the call the agent is wrapping up."""
        c = model.calls.c

        def thd(conn: Connection) -> int | None:
            r = conn.execute(
                sa.select(c.id).where(c.agent_id == agent_id).order_by(c.id.desc()).limit(1)
            ).first()
            return int(r.id) if r is not None else None

        return self.db.run(thd)

    def caller_id_for_callback(self, call_id: int) -> defer.Deferred[tuple[str, str] | None]:
        """The caller ID (name, number) to show when the desk calls this call's customer back:
        for an inbound call the number the customer dialed (the queue's line), for a
        campaign's call the campaign's caller ID (its attempt by the call's channel, else the
        latest attempt on that number); None when neither is known."""
        c, a, lead, camp = model.calls.c, model.dial_attempts.c, model.leads.c, model.campaigns.c

        def thd(conn: Connection) -> tuple[str, str] | None:
            row = conn.execute(
                sa.select(c.direction, c.uniqueid, c.called_number).where(c.id == call_id)
            ).first()
            if row is None:
                return None
            if row.direction != "outbound":
                return ("", row.called_number) if row.called_number else None
            joined = sa.select(camp.caller_id_name, camp.caller_id_number).join_from(
                model.dial_attempts, model.campaigns, a.campaign_id == camp.id
            )
            mine = sa.or_(a.uniqueid == row.uniqueid, a.channel_id == row.uniqueid)
            found = conn.execute(joined.where(mine).limit(1)).first()
            if found is None:
                found = conn.execute(
                    joined.join(model.leads, a.lead_id == lead.id)
                    .where(lead.number == row.called_number)
                    .order_by(a.started_at.desc())
                    .limit(1)
                ).first()
            return (found.caller_id_name, found.caller_id_number) if found is not None else None

        return self.db.run(thd)

    def ivr_inputs(self, call_id: int) -> defer.Deferred[list[IvrInput]]:
        """What the caller keyed in the IVR on this call: the steps that took input."""
        d = self.ivr_path(call_id)
        d.addCallback(lambda steps: [s for s in steps if s.input])
        return d

    def ivr_path(self, call_id: int) -> defer.Deferred[list[IvrInput]]:
        """Every IVR step of this call, in order (the nodes the caller went through: the desk
        suggests articles from them), with what the caller keyed where it keyed anything."""
        e = model.call_events.c

        def thd(conn: Connection) -> list[IvrInput]:
            rows = conn.execute(
                sa.select(e.at, e.data)
                .where((e.call_id == call_id) & (e.kind == "ivr_step"))
                .order_by(e.at, e.id)
                .limit(200)
            )
            found = []
            for at, data in rows:
                try:
                    step = json.loads(data)
                except ValueError:
                    continue
                if not isinstance(step, dict):
                    continue
                found.append(
                    IvrInput(
                        at=at,
                        flow=_text(step.get("flow")),
                        node=_text(step.get("node")),
                        type=_text(step.get("type")),
                        input=_text(step.get("input")),
                    )
                )
            return found

        return self.db.run(thd)

    def history(
        self,
        number: str,
        before_call: int | None = None,
        limit: int = HISTORY,
        customer_id: int | None = None,
        forms: Sequence[str] = (),
    ) -> defer.Deferred[list[PastCall]]:
        """The caller's previous calls, newest first, with their queue, agent and notes
        (``before_call``: leave this call out): those from this number or from any of
        ``forms`` (every way the caller's and the customer's numbers are written), and the
        customer's (``customer_id``: the calls known as its). Nothing for a withheld (empty)
        number of no known customer."""
        c, q, a = model.calls, model.queues, model.agents
        number = number[:80]
        numbers = sorted({number, *(f[:80] for f in forms)} - {""})[:MAX_FORMS]

        def thd(conn: Connection) -> list[PastCall]:
            if not numbers and customer_id is None:
                return []
            params: dict[str, Any] = {f"n{i}": n for i, n in enumerate(numbers)}
            params.update(customer=customer_id, before=before_call or 0, limit=limit)
            found = conn.execute(_newest_calls(len(numbers), customer_id is not None), params)
            ids = [r.id for r in found]
            if not ids:
                return []
            query = (
                sa.select(
                    c.c.id,
                    c.c.started_at,
                    c.c.disposition,
                    sa.func.coalesce(q.c.display_name, "").label("queue_display"),
                    sa.func.coalesce(q.c.name, "").label("queue_name"),
                    sa.func.coalesce(a.c.name, "").label("agent_name"),
                )
                .select_from(
                    c.outerjoin(q, q.c.id == c.c.queue_id).outerjoin(a, a.c.id == c.c.agent_id)
                )
                .where(c.c.id.in_(ids))
            )
            by_id = {r.id: r for r in conn.execute(query)}
            rows = [by_id[i] for i in ids if i in by_id]
            notes = _notes(conn, [r.id for r in rows])
            return [
                PastCall(
                    id=r.id,
                    started_at=r.started_at,
                    queue=r.queue_display or r.queue_name,
                    agent=r.agent_name,
                    outcome=r.disposition,
                    notes=tuple(notes.get(r.id, ())),
                )
                for r in rows
            ]

        return self.db.run(thd)

    def notes(self, call_id: int) -> defer.Deferred[list[NoteRow]]:
        return self.db.run(lambda conn: _notes(conn, [call_id]).get(call_id, []))

    def add_note(
        self,
        call_id: int,
        agent_id: int | None,
        disposition: str,
        notes: str,
        now: dt.datetime | None = None,
    ) -> defer.Deferred[NoteRow]:
        """Store what the agent wrote; ValueError for a disposition not in DISPOSITIONS or
        notes longer than MAX_NOTES (nothing is cut: the agent is told)."""
        if disposition not in DISPOSITIONS:
            raise ValueError(
                N_("disposition must be one of {items}", items=", ".join(DISPOSITIONS))
            )
        if len(notes) > MAX_NOTES:
            raise ValueError(
                N_("notes may have at most {MAX_NOTES} characters", MAX_NOTES=MAX_NOTES)
            )
        at = now or utcnow()

        def thd(conn: Connection) -> NoteRow:
            note_id = _insert(
                conn,
                model.call_notes,
                N_("call note"),
                call_id=call_id,
                agent_id=agent_id,
                disposition=disposition,
                notes=notes,
                created_at=at,
            )
            return next(n for n in _notes(conn, [call_id])[call_id] if n.id == note_id)

        return self.db.run(thd)


@functools.lru_cache(maxsize=64)
def _newest_calls(numbers: int, by_customer: bool) -> sa.Select[Any]:
    """The ids of the newest calls from any of ``numbers`` numbers (``:n0``, ``:n1``, ...)
    or of the customer (``:customer``), newest first, at most ``:limit``, never ``:before``:
    each number and the customer read apart, each the newest by its index, in one statement
    (one IN over them all sorts every call of a frequent caller: 50 ms for 10,000 calls).
    Built once for each shape (building it is most of its cost)."""
    c = model.calls.c
    limit = sa.bindparam("limit", type_=sa.Integer)

    def newest(whose: sa.ColumnElement[bool]) -> sa.Select[Any]:
        part = (
            sa.select(c.id, c.started_at)
            .where(whose, c.id != sa.bindparam("before", type_=sa.Integer))
            .order_by(c.started_at.desc(), c.id.desc())
            .limit(limit)
            .subquery()
        )
        return sa.select(part.c.id, part.c.started_at)

    parts = [newest(c.caller_number == sa.bindparam(f"n{i}")) for i in range(numbers)]
    if by_customer:
        parts.append(newest(c.customer_id == sa.bindparam("customer", type_=sa.Integer)))
    every = sa.union_all(*parts).subquery()
    return (
        sa.select(every.c.id, every.c.started_at)
        .distinct()  # a call found by two of them
        .order_by(every.c.started_at.desc(), every.c.id.desc())
        .limit(limit)
    )


def _notes(conn: Connection, call_ids: list[int]) -> dict[int, list[NoteRow]]:
    if not call_ids:
        return {}
    n, a = model.call_notes, model.agents
    rows = conn.execute(
        sa.select(
            n.c.id,
            n.c.call_id,
            n.c.agent_id,
            sa.func.coalesce(a.c.name, "").label("agent_name"),
            n.c.disposition,
            n.c.notes,
            n.c.created_at,
        )
        .select_from(n.outerjoin(a, a.c.id == n.c.agent_id))
        .where(n.c.call_id.in_(call_ids))
        .order_by(n.c.created_at, n.c.id)
    )
    found: dict[int, list[NoteRow]] = {}
    for r in rows:
        found.setdefault(r.call_id, []).append(NoteRow(**r._mapping))
    return found

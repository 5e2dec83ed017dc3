"""Notices from supervisors to agents: posted with an expiry, listed while current, withdrawn.

A notice is for every agent (``queue_id``, ``agent_id`` None, ``supervisors`` false), for
the agents serving one queue (``queue_id``), for one agent (``agent_id``: a ticket's
escalation telling its assignee) or for the supervisors only (``supervisors``: an unassigned
ticket's escalation). Supervisors and admins see every notice. It is current until
``expires_at``; withdrawing it sets ``expires_at`` to now, so the row stays for the record.
The web API publishes each change on the bus for the live feed (webui/live_feed.py:
``NoticePosted`` with ``NoticeRow.as_message()``, ``NoticeWithdrawn``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import _Component, _insert, utcnow
from appliance.text import N_

MAX_TEXT = 500
MAX_MINUTES = 24 * 60
LEVELS = model.NOTICE_LEVELS


@dataclass(frozen=True)
class NoticeRow:
    id: int
    text: str
    level: str
    queue_id: int | None
    author: str
    created_at: dt.datetime
    expires_at: dt.datetime
    agent_id: int | None = None
    supervisors: bool = False

    def as_message(self) -> dict[str, Any]:
        """The live-events ``notice`` message (times as epoch seconds)."""
        return {
            "id": self.id,
            "text": self.text,
            "level": self.level,
            "author": self.author,
            "created_at": self.created_at.timestamp(),
            "expires_at": self.expires_at.timestamp(),
            "queue_id": self.queue_id,
            "agent_id": self.agent_id,
            "supervisors": self.supervisors,
        }


def _row(r: Any) -> NoticeRow:
    return NoticeRow(
        id=r.id,
        text=r.text,
        level=r.level,
        queue_id=r.queue_id,
        author=r.author,
        created_at=r.created_at,
        expires_at=r.expires_at,
        agent_id=r.agent_id,
        supervisors=bool(r.supervisors),
    )


def add(
    conn: Connection,
    text: str,
    level: str,
    author: str,
    minutes: int,
    queue_id: int | None,
    at: dt.datetime,
    *,
    agent_id: int | None = None,
    supervisors: bool = False,
) -> NoticeRow:
    """Store a checked notice in the caller's transaction (``NoticeStore.post``, and the
    ticket escalation, which writes it with the step that sent it). One audience at most:
    a queue, an agent or the supervisors (none: everyone)."""
    n = model.notices
    if (queue_id is not None) + (agent_id is not None) + supervisors > 1:
        raise ValueError(N_("a notice is for a queue, an agent or the supervisors"))
    if agent_id is not None:
        a = model.agents.c
        if conn.execute(sa.select(a.id).where(a.id == agent_id)).first() is None:
            raise ValueError(N_("no agent {agent_id}", agent_id=agent_id))
    if queue_id is not None:
        q = model.queues.c
        if conn.execute(sa.select(q.id).where(q.id == queue_id)).first() is None:
            raise ValueError(N_("no queue {queue_id}", queue_id=queue_id))
    new_id = _insert(
        conn,
        n,
        N_("notice"),
        text=text,
        level=level,
        queue_id=queue_id,
        agent_id=agent_id,
        supervisors=supervisors,
        author=author[:64],
        created_at=at,
        expires_at=at + dt.timedelta(minutes=minutes),
    )
    return _row(conn.execute(n.select().where(n.c.id == new_id)).one())


class NoticeStore(_Component):
    _row = staticmethod(_row)

    def post(
        self,
        text: str,
        level: str,
        author: str,
        minutes: int,
        queue_id: int | None = None,
        now: dt.datetime | None = None,
    ) -> defer.Deferred[NoticeRow]:
        """Store a notice; ValueError for an empty or too long text, an unknown level or an
        expiry outside 1..1440 minutes. The text is stored as given (escaped on output)."""
        if not text.strip() or len(text) > MAX_TEXT:
            raise ValueError(N_("the text must have 1 to {MAX_TEXT} characters", MAX_TEXT=MAX_TEXT))
        if level not in LEVELS:
            raise ValueError(N_("level must be one of {items}", items=", ".join(LEVELS)))
        if isinstance(minutes, bool) or not 1 <= minutes <= MAX_MINUTES:
            raise ValueError(N_("minutes must be 1 to {MAX_MINUTES}", MAX_MINUTES=MAX_MINUTES))
        at = now or utcnow()
        return self.db.run(lambda conn: add(conn, text, level, author, minutes, queue_id, at))

    def current(
        self,
        queue_ids: Collection[int] | None = None,
        now: dt.datetime | None = None,
        agent_id: int | None = None,
    ) -> defer.Deferred[list[NoticeRow]]:
        """The notices not yet expired, newest first. ``queue_ids`` None: all of them (a
        supervisor); else those for everyone, for these queues and for ``agent_id`` (an
        agent: the queues it serves and its own id)."""
        n = model.notices
        at = now or utcnow()
        wanted = None if queue_ids is None else sorted(set(queue_ids))

        def thd(conn: Connection) -> list[NoticeRow]:
            q = n.select().where(n.c.expires_at > at)
            if wanted is not None:
                everyone = (
                    n.c.queue_id.is_(None)
                    & n.c.agent_id.is_(None)
                    & (n.c.supervisors == sa.false())
                )
                audience = everyone | n.c.queue_id.in_(wanted)
                if agent_id is not None:
                    audience = audience | (n.c.agent_id == agent_id)
                q = q.where(audience)
            rows = conn.execute(q.order_by(n.c.created_at.desc(), n.c.id.desc()).limit(200))
            return [self._row(r) for r in rows]

        return self.db.run(thd)

    def get(self, notice_id: int) -> defer.Deferred[NoticeRow | None]:
        n = model.notices

        def thd(conn: Connection) -> NoticeRow | None:
            r = conn.execute(n.select().where(n.c.id == notice_id)).first()
            return self._row(r) if r is not None else None

        return self.db.run(thd)

    def withdraw(
        self, notice_id: int, now: dt.datetime | None = None
    ) -> defer.Deferred[NoticeRow | None]:
        """End a current notice now; None when there is no such notice or it is over."""
        n = model.notices
        at = now or utcnow()

        def thd(conn: Connection) -> NoticeRow | None:
            done = conn.execute(
                n.update()
                .where((n.c.id == notice_id) & (n.c.expires_at > at))
                .values(expires_at=at)
            )
            if done.rowcount != 1:
                return None
            return self._row(conn.execute(n.select().where(n.c.id == notice_id)).one())

        return self.db.run(thd)

"""Searching the recordings index: filters, an allowlisted sort, pages; fast on a million rows.

Every filter is a plain comparison on a column of ``recordings`` (no join, no LIKE), so the
planner can use the table's ``(column, started_at)`` indexes; the total is counted only up
to ``COUNT_CAP`` so a broad search costs a bounded scan, not a count of the whole table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import _Component
from appliance.db.recording_store import RecordingRow, recording_row
from appliance.text import N_

# The columns a search may sort by; anything else from a request is refused.
SORTS = ("started_at", "duration_ms", "caller_number", "agent_id", "queue_id", "qa_score")
# Columns that may be NULL: sorted with the NULLs last on both databases.
NULLABLE_SORTS = ("agent_id", "queue_id", "qa_score")
MAX_LIMIT = 200
COUNT_CAP = 10_000  # the total is exact up to here, then "more than"
MAX_OFFSET = COUNT_CAP  # pages beyond what is counted are not offered


@dataclass(frozen=True)
class RecordingQuery:
    start: dt.datetime | None = None  # started_at >= start
    end: dt.datetime | None = None  # started_at < end
    channel_number: int | None = None
    trunk_group: str | None = None  # the DAHDI trunk group ("0" for DAHDI/g0)
    agent_id: int | None = None
    queue_id: int | None = None
    caller: str | None = None  # the caller's number
    called: str | None = None  # the dialed number
    min_duration_ms: int | None = None
    max_duration_ms: int | None = None
    talk_over: bool | None = None  # True: some talk-over; False: none
    min_score: float | None = None
    max_score: float | None = None
    sort: str = "started_at"
    descending: bool = True
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class RecordingPage:
    rows: list[RecordingRow]
    total: int  # matching rows, counted up to a cap
    total_capped: bool  # True: there are more than ``total``


def check_query(query: RecordingQuery) -> None:
    """Raise ValueError naming the first field a search cannot take."""
    if query.sort not in SORTS:
        raise ValueError(N_("sort must be one of {items}", items=", ".join(SORTS)))
    if not 1 <= query.limit <= MAX_LIMIT:
        raise ValueError(N_("limit must be between 1 and {MAX_LIMIT}", MAX_LIMIT=MAX_LIMIT))
    if not 0 <= query.offset <= MAX_OFFSET:
        raise ValueError(N_("offset must be between 0 and {MAX_OFFSET}", MAX_OFFSET=MAX_OFFSET))
    for name in ("start", "end"):
        value = getattr(query, name)
        if value is not None and value.tzinfo is None:
            raise ValueError(N_("{name} must carry a time zone", name=name))
    for name in ("caller", "called"):
        value = getattr(query, name)
        if value is not None and len(value) > 80:
            raise ValueError(N_("{name} must be at most 80 characters", name=name))
    if query.trunk_group is not None and len(query.trunk_group) > model.TRUNK_GROUP_MAX:
        raise ValueError(N_("group must be at most {n} characters", n=model.TRUNK_GROUP_MAX))


def conditions(query: RecordingQuery, only_agent_id: int | None) -> list[Any]:
    r = model.recordings
    c: list[Any] = []
    if query.start is not None:
        c.append(r.c.started_at >= query.start)
    if query.end is not None:
        c.append(r.c.started_at < query.end)
    for column, value in (
        (r.c.trunk_group, query.trunk_group),
        (r.c.channel_number, query.channel_number),
        (r.c.agent_id, query.agent_id),
        (r.c.agent_id, only_agent_id),
        (r.c.queue_id, query.queue_id),
        (r.c.caller_number, query.caller),
        (r.c.called_number, query.called),
    ):
        if value is not None:
            c.append(column == value)
    if query.min_duration_ms is not None:
        c.append(r.c.duration_ms >= query.min_duration_ms)
    if query.max_duration_ms is not None:
        c.append(r.c.duration_ms <= query.max_duration_ms)
    if query.talk_over is True:
        c.append(r.c.talk_over_ratio > 0)
    elif query.talk_over is False:
        c.append(r.c.talk_over_ratio <= 0)
    if query.min_score is not None:
        c.append(r.c.qa_score >= query.min_score)
    if query.max_score is not None:
        c.append(r.c.qa_score <= query.max_score)
    return c


def order(query: RecordingQuery) -> list[Any]:
    r = model.recordings
    column, tie = r.c[query.sort], r.c.id
    keys = [column.desc(), tie.desc()] if query.descending else [column.asc(), tie.asc()]
    if query.sort in NULLABLE_SORTS:
        keys[0] = keys[0].nulls_last()
    return keys


class RecordingSearch(_Component):
    def search(
        self, query: RecordingQuery, only_agent_id: int | None = None
    ) -> defer.Deferred[RecordingPage]:
        """One page of the recordings ``query`` matches; ``only_agent_id`` limits it to one
        agent's (an agent's own view). A query it cannot take fails with ValueError."""
        try:
            check_query(query)
        except ValueError:
            return defer.fail()
        r = model.recordings
        where = conditions(query, only_agent_id)

        def thd(conn: Connection) -> RecordingPage:
            page = (
                sa.select(r)
                .where(*where)
                .order_by(*order(query))
                .limit(query.limit)
                .offset(query.offset)
            )
            rows = [recording_row(row) for row in conn.execute(page)]
            matching = sa.select(sa.literal(1)).select_from(r).where(*where).limit(COUNT_CAP + 1)
            total = int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(matching.subquery())
                ).scalar_one()
            )
            return RecordingPage(rows, min(total, COUNT_CAP), total > COUNT_CAP)

        return self.db.run(thd)

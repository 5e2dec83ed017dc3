"""Each queue's counters for one local day (acd/day_counters.py writes them as they move and
reads today's back at start-up), and each agent's calls of the day, read from the calls rows."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import _Component, utcnow

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector  # noqa: F401

# The counters of acd/stats.py QueueStats that make a day (the live ones, waiting and the
# longest wait, are the switch's and are not kept).
COUNTERS = (
    "offered",
    "answered",
    "answered_in_sl",
    "abandoned",
    "abandoned_after_sl",
    "overflowed",
    "callbacks",
    "wait_answered_s",
    "talk_s",
)


class DayStatsStore(_Component):
    def save(self, queue_id: int, day: str, counters: dict[str, Any]) -> defer.Deferred[None]:
        """The queue's counters for ``day`` (YYYY-MM-DD, local), replacing what was there."""
        unknown = set(counters) - set(COUNTERS)
        if unknown:
            return defer.fail(ValueError(f"unknown day counters: {', '.join(sorted(unknown))}"))
        t = model.queue_day_stats
        values = {**counters, "updated_at": utcnow()}

        def thd(conn: Connection) -> None:
            where = (t.c.queue_id == queue_id) & (t.c.day == day)
            if conn.execute(t.update().where(where).values(**values)).rowcount:
                return
            try:
                with conn.begin_nested():
                    conn.execute(t.insert().values(queue_id=queue_id, day=day, **values))
            except sa.exc.IntegrityError:  # the queue was deleted meanwhile, or a race
                conn.execute(t.update().where(where).values(**values))

        return self.db.run(thd)

    def load(self, day: str) -> defer.Deferred[dict[int, dict[str, Any]]]:
        """Every queue's counters for ``day``: queue id -> counters."""
        t = model.queue_day_stats

        def thd(conn: Connection) -> dict[int, dict[str, Any]]:
            rows = conn.execute(
                sa.select(t.c.queue_id, *(t.c[name] for name in COUNTERS)).where(t.c.day == day)
            )
            return {r.queue_id: {name: r._mapping[name] for name in COUNTERS} for r in rows}

        return self.db.run(thd)

    def agent_totals(self, since: dt.datetime) -> defer.Deferred[dict[int, tuple[int, float]]]:
        """Per agent, the calls an agent answered since ``since`` and that are over: how many
        and their talk time in seconds (the rows carry both, written as the calls went)."""
        c = model.calls.c

        def thd(conn: Connection) -> dict[int, tuple[int, float]]:
            rows = conn.execute(
                sa.select(c.agent_id, sa.func.count(), sa.func.sum(c.talk_ms))
                .where(
                    c.agent_id.is_not(None),
                    c.agent_answered_at >= since,
                    c.ended_at.is_not(None),
                    c.talk_ms.is_not(None),
                )
                .group_by(c.agent_id)
            )
            return {int(a): (int(n), int(ms or 0) / 1000.0) for a, n, ms in rows}

        return self.db.run(thd)

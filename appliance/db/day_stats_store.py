"""Each queue's counters for one local day (acd/day_counters.py writes them as they move and
reads today's back at start-up)."""

from __future__ import annotations

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

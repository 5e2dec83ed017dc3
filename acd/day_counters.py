"""Today's queue counters survive a restart: restored from the database at start (before the
first call can arrive) and written back as they move. The agents' calls of the day (handled,
talk time) come back from the calls rows, which carry the agent and the talk time.

The ACD publishes ``QueueStatsChanged`` after every change of a queue's numbers; each
change marks the queue, and one write per queue is in flight at a time with the latest
numbers (a burst of calls costs a few writes, never a backlog, and writes of one queue
never overtake each other on a database with several connections). The day is the box's
local date, as for the midnight reset (acd/day_rollover.py).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from acd.stats import QueueStatsChanged
from appliance.db.day_stats_store import COUNTERS

if TYPE_CHECKING:
    from acd.service import ACD

log = Logger(namespace="ccbox.acd")


def local_day(now: float, localtime: Callable[[float], time.struct_time] = time.localtime) -> str:
    """``now`` (epoch seconds) as the box's local date, YYYY-MM-DD."""
    return time.strftime("%Y-%m-%d", localtime(now))


def day_start(now: float, localtime: Callable[[float], time.struct_time] = time.localtime) -> float:
    """The epoch seconds of the local midnight that began ``now``'s day."""
    t = localtime(now)
    return now - (t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec) - (now % 1)


class DayCounters(service.Service):
    """Restores and keeps each queue's counters for today (see the module's doc)."""

    name = "acd-day-counters"

    def __init__(
        self,
        reactor: Any,
        acd: ACD,
        localtime: Callable[[float], time.struct_time] = time.localtime,
    ) -> None:
        self.reactor = reactor
        self.acd = acd
        self.localtime = localtime
        self._dirty: set[int] = set()
        self._writing: dict[int, defer.Deferred[None]] = {}
        self._saved: dict[int, tuple[str, dict[str, Any]]] = {}  # what the database has
        self._subscribed = False

    def today(self) -> str:
        return local_day(self.reactor.seconds(), self.localtime)

    def startService(self) -> defer.Deferred[None]:
        super().startService()
        return defer.ensureDeferred(self._restore())

    async def _restore(self) -> None:
        saved = await self.acd.db.day_stats.load(self.today())
        for queue_id, counters in saved.items():
            stats = self.acd.stats.get(queue_id)
            if stats is None:
                continue
            for name in COUNTERS:  # added: anything counted before this ran is kept
                setattr(stats, name, getattr(stats, name) + counters[name])
        # The agents' calls of the day (handled, talk time), from the calls rows.
        since = dt.datetime.fromtimestamp(day_start(self.reactor.seconds(), self.localtime), dt.UTC)
        for agent_id, (handled, talk_s) in (
            await self.acd.db.day_stats.agent_totals(since)
        ).items():
            agent = self.acd.agents.get(agent_id)
            if agent is not None:
                agent.stats.handled += handled
                agent.stats.talk_s += talk_s
        if not self._subscribed:
            self.acd.bus.subscribe(QueueStatsChanged, self.changed)
            self._subscribed = True
        for queue_id in saved:
            if queue_id in self.acd.stats:
                self.acd._publish_stats(queue_id)
        if saved:
            log.info("today's counters restored for {n} queues", n=len(saved))

    def changed(self, event: QueueStatsChanged) -> None:
        """A queue's numbers moved: write them (after the write in flight, if any)."""
        if not self.running:
            return
        queue_id = int(event.stats["queue_id"])
        self._dirty.add(queue_id)
        if queue_id not in self._writing:
            self._write(queue_id)

    def _write(self, queue_id: int) -> None:
        self._dirty.discard(queue_id)
        stats = self.acd.stats.get(queue_id)
        if stats is None:
            return
        counters = {name: getattr(stats, name) for name in COUNTERS}
        day = self.today()
        if self._saved.get(queue_id) == (day, counters):
            return  # a change of the live numbers only (waiting, longest wait)
        d = self.acd.db.day_stats.save(queue_id, day, counters)
        self._writing[queue_id] = d

        def saved(_: object) -> None:
            self._saved[queue_id] = (day, counters)

        d.addCallbacks(
            saved,
            lambda f: log.failure("queue {q}: today's counters not saved", f, q=queue_id),
        )

        def done(_: object) -> None:
            del self._writing[queue_id]
            if queue_id in self._dirty:
                self._write(queue_id)

        d.addBoth(done)

    def stopService(self) -> defer.Deferred[None]:
        """Waits for the writes in flight (and the last numbers they leave behind)."""
        super().stopService()
        return defer.ensureDeferred(self._drain())

    async def _drain(self) -> None:
        while self._writing:
            await defer.DeferredList(list(self._writing.values()))

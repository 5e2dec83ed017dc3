"""A pacer's warm start: the call history it learns from, seeded from the database.

A pacer that starts (ccboxd starting, a campaign started) would otherwise learn its
campaign's handle and ring times from nothing, dialing progressive meanwhile (minutes of
idle agents). ``warm_history`` reads the campaign's last ``LIMIT`` finished attempts of the
last ``DAYS`` days (DialerStore.recent_timings, in the database's pool): the talk time of
each call an agent took (end - answer - wait for the agent), the ring time of each answer
by a person, the time each unanswered line took to end, and whether each line was answered;
a campaign with too few calls of its own takes its queue's recent talk times instead
(DialerStore.queue_talk_times). Each talk time is taken with the queue's wrap-up, as the
engine reports a handled call. With no history at all, nothing is seeded and the pacer
starts progressive, as before.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from twisted.internet import defer

from acd.dialer.call_history import MIN_SAMPLES, CallHistory

DAYS = 7
LIMIT = 500
PERSON = ("answered", "abandoned")  # a person answered (model.PERSON_ANSWERED_OUTCOMES)
MISSED = ("no_answer", "busy", "congestion", "machine", "failed")


class TimingStore(Protocol):
    def recent_timings(
        self, campaign_id: int, since: dt.datetime, limit: int = ...
    ) -> defer.Deferred[list[Any]]: ...

    def queue_talk_times(
        self, queue_id: int, since: dt.datetime, limit: int = ...
    ) -> defer.Deferred[list[float]]: ...


async def warm_history(
    history: CallHistory,
    store: TimingStore,
    campaign_id: int,
    queue_id: int,
    wrapup_s: float,
    now: float,
) -> int:
    """Seed ``history`` from the stored calls before ``now``; returns the talk times seeded."""
    since = dt.datetime.fromtimestamp(now - DAYS * 86400.0, dt.UTC)
    talk: list[float] = []
    ring: list[float] = []
    miss: list[float] = []
    outcomes: list[bool] = []
    for a in await store.recent_timings(campaign_id, since, LIMIT):
        if a.outcome in PERSON:
            outcomes.append(True)
            if a.answered_at is not None:
                ring.append((a.answered_at - a.started_at).total_seconds())
                if a.outcome == "answered" and a.wait_ms is not None:
                    taken = a.answered_at + dt.timedelta(milliseconds=a.wait_ms)
                    talk.append((a.ended_at - taken).total_seconds())
        elif a.outcome in MISSED:
            outcomes.append(False)
            miss.append((a.ended_at - a.started_at).total_seconds())
    if len(talk) < MIN_SAMPLES:
        queue = await store.queue_talk_times(queue_id, since, LIMIT)
        if len(queue) > len(talk):
            talk = queue
    history.warm(talk, wrapup_s, ring, miss, outcomes)
    return len(talk)

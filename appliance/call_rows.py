"""What the switch says about calls rows, written as it happens.

- The hangup cause: the Q.850 cause of the Hangup event of the channel whose Uniqueid the
  row holds (the caller's: the channel the FastAGI session ran on; not always the call's
  first channel, a Local caller's ``;2`` leg has its ``;1`` as Linkedid), not a 16 assumed
  by whoever closes the row. HangupRequest is not used: a SoftHangupRequest's Cause is not
  Q.850 (traces README); a Hangup's 0 ("Unknown") leaves the row without a cause.
- Rows a dead process left open (``kill -9``, a power cut): once at start-up, when the
  first AMI resync has the switch's channels, every row opened before this process started
  and never closed is reconciled with the switch. A call still up is *adopted*: its row is
  finished when its channel hangs up (``completed`` when an agent had answered it, else
  ``daemon_stopped``); an agent's phone that rang across the restart and answers then
  writes its answer on the row (the ACD's ``RingAnswered``). Any other is closed at the
  last time known of it (its latest event or answer) with the disposition
  ``daemon_stopped``. Without an AMI link there is no
  view of the switch: every such row is closed so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

if TYPE_CHECKING:
    from acd.service import RingAnswered
    from appliance.db.components import OpenCall
    from appliance.db.connector import DBConnector
    from drivers.asterisk.callmodel import ChannelHungUp

log = Logger(namespace="ccbox.calls")

DAEMON_STOPPED = "daemon_stopped"


def _at(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def _talk_ms(row: OpenCall, ended: dt.datetime) -> int | None:
    if row.agent_answered_at is None:
        return None
    return max(0, int((ended - row.agent_answered_at).total_seconds() * 1000))


class CallRows:
    """Hangup causes and start-up reconciliation of calls rows (see the module's doc)."""

    def __init__(self, db: DBConnector, started_at: dt.datetime) -> None:
        """``started_at``: when this process started; rows opened before it and still
        open belong to a process that is gone."""
        self.db = db
        self.started_at = started_at
        self.adopted: dict[str, OpenCall] = {}  # the caller's Uniqueid -> its row
        self.reconciled: defer.Deferred[tuple[int, int]] | None = None
        self._writes: set[defer.Deferred[Any]] = set()
        # Hangups heard while the open rows are being read: a channel of the snapshot may
        # hang up before its row is adopted.
        self._heard: dict[str, ChannelHungUp] | None = None

    # ---- the switch's events ----------------------------------------------------------------

    def on_channel_hangup(self, event: ChannelHungUp) -> None:
        """A channel hung up: the channel of a calls row leaves its cause there, and an
        adopted call's row is finished."""
        if self._heard is not None:
            self._heard[event.uniqueid] = event
        row = self.adopted.pop(event.uniqueid, None)
        if row is not None:
            self._track(defer.ensureDeferred(self._finish_adopted(row, event)))
        elif event.cause > 0:  # one indexed look-up; most channels have no row
            self._track(self.db.calls.set_hangup_cause(event.uniqueid, event.cause, event.channel))

    def ring_answered(self, event: RingAnswered) -> None:
        """An adopted call's agent answered the ring the old process started."""
        row = self.adopted.get(event.uniqueid)
        if row is None or row.agent_answered_at is not None:
            return
        when = _at(event.at)
        self.adopted[event.uniqueid] = dataclasses.replace(
            row, agent_answered_at=when, agent_id=event.agent_id
        )
        self._track(self.db.calls.agent_answered(row.id, when, event.agent_id, None))

    async def _finish_adopted(self, row: OpenCall, event: ChannelHungUp) -> None:
        ended = _at(event.at)
        disposition = "completed" if row.agent_answered_at is not None else DAEMON_STOPPED
        await self.db.calls.add_event(
            row.id, "hangup", ended, {"disposition": disposition, "adopted": True}
        )
        await self.db.calls.finish(
            row.id,
            ended,
            hangup_cause=event.cause if event.cause > 0 else None,
            disposition=disposition,
            talk_ms=_talk_ms(row, ended),
        )
        log.info("call {id}: adopted after a restart, ended ({d})", id=row.id, d=disposition)

    # ---- start-up ---------------------------------------------------------------------------

    def reconcile_once(
        self, live: Iterable[tuple[str, str]] | None
    ) -> defer.Deferred[tuple[int, int]]:
        """Reconcile the rows a dead process left open with ``live``, the (Uniqueid, name)
        of every channel the switch has now (None: no view of the switch); a row is the
        channel's when both match (a uniqueid repeated after a restart is not enough).
        Only the first call does anything; every call returns the same (adopted, closed)
        counts."""
        if self.reconciled is None:
            live_ids = None if live is None else set(live)
            self.reconciled = defer.ensureDeferred(self._reconcile(live_ids))
            self.reconciled.addErrback(self._failed)
        d: defer.Deferred[tuple[int, int]] = defer.Deferred()

        def share(result: tuple[int, int]) -> tuple[int, int]:
            d.callback(result)
            return result

        self.reconciled.addCallback(share)
        return d

    def _failed(self, failure: Failure) -> tuple[int, int]:
        log.failure("calls rows left open were not reconciled", failure)
        return (0, 0)

    async def _reconcile(self, live: set[tuple[str, str]] | None) -> tuple[int, int]:
        heard: dict[str, ChannelHungUp] = {}
        self._heard = heard
        try:
            rows = await self.db.calls.open_before(self.started_at)
        finally:
            self._heard = None
        # Sorted in this turn of the reactor, before anything else is awaited: a channel
        # that hangs up from here on finds its row adopted.
        up = [r for r in rows if live is not None and (r.uniqueid, r.channel) in live]
        for row in up:
            if row.uniqueid not in heard:
                self.adopted[row.uniqueid] = row
        for row in up:
            await self.db.calls.add_event(row.id, "adopted", _now(), {})
            if row.uniqueid in heard:  # it hung up while the rows were read
                self._track(defer.ensureDeferred(self._finish_adopted(row, heard[row.uniqueid])))
        closed = [r for r in rows if r not in up]
        for row in closed:
            ended = row.last_known_at
            await self.db.calls.add_event(
                row.id, "hangup", ended, {"disposition": DAEMON_STOPPED, "reconciled": True}
            )
            await self.db.calls.finish(
                row.id, ended, disposition=DAEMON_STOPPED, talk_ms=_talk_ms(row, ended)
            )
        if rows:
            log.info(
                "calls left open by the last run: {a} still up on the switch (adopted), "
                "{c} closed as {d}",
                a=len(up),
                c=len(closed),
                d=DAEMON_STOPPED,
            )
        return len(up), len(closed)

    def _track(self, d: defer.Deferred[Any]) -> None:
        self._writes.add(d)
        d.addErrback(lambda f: log.failure("a calls row was not updated", f))
        d.addBoth(lambda _: self._writes.discard(d))

    def flush(self) -> defer.Deferred[None]:
        """Fires once every write started so far is done (tests wait for it)."""
        return defer.DeferredList(list(self._writes)).addCallback(lambda _: None)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)

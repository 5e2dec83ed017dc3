"""The recorder service: starts each call's capture and post-processes it when the call
ends, in its own worker pool (never on the reactor, never delaying a call), then writes the
recording into the index.

A recording that cannot be merged keeps its legs (logged; a retry can pick them up); one
that succeeds leaves only the stereo file under ``<recording root>/YYYY/MM/DD/``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.application import service
from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from recorder import capture, postprocess

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector
    from drivers.asterisk.agi.session import AGISessionProtocol
    from drivers.asterisk.callmodel import ChannelHungUp

log = Logger(namespace="ccbox.recorder")
CLOSE_WAIT_S = 30.0


class RecorderService(service.Service):
    name = "recorder"

    def __init__(self, reactor: Any, db: DBConnector, root: Path, law: str = "ulaw") -> None:
        self.reactor = reactor
        self.db = db
        self.root = root
        self.law = law
        self.pool = ThreadPool(minthreads=0, maxthreads=2, name="ccbox-recorder")
        self.pending: set[defer.Deferred[None]] = set()
        # Hangups seen (uniqueid -> time) and calls waiting for theirs; without an AMI link
        # (watch_hangups False) the legs are merged at once.
        self._gone: dict[str, float] = {}
        self._waiting: dict[str, defer.Deferred[None]] = {}
        self.watch_hangups = False

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        self.watch_hangups = False
        for waiter in list(self._waiting.values()):  # the switch links are down already
            if not waiter.called:
                waiter.callback(None)
        d = defer.DeferredList(list(self.pending))
        d.addBoth(lambda _: self.pool.stop())
        return d.addCallback(lambda _: None)

    async def start(
        self, session: AGISessionProtocol, call_id: int, uniqueid: str
    ) -> capture.Capture:
        plan = capture.plan(self.root, call_id, uniqueid, self.law, dt.datetime.now(dt.UTC))
        await capture.start(session, plan)
        return plan

    def on_channel_hangup(self, event: ChannelHungUp) -> None:
        """AMI's Hangup: Asterisk has closed the channel's MixMonitor files."""
        waiter = self._waiting.pop(event.uniqueid, None)
        if waiter is not None and not waiter.called:
            waiter.callback(None)
        else:
            self._gone[event.uniqueid] = self.reactor.seconds()
            while len(self._gone) > 1000:  # bounded: forget the oldest
                del self._gone[next(iter(self._gone))]

    def finished(self, call_id: int, uniqueid: str, plan: capture.Capture) -> None:
        """The call is over: once Asterisk has closed the legs (the channel's Hangup, or
        ``CLOSE_WAIT_S`` at most), merge them in the pool, then index the recording."""
        d = defer.ensureDeferred(self._process(call_id, uniqueid, plan))
        self.pending.add(d)
        d.addBoth(lambda r: self.pending.discard(d))

    async def _closed(self, uniqueid: str) -> None:
        if self._gone.pop(uniqueid, None) is not None or not self.watch_hangups:
            return
        waiter: defer.Deferred[None] = defer.Deferred()
        self._waiting[uniqueid] = waiter
        waiter.addTimeout(CLOSE_WAIT_S, self.reactor, onTimeoutCancel=lambda *_: None)
        await waiter
        self._waiting.pop(uniqueid, None)

    async def _process(self, call_id: int, uniqueid: str, plan: capture.Capture) -> None:
        await self._closed(uniqueid)
        out = self.root / plan.relative
        try:
            done = await threads.deferToThreadPool(
                self.reactor, self.pool, postprocess.merge, plan.rx, plan.tx, out
            )
        except postprocess.RecordingError as exc:
            log.warn("recording of call {id} not merged: {why}", id=call_id, why=exc)
            return
        except Exception:
            log.failure("recording of call {id} failed", id=call_id)
            return
        await self.db.recordings.add(
            call_id, plan.relative, plan.started_at, done.duration_ms, done.size_bytes, done.sha256
        )
        await self.db.calls.add_event(
            call_id,
            "recording_done",
            dt.datetime.now(dt.UTC),
            {
                "path": plan.relative,
                "seconds": done.duration_ms / 1000,
                "talk_over": done.talk_over_ratio,
                "silence": done.silence_ratio,
            },
        )
        for leg in (plan.rx, plan.tx, plan.mix):
            await threads.deferToThread(leg.unlink, missing_ok=True)

"""The recorder service: decides each call's capture, starts it when the call's agent is
rung, controls it while the call lasts (PCI pause/resume, on-demand start), and
post-processes it when the call ends, in its own worker pool (never on the reactor, never
delaying a call), then writes the full index row (the call's agent, queue, numbers, trunk
channel, metrics, paused time).

It knows every live call a queue answered or holds (``live``: call id -> channel, capture
plan, pause state), recorded or not, so that the web UI can pause one or start one on
demand.

A waiting caller has no capture at all (an audiohook on every caller in a queue costs the
switch for nothing): ``call_queued`` only decides, and ``start_capture`` starts the capture
from the caller's session just before it dials the offered agent's phone (the ACD's
``QueuedCall.before_ring``), once per call. What is decided meanwhile ("record now", a PCI
pause) is what the start does: a recording unmuted, or muted right after its start.

Recording on demand without the ``system`` manager class: Asterisk's AMI ``MixMonitor``
action needs ``system`` (its Command option runs a shell), which ccbox's manager user never
has. So a call the policy does not record still gets its MixMonitor from the session at the
ring, muted both ways at once through ``MixMonitorMute`` (class ``call``) before the agent
is bridged: it writes only silence. "Record now" during the talk unmutes it; a standby
capture never unmuted is deleted when the call ends and leaves no recording.
A recording that cannot be merged keeps its legs (logged); ``recover_leftovers`` (run by
the upkeep service) merges and indexes such legs later, as it does the legs of calls a
stopped or crashed daemon left behind. One that succeeds leaves only the stereo file under
``<recording root>/YYYY/MM/DD/``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.application import service
from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from appliance.config import RecordingConfig
from appliance.text import N_
from drivers.asterisk.agi.session import AGIError
from drivers.asterisk.ami import actions
from drivers.asterisk.ami.protocol import AMIError
from recorder import capture, leftovers, policy, postprocess
from recorder.disk_guard import DiskGuard
from recorder.pause import PauseClock

if TYPE_CHECKING:
    from appliance.db.acd_store import ACDQueue
    from appliance.db.connector import DBConnector
    from appliance.health import HealthRegistry
    from drivers.asterisk.agi.session import AGISessionProtocol
    from drivers.asterisk.ami.actions import ActionSender
    from drivers.asterisk.callmodel import ChannelHungUp

log = Logger(namespace="ccbox.recorder")
CLOSE_WAIT_S = 30.0
POLICY = "policy"
ON_DEMAND = "on_demand"
# Legs not written for this long belong to no call still going on (MixMonitor writes a
# bridged call's legs all along).
LEFTOVER_AFTER_S = 3600.0
DISK_FULL = "disk_full"
MUTE_FAILED = "mute_failed"  # paused before its start, and the switch refused the mute
NO_AMI = "no_ami"  # no AMI link at the start: no standby (muting it needs the link)
_DAHDI = re.compile(r"DAHDI/(\d{1,4})(?:-\d+)?\Z")  # DAHDI/17-1: E1/analog channel 17


def channel_number(channel: str) -> int | None:
    """The trunk channel of a DAHDI (E1/analog) call; None for other technologies."""
    m = _DAHDI.match(channel)
    return int(m.group(1)) if m else None


class ControlError(Exception):
    """A recording control request that cannot be done; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class LiveCall:
    """A call a queue holds or answered, while it lasts."""

    call_id: int
    uniqueid: str
    channel: str
    # The recording (policy or on demand): decided while the caller waits, started (its
    # MixMonitor on the channel) at the ring; None while not recorded.
    plan: capture.Capture | None = None
    standby: capture.Capture | None = None  # muted from its start: "record now" unmutes it
    reason: str = ""  # policy or on_demand, once recorded
    skipped: str = ""  # why it was not recorded (policy, disk_full)
    agent_side: bool = False  # the capture runs on the agent's channel (a callback)
    # The capture's start has run (the agent's ring, or at once for a callback): a MixMonitor
    # (recording or standby) is on the channel, or none will be (disk full, no AMI link).
    started: bool = False
    # Why no capture runs after the start: the disk was full, no AMI link to mute a
    # standby, or the switch refused a mute (the capture was stopped); "" otherwise.
    no_capture: str = ""
    # FastAGI sessions holding it: a blind transfer's next session on the channel may adopt
    # it before the first one has let go; 0 while handed over (see handed_over)
    sessions: int = 1
    pause: PauseClock = field(default_factory=PauseClock)
    # The start and the web UI's requests, one at a time: a "record now" or a pause that
    # comes while the MixMonitor is being started acts on what the start left.
    lock: defer.DeferredLock = field(default_factory=defer.DeferredLock, repr=False)

    def status(self, now: float) -> dict[str, Any]:
        """``recording``: recorded (or will be, from the ring: ``started`` False while the
        caller waits and nothing runs on the switch yet)."""
        return {
            "call_id": self.call_id,
            "recording": self.plan is not None,
            "started": self.started,
            "reason": self.reason,
            "skipped": self.skipped,
            "paused": self.pause.paused,
            "paused_ms": self.pause.paused_ms(now),
        }


class RecorderService(service.Service):
    name = "recorder"

    def __init__(
        self,
        reactor: Any,
        db: DBConnector,
        root: Path,
        law: str = "ulaw",
        settings: RecordingConfig | None = None,
        ami: ActionSender | None = None,
        key: bytes | None = None,
        health_registry: HealthRegistry | None = None,
        publish: Callable[[object], None] | None = None,
    ) -> None:
        """``health_registry`` and ``publish`` (the bus) carry the disk alarm."""
        self.reactor = reactor
        self.db = db
        self.root = root
        self.law = law
        self.settings = settings or RecordingConfig()
        # Pause, resume and on-demand recording go through the switch (None: no AMI link).
        self.ami = ami
        self.pool = ThreadPool(minthreads=0, maxthreads=2, name="ccbox-recorder")
        self.pending: set[defer.Deferred[None]] = set()
        self.live: dict[int, LiveCall] = {}
        self._merging: set[int] = set()  # calls between their end and their index row
        self.guard = DiskGuard(reactor, root, self.settings.min_free_mb, health_registry, publish)
        # AES-256 key for encryption at rest ([recording] encryption_key_file), or None
        self.key = key
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
        self.guard.stop()
        for live in self.live.values():
            live.pause.cancel_timer()
        for waiter in list(self._waiting.values()):  # the switch links are down already
            if not waiter.called:
                waiter.callback(None)
        d = defer.DeferredList(list(self.pending))
        d.addBoth(lambda _: self.pool.stop())
        return d.addCallback(lambda _: None)

    # ---- starting ---------------------------------------------------------------------------

    async def call_queued(
        self,
        session: AGISessionProtocol,
        call_id: int,
        queue: ACDQueue,
        dialed: str,
        agent_side: bool = False,
        campaign_record: str | None = None,
    ) -> LiveCall:
        """A call enters a queue: it becomes live here, and is to be recorded (only while
        bridged with an agent: MixMonitor's b option) when the policy says so and the disk
        has room; otherwise a ``recording_skipped`` event says why. Nothing starts on the
        switch: ``start_capture`` does, at the ring. ``agent_side``: the session is on the
        agent's channel (a callback dials the customer from it). ``campaign_record``: a
        campaign's call, whose campaign's ``record`` decides (recorder/policy.py)."""
        env = session.env
        assert env is not None
        held = self.live.get(call_id)
        if held is not None and held.uniqueid == env.uniqueid:
            # A transferred caller in its next queue: a capture started in the first one
            # still runs on the channel and the recording goes on as it was; one that never
            # started starts at this session's ring.
            held.sessions += 1
            return held
        live = LiveCall(call_id, env.uniqueid, env.channel, agent_side=agent_side)
        self.live[call_id] = live
        why = await policy.skip_reason(self.db, queue, dialed, campaign_record)
        if why is None and not await self.guard.has_room():
            why = DISK_FULL
        if why is not None:
            live.skipped = why
            await self._event(call_id, "recording_skipped", {"reason": why})
            return live
        live.plan, live.reason = self._plan(live), POLICY
        return live

    async def start_capture(self, session: AGISessionProtocol, live: LiveCall) -> None:
        """The call's capture, from ``session`` just before it dials the agent (or at once
        for a callback), once per call (a re-offer, a transfer's next ring: nothing more):
        the recording when there is one (muted at once while paused), else the muted
        standby that "record now" can unmute, none when the disk was full. AGIError: the
        session ended; any other failure is logged and the call goes on unrecorded."""
        if live.started or self.live.get(live.call_id) is not live:
            return
        await live.lock.acquire()
        try:
            if live.started or self.live.get(live.call_id) is not live:
                return
            live.started = True
            if live.plan is not None:
                await self._start_recording(session, live)
            elif live.skipped != DISK_FULL:
                await self._standby(session, live)
            else:
                live.no_capture = DISK_FULL
        except AGIError:
            raise
        except Exception:
            log.failure("call {id}: capture not started", id=live.call_id)
        finally:
            live.lock.release()

    async def _start_recording(self, session: AGISessionProtocol, live: LiveCall) -> None:
        """The recording's MixMonitor, unmuted; paused before its start (a PCI pause while
        the caller waited): muted at once, before the agent is bridged, or stopped and
        dropped when the switch refuses (nothing of a paused call is written)."""
        # planned again from now: the legs' day and the index row's start are the ring's
        plan = live.plan = self._plan(live)
        await capture.start(session, plan, live.agent_side)
        live.pause.rebase(self.reactor.seconds())  # paused_ms: the file's, not the wait's
        if not live.pause.paused:
            return
        try:
            await self._mute(live, True)
        except ControlError as exc:
            log.error(
                "call {id}: paused recording not muted, stopped: {why}", id=live.call_id, why=exc
            )
            await self._stop_capture(session, live, plan)
            live.plan, live.reason, live.skipped = None, "", MUTE_FAILED
            live.no_capture = MUTE_FAILED
            live.pause.resume(self.reactor.seconds())
            await self._event(live.call_id, "recording_skipped", {"reason": MUTE_FAILED})

    async def _standby(self, session: AGISessionProtocol, live: LiveCall) -> None:
        """A muted capture the web UI can unmute ("record now"); none without the AMI link
        (it mutes), and none when muting fails (then the capture is stopped at once)."""
        ami = self.ami
        if ami is None:
            live.no_capture = NO_AMI
            return
        plan = self._plan(live)
        await capture.start(session, plan, live.agent_side)
        try:
            await actions.mute_mixmonitor(ami, live.channel, True, "both")
        except (AMIError, actions.BadActionValue) as exc:
            log.warn("call {id}: no standby recording: {why}", id=live.call_id, why=exc)
            live.no_capture = MUTE_FAILED
            await self._stop_capture(session, live, plan)
            return
        live.standby = plan

    async def _stop_capture(
        self, session: AGISessionProtocol, live: LiveCall, plan: capture.Capture
    ) -> None:
        """A capture the switch would not mute: stopped at once, its legs removed."""
        await session.exec_("StopMixMonitor", "")
        self._discard(live.uniqueid, plan)

    def _plan(self, live: LiveCall) -> capture.Capture:
        now = dt.datetime.now(dt.UTC)
        return capture.plan(self.root, live.call_id, live.uniqueid, self.law, now)

    # ---- control (the web UI's buttons) -----------------------------------------------------

    def find(self, call_id: int) -> LiveCall:
        live = self.live.get(call_id)
        if live is None:
            raise ControlError(404, N_("call {call_id} is not a live call", call_id=call_id))
        return live

    def call_of_uniqueid(self, uniqueid: str) -> int | None:
        return next((c.call_id for c in self.live.values() if c.uniqueid == uniqueid), None)

    def status(self, call_id: int) -> dict[str, Any]:
        return self.find(call_id).status(self.reactor.seconds())

    def _recorded(self, call_id: int) -> LiveCall:
        live = self.find(call_id)
        if live.plan is None:
            raise ControlError(409, N_("call {call_id} is not being recorded", call_id=call_id))
        return live

    def _switch(self) -> ActionSender:
        ami = self.ami
        if ami is None:
            raise ControlError(
                503, N_("no link to the switch (AMI): recording control unavailable")
            )
        return ami

    async def pause(self, call_id: int, actor: str, ip: str = "") -> dict[str, Any]:
        """Mute the recording both ways (PCI); it resumes by itself after pause_max_s.
        Pausing a paused recording changes nothing. A recording not started yet (the caller
        waits) is muted right after its start, at the ring."""
        live = self._recorded(call_id)
        await live.lock.acquire()
        try:
            live = self._recorded(call_id)  # it may have ended meanwhile
            if live.pause.paused:
                return live.status(self.reactor.seconds())
            if live.started:
                await self._mute(live, True)
            else:
                self._switch()  # the start will need the link to mute
            paused = live.pause.pause(self.reactor.seconds())
            if paused:
                live.pause.timer = self.reactor.callLater(
                    self.settings.pause_max_s, self._auto_resume, live
                )
        finally:
            live.lock.release()
        if paused:
            detail = {"max_s": self.settings.pause_max_s}
            await self._audit(actor, "recording.pause", live, detail, ip)
            await self._event(call_id, "recording_paused", {"by": actor[:64]})
        return live.status(self.reactor.seconds())

    async def resume(self, call_id: int, actor: str, ip: str = "") -> dict[str, Any]:
        live = self._recorded(call_id)
        await live.lock.acquire()
        try:
            live = self._recorded(call_id)
            if not live.pause.paused:
                raise ControlError(
                    409, N_("the recording of call {call_id} is not paused", call_id=call_id)
                )
            if live.started:
                await self._mute(live, False)
            now = self.reactor.seconds()
            resumed = live.pause.resume(now)
        finally:
            live.lock.release()
        if resumed:
            paused_ms = live.pause.paused_ms(now)
            await self._audit(actor, "recording.resume", live, {"paused_ms": paused_ms}, ip)
            await self._event(call_id, "recording_resumed", {"by": actor[:64]})
        return live.status(now)

    def _auto_resume(self, live: LiveCall) -> None:
        live.pause.timer = None
        if self.live.get(live.call_id) is not live or not live.pause.paused:
            return
        d = defer.ensureDeferred(self.resume(live.call_id, "system"))
        d.addErrback(lambda f: log.failure("automatic resume of call {id}", f, id=live.call_id))

    async def _mute(self, live: LiveCall, muted: bool) -> None:
        try:
            await actions.mute_mixmonitor(self._switch(), live.channel, muted, "both")
        except (AMIError, actions.BadActionValue) as exc:
            raise ControlError(
                502, N_("the switch refused MixMonitorMute: {exc}", exc=exc)
            ) from None

    async def start_on_demand(self, call_id: int, actor: str, ip: str = "") -> dict[str, Any]:
        """Record a call the policy did not record, from now on. While the caller waits
        (nothing started): the call becomes a recording, which its ring starts unmuted.
        Once started: its standby capture is unmuted (the audio before stays silence).
        Merged and indexed like the others."""
        live = self.find(call_id)
        await live.lock.acquire()
        try:
            live = self.find(call_id)
            was = await self._record_now(live)
        finally:
            live.lock.release()
        await self._audit(actor, "recording.start", live, {"skipped": was}, ip)
        await self._event(call_id, "recording_started", {"reason": ON_DEMAND, "by": actor[:64]})
        return live.status(self.reactor.seconds())

    async def _record_now(self, live: LiveCall) -> str:
        """The state change of ``start_on_demand`` (under the call's lock); the reason the
        call was not recorded."""
        call_id = live.call_id
        if live.plan is not None:
            raise ControlError(409, N_("call {call_id} is already being recorded", call_id=call_id))
        plan = live.standby
        if plan is None and live.started:
            why = {
                DISK_FULL: N_("the disk was full"),
                MUTE_FAILED: N_("the switch refused to mute its capture"),
            }.get(live.no_capture, N_("no link to the switch"))
            raise ControlError(
                409,
                N_(
                    "call {call_id} cannot be recorded now: {why} when it began",
                    call_id=call_id,
                    why=why,
                ),
            )
        if not await self.guard.has_room():
            raise ControlError(507, self.guard.alarm or N_("the recording disk is full"))
        if plan is not None:
            live.standby = None
            try:
                await self._mute(live, False)
            except ControlError:
                live.standby = plan
                raise
        else:  # the caller still waits: the ring starts the recording
            plan = self._plan(live)
        was, live.plan, live.reason, live.skipped = live.skipped, plan, ON_DEMAND, ""
        return was

    async def _audit(
        self, actor: str, action: str, live: LiveCall, detail: dict[str, Any], ip: str
    ) -> None:
        await self.db.audit.add(actor, action, f"call:{live.call_id}", detail, ip)

    async def _event(self, call_id: int, kind: str, data: dict[str, Any]) -> None:
        await self.db.calls.add_event(call_id, kind, dt.datetime.now(dt.UTC), data)

    # ---- the end of the call ----------------------------------------------------------------

    def on_channel_hangup(self, event: ChannelHungUp) -> None:
        """AMI's Hangup: Asterisk has closed the channel's MixMonitor files."""
        waiter = self._waiting.pop(event.uniqueid, None)
        if waiter is not None and not waiter.called:
            waiter.callback(None)
        else:
            self._gone[event.uniqueid] = self.reactor.seconds()
            while len(self._gone) > 1000:  # bounded: forget the oldest
                del self._gone[next(iter(self._gone))]
        for live in [c for c in self.live.values() if c.sessions == 0]:
            if live.uniqueid == event.uniqueid:  # transferred, and now gone
                self.finished(live)

    def handed_over(self, live: LiveCall) -> None:
        """The call's session ended but its channel goes on: a blind transfer redirected it
        (to a queue, an agent or an extension). MixMonitor belongs to the channel and keeps
        recording; the next session on the channel adopts the live call (``call_queued``),
        and the channel's Hangup finishes it if none does. Without the AMI link there is no
        Hangup to wait for: the call is finished now."""
        if self.live.get(live.call_id) is not live or not self._release(live):
            return  # the next session has it already
        if not self.watch_hangups or live.uniqueid in self._gone:
            self.finished(live)

    @staticmethod
    def _release(live: LiveCall) -> bool:
        """One session lets go of the call; True when none holds it any more."""
        live.sessions = max(0, live.sessions - 1)
        return live.sessions == 0

    def finished(self, live: LiveCall) -> None:
        """The call is over: once Asterisk has closed the legs (the channel's Hangup, or
        ``CLOSE_WAIT_S`` at most), merge them in the pool, then index the recording. Not
        while another session on the channel still holds the call (a transfer's next one)."""
        if self.live.get(live.call_id) is live:
            if not self._release(live):
                return
            del self.live[live.call_id]
        live.pause.cancel_timer()
        if live.plan is None:
            if live.standby is not None:
                self._discard(live.uniqueid, live.standby)
            return
        if not live.started:
            log.debug("call {id} was never offered: nothing recorded", id=live.call_id)
            return
        paused_ms = live.pause.paused_ms(self.reactor.seconds())
        d = defer.ensureDeferred(self._process(live, live.plan, paused_ms))
        self.pending.add(d)
        self._merging.add(live.call_id)

        def done(_: object) -> None:
            self.pending.discard(d)
            self._merging.discard(live.call_id)

        d.addBoth(done)

    def _discard(self, uniqueid: str, plan: capture.Capture) -> None:
        """Remove a standby capture's legs (silence only) once Asterisk has closed them."""

        async def discard() -> None:
            await self._closed(uniqueid)
            await self._remove_legs(plan)

        d = defer.ensureDeferred(discard())
        self.pending.add(d)
        d.addErrback(lambda f: log.failure("removing a standby capture", f))
        d.addBoth(lambda r: self.pending.discard(d))

    async def _closed(self, uniqueid: str) -> None:
        if self._gone.pop(uniqueid, None) is not None or not self.watch_hangups:
            return
        waiter: defer.Deferred[None] = defer.Deferred()
        self._waiting[uniqueid] = waiter
        waiter.addTimeout(CLOSE_WAIT_S, self.reactor, onTimeoutCancel=lambda *_: None)
        await waiter
        self._waiting.pop(uniqueid, None)

    async def _process(self, live: LiveCall, plan: capture.Capture, paused_ms: int) -> None:
        await self._closed(live.uniqueid)
        await self._merge_and_index(live.call_id, plan, live.reason, paused_ms, live.channel)

    async def _merge_and_index(
        self,
        call_id: int,
        plan: capture.Capture,
        reason: str,
        paused_ms: int,
        channel: str,
        started_at: dt.datetime | None = None,
        recovered: bool = False,
    ) -> str:
        """Merge the legs in the pool and write the index row: ``indexed``; ``empty``
        when there was no sound (the legs are removed); ``kept`` when they could not be
        merged (logged; ``recover_leftovers`` tries again later)."""
        out = self.root / plan.relative
        try:
            done = await threads.deferToThreadPool(
                self.reactor, self.pool, postprocess.merge, plan.rx, plan.tx, out, key=self.key
            )
        except postprocess.DiskFull as exc:
            self.guard.raise_alarm(f"recording disk full while merging call {call_id}: {exc}")
            log.error("recording of call {id} not merged (legs kept): {why}", id=call_id, why=exc)
            return "kept"
        except postprocess.NothingRecorded:
            log.debug("call {id} was never bridged: nothing recorded", id=call_id)
            await self._remove_legs(plan)
            return "empty"
        except postprocess.RecordingError as exc:
            log.warn("recording of call {id} not merged: {why}", id=call_id, why=exc)
            return "kept"
        except Exception:
            log.failure("recording of call {id} failed", id=call_id)
            return "kept"
        row = await self.db.calls.get(call_id) or {}
        channel = row.get("channel") or channel
        await self.db.recordings.add(
            call_id,
            plan.relative,
            started_at or plan.started_at,
            done.duration_ms,
            done.size_bytes,
            done.sha256,
            agent_id=row.get("agent_id"),
            queue_id=row.get("queue_id"),
            direction=row.get("direction") or "inbound",
            caller_number=row.get("caller_number") or "",
            caller_name=row.get("caller_name") or "",
            called_number=row.get("called_number") or "",
            trunk=row.get("trunk") or "",
            trunk_group=row.get("trunk_group") or "",
            channel_number=(
                row["trunk_channel"]
                if row.get("trunk_channel") is not None
                else channel_number(channel)
            ),
            reason=reason,
            talk_over_ratio=done.talk_over_ratio,
            silence_ratio=done.silence_ratio,
            caller_talk_ratio=done.caller_talk_ratio,
            agent_talk_ratio=done.agent_talk_ratio,
            legs_mismatch_ms=done.legs_mismatch_ms,
            peaks=done.peaks,
            paused_ms=paused_ms,
            encrypted=done.encrypted,
        )
        await self._event(
            call_id,
            "recording_done",
            {
                "path": plan.relative,
                "seconds": done.duration_ms / 1000,
                "talk_over": done.talk_over_ratio,
                "silence": done.silence_ratio,
                "paused_ms": paused_ms,
                **({"recovered": True} if recovered else {}),
            },
        )
        await self._remove_legs(plan)
        return "indexed"

    async def recover_leftovers(self, written_before: float | None = None) -> int:
        """Legs left under ``legs/`` by calls that are over (not written for
        ``LEFTOVER_AFTER_S``, or since ``written_before``, a ``time.time()``): merged and
        indexed (``recording_done`` says ``recovered``) when the call was recorded, removed when
        they were a standby capture never unmuted or the call's recording is indexed
        already. Legs whose call row is gone, or that cannot be merged, stay (logged).
        How many recordings were recovered."""
        if written_before is None:
            written_before = time.time() - LEFTOVER_AFTER_S
        found = await threads.deferToThreadPool(
            self.reactor, self.pool, leftovers.find, self.root, written_before
        )
        recovered = 0
        for left in found:
            call_id = left.call_id
            if call_id in self.live or call_id in self._merging:
                continue
            kinds = {kind for kind, _ in await self.db.calls.events(call_id)}
            standby_only = "recording_skipped" in kinds and "recording_started" not in kinds
            if standby_only or "recording_done" in kinds:
                await self._remove_legs(left.plan)
                continue
            row = await self.db.calls.get(call_id)
            if row is None:
                log.warn("legs of call {id} kept: no such call", id=call_id)
                continue
            if not await self.guard.has_room():
                break
            reason = ON_DEMAND if "recording_started" in kinds else POLICY
            started = row.get("answered_at") or row.get("started_at")
            channel = str(row.get("channel") or "")
            done = await self._merge_and_index(
                call_id, left.plan, reason, 0, channel, started, recovered=True
            )
            recovered += done == "indexed"
        if recovered:
            log.info("recovered {n} recordings from legs left behind", n=recovered)
        return recovered

    async def _remove_legs(self, plan: capture.Capture) -> None:
        for leg in (plan.rx, plan.tx, plan.mix):
            await threads.deferToThread(leg.unlink, missing_ok=True)

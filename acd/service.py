"""The ACD: live agents and queues in memory, the routing engine, event-driven offers.

Nothing here polls. A call joining a queue, an agent becoming available and an unanswered
offer each run ``_dispatch`` at once: the engine (acd/route.py) pairs available agents with
waiting calls, and each pair becomes an *offer*: the agent goes to ``ringing`` and the
caller's session (acd/caller.py), which waits on ``QueuedCall.wait_offer()``, dials the
agent's device. The session reports back: ``answered`` / ``no_answer`` / ``call_ended`` /
``abandoned``. When the switch's AMI is up, ``DialEnd ANSWER`` from the call model marks
the answer at the moment it happens (the FastAGI Dial only returns when the call ends).

Every agent state change is validated (acd/agent_state.py), written to the database
(current state + history) and published on the event bus. Statistics (acd/stats.py) move
with each step and are published too.

A caller may ask for a *callback* instead of holding: the entry stays in the queue with its
place (same arrival order), written to the database so a restart keeps it; when it reaches
an agent, the ACD originates the agent's phone (``switch``, acd/switch_link.py) and the
callback's FastAGI session (acd/callback_call.py) dials the customer.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

from acd import agent_state as st
from acd import invariants
from acd.day_rollover import DayRollover
from acd.queue_events import QueueCallStep
from acd.route import Router, queue_strategy
from acd.stats import AgentStats, DayStarted, QueueStats, QueueStatsChanged
from acd.switch_link import TransferFailed
from appliance.db.acd_store import ACDQueue, CallbackRow
from appliance.text import N_
from drivers.asterisk.callmodel import ChannelHungUp, DialEnded, OriginateResult
from drivers.asterisk.device_names import BadDevice, device_key, device_of_channel

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from acd.switch_link import SwitchLink
    from appliance.db.connector import DBConnector
    from appliance.eventbus import EventBus

log = Logger(namespace="ccbox.acd")

# A number the box may dial back: caller ID is attacker-controlled, and it ends up in a
# dial string, so digits only (an optional leading +).
CALLBACK_NUMBER = re.compile(r"\+?[0-9]{3,20}\Z")
EXTENSION = re.compile(r"[0-9]{1,20}\Z")


class ACDError(Exception):
    """A request the ACD refuses (the message is for the user: appliance.text's N_)."""


# An agent's state and status as the refusals word them ("agent 1001 is on call").
STATE_WORDS = {
    st.LOGGED_OUT: N_("logged out"),
    st.AVAILABLE: N_("available"),
    st.RINGING: N_("ringing"),
    st.ON_CALL: N_("on call"),
    st.WRAP_UP: N_("wrap up"),
    st.PAUSED: N_("paused"),
    "active": N_("active"),
    "on_leave": N_("on leave"),
    "resigned": N_("resigned"),
}


@dataclass
class Agent:
    id: int
    number: str
    name: str
    device: str  # PJSIP/1001
    status: str  # active, on_leave, resigned
    state: str = st.LOGGED_OUT
    reason: str = ""
    since: float = 0.0
    misses: int = 0  # unanswered offers in a row
    skills: dict[int, int] = field(default_factory=dict)  # skill id -> level
    user_id: int | None = None
    # Conversations open at once and how a call counts against them (acd/channels/).
    max_chats: int = 3
    chat_on_call: bool = False
    call_with_chats: bool = True
    call: QueuedCall | None = None
    wrapup_timer: Any = None
    stats: AgentStats = field(default_factory=AgentStats)


@dataclass(frozen=True)
class Offer:
    """Ring these agents (one, or several for ring-all) for this call."""

    agents: tuple[Agent, ...]
    ring_timeout_s: int


@dataclass(frozen=True)
class Overflow:
    """The call leaves its queue (``why``: full, timeout, or empty: no agent logged in) for
    ``kind``: another queue (``queue_id``), the queue's voicemail, an extension of the old
    PBX (``target``), or a goodbye (hangup)."""

    queue_id: int | None
    why: str
    kind: str = "queue"
    target: str = ""


class QueuedCall:
    def __init__(
        self,
        call_id: int,
        queue_id: int,
        priority: int,
        caller: str,
        uniqueid: str,
        now: float,
        channel: str = "",
    ) -> None:
        self.id = call_id
        self.seq = call_id  # arrival order: kept when the call goes back after no answer
        self.queue_id = queue_id
        self.priority = priority
        self.caller = caller
        self.uniqueid = uniqueid
        self.joined_at = now
        self.answered_at: float | None = None
        self.agent: Agent | None = None
        self.ringing: tuple[Agent, ...] = ()
        self.done = False
        self.timer: Any = None
        self.channel = channel  # the caller's channel (a transfer redirects it)
        self.transferred = False
        self.exit_target = ""  # the extension an overflow sends the caller to
        # A callback: the database id once written (the Deferred fires with it).
        self.callback_id: int | None = None
        self.callback_saved: defer.Deferred[int | None] | None = None
        self.attempts = 0  # callbacks: times the customer was dialed
        self.last_failure = ""  # callbacks: why the last attempt failed
        # What the live views show: set by the IVR when the call joins (ivr/queue_step.py).
        self.caller_name = ""
        self.record_id: int | None = None  # the calls row id
        # Told the moment an agent answers (the IVR writes it on the calls row then).
        self.on_answered: Callable[[Agent, float], object] | None = None
        # Awaited by the caller's session just before it dials an offer's phones (the
        # recorder starts the call's capture there, not while the caller waits: a capture
        # on every waiting caller costs the switch for nothing). Given the session that
        # dials; AGIError means the session ended under it.
        self.before_ring: Callable[[Any], Awaitable[object]] | None = None
        # For the queue_log (acd/queue_events.py): the answering agent's leg (AMI DialEnd),
        # who hung up first (the caller's session knows), where a transfer sent the caller.
        self.agent_uniqueid = ""
        self.ended_by = ""
        self.transfer_to = ""
        self._waiter: defer.Deferred[Offer | Overflow] | None = None
        self._pending: Offer | Overflow | None = None

    def wait_offer(self) -> defer.Deferred[Offer | Overflow]:
        """Fires with the next offer (or overflow); at once if one is already pending."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            return defer.succeed(pending)
        if self._waiter is None:
            self._waiter = defer.Deferred()
        return self._waiter

    def _deliver(self, what: Offer | Overflow) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.callback(what)
        else:
            self._pending = what


@dataclass(frozen=True)
class AgentCounts:
    """A queue's agents: ``available`` (idle), ``busy`` (ringing, on a call or in wrap-up),
    ``on_call`` (talking) and ``logged_in`` (any of these, or paused)."""

    available: int
    busy: int
    on_call: int
    logged_in: int


@dataclass(frozen=True)
class RingAnswered:
    """Published when an agent answers a ring that outlived a restart (no FastAGI session
    is left to tell the calls row): ``uniqueid`` is the caller's channel."""

    uniqueid: str
    agent_id: int
    at: float


@dataclass(frozen=True)
class QueuedCallLeft:
    """Published on the event bus when a call leaves the ACD for good (answered and over,
    abandoned, overflowed out, a callback done or given up): the live views drop it."""

    call_id: int
    queue_id: int
    at: float


@dataclass(frozen=True)
class CallbackAttemptFailed:
    """Published when a callback's attempt failed before the customer was dialed (the
    switch refused to ring the agent's phone: ``reason`` is what it answered)."""

    callback_id: int
    attempt: int
    reason: str
    at: float


def _device(device: str) -> str:
    """The name the switch knows a configured device by (``Local/x@ctx/n`` -> ``Local/x@ctx``);
    a device of a form ccbox cannot dial is kept as written (and never matches a channel)."""
    try:
        return device_key(device)
    except BadDevice:
        return device


class DeviceIndex(MutableMapping[str, "Agent"]):
    """Agents by device, whichever way the device is written: as configured (with a Local
    device's ``/n``) or as a channel's device (``device_of_channel``) names it."""

    def __init__(self) -> None:
        self._by_key: dict[str, Agent] = {}

    def __getitem__(self, device: str) -> Agent:
        return self._by_key[_device(device)]

    def __setitem__(self, device: str, agent: Agent) -> None:
        self._by_key[_device(device)] = agent

    def __delitem__(self, device: str) -> None:
        del self._by_key[_device(device)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


class ACD(service.Service):
    name = "acd"

    def __init__(
        self,
        reactor: Any,
        db: DBConnector,
        bus: EventBus,
        *,
        daily_reset: bool = False,
        watch_s: float = 0.0,
        switch: SwitchLink | None = None,
    ) -> None:
        """``daily_reset``: the day's counters start again at local midnight (the daemon's
        ACD; tests that run hours of virtual time keep one long day). ``watch_s``: every so
        many seconds the agents' states are checked against the rules of acd/invariants.py
        and an agent they contradict is freed (0: only when ``check_invariants`` is
        called). ``switch``: what callbacks and transfers ask of the switch (AMI); None
        without an AMI link."""
        self.reactor = reactor
        self.db = db
        self.bus = bus
        self.router = Router()
        self.agents: dict[int, Agent] = {}
        self.by_device = DeviceIndex()
        self.queues: dict[int, ACDQueue] = {}  # the call queues: the only ones routed here
        self.queue_by_name: dict[str, ACDQueue] = {}
        # The chat and e-mail queues (media other than "call"): never routed here; the
        # channels' router (acd/channels/) reads them, with the agents.
        self.channel_queues: dict[int, ACDQueue] = {}
        # What the channels' service says about an agent taking a call beside its open
        # conversations (set_call_gate); None: every available agent may take one.
        self._call_gate: Callable[[int], bool] | None = None
        self.loaded = False  # _load finished: agents, queues and states are in memory
        self._loaded_waiters: list[defer.Deferred[None]] = []
        self.stats: dict[int, QueueStats] = {}
        self.calls: dict[int, QueuedCall] = {}
        self.by_uniqueid: dict[str, QueuedCall] = {}
        self.black: set[str] = set()
        self.red: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._writes: set[defer.Deferred[Any]] = set()
        self.switch = switch
        self.callbacks: dict[int, QueuedCall] = {}  # callback id -> its queue entry
        self._originating: dict[str, QueuedCall] = {}  # Originate ActionID -> callback
        self._transferred_from: dict[str, int] = {}
        self._reattached: dict[
            str, Agent
        ] = {}  # channel Uniqueid -> agent on that call  # caller Uniqueid -> queue it left
        # Callbacks whose agent's phone the last process was ringing when it died (state
        # ``dialing``): kept off the queue, on that agent, until the switch shows what
        # became of the ring (``_resume_callbacks``): dialing them again would call the
        # customer twice.
        self._held: dict[int, QueuedCall] = {}
        self._hold_timers: dict[int, Any] = {}  # callback id -> back in line without a resync
        # Their legs the switch still had: channel Uniqueid -> callback; and the legs whose
        # customer answered (the agent's Dial into ccbox-outbound: DialEnd ANSWER).
        self._resumed: dict[str, QueuedCall] = {}
        self._reached: set[str] = set()
        self.callback_retry_s = 120.0
        self.callback_max_attempts = 3
        self.rollover = DayRollover(reactor, self.new_day) if daily_reset else None
        self.watch_s = watch_s
        self.invariant_margin_s = invariants.MARGIN_S
        self._watch: task.LoopingCall | None = None
        self.released = 0  # agents the watch freed since start
        # (agent id, since) of the agents the last watch found on a call the switch does
        # not have: freed only when the next watch finds them so too (check_invariants).
        self._no_call_seen: set[tuple[int, float]] = set()

    # ---- lifecycle ------------------------------------------------------------------------

    def startService(self) -> defer.Deferred[None]:
        super().startService()
        d = defer.ensureDeferred(self._load())
        if self.rollover is not None:
            d.addCallback(lambda _: self.rollover.start() if self.rollover else None)
        if self.watch_s > 0:
            d.addCallback(lambda _: self._start_watch())
        return d

    def _start_watch(self) -> None:
        self._watch = task.LoopingCall(self.check_invariants)
        self._watch.clock = self.reactor
        self._watch.start(self.watch_s, now=False).addErrback(
            lambda f: log.failure("the ACD's invariant watch stopped", f)
        )

    def new_day(self) -> None:
        """Midnight: every queue's and agent's day counters start again; the callers
        waiting and the agents' states stay."""
        for s in self.stats.values():
            s.new_day()
        for agent in self.agents.values():
            agent.stats = AgentStats()
        for queue_id in self.stats:
            self._publish_stats(queue_id)
        self.bus.publish(DayStarted(self.reactor.seconds()))

    async def _load(self) -> None:
        agents, queues = await self.db.acd.load()
        for entry in await self.db.acd.numbers():
            if entry.kind == "black":
                self.black.add(entry.number)
            else:
                self.red[entry.number] = entry.priority
        now = self.reactor.seconds()
        callbacks = await self.db.acd.open_callbacks()
        for q in queues:
            if q.media != "call":
                self.channel_queues[q.id] = q
                continue
            self.queues[q.id] = q
            self.queue_by_name[q.name] = q
            self.stats[q.id] = QueueStats(q.id, q.name, q.service_level_s)
            self.router.add_queue(q.id, queue_strategy(q.name, q.strategy), list(q.requirements))
        # A callback the old process was ringing an agent for (only with a switch to ask).
        ringing_for = {
            cb.agent_id: cb
            for cb in callbacks
            if cb.state == "dialing" and cb.agent_id is not None and cb.queue_id in self.queues
        }
        if self.switch is None:
            ringing_for.clear()
        held: list[tuple[Agent, CallbackRow]] = []
        for row in agents:
            agent = Agent(
                row.id,
                row.number,
                row.name,
                row.device,
                row.status,
                since=now,
                skills=dict(row.skills),
                user_id=row.user_id,
                max_chats=row.max_chats,
                chat_on_call=row.chat_on_call,
                call_with_chats=row.call_with_chats,
            )
            self.agents[row.id] = agent
            if row.device:
                self.by_device[row.device] = agent
            self.router.add_agent(row.id)
            for skill_id, level in row.skills:
                self.router.set_skill(row.id, skill_id, level)
            # Restored after a restart: a call that was ringing or up went with the old
            # process's FastAGI sessions, so those agents come back available (the resync
            # finds those Asterisk kept: reattach); a wrap-up goes on. An agent on
            # leave or resigned stays logged out (its logout may have waited for a call the
            # old process never saw end).
            if row.status != "active":
                if row.state != st.LOGGED_OUT:
                    self._enter(agent, st.LOGGED_OUT, "")
            elif row.state in (st.RINGING, st.ON_CALL) and row.id in ringing_for:
                held.append((agent, ringing_for.pop(row.id)))
                self._enter(agent, st.RINGING, "", persist=row.state != st.RINGING)
            elif row.state == st.WRAP_UP and row.since is not None:
                self._restore_wrapup(agent, row.since, now)
            elif row.state in (st.AVAILABLE, st.RINGING, st.ON_CALL, st.WRAP_UP):
                self._enter(agent, st.AVAILABLE, "", persist=row.state != st.AVAILABLE)
            elif row.state == st.PAUSED:
                self._enter(agent, st.PAUSED, row.reason, persist=False)
        for q in queues:
            if q.id not in self.queues:
                continue
            for agent_id, penalty in q.members:
                if agent_id in self.agents:
                    self.router.set_member(q.id, agent_id, penalty)
        held_ids = {cb.id for _agent, cb in held}
        for cb in callbacks:
            if cb.id not in held_ids:
                self._restore_callback(cb)
        for agent, cb in held:
            self._hold_callback(agent, cb)
        log.info(
            "ACD ready: {agents} agents, {queues} queues",
            agents=len(self.agents),
            queues=len(self.queues),
        )
        self.loaded = True
        waiters, self._loaded_waiters = self._loaded_waiters, []
        for d in waiters:
            d.callback(None)

    def when_loaded(self) -> defer.Deferred[None]:
        """Fires once the agents, queues and restored states are in memory (a service
        that reads them at its start waits for this: the ACD loads asynchronously)."""
        if self.loaded:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._loaded_waiters.append(d)
        return d

    def _restore_wrapup(self, agent: Agent, since: dt.datetime, now: float) -> None:
        """A wrap-up the old process was timing goes on for what is left of it, counted
        from when it began, with the longest wrap-up of the agent's queues (which call it
        followed is not kept); an agent whose wrap-up is over is available."""
        wrapup = max((q.wrapup_s for q in self.queues.values() if self.serves(agent, q)), default=0)
        left = since.timestamp() + wrapup - now
        if left <= 0:
            self._enter(agent, st.AVAILABLE, "")
            return
        self._enter(agent, st.WRAP_UP, "", persist=False)
        agent.wrapup_timer = self.reactor.callLater(left, self._wrapup_over, agent)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self.rollover is not None:
            self.rollover.stop()
        if self._watch is not None and self._watch.running:
            self._watch.stop()
        for call in list(self.calls.values()):
            if call.timer is not None and call.timer.active():
                call.timer.cancel()
        for agent in self.agents.values():
            if agent.wrapup_timer is not None and agent.wrapup_timer.active():
                agent.wrapup_timer.cancel()
        for timer in self._hold_timers.values():
            if timer.active():
                timer.cancel()
        return defer.DeferredList(list(self._writes)).addCallback(lambda _: None)

    # ---- invariants -----------------------------------------------------------------------

    def violations(self) -> list[invariants.Violation]:
        """What the rules of acd/invariants.py find wrong now (nothing is changed)."""
        has = self.switch.has_device_channel if self.switch is not None else None
        return invariants.violations(self, self.reactor.seconds(), has, self.invariant_margin_s)

    def check_invariants(self) -> list[invariants.Violation]:
        """Free every agent the rules contradict (logged, and the state change's reason
        says which rule); returns what was acted on.

        An agent on a call the switch does not have is freed only when the previous check
        found it so too, in the same state: AMI's Hangup of the agent's phone reaches the
        ACD a moment before the caller's FastAGI session ends the call, and a check in that
        moment would free an agent on its way to wrap-up (the soak found it: 1 call in 100
        at 60x time, a few a day on a busy box)."""
        found = []
        seen = set()
        for v in self.violations():
            if v.kind == invariants.NO_CALL_ON_SWITCH:
                key = (v.agent_id, self.agents[v.agent_id].since)
                seen.add(key)
                if key not in self._no_call_seen:
                    continue
            found.append(v)
        self._no_call_seen = seen
        for v in found:
            log.warn("ACD invariant broken: {detail}: the agent is freed", detail=v.detail)
            self._release(self.agents[v.agent_id], v.kind)
        self.released += len(found)
        return found

    def release_agent(self, agent_id: int, reason: str = "released") -> None:
        """A supervisor (or the agent) forces an agent out of ``ringing`` or ``on_call``
        that the switch contradicts. Refused while the switch has a channel of the agent's
        phone: that call is real (hang it up instead)."""
        agent = self.agent(agent_id)
        if agent.state not in (st.RINGING, st.ON_CALL):
            raise ACDError(
                N_(
                    "agent {number} is {state}: nothing to release",
                    number=agent.number,
                    state=STATE_WORDS[agent.state],
                )
            )
        if self.switch is not None and self.switch.has_device_channel(agent.device):
            raise ACDError(
                N_(
                    "the switch has a call on {device}: agent {number} is really on it (hang the "
                    "call up instead)",
                    device=agent.device,
                    number=agent.number,
                )
            )
        self._release(agent, reason)

    def _release(self, agent: Agent, reason: str) -> None:
        call, agent.call = agent.call, None
        if call is not None:
            call.ringing = tuple(a for a in call.ringing if a is not agent)
            if call.agent is agent:
                call.agent = None
            held = call.callback_id is not None and (
                self._held.get(call.callback_id) is call or call in self._resumed.values()
            )
            if held and not call.done and call.answered_at is None:
                self._let_go(call)
                self._requeue(call)  # a held callback's ring was not real: back in line
        for uniqueid, other in list(self._reattached.items()):
            if other is agent:
                del self._reattached[uniqueid]
        self._enter(agent, st.AVAILABLE, reason)

    # ---- agent state ----------------------------------------------------------------------

    def agent(self, agent_id: int) -> Agent:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise ACDError(N_("no agent {agent_id}", agent_id=agent_id)) from None

    def agent_by_number(self, number: str) -> Agent | None:
        return next((a for a in self.agents.values() if a.number == number), None)

    def agent_of_user(self, user_id: int) -> Agent | None:
        return next((a for a in self.agents.values() if a.user_id == user_id), None)

    def login(self, agent_id: int, device: str | None = None) -> None:
        """Log in; ``device`` (the desk phone the agent logged in from) becomes the phone
        the agent's calls ring, unless another logged-in agent uses it."""
        agent = self.agent(agent_id)
        if agent.status != "active":
            raise ACDError(
                N_(
                    "agent {number} is {state}",
                    number=agent.number,
                    state=STATE_WORDS[agent.status],
                )
            )
        moved = bool(device) and _device(device or "") != _device(agent.device)
        if device and moved:
            other = self.by_device.get(device)
            if other is not None and other.state != st.LOGGED_OUT:
                raise ACDError(
                    N_(
                        "the phone {device} is in use by agent {number}",
                        device=device,
                        number=other.number,
                    )
                )
        self._event(agent, "login")
        if device and moved:
            if self.by_device.get(agent.device) is agent:
                del self.by_device[agent.device]
            agent.device = device
            self.by_device[device] = agent

    def logout(self, agent_id: int) -> None:
        self._event(self.agent(agent_id), "logout")
        self._close_empty_queues()

    def pause(self, agent_id: int, reason: str) -> None:
        agent = self.agent(agent_id)
        try:
            st.check_pause_reason(reason)
        except st.TransitionError as exc:
            raise ACDError(str(exc)) from None
        self._event(agent, "pause", reason)

    def unpause(self, agent_id: int) -> None:
        self._event(self.agent(agent_id), "unpause")

    def wrapup_done(self, agent_id: int) -> None:
        self._event(self.agent(agent_id), "wrapup_done")

    def _event(self, agent: Agent, event: str, reason: str = "") -> None:
        try:
            new = st.next_state(agent.state, event)
        except st.TransitionError as exc:
            raise ACDError(N_("agent {number}: {exc}", number=agent.number, exc=exc)) from None
        self._enter(agent, new, reason)

    def _enter(self, agent: Agent, new: str, reason: str = "", persist: bool = True) -> None:
        old, now = agent.state, self.reactor.seconds()
        agent.stats.time_in[old] = agent.stats.time_in.get(old, 0.0) + (now - agent.since)
        agent.state, agent.reason, agent.since = new, reason, now
        if new != st.WRAP_UP and agent.wrapup_timer is not None:
            if agent.wrapup_timer.active():
                agent.wrapup_timer.cancel()
            agent.wrapup_timer = None
        if new == st.AVAILABLE:
            self.router.set_available(agent.id, True, int(now * 1_000_000))
            if not self._gate_open(agent.id):
                self.router.set_available(agent.id, False)  # idle since now all the same
        else:
            self.router.set_available(agent.id, False)
        if persist:
            self._write(self.db.acd.save_state(agent.id, new, reason, _utc(now)))
        self.bus.publish(st.AgentStateChanged(agent.id, old, new, reason, now))
        if new == st.AVAILABLE:
            self._dispatch_agent(agent)

    # ---- the call gate (calls beside conversations) ------------------------------------

    def set_call_gate(self, gate: Callable[[int], bool] | None) -> None:
        """``gate(agent_id)``: whether an available agent may be offered a call now (the
        channels' service says no while its conversations forbid one: acd/channels/
        capacity.py). Applied at once to every available agent."""
        self._call_gate = gate
        for agent_id in list(self.agents):
            self.gate_changed(agent_id)

    def _gate_open(self, agent_id: int) -> bool:
        return self._call_gate is None or bool(self._call_gate(agent_id))

    def call_gate_open(self, agent_id: int) -> bool:
        """The channels' gate lets a call reach this agent now (read-only)."""
        return self._gate_open(agent_id)

    def gate_changed(self, agent_id: int) -> None:
        """The gate's answer for this agent may have changed: an available agent is
        routable for calls again (and offered the best waiting call) or no longer."""
        agent = self.agents.get(agent_id)
        if agent is None or agent.state != st.AVAILABLE:
            return
        open_ = self._gate_open(agent_id)
        if bool(self.router.agent_stats(agent_id)[0]) == open_:
            return
        self.router.set_available(agent_id, open_)  # keeps its idle-since
        if open_:
            self._dispatch_agent(agent)

    def _write(self, d: defer.Deferred[Any]) -> None:
        self._writes.add(d)

        def done(result: object) -> None:
            self._writes.discard(d)
            if isinstance(result, Exception):  # pragma: no cover - logged, never fatal
                log.error("ACD write failed: {err}", err=result)

        d.addErrback(lambda f: log.failure("ACD write failed", f))
        d.addBoth(done)

    # ---- calls ----------------------------------------------------------------------------

    def queue(self, name_or_id: str | int) -> ACDQueue:
        q = (
            self.queue_by_name.get(name_or_id)
            if isinstance(name_or_id, str)
            else self.queues.get(name_or_id)
        )
        if q is None:
            raise ACDError(N_("no queue {name_or_id}", name_or_id=name_or_id))
        return q

    def is_blacklisted(self, number: str) -> bool:
        return number in self.black

    def priority_of(self, number: str) -> int:
        """Red-listed (VIP) numbers get their listed priority; everyone else 0."""
        return self.red.get(number, 0)

    def serves(self, agent: Agent, q: ACDQueue) -> bool:
        """The agent could take this queue's calls: a member, or skilled enough (a queue
        without required skills has members only), as the routing engine decides."""
        if any(agent.id == member for member, _penalty in q.members):
            return True
        return bool(q.requirements) and all(
            agent.skills.get(skill, 0) >= level for skill, level in q.requirements
        )

    def staffed(self, queue_id: int) -> bool:
        """Someone who serves the queue is logged in (available, busy or paused)."""
        q = self.queue(queue_id)
        return any(a.state != st.LOGGED_OUT and self.serves(a, q) for a in self.agents.values())

    def agent_counts(self, queue_id: int) -> AgentCounts:
        """Who serves the queue, by state (the dialer's pacing reads it every second)."""
        q = self.queue(queue_id)
        counts = dict.fromkeys((st.AVAILABLE, st.RINGING, st.ON_CALL, st.WRAP_UP, st.PAUSED), 0)
        for a in self.agents.values():
            if a.state in counts and self.serves(a, q):
                counts[a.state] += 1
        busy = counts[st.RINGING] + counts[st.ON_CALL] + counts[st.WRAP_UP]
        logged_in = busy + counts[st.AVAILABLE] + counts[st.PAUSED]
        return AgentCounts(counts[st.AVAILABLE], busy, counts[st.ON_CALL], logged_in)

    def _overflow(self, q: ACDQueue, why: str) -> Overflow:
        kind = q.overflow_kind
        if kind == "queue" and q.overflow_queue_id is None:
            kind = "hangup"
        return Overflow(
            q.overflow_queue_id if kind == "queue" else None, why, kind, q.overflow_target
        )

    def join(
        self, queue_id: int, caller: str, uniqueid: str, priority: int = 0, channel: str = ""
    ) -> QueuedCall:
        q = self.queue(queue_id)
        now = self.reactor.seconds()
        call = QueuedCall(next(self._ids), q.id, priority, caller, uniqueid, now, channel)
        self.calls[call.id] = call
        self.by_uniqueid[uniqueid] = call
        self._into_queue(call, q)
        return call

    def _into_queue(self, call: QueuedCall, q: ACDQueue) -> None:
        stats = self.stats[q.id]
        stats.offered += 1
        call.queue_id, call.joined_at = q.id, self.reactor.seconds()
        why = None
        if not q.join_empty and not self.staffed(q.id):
            why = "empty"
        elif q.max_len and len(self.router.waiting(q.id)) >= q.max_len:
            why = "full"
        if why is not None:
            stats.overflowed += 1
            self._publish_stats(q.id)
            call._deliver(self._overflow(q, why))
            return
        self.router.enqueue(q.id, call.id, call.priority, call.seq)
        if call.callback_saved is None:
            self._step(call, "joined")
        if q.max_wait_s > 0:
            call.timer = self.reactor.callLater(q.max_wait_s, self._timed_out, call)
        self._publish_stats(q.id)
        self._dispatch_queue(q.id)

    def move(self, call: QueuedCall, queue_id: int) -> None:
        """Overflow into another queue (the caller keeps its arrival order there)."""
        self._leave_queue(call)
        self._release_ringing(call)
        self._into_queue(call, self.queue(queue_id))

    def is_waiting(self, call: QueuedCall) -> bool:
        """In a queue's line: not being offered, not answered, not gone."""
        return not call.done and not call.ringing and self.router.position(call.id) > 0

    def move_waiting(self, call: QueuedCall, queue_id: int) -> None:
        """A supervisor moves a waiting call to another queue (its arrival order kept)."""
        if not self.is_waiting(call):
            raise ACDError(N_("call {id} is not waiting in a queue", id=call.id))
        old = call.queue_id
        target = self.queue(queue_id)
        if target.id == old:
            raise ACDError(N_("the call is already in queue {name}", name=target.name))
        self.move(call, target.id)
        self._publish_stats(old)

    def offer_to(self, call: QueuedCall, agent_id: int) -> None:
        """A supervisor gives a waiting call to one available agent (even one who does not
        serve its queue). Unanswered, the call goes back to its place in its queue."""
        agent = self.agent(agent_id)
        if not self.is_waiting(call):
            raise ACDError(N_("call {id} is not waiting in a queue", id=call.id))
        if agent.state != st.AVAILABLE:
            raise ACDError(
                N_("agent {number} is {state}", number=agent.number, state=STATE_WORDS[agent.state])
            )
        if call.callback_saved is not None:
            self._dial_callback(call, agent)
        else:
            q = self.queues[call.queue_id]
            self.router.dequeue(call.id)
            agent.call = call
            self._enter(agent, st.RINGING)
            call.ringing = (agent,)
            call._deliver(Offer(call.ringing, q.ring_timeout_s))
        self._publish_stats(call.queue_id)

    def _timed_out(self, call: QueuedCall) -> None:
        call.timer = None
        if call.done or call.ringing:
            return
        position = self.position(call)  # before the dequeue drops its place
        if not self.router.dequeue(call.id):
            return
        self._step(call, "timed_out", position=position)
        q = self.queues[call.queue_id]
        self.stats[q.id].overflowed += 1
        self._publish_stats(q.id)
        call._deliver(self._overflow(q, "timeout"))

    def _close_empty_queues(self) -> None:
        """The last agent of a queue that callers may not wait in unstaffed logged out:
        its holding callers overflow (callbacks keep waiting)."""
        for q in self.queues.values():
            if q.join_empty or self.staffed(q.id):
                continue
            for call_id in list(self.router.waiting(q.id)):
                call = self.calls.get(call_id)
                if call is None or call.callback_saved is not None:
                    continue
                self._step(call, "emptied")
                self._leave_queue(call)
                self.stats[q.id].overflowed += 1
                call._deliver(self._overflow(q, "empty"))
            self._publish_stats(q.id)

    def _leave_queue(self, call: QueuedCall) -> None:
        self.router.dequeue(call.id)
        if call.timer is not None and call.timer.active():
            call.timer.cancel()
        call.timer = None

    def position(self, call: QueuedCall) -> int:
        return int(self.router.position(call.id))

    def expected_wait_s(self, call: QueuedCall) -> float:
        """A plain estimate for the announcement: the calls ahead (and this one) times the
        queue's average talk time, shared by the agents who serve it and are not paused."""
        q = self.queues[call.queue_id]
        s = self.stats[q.id]
        handle = s.talk_s / s.answered if s.answered and s.talk_s > 0 else 180.0
        working = sum(
            1
            for a in self.agents.values()
            if a.state in (st.AVAILABLE, st.RINGING, st.ON_CALL, st.WRAP_UP) and self.serves(a, q)
        )
        return max(1, self.position(call)) * handle / max(1, working)

    # ---- offers ---------------------------------------------------------------------------

    def _dispatch_queue(self, queue_id: int) -> None:
        while True:
            agent_id = self.router.route(queue_id)
            if agent_id < 0:
                return
            call_id = self.router.next_call(agent_id)
            if call_id < 0:
                return
            self._offer(self.calls[call_id], self.agents[agent_id])

    def _dispatch_agent(self, agent: Agent) -> None:
        if agent.state != st.AVAILABLE or not self._gate_open(agent.id):
            return
        call_id = self.router.next_call(agent.id)
        if call_id >= 0:
            self._offer(self.calls[call_id], agent)

    def _offer(self, call: QueuedCall, agent: Agent) -> None:
        if call.callback_saved is not None:
            self._dial_callback(call, agent)
            return
        q = self.queues[call.queue_id]
        agents = [agent]
        if q.strategy == "ring_all":
            agents += [self.agents[a] for a in self.router.candidates(q.id) if a != agent.id]
        self.router.dequeue(call.id)
        for a in agents:
            a.call = call
            self._enter(a, st.RINGING, "")
        call.ringing = tuple(agents)
        call._deliver(Offer(call.ringing, q.ring_timeout_s))

    def on_dial_end(self, event: DialEnded) -> None:
        """From the AMI call model: an agent's phone answered a queued call, now."""
        if event.status != "ANSWER":
            return
        if event.uniqueid in self._resumed:
            self._reached.add(event.uniqueid)  # a resumed callback's customer answered
            return
        rung = self._reattached.get(event.dest_uniqueid)
        if rung is not None and rung.state == st.RINGING and rung.call is None:
            self._enter(rung, st.ON_CALL, "reattached")  # a ring that outlived a restart
            self.bus.publish(RingAnswered(event.uniqueid, rung.id, event.at))
            return
        call = self.by_uniqueid.get(event.uniqueid)
        if call is not None and not call.done:
            device = device_of_channel(event.dest_channel)
            if device is not None:
                if call.answered_at is None:
                    call.agent_uniqueid = event.dest_uniqueid
                self.answered(call, device)

    def answered(self, call: QueuedCall, device: str) -> Agent | None:
        """The agent's phone answered (``device`` like PJSIP/1001, from DialEnd or
        DIALEDPEERNAME). Idempotent: AMI and the Dial result may both report it; any agent
        still ringing for an answered call (a re-offer that should not have been) is freed."""
        if call.answered_at is not None:
            self._release_ringing(call, keep=call.agent)
            return call.agent
        agent = self.by_device.get(device)
        if agent is None or agent not in call.ringing:
            return None
        if call.callback_id is not None and (self._held or self._resumed):
            self._let_go(call)  # its session runs it from here
        now = self.reactor.seconds()
        call.answered_at, call.agent = now, agent
        self._leave_queue(call)
        for other in call.ringing:
            if other is not agent:
                other.call = None
                self._enter(other, st.AVAILABLE)
        call.ringing = ()
        agent.misses = 0
        self._step(call, "connected", agent_id=agent.id, detail=call.agent_uniqueid)
        self._enter(agent, st.ON_CALL)
        if call.on_answered is not None:
            try:
                call.on_answered(agent, now)
            except Exception:
                log.failure("call {id}: the answer's listener failed", id=call.id)
        if call.callback_saved is None:  # a callback's wait is not the service level's
            self.stats[call.queue_id].answer(now - call.joined_at)
            self._publish_stats(call.queue_id)
        return agent

    def no_answer(self, call: QueuedCall) -> None:
        """Nobody answered (or busy): the agents are marked and the call keeps its place.
        A call already answered (AMI saw the agent's phone pick up) is never put back: a
        late or misread Dial result must not offer a talking caller to another agent."""
        if call.answered_at is not None:
            log.warn("call {id}: a no-answer for a call already answered: ignored", id=call.id)
            self._release_ringing(call, keep=call.agent)
            return
        self._back_in_line(call, missed=True, delay=0)

    def _release_ringing(self, call: QueuedCall, keep: Agent | None = None) -> None:
        """Every agent still offered ``call`` (but ``keep``) is free again: whatever ends or
        moves a call ends its offers too, or the agents ring on for nothing."""
        ringing, call.ringing = call.ringing, ()
        for agent in ringing:
            if agent is keep:
                continue
            if agent.call is call:
                agent.call = None
            if agent.state == st.RINGING:
                self._enter(agent, st.AVAILABLE)

    def call_ended(self, call: QueuedCall) -> None:
        """The answered call is over: talk time counted, the agent goes to wrap-up."""
        if call.done:
            return
        call.done = True
        self._forget(call)
        self._leave_queue(call)
        agent = call.agent
        self._release_ringing(call)
        if agent is None or call.answered_at is None:
            return
        talk = self.reactor.seconds() - call.answered_at
        agent.call = None
        agent.stats.handled += 1
        agent.stats.talk_s += talk
        self.router.record_call(agent.id, int(talk * 1_000_000))
        self.stats[call.queue_id].talk_s += talk
        self._publish_stats(call.queue_id)
        if call.transferred:
            self._step(call, "transferred", agent_id=agent.id, detail=call.transfer_to)
        else:
            self._step(call, "completed", agent_id=agent.id, detail=call.ended_by)
        q = self.queues[call.queue_id]
        if agent.state == st.ON_CALL:
            self._enter(agent, st.WRAP_UP)
            agent.wrapup_timer = self.reactor.callLater(q.wrapup_s, self._wrapup_over, agent)

    def _wrapup_over(self, agent: Agent) -> None:
        agent.wrapup_timer = None
        if agent.state == st.WRAP_UP:
            self._enter(agent, st.AVAILABLE)

    def abandoned(self, call: QueuedCall) -> None:
        """The caller hung up before an agent answered (after an answer, the call ended)."""
        if call.done:
            return
        if call.answered_at is not None:
            self.call_ended(call)
            return
        call.done = True
        self._step(call, "abandoned")
        self._forget(call)
        self._leave_queue(call)
        self._release_ringing(call)
        self.stats[call.queue_id].abandon(self.reactor.seconds() - call.joined_at)
        self._publish_stats(call.queue_id)

    def gave_up(self, call: QueuedCall) -> None:
        """The call left the queues without an agent (overflow, voicemail, ...)."""
        if not call.done:
            call.done = True
            self._step(call, "gave_up")
            self._forget(call)
            self._leave_queue(call)
            self._release_ringing(call)

    def key_exit(self, call: QueuedCall, key: str) -> None:
        """The caller pressed ``key`` to leave the line (voicemail, or a callback taken):
        told before the ACD lets the call go, while its place is still known."""
        self._step(call, "key", detail=key)

    def _step(self, call: QueuedCall, step: str, **fields: Any) -> None:
        """Publish one step of ``call`` (acd/queue_events.py); ``position`` defaults to the
        call's place now (1 while its offer rings: still first in line)."""
        fields.setdefault("position", self.position(call) or 1)
        self.bus.publish(
            QueueCallStep(
                step,
                call.id,
                call.queue_id,
                call.uniqueid,
                call.caller,
                self.reactor.seconds(),
                **fields,
            )
        )

    def _forget(self, call: QueuedCall) -> None:
        known = self.calls.pop(call.id, None) is not None
        if self.by_uniqueid.get(call.uniqueid) is call:
            del self.by_uniqueid[call.uniqueid]
        if known:
            self.bus.publish(QueuedCallLeft(call.id, call.queue_id, self.reactor.seconds()))

    # ---- callbacks ------------------------------------------------------------------------

    def request_callback(self, call: QueuedCall, name: str = "") -> bool:
        """The holding caller asks to be called back: the entry keeps its place in the queue
        and becomes a callback (written down first, so a restart keeps it). False when the
        caller's number cannot be dialed back."""
        if call.done or call.ringing or not CALLBACK_NUMBER.match(call.caller):
            return False
        if self.router.position(call.id) <= 0:
            return False  # not waiting (being offered, or gone)
        if call.timer is not None and call.timer.active():
            call.timer.cancel()  # a callback does not time out of its queue
        call.timer = None
        if self.by_uniqueid.get(call.uniqueid) is call:
            del self.by_uniqueid[call.uniqueid]
        now = self.reactor.seconds()
        saved = self.db.acd.add_callback(
            call.queue_id, call.caller, name, call.priority, _utc(now), "queue"
        )

        def stored(callback_id: int) -> int:
            call.callback_id = callback_id
            self.callbacks[callback_id] = call
            return callback_id

        def lost(failure: Any) -> None:
            log.failure("callback for {n} could not be saved: dropped", failure, n=call.caller)
            call.done = True
            self._forget(call)
            self._leave_queue(call)

        written: defer.Deferred[None] = defer.Deferred()

        def passed(result: int | None) -> int | None:
            written.callback(None)  # waited for at stop; the id goes on to the offer
            return result

        call.callback_saved = saved.addCallbacks(stored, lost).addCallback(passed)
        self._write(written)
        self.stats[call.queue_id].callbacks += 1
        self._publish_stats(call.queue_id)
        return True

    async def schedule_callback(
        self,
        queue: str | int,
        number: str,
        name: str = "",
        source: str = "ivr",
        due_at: dt.datetime | None = None,
    ) -> int | None:
        """A callback for a caller who is not holding (a complaint left in the IVR, a web
        request): written down, then in line at the back of the queue (at ``due_at`` when
        that is later: a web request's preferred time). Its id, or None when the number
        cannot be dialed back."""
        q = self.queue(queue)
        if not CALLBACK_NUMBER.match(number):
            return None
        priority = self.priority_of(number)
        requested = _utc(self.reactor.seconds())
        callback_id = await self.db.acd.add_callback(
            q.id, number, name[:128], priority, requested, source, due_at
        )
        self._restore_callback(
            CallbackRow(
                callback_id,
                q.id,
                number,
                name[:128],
                priority,
                requested,
                source,
                "waiting",
                0,
                due_at=due_at,
            )
        )
        self.stats[q.id].callbacks += 1
        self._publish_stats(q.id)
        self._dispatch_queue(q.id)
        return callback_id

    def _callback_from_row(self, row: CallbackRow) -> QueuedCall:
        """A saved callback as a call of this process (not yet in line or on an agent)."""
        call = QueuedCall(
            next(self._ids), row.queue_id, row.priority, row.number, f"callback-{row.id}", 0.0
        )
        call.joined_at = row.requested_at.timestamp()
        call.callback_id, call.attempts = row.id, row.attempts
        call.callback_saved = defer.succeed(row.id)
        self.calls[call.id] = call
        self.callbacks[row.id] = call
        return call

    def _restore_callback(self, row: CallbackRow) -> None:
        if row.queue_id not in self.queues:
            return
        call = self._callback_from_row(row)
        wait = row.due_at.timestamp() - self.reactor.seconds() if row.due_at else 0.0
        if wait > 0:  # not before its time: in line then (stopService cancels the timer)
            call.timer = self.reactor.callLater(wait, self._requeue_later, call)
        else:
            self.router.enqueue(row.queue_id, call.id, call.priority, call.seq)
        if row.state != "waiting":
            self._write(self.db.acd.update_callback(row.id, "waiting", row.attempts))

    def _hold_callback(self, agent: Agent, row: CallbackRow) -> None:
        """At start: the callback whose ring on ``agent``'s phone outlived the last process
        stays on that agent, off the queue: answered, its session comes to this process;
        what else became of it the first AMI resync tells (``_resume_callbacks``). Without
        a resync within the queue's ring time it goes back in line."""
        call = self._callback_from_row(row)
        agent.call = call
        call.ringing = (agent,)
        self._held[row.id] = call
        limit = self.queues[row.queue_id].ring_timeout_s
        self._hold_timers[row.id] = self.reactor.callLater(limit, self._unhold, call)
        log.info(
            "callback {id}: agent {a}'s phone was being rung for it: left to ring",
            id=row.id,
            a=agent.number,
        )

    def _unhold(self, call: QueuedCall) -> None:
        assert call.callback_id is not None
        self._hold_timers.pop(call.callback_id, None)
        if self._held.pop(call.callback_id, None) is None:
            return
        if not call.done and call.answered_at is None and call.ringing:
            log.warn(
                "callback {id}: no view of the switch since the restart: back in line",
                id=call.callback_id,
            )
            self._held_back_in_line(call, missed=False)

    def _let_go(self, call: QueuedCall) -> None:
        """A held or resumed callback its session took over (or a release freed)."""
        assert call.callback_id is not None
        self._held.pop(call.callback_id, None)
        timer = self._hold_timers.pop(call.callback_id, None)
        if timer is not None and timer.active():
            timer.cancel()
        for uniqueid in [u for u, c in self._resumed.items() if c is call]:
            del self._resumed[uniqueid]

    def _held_back_in_line(self, call: QueuedCall, missed: bool) -> None:
        assert call.callback_id is not None
        self._back_in_line(call, missed=missed, delay=0)
        self._write(self.db.acd.update_callback(call.callback_id, "waiting", call.attempts))

    def _resume_callbacks(self) -> None:
        """After the first AMI resync: each held callback's ring is gone (back in line),
        still ringing (left to ring: answered, its session comes here; unanswered, back in
        line at its hangup), or answered (the agent is on it, the customer being called or
        talking: it ends as reached when the customer answered, else as an attempt)."""
        if not self._held or self.switch is None:
            return
        held, self._held = self._held, {}
        now = self.reactor.seconds()
        for call in held.values():
            assert call.callback_id is not None
            timer = self._hold_timers.pop(call.callback_id, None)
            if timer is not None and timer.active():
                timer.cancel()
            if call.done or call.answered_at is not None or len(call.ringing) != 1:
                continue  # its session came first
            agent = call.ringing[0]
            legs = self.switch.legs_of(agent.device)
            if not legs:
                log.info(
                    "callback {id}: the ring on {dev} ended while ccboxd was down: back in line",
                    id=call.callback_id,
                    dev=agent.device,
                )
                self._held_back_in_line(call, missed=False)
                continue
            leg = next((g for g in legs if g.up), legs[0])
            self._resumed[leg.uniqueid] = call
            if leg.up:
                call.ringing, call.answered_at, call.agent = (), now, agent
                if leg.bridged:
                    self._reached.add(leg.uniqueid)
                self._enter(agent, st.ON_CALL, "reattached")
            log.info(
                "callback {id}: found on the switch ({leg}, {what})",
                id=call.callback_id,
                leg=leg.name,
                what="answered" if leg.up else "ringing",
            )

    def _resumed_leg_ended(self, call: QueuedCall, uniqueid: str) -> None:
        reached = uniqueid in self._reached
        self._reached.discard(uniqueid)
        if call.done:
            return
        if call.answered_at is None:
            if call.ringing:
                self._held_back_in_line(call, missed=True)  # rang out unanswered
            return
        self.callback_finished(call, reached)

    def _dial_callback(self, call: QueuedCall, agent: Agent) -> None:
        """Ring the agent's phone first (Originate); the customer is dialed once it answers."""
        q = self.queues[call.queue_id]
        self.router.dequeue(call.id)
        agent.call = call
        call.ringing = (agent,)
        self._enter(agent, st.RINGING)
        defer.ensureDeferred(self._originate_callback(call, agent, q.ring_timeout_s))

    async def _originate_callback(self, call: QueuedCall, agent: Agent, timeout_s: int) -> None:
        try:
            assert call.callback_saved is not None
            callback_id = await call.callback_saved
            if callback_id is None:
                return  # it could not be saved, and was dropped
            if self.switch is None:
                raise ACDError(N_("no AMI link to the switch"))
            self._write(
                self.db.acd.update_callback(callback_id, "dialing", call.attempts, agent.id)
            )
            action_id = await self.switch.originate(
                agent.device,
                "ccbox-callback",
                str(callback_id),
                ("Callback", call.caller),
                timeout_s,
            )
        except Exception as exc:
            # The switch refused to ring (``Extension does not exist.``, no AMI link): an
            # attempt that failed, with its reason, not the agent's fault. Retried after a
            # pause, and given up after the last attempt like a customer who never answers.
            reason = str(exc) or type(exc).__name__
            log.warn(
                "callback {n}: cannot ring agent {a}: {err}", n=call.id, a=agent.number, err=reason
            )
            self._callback_attempt_failed(call, reason)
            return
        if call.ringing:
            self._originating[action_id] = call

    def on_originate(self, event: OriginateResult) -> None:
        """From the call model: a callback's agent phone answered, or not."""
        call = self._originating.pop(event.action_id, None)
        if call is not None and not event.success and call.answered_at is None:
            self._back_in_line(call, missed=True, delay=0)

    def _back_in_line(self, call: QueuedCall, missed: bool, delay: float) -> None:
        """The ringing agents did not take the call: each is marked (``missed``; paused
        after the queue's limit) and the call goes back with its place kept, after
        ``delay`` seconds. The agents who just missed it are still "ringing" when the
        queue is dispatched, so others get the call first."""
        if call.done:
            return
        ringing, call.ringing = call.ringing, ()
        q = self.queues[call.queue_id]
        for agent in ringing:
            agent.call = None
            if missed:
                self._step(call, "rang_out", agent_id=agent.id)
                agent.misses += 1
                agent.stats.missed += 1
                if q.auto_pause_misses and agent.misses >= q.auto_pause_misses:
                    self._enter(agent, st.PAUSED, "missed_calls")
        if delay > 0:
            call.timer = self.reactor.callLater(delay, self._requeue_later, call)
        else:
            self._requeue(call)
        for agent in ringing:
            if agent.state == st.RINGING:
                self._enter(agent, st.AVAILABLE)

    def _requeue_later(self, call: QueuedCall) -> None:
        call.timer = None  # this timer has fired
        self._requeue(call)

    def _requeue(self, call: QueuedCall) -> None:
        if not call.done:
            self.router.enqueue(call.queue_id, call.id, call.priority, call.seq)
            self._dispatch_queue(call.queue_id)

    def callback(self, callback_id: int) -> QueuedCall | None:
        return self.callbacks.get(callback_id)

    def callback_finished(self, call: QueuedCall, reached: bool) -> None:
        """The callback's session ends: the customer was reached (the agent goes to wrap-up)
        or not (another attempt later, until callback_max_attempts)."""
        if call.done or call.callback_id is None:
            return
        call.attempts += 1
        now = _utc(self.reactor.seconds())
        agent = call.agent
        if reached:
            self.call_ended(call)
            self.callbacks.pop(call.callback_id, None)
            self._write(
                self.db.acd.update_callback(
                    call.callback_id, "done", call.attempts, agent.id if agent else None, now
                )
            )
            return
        # Not reached: the agent is free again at once (no wrap-up for a call that was not).
        call.agent, call.answered_at = None, None
        call.last_failure = "not reached"
        self._release_ringing(call)
        if agent is not None:
            agent.call = None
            if agent.state in (st.ON_CALL, st.RINGING):
                self._enter(agent, st.AVAILABLE)
        self._next_attempt(call)

    def _callback_attempt_failed(self, call: QueuedCall, reason: str) -> None:
        """The callback could not be dialed at all: counted as an attempt (``reason`` kept
        on the entry and published), its agent freed without a miss."""
        if call.done or call.callback_id is None:
            self._release_ringing(call)
            return
        call.attempts += 1
        call.last_failure = reason
        self._release_ringing(call)
        self.bus.publish(
            CallbackAttemptFailed(call.callback_id, call.attempts, reason, self.reactor.seconds())
        )
        self._next_attempt(call)

    def _next_attempt(self, call: QueuedCall) -> None:
        """After a failed attempt: given up at callback_max_attempts, else tried again
        after callback_retry_s."""
        assert call.callback_id is not None
        now = _utc(self.reactor.seconds())
        if call.attempts >= self.callback_max_attempts:
            call.done = True
            self._forget(call)
            self.callbacks.pop(call.callback_id, None)
            self._write(
                self.db.acd.update_callback(call.callback_id, "failed", call.attempts, None, now)
            )
            return
        self._write(self.db.acd.update_callback(call.callback_id, "waiting", call.attempts))
        call.timer = self.reactor.callLater(self.callback_retry_s, self._requeue_later, call)

    # ---- transfers ------------------------------------------------------------------------

    async def transfer(self, agent_id: int, kind: str, target: str, attended: bool = False) -> str:
        """Transfer the agent's current call to a queue (name or id), another agent (number)
        or an extension of the old PBX. Blind: the caller's channel is redirected and the
        agent goes to wrap-up; attended: the agent's phone dials the target first (Atxfer)
        and completes the transfer by hanging up. Returns a line for the user."""
        agent = self.agent(agent_id)
        call = agent.call
        if agent.state != st.ON_CALL or call is None:
            raise ACDError(N_("agent {number} has no call to transfer", number=agent.number))
        if self.switch is None:
            raise ACDError(N_("transfers need the AMI link to the switch"))
        direct: tuple[str, str] | None = None  # what the agent's phone dials (attended)
        if kind == "queue":
            q = self.queue(int(target) if target.isdigit() else target)
            context, exten, what = (
                "ccbox-transfer-queue",
                str(q.id),
                N_("queue {name}", name=q.name),
            )
        elif kind == "agent":
            other = self.agent_by_number(target)
            if other is None or other is agent:
                raise ACDError(N_("no other agent {target}", target=target))
            if other.state != st.AVAILABLE:
                raise ACDError(
                    N_(
                        "agent {number} is {state}",
                        number=other.number,
                        state=STATE_WORDS[other.state],
                    )
                )
            context, exten, what = (
                "ccbox-transfer-agent",
                other.number,
                N_("agent {number}", number=other.number),
            )
            phone = _device(other.device)
            if not phone.startswith("Local/"):  # ccbox-agents dials <technology>/<exten>
                direct = ("ccbox-agents", phone.split("/", 1)[1])
        elif kind == "extension":
            if not EXTENSION.match(target):
                raise ACDError(N_("an extension is 1-20 digits"))
            context, exten, what = (
                "ccbox-extensions",
                target,
                N_("extension {target}", target=target),
            )
            direct = (context, exten)
        else:
            raise ACDError(N_("transfer to a queue, an agent or an extension"))
        if attended:
            if direct is None and kind == "agent":
                raise ACDError(
                    N_(
                        "an attended transfer rings a phone: agent {target}'s device is a Local "
                        "channel; transfer blind instead",
                        target=target,
                    )
                )
            if direct is None:
                raise ACDError(N_("an attended transfer goes to an agent or an extension"))
            channel = self.switch.channel_of(agent.device)
            if channel is None:
                raise ACDError(
                    N_("agent {number}'s phone has no call on the switch", number=agent.number)
                )
            dial_context, dial_exten = direct
            call.transfer_to = f"{dial_exten}@{dial_context}"
            try:
                completion = await self.switch.atxfer(channel, dial_context, dial_exten)
            except TransferFailed as exc:
                raise ACDError(str(exc)) from None
            except Exception as exc:
                raise ACDError(
                    N_("the switch refused the attended transfer: {exc}", exc=exc)
                ) from None
            consulted = self.agent_by_number(target) if kind == "agent" else None
            if consulted is not None and consulted.state == st.AVAILABLE:
                # Its phone rings for the consult: no queue call may be offered meanwhile.
                self._enter(consulted, st.ON_CALL, "consult")
            else:
                consulted = None
            completion.addCallback(self._attended_over, agent, call, consulted)
            completion.addErrback(lambda f: log.failure("attended transfer", f))
            return N_("calling {what}: hang up to complete the transfer", what=what)
        if not call.channel:
            raise ACDError(N_("the caller's channel is not known"))
        call.transferred = True
        call.transfer_to = f"{exten}@{context}"
        self._transferred_from[call.uniqueid] = call.queue_id
        try:
            await self.switch.redirect(call.channel, context, exten)
        except Exception as exc:
            call.transferred = False
            self._transferred_from.pop(call.uniqueid, None)
            if isinstance(exc, TransferFailed):
                raise ACDError(N_("not transferred to {what}: {exc}", what=what, exc=exc)) from None
            raise ACDError(
                N_("not transferred to {what}: the switch refused: {exc}", what=what, exc=exc)
            ) from None
        return N_("transferred to {what}", what=what)

    def _attended_over(
        self, done: bool, agent: Agent, call: QueuedCall, consulted: Agent | None
    ) -> None:
        """Asterisk's AttendedTransfer said Success (``done``): the transferring agent's
        part of the call is over (wrap-up) and an agent it went to has the call; otherwise
        the consult ended without a transfer and the agent called is free again."""
        if not done:
            if consulted is not None and consulted.state == st.ON_CALL and consulted.call is None:
                self._enter(consulted, st.AVAILABLE, "consult ended")
            return
        log.info("agent {a}: attended transfer of call {c} done", a=agent.number, c=call.id)
        call.transferred = True
        now = self.reactor.seconds()
        if agent.call is call and call.answered_at is not None:
            self._step(
                call, "transferred", agent_id=agent.id, detail=call.transfer_to, attended=True
            )
            talk = now - call.answered_at
            agent.stats.handled += 1
            agent.stats.talk_s += talk
            self.stats[call.queue_id].talk_s += talk
            agent.call = None
            call.agent, call.answered_at = consulted, now
            if consulted is not None:
                consulted.call = call
                self._enter(consulted, st.ON_CALL, "transferred in")
            if agent.state == st.ON_CALL:
                q = self.queues[call.queue_id]
                self._enter(agent, st.WRAP_UP, "transferred")
                agent.wrapup_timer = self.reactor.callLater(q.wrapup_s, self._wrapup_over, agent)
            self._publish_stats(call.queue_id)

    def last_queue_of(self, uniqueid: str) -> int | None:
        """The queue a transferred caller came from (once: the entry is dropped)."""
        return self._transferred_from.pop(uniqueid, None)

    def join_agent(
        self,
        agent_number: str,
        caller: str,
        uniqueid: str,
        channel: str,
        fallback_queue: int,
        priority: int = 0,
    ) -> QueuedCall:
        """A call transferred to one agent: offered to that agent now; if the agent is no
        longer available (or does not answer) the call waits in ``fallback_queue``."""
        agent = self.agent_by_number(agent_number)
        if agent is None or agent.state != st.AVAILABLE:
            return self.join(fallback_queue, caller, uniqueid, priority, channel)
        now = self.reactor.seconds()
        call = QueuedCall(next(self._ids), fallback_queue, priority, caller, uniqueid, now, channel)
        self.calls[call.id] = call
        self.by_uniqueid[uniqueid] = call
        self.stats[fallback_queue].offered += 1
        q = self.queues[fallback_queue]
        self._step(call, "joined", position=1)
        agent.call = call
        self._enter(agent, st.RINGING)
        call.ringing = (agent,)
        call._deliver(Offer(call.ringing, q.ring_timeout_s))
        return call

    # ---- restart ----------------------------------------------------------------------------

    def reattach(self, live: list[tuple[str, str]]) -> int:
        """After an AMI (re)sync: ``live`` is every answered channel (uniqueid, name). An
        agent restored as available whose phone is on a call (one that outlived the old
        process: Asterisk's Dial goes on when the FastAGI socket closes) is put back on
        that call, and freed when the channel hangs up; an agent ringing whose phone
        answered while AMI was down is on its call. Returns how many."""
        self._resume_callbacks()
        count = 0
        for uniqueid, name in live:
            device = device_of_channel(name)
            agent = self.by_device.get(device) if device is not None else None
            if agent is not None and device is not None and self._answered_unseen(agent, device):
                count += 1
                continue
            if agent is None or agent.state not in (st.AVAILABLE, st.WRAP_UP):
                continue
            if agent in self._reattached.values():
                continue
            self._reattached[uniqueid] = agent
            self._enter(agent, st.ON_CALL, "reattached")
            count += 1
        count += self._reattach_ringing()
        if count:
            log.info("{n} agents re-attached to calls found on the switch", n=count)
        return count

    def _reattach_ringing(self) -> int:
        """An agent restored as available whose phone still rings for a caller the old
        process offered it (the Dial goes on without the FastAGI session) is ringing, not
        offered another call; on that call once it answers (DialEnd), free when its leg
        hangs up."""
        if self.switch is None:
            return 0
        count = 0
        for agent in self.agents.values():
            if agent.state not in (st.AVAILABLE, st.WRAP_UP) or not agent.device:
                continue
            if agent in self._reattached.values():
                continue
            legs = [g for g in self.switch.legs_of(agent.device) if g.rung]
            if legs:
                self._reattached[legs[0].uniqueid] = agent
                self._enter(agent, st.RINGING, "reattached")
                count += 1
        return count

    def _answered_unseen(self, agent: Agent, device: str) -> bool:
        """An agent still ringing for a call whose phone is up: it answered while AMI was
        down (the DialEnd never came), so it is on that call, not ringing for ever."""
        call = agent.call
        if agent.state != st.RINGING or call is None or agent not in call.ringing:
            return False
        log.info("agent {a} answered while AMI was down: on the call", a=agent.number)
        return self.answered(call, device) is agent

    @staticmethod
    def check_desk_call(agent: Agent) -> None:
        """ACDError unless ``agent`` may make a call of its own from the desk: logged in and
        not on a call (available, paused or in wrap-up)."""
        if agent.state not in (st.AVAILABLE, st.PAUSED, st.WRAP_UP):
            raise ACDError(
                N_(
                    "agent {number} is {state}: a call from the desk needs an agent who is "
                    "logged in and not on a call",
                    number=agent.number,
                    state=STATE_WORDS[agent.state],
                )
            )

    def desk_call_started(self, agent_id: int, uniqueid: str) -> None:
        """The desk rings the agent's phone for a call of its own (click-to-dial): the agent
        is on it, offered no queue call, until that channel (``uniqueid``) hangs up; then
        available."""
        agent = self.agent(agent_id)
        self.check_desk_call(agent)
        self._reattached[uniqueid] = agent
        self._enter(agent, st.ON_CALL, "desk call")

    def on_channel_hangup(self, event: ChannelHungUp) -> None:
        resumed = self._resumed.pop(event.uniqueid, None)
        if resumed is not None:
            self._resumed_leg_ended(resumed, event.uniqueid)
        agent = self._reattached.pop(event.uniqueid, None)
        if agent is not None and agent.state in (st.ON_CALL, st.RINGING) and agent.call is None:
            self._enter(agent, st.AVAILABLE)

    # ---- statistics -----------------------------------------------------------------------

    def _publish_stats(self, queue_id: int) -> None:
        s = self.stats[queue_id]
        now = self.reactor.seconds()
        waiting = [self.calls[c] for c in self.router.waiting(queue_id) if c in self.calls]
        s.waiting = len(waiting)
        s.longest_wait_s = max((now - c.joined_at for c in waiting), default=0.0)
        self.bus.publish(QueueStatsChanged(s.snapshot()))

    def snapshot(self) -> dict[str, Any]:
        """Everything the wallboard and the demo report show, as plain data."""
        now = self.reactor.seconds()
        queues = []
        for qid, s in self.stats.items():
            waiting = [self.calls[c] for c in self.router.waiting(qid) if c in self.calls]
            s.waiting = len(waiting)
            s.longest_wait_s = max((now - c.joined_at for c in waiting), default=0.0)
            queues.append(s.snapshot())
        agents = [
            {
                "id": a.id,
                "number": a.number,
                "name": a.name,
                "state": a.state,
                "reason": a.reason,
                "in_state_s": round(now - a.since, 3),
                "handled": a.stats.handled,
                "talk_s": round(a.stats.talk_s, 3),
            }
            for a in self.agents.values()
        ]
        return {"queues": queues, "agents": agents}

    def totals(self) -> dict[str, Any]:
        """The center as a whole: the demo report's numbers.

        Occupancy is the share of staffed time (available, ringing, on a call, wrap-up)
        spent on calls and their wrap-up; paused and logged-out time do not count.
        """
        qs = list(self.stats.values())
        answered = sum(s.answered for s in qs)
        base = answered + sum(s.abandoned_after_sl for s in qs)
        now = self.reactor.seconds()
        busy = staffed = 0.0
        for a in self.agents.values():
            time_in = dict(a.stats.time_in)
            time_in[a.state] = time_in.get(a.state, 0.0) + (now - a.since)
            busy += time_in.get(st.ON_CALL, 0.0) + time_in.get(st.WRAP_UP, 0.0)
            staffed += sum(time_in.get(x, 0.0) for x in (st.AVAILABLE, st.RINGING))
        staffed += busy
        return {
            # acd/invariants.py: agents freed by the watch, and what is wrong right now
            "agents_released": self.released,
            "agent_violations": len(self.violations()),
            "calls_answered": answered,
            "calls_abandoned": sum(s.abandoned for s in qs),
            "service_level": round(sum(s.answered_in_sl for s in qs) / base, 4) if base else None,
            "avg_wait_s": (
                round(sum(s.wait_answered_s for s in qs) / answered, 3) if answered else None
            ),
            "occupancy": round(busy / staffed, 4) if staffed else None,
        }

"""The dialing engine: places the calls of the running campaigns and hands the answered ones
to the ACD.

Every second, for each running campaign, the campaign's pacer (acd/dialer/pacing.py) says
how many lines to open from the agents of the campaign's queue (available and busy: the
ACD's ``agent_counts``) and the lines already in flight. The engine takes that many due
leads (the store), skips those outside the calling window in the called party's time zone
(acd/dialer/windows.py), claims each (``new``/``scheduled`` -> ``dialing``, once), records
the attempt, checks the number against the do-not-call lists *immediately before* the
Originate (a number listed after the leads were fetched is not dialed: the lead becomes
``dnc``), and never opens more channels on a trunk group than its configured limit.

A call is an AMI Originate of ``Local/<number>@ccbox-outbound/n`` (the ``;2`` half dials the
trunk with the campaign's caller ID) with a pre-assigned ChannelId, into
``ccbox-dialer,<attempt id>``: when the called party answers, ``;1`` answers, runs AMD() if
the campaign asks, then the FastAGI script ``dialer`` (acd/dialer/outbound_call.py), which
reports back here (``person``, ``machine``, ``connected``, ``abandoned``, ``ended``). ``/n``:
without it Asterisk optimizes the Local pair away once ``;1`` is bridged to the agent, and
``;1``, the channel the FastAGI session runs on, hangs up under it
(local-optimization-callback.trace).

What Asterisk says of a call that is not answered (main/pbx.c, main/dial.c; the traces): the
OriginateResponse is ``Failure`` with ``Reason: 3`` when the Originate's own timeout ran out
(originate-noanswer.trace) and ``Reason: 0`` when ``;2`` hung up first, whatever its Dial
met: a Local channel passes on no busy or congestion indication unless ``;2`` itself
signals it. So the outcome is read from ``;2``'s DialEnd (Uniqueid ``<ChannelId>;2``, the
id Asterisk gives the second half: core_unreal.c): BUSY, CONGESTION, NOANSWER,
CHANUNAVAIL; then from the Reason; then from ``;1``'s hangup cause.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

from acd import agent_state as st
from acd.dialer import retry
from acd.dialer.abandon import AbandonMeter, warm_from_store
from acd.dialer.call_history import CallHistory
from acd.dialer.dnc import REFRESH_S
from acd.dialer.events import AttemptEnded, CampaignFigures, LeadConnected, LeadPreview
from acd.dialer.pacing import Pacer, PacingSettings, make_pacer
from acd.dialer.warm_history import warm_history
from acd.dialer.windows import CallingWindow
from drivers.asterisk.callmodel import ChannelHungUp, DialEnded, OriginateResult
from drivers.health import DEGRADED, OK

if TYPE_CHECKING:
    from acd.service import ACD
    from acd.switch_link import SwitchLink
    from appliance.db.dialer_store import Campaign, DialerStore, Lead
    from appliance.eventbus import EventBus, Subscription

log = Logger(namespace="ccbox.dialer")

CONTEXT = "ccbox-dialer"  # drivers/asterisk/confgen.py writes it
OUTBOUND = "ccbox-outbound"
# ;2's DialEnd status -> the attempt's outcome (the contract's words)
DIAL_STATUS = {
    "BUSY": "busy",
    "CONGESTION": "congestion",
    "NOANSWER": "no_answer",
    "CHANUNAVAIL": "failed",
    "CANCEL": "no_answer",  # the Originate's timeout cancelled ;2's Dial
}
REASON = {3: "no_answer", 5: "busy", 8: "congestion"}  # OriginateResponse Reason
CAUSE = {17: "busy", 34: "congestion", 38: "congestion", 42: "congestion", 19: "no_answer"}
FAILURE_WAIT_S = 5.0  # a Failure with Reason 0 waits this long for ;1's Hangup cause
SWEEP_S = 60.0  # a line the switch has said nothing more of for this long is let go
# What may go into the dial string and the caller ID: digits, a leading '+' (no '@', '/', ...)
DIALABLE = re.compile(r"\+?[0-9]{3,32}")
SKIP_S = 600.0  # a lead an agent skipped in preview waits this long


class DoNotCallIndex(Protocol):
    def blocks(self, number: str, campaign_id: int | None = None) -> str | None: ...

    def load_from_store(self) -> defer.Deferred[None]: ...

    def refresh(self) -> defer.Deferred[None]: ...


class HealthReporter(Protocol):
    def report(self, name: str, state: str, detail: str = "") -> None: ...


@dataclass(frozen=True)
class DialerLimits:
    """``trunks``: channels per trunk group (config ``[dialer]``); a campaign whose group is
    not listed places no call. ``ring_timeout_s``: the Originate's timeout (no answer after
    it); ``offer_wait_s``: an answered person waits at most this long for an agent before
    the safe-harbor message (the 2 s of the rule)."""

    trunks: Mapping[str, int]
    ring_timeout_s: float = 25.0
    tick_s: float = 1.0
    figures_s: float = 5.0
    reload_s: float = 5.0
    batch: int = 50
    offer_wait_s: float = 2.0
    preview_s: float = 10.0  # preview: the lead shown this long before it is dialed
    dnc_refresh_s: float = REFRESH_S  # do-not-call rows written beside ccboxd: looked for


@dataclass(eq=False)
class Line:
    """One placed call, from its reservation to its end."""

    run: _Run
    lead: Lead
    trunk: str
    channel_id: str
    placed_at: float
    attempt_id: int = 0
    action_id: str = ""
    state: str = "placing"  # placing, ringing, answered, person, talking, done
    answered_at: float | None = None  # the called party answered (OriginateResponse)
    person_at: float | None = None  # a person (AMD HUMAN/NOTSURE or no AMD)
    talk_at: float | None = None  # an agent answered
    agent_id: int | None = None
    dial_status: str = ""
    hangup_cause: int | None = None
    failure_timer: Any = None
    channel_gone: bool = False
    done_at: float | None = None
    for_agent: int | None = None  # preview: the agent the lead was shown to

    @property
    def campaign(self) -> Campaign:
        return self.run.campaign

    @property
    def in_flight(self) -> bool:
        """Counts for pacing: ringing, or answered and not yet with an agent."""
        return self.state in ("placing", "ringing", "answered", "person")


@dataclass(eq=False)
class _Preview:
    """A preview campaign's lead held (claimed) for one agent until it is dialed."""

    run: _Run
    lead: Lead
    timer: Any = None


@dataclass(eq=False)
class _Run:
    """A running campaign's pacing state and figures since the engine started it."""

    campaign: Campaign
    pacer: Pacer
    meter: AbandonMeter
    window: CallingWindow
    started_at: float
    placed: int = 0
    answered: int = 0
    abandoned: int = 0
    machines: int = 0
    lines: set[Line] = field(default_factory=set)
    busy: bool = False  # a placing round is running
    talk_agent_s: float = 0.0  # agents on a call x seconds (occupancy's numerator)
    logged_agent_s: float = 0.0  # agents logged in x seconds
    last_sample: float | None = None


class Dialer(service.Service):
    """The engine; the FastAGI script ``dialer`` and the web pages talk to it."""

    name = "dialer"

    def __init__(
        self,
        reactor: Any,
        acd: ACD,
        switch: SwitchLink | None,
        store: DialerStore,
        dnc: DoNotCallIndex,
        bus: EventBus,
        limits: DialerLimits,
        *,
        pacer_factory: Callable[..., Pacer] = make_pacer,
        health_registry: HealthReporter | None = None,
        span_free: Callable[[str], tuple[int, float] | None] | None = None,
    ) -> None:
        self.reactor = reactor
        self.acd = acd
        self.switch = switch
        self.store = store
        self.dnc = dnc
        self.bus = bus
        self.limits = limits
        self.pacer_factory = pacer_factory
        self.runs: dict[int, _Run] = {}
        self.meters: dict[int, AbandonMeter] = {}
        self.lines: dict[str, Line] = {}  # by ChannelId
        self._by_action: dict[str, Line] = {}
        self._by_attempt: dict[int, Line] = {}
        self._loops: list[task.LoopingCall] = []
        self._subs: list[Subscription] = []
        self._reload_lock = defer.DeferredLock()
        self._kick_due = False  # a placing round is asked for (an agent became available)
        self.previews: dict[int, _Preview] = {}  # agent id -> the lead shown to them
        # campaigns that cannot run as they are, and why
        self._unfit: dict[int, tuple[Campaign, str]] = {}
        self.parked: dict[int, _Run] = {}  # campaigns paused or stopped since they ran
        self._released: set[int] = set()  # campaigns whose crash-left leads were released
        # Why calls were not placed, with when (the last few): the health detail.
        self.refused: list[tuple[float, str]] = []
        self.health_registry = health_registry
        # The trunk group's channels free on the spans and when they were read (the root
        # hands the DAHDI span monitor's trunk_capacity): None when none knows the group.
        self.span_free = span_free

    # ---- lifecycle ------------------------------------------------------------------------

    def startService(self) -> defer.Deferred[None]:
        super().startService()
        self._subs = [
            self.bus.subscribe(OriginateResult, self.on_originate),
            self.bus.subscribe(DialEnded, self.on_dial_end),
            self.bus.subscribe(ChannelHungUp, self.on_hangup),
            self.bus.subscribe(st.AgentStateChanged, self.on_agent_state),
        ]
        return defer.ensureDeferred(self._start())

    async def _start(self) -> None:
        await self.dnc.load_from_store()
        await self.reload()
        for every, fn in (
            (self.limits.tick_s, self.tick),
            (self.limits.figures_s, self.publish_figures),
            (self.limits.reload_s, self._reload_soon),
            (self.limits.dnc_refresh_s, self._refresh_dnc),
        ):
            loop = task.LoopingCall(fn)
            loop.clock = self.reactor
            loop.start(every, now=False).addErrback(
                lambda f: log.failure("a dialer loop stopped", f)
            )
            self._loops.append(loop)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        for loop in self._loops:
            if loop.running:
                loop.stop()
        self._loops = []
        for sub in self._subs:
            self.bus.unsubscribe(sub)
        self._subs = []
        return defer.succeed(None)

    def _refresh_dnc(self) -> defer.Deferred[None]:
        """Do-not-call rows added by the CLI or another process (a failed look is logged;
        the next one reads from the same row)."""
        d = self.dnc.refresh()
        d.addErrback(lambda f: log.failure("dialer: do-not-call changes not read", f))
        return d

    def _reload_soon(self) -> None:
        if not self._reload_lock.locked:
            d = defer.ensureDeferred(self.reload())
            d.addErrback(lambda f: log.failure("the dialer could not read the campaigns", f))

    async def reload(self) -> None:
        """Read the campaigns again: a campaign started on the web page runs from here on,
        one paused or stopped places no new call (its calls in progress go on, and its
        figures and pacer wait for it to run again). One reload at a time."""
        await self._reload_lock.acquire()
        try:
            campaigns = {c.id: c for c in await self.store.campaigns()}
            running = {cid: c for cid, c in campaigns.items() if c.state == "running"}
            for cid in list(self.runs):
                if cid not in running:
                    # its last figures, in its new state (paused, stopped, or gone)
                    ended = self.runs[cid]
                    gone = campaigns.get(cid)
                    state = gone.state if gone is not None else "stopped"
                    ended.campaign = replace(ended.campaign, state=state)
                    figures = self.figures(cid)
                    self.parked[cid] = self.runs.pop(cid)
                    for agent_id, preview in list(self.previews.items()):
                        if preview.run is ended:
                            self._withdraw(agent_id)  # its lead waits in the list again
                    if figures is not None:
                        self.bus.publish(figures)
            for cid in [c for c in self._unfit if c not in running]:
                del self._unfit[cid]  # no longer meant to run: nothing to complain about
            for cid, campaign in running.items():
                old = self.runs.get(cid) or self.parked.pop(cid, None)
                if self._unfit.get(cid, (None, ""))[0] == campaign:
                    continue  # refused as it is (said once): not again every reload
                if old is None or old.campaign != campaign:
                    await self._run(campaign, old)
                else:
                    self.runs[cid] = old
        finally:
            self._reload_lock.release()

    async def _run(self, campaign: Campaign, old: _Run | None) -> None:
        now = self.reactor.seconds()
        try:
            if not DIALABLE.fullmatch(campaign.caller_id_number):
                raise ValueError(
                    "no caller ID number to present (a number the customer can call back)"
                )
            holidays = [h.day for h in await self.store.holidays(campaign.id)]
            window = CallingWindow.from_campaign(campaign, holidays)
            settings = PacingSettings.from_campaign(campaign)
        except ValueError as exc:
            self._refuse(f"campaign {campaign.name}: {exc}")
            self._unfit[campaign.id] = (campaign, f"campaign {campaign.name}: {exc}")
            return
        self._unfit.pop(campaign.id, None)
        meter = self.meters.get(campaign.id)
        if meter is None:
            meter = self.meters[campaign.id] = AbandonMeter()
            await warm_from_store(meter, self.store, campaign.id, now)
        if campaign.id not in self._released:
            # once per start: leads left dialing by a crash (this process has no call on them)
            self._released.add(campaign.id)
            released = await self.store.release_dialing(campaign.id)
            if released:
                log.info(
                    "campaign {n}: {k} leads a stop left dialing wait again",
                    n=campaign.name,
                    k=released,
                )
        unchanged = (
            old is not None
            and old.campaign.mode == campaign.mode
            and PacingSettings.from_campaign(old.campaign) == settings
        )
        if old is not None and unchanged:
            pacer = old.pacer
        else:  # a new pacer keeps what the old one learnt (pacing.make_pacer's previous)
            previous = old.pacer if old is not None else None
            pacer = self.pacer_factory(
                campaign.mode, settings, meter, self.reactor.seconds, previous
            )
            if previous is None:
                await self._warm(pacer, campaign, now)
        run = _Run(campaign, pacer, meter, window, old.started_at if old else now)
        if old is not None:
            for name in (
                "placed",
                "answered",
                "abandoned",
                "machines",
                "lines",
                "talk_agent_s",
                "logged_agent_s",
                "last_sample",
            ):
                setattr(run, name, getattr(old, name))
            for line in run.lines:
                line.run = run
        self.runs[campaign.id] = run

    async def _warm(self, pacer: Pacer, campaign: Campaign, now: float) -> None:
        """A campaign's first pacer in this process learns from its stored calls
        (acd/dialer/warm_history.py); a failed read is logged and it learns as it goes."""
        history = getattr(pacer, "history", None)
        if not isinstance(history, CallHistory):
            return
        try:
            wrapup_s = float(self.acd.queue(campaign.queue_id).wrapup_s)
        except Exception:
            wrapup_s = 0.0
        try:
            seeded = await warm_history(
                history, self.store, campaign.id, campaign.queue_id, wrapup_s, now
            )
        except Exception:
            log.failure("campaign {n}: its call history was not read", n=campaign.name)
            return
        if seeded:
            log.info("campaign {n}: pacing warmed from {k} stored calls", n=campaign.name, k=seeded)

    # ---- placing calls --------------------------------------------------------------------

    def trunk_free(self, group: str) -> int:
        """What the group may still carry: its ``[dialer] trunks`` limit less the lines in
        flight, and never more than the channels the spans had free (configured, out of
        alarm, idle) when last read, less the lines placed since, when a span monitor
        knows the group."""
        limit = self.limits.trunks.get(group, 0)
        used = sum(1 for line in self.lines.values() if line.trunk == group)
        free = max(0, limit - used)
        spans = self.span_free(group) if self.span_free is not None else None
        if spans is None:
            return free
        on_spans, read_at = spans
        since = sum(
            1 for line in self.lines.values() if line.trunk == group and line.placed_at >= read_at
        )
        return max(0, min(free, on_spans - since))

    def on_agent_state(self, event: st.AgentStateChanged) -> None:
        """An agent free again: a placing round now rather than at the next tick (a second
        of an idle agent per call is a few points of occupancy)."""
        if event.new == st.AVAILABLE and self.running and not self._kick_due:
            self._kick_due = True
            self.reactor.callLater(0, self._kick)

    def _kick(self) -> None:
        self._kick_due = False
        self._place_all()

    def tick(self) -> None:
        now = self.reactor.seconds()
        self._sweep(now)
        for run in list(self.runs.values()):
            self._sample(run, now)
        self._place_all()

    def _place_all(self) -> None:
        for run in list(self.runs.values()):
            if not run.busy:
                run.busy = True
                d = defer.ensureDeferred(self._place_once(run))
                d.addErrback(lambda f: log.failure("a dialer round failed", f))

    def _sweep(self, now: float) -> None:
        """Lines the switch never finished telling about (an AMI link lost meanwhile): one
        still ringing long after its timeout ends ``failed``; one over whose Hangup never
        came gives its trunk channel back."""
        late = self.limits.ring_timeout_s + SWEEP_S
        for line in list(self.lines.values()):
            if line.state in ("placing", "ringing") and now - line.placed_at > late:
                log.warn("attempt {a}: no OriginateResponse: ended as failed", a=line.attempt_id)
                self._finish(line, "failed")
                self._drop(line)
            elif line.state == "done" and line.done_at and now - line.done_at > SWEEP_S:
                self._drop(line)

    async def _place_once(self, run: _Run) -> None:
        try:
            await self._place(run)
        except Exception:
            log.failure("campaign {n}: placing calls failed", n=run.campaign.name)
        finally:
            run.busy = False

    def _sample(self, run: _Run, now: float) -> None:
        try:
            counts = self.acd.agent_counts(run.campaign.queue_id)
        except Exception:
            return
        if run.last_sample is not None:
            dt_s = max(0.0, now - run.last_sample)
            run.talk_agent_s += counts.on_call * dt_s
            run.logged_agent_s += counts.logged_in * dt_s
        run.last_sample = now

    async def _place(self, run: _Run) -> int:
        """One round: how many calls the pacer wants, placed; returns how many."""
        campaign = run.campaign
        if self.switch is None:
            self._refuse("no AMI link to the switch: no campaign call is placed")
            return 0
        try:
            counts = self.acd.agent_counts(campaign.queue_id)
        except Exception as exc:
            self._refuse(f"campaign {campaign.name}: {exc}")
            return 0
        if campaign.mode == "preview":
            return await self._preview_round(run)
        now = self.reactor.seconds()
        in_flight = sum(1 for line in run.lines if line.in_flight)
        wanted = run.pacer.calls_to_place(now, counts.available, counts.busy, in_flight)
        wanted = min(wanted, self.trunk_free(campaign.trunk_group))
        if wanted <= 0:
            return 0
        leads = await self.store.due_leads(campaign.id, _utc(now), limit=self.limits.batch)
        placed = 0
        for lead in leads:
            if placed >= wanted or self.runs.get(campaign.id) is not run:
                break
            try:
                at = _utc(self.reactor.seconds())
                if not run.window.is_open(at, lead.tz):
                    # until its window opens: it would stay at the head of the due leads
                    await self.store.postpone([lead.id], run.window.next_open(at, lead.tz))
                    continue
            except (ValueError, KeyError):
                log.warn("lead {id}: unknown time zone {tz!r}: not dialed", id=lead.id, tz=lead.tz)
                await self.store.finish_lead(lead.id, "failed", outcome="failed")
                continue
            if self.trunk_free(campaign.trunk_group) <= 0:
                break
            if lead.agent_id is not None and not self._agent_free_for(lead.agent_id):
                # a callback set for one agent waits, due, until that agent is free (a round
                # reads ``batch`` leads: a few such callbacks do not hold up the others)
                continue
            if await self._dial(run, lead):
                placed += 1
        return placed

    def _agent_free_for(self, agent_id: int) -> bool:
        """The agent is available and no line placed for them is still under way."""
        agent = self.acd.agents.get(agent_id)
        if agent is None or agent.state != st.AVAILABLE:
            return False
        return not any(
            agent_id in (line.lead.agent_id, line.for_agent) and line.in_flight
            for line in self.lines.values()
        )

    # ---- preview --------------------------------------------------------------------------

    async def _preview_round(self, run: _Run) -> int:
        """Each available agent of the campaign's queue without a lead in view gets the next
        one (claimed: no one else dials it), shown on the desk (``LeadPreview``) and dialed
        for that agent ``preview_s`` later. Returns how many were shown."""
        campaign = run.campaign
        q = self.acd.queue(campaign.queue_id)
        agents = [
            a
            for a in self.acd.agents.values()
            if a.state == st.AVAILABLE
            and a.id not in self.previews
            and self.acd.serves(a, q)
            and self._agent_free_for(a.id)
        ]
        if not agents:
            return 0
        now = _utc(self.reactor.seconds())
        leads = await self.store.due_leads(campaign.id, now, self.limits.batch)
        shown = 0
        for lead in leads:
            agents = [a for a in agents if a.id not in self.previews]
            if not agents or self.runs.get(campaign.id) is not run:
                break
            at = _utc(self.reactor.seconds())
            try:
                if not run.window.is_open(at, lead.tz):
                    await self.store.postpone([lead.id], run.window.next_open(at, lead.tz))
                    continue
            except (ValueError, KeyError):
                await self.store.finish_lead(lead.id, "failed", outcome="failed")
                continue
            agent = next((a for a in agents if lead.agent_id in (None, a.id)), None)
            if agent is None or not await self.store.claim(lead.id):
                continue
            preview = _Preview(run, lead)
            self.previews[agent.id] = preview
            preview.timer = self.reactor.callLater(
                self.limits.preview_s, self.preview_dial_now, agent.id
            )
            self.bus.publish(self._preview_event(preview, agent.id, self.limits.preview_s))
            shown += 1
        return shown

    def _preview_event(self, preview: _Preview, agent_id: int, dial_in_s: float) -> LeadPreview:
        lead, campaign = preview.lead, preview.run.campaign
        return LeadPreview(
            agent_id=agent_id,
            campaign_id=campaign.id,
            campaign=campaign.name,
            lead_id=lead.id,
            number=lead.number,
            name=lead.name,
            script=campaign.script,
            dial_in_s=dial_in_s,
            at=self.reactor.seconds(),
            fields=dict(lead.fields),
            withdrawn=dial_in_s < 0,
        )

    def preview_dial_now(self, agent_id: int) -> bool:
        """Dial the lead shown to the agent now (the desk's "dial", or its time is up). It
        goes back to the list when the agent was taken meanwhile or the campaign stopped,
        and waits a second for a trunk channel. False when the agent has no lead in view."""
        preview = self.previews.get(agent_id)
        if preview is None:
            return False
        if preview.timer is not None and preview.timer.active():
            preview.timer.cancel()
        run = preview.run
        if self.runs.get(run.campaign.id) is not run or not self._agent_free_for(agent_id):
            self._withdraw(agent_id)
            return False
        if self.trunk_free(run.campaign.trunk_group) <= 0:
            preview.timer = self.reactor.callLater(1.0, self.preview_dial_now, agent_id)
            return True
        del self.previews[agent_id]
        d = defer.ensureDeferred(self._dial(run, preview.lead, claimed=True, for_agent=agent_id))
        d.addErrback(lambda f: log.failure("preview dial failed", f))
        return True

    def preview_skip(self, agent_id: int) -> bool:
        """The agent passes on the lead shown: it waits in the list again (not an attempt),
        behind the others for ``SKIP_S``."""
        return self._withdraw(agent_id, self.reactor.seconds() + SKIP_S)

    def _withdraw(self, agent_id: int, until: float | None = None) -> bool:
        preview = self.previews.pop(agent_id, None)
        if preview is None:
            return False
        if preview.timer is not None and preview.timer.active():
            preview.timer.cancel()
        lead = preview.lead
        again = _utc(until) if until is not None else None
        self._write(self.store.schedule(lead.id, again, lead.last_outcome))
        self.bus.publish(self._preview_event(preview, agent_id, -1.0))
        return True

    async def _dial(
        self, run: _Run, lead: Lead, *, claimed: bool = False, for_agent: int | None = None
    ) -> bool:
        campaign = run.campaign
        if not DIALABLE.fullmatch(lead.number):  # the store normalises; this is the last word
            log.warn("lead {id}: {n!r} is not a number to dial", id=lead.id, n=lead.number[:40])
            await self.store.finish_lead(lead.id, "failed", outcome="failed")
            return False
        if not claimed and not await self.store.claim(lead.id):
            return False
        if self.runs.get(campaign.id) is not run:  # paused or stopped meanwhile
            await self.store.schedule(lead.id, None, lead.last_outcome)
            return False
        channel_id = f"ccbox-dl-{uuid.uuid4().hex[:20]}"
        # The trunk is held from here: two rounds cannot both take the last channel.
        line = Line(run, lead, campaign.trunk_group, channel_id, self.reactor.seconds())
        line.for_agent = for_agent
        self.lines[channel_id] = line
        run.lines.add(line)
        try:
            line.attempt_id = await self.store.start_attempt(
                campaign.id, lead.id, channel_id=channel_id
            )
        except Exception:
            self._drop(line)
            await self.store.schedule(lead.id, None, lead.last_outcome or "failed")
            raise
        self._by_attempt[line.attempt_id] = line
        if self.runs.get(campaign.id) is not run:  # paused or stopped meanwhile
            self._drop(line)
            line.state = "done"
            await self.store.finish_attempt(line.attempt_id, "failed")
            await self.store.schedule(lead.id, None, lead.last_outcome)
            return False
        # Do-not-call at dial time: nothing awaits between this check and the Originate.
        scope = self.dnc.blocks(lead.number, campaign.id)
        if scope is not None:
            log.info(
                "lead {id}: {number} is on the {scope} do-not-call list: not dialed",
                id=lead.id,
                number=lead.number,
                scope=scope,
            )
            self._drop(line)
            line.state = "done"
            await self.store.finish_attempt(line.attempt_id, "dnc")
            await self.store.finish_lead(lead.id, "dnc", outcome="dnc")
            return False
        variables = {"CCBOX_AMD": "1" if campaign.amd else "0"}
        assert self.switch is not None
        try:
            line.action_id = await self.switch.originate(
                f"Local/{lead.number}@{OUTBOUND}/n",
                CONTEXT,
                str(line.attempt_id),
                (campaign.caller_id_name, campaign.caller_id_number),
                self.limits.ring_timeout_s,
                variables=variables,
                channel_id=channel_id,
            )
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            self._refuse(f"campaign {campaign.name}: the switch refused the call: {reason}")
            self._finish(line, "failed")
            return False
        line.state = "ringing"
        self._by_action[line.action_id] = line
        run.placed += 1
        run.pacer.placed(line.placed_at)
        return True

    def _refuse(self, why: str) -> None:
        log.warn("dialer: {why}", why=why)
        self.refused = [*self.refused[-4:], (self.reactor.seconds(), why)]

    # ---- what the switch says -------------------------------------------------------------

    def on_dial_end(self, event: DialEnded) -> None:
        if not event.uniqueid.endswith(";2"):
            return
        line = self.lines.get(event.uniqueid[:-2])
        if line is not None and event.status != "ANSWER":
            line.dial_status = event.status

    def on_originate(self, event: OriginateResult) -> None:
        line = self._by_action.get(event.action_id) or self.lines.get(event.uniqueid)
        if line is None or line.state not in ("placing", "ringing"):
            return
        now = self.reactor.seconds()
        if event.success:
            line.state = "answered"
            line.answered_at = now
            return
        outcome = DIAL_STATUS.get(line.dial_status) or REASON.get(event.reason)
        if outcome is None and line.hangup_cause is not None:
            outcome = CAUSE.get(line.hangup_cause, "failed")
        if outcome is not None or line.channel_gone:
            self._finish(line, outcome or "failed")
            return
        # Reason 0 and nothing else yet: ;1's Hangup (with its cause) is on its way.
        line.failure_timer = self.reactor.callLater(
            FAILURE_WAIT_S, lambda: self._finish(line, "failed")
        )

    def on_hangup(self, event: ChannelHungUp) -> None:
        line = self.lines.get(event.uniqueid)
        if line is None:
            return
        line.hangup_cause = event.cause
        line.channel_gone = True
        if line.failure_timer is not None:
            self._finish(
                line, DIAL_STATUS.get(line.dial_status) or CAUSE.get(event.cause, "failed")
            )
        elif line.state == "answered":
            # Answered, and gone before ccboxd's script took it: the party heard nothing.
            self._finish(line, "abandoned" if line.person_at else "failed")
        elif line.state in ("person", "talking"):
            pass  # the script reports how it ended
        elif line.state == "done":
            self._drop(line)

    # ---- what the FastAGI script says -----------------------------------------------------

    def line_for(self, attempt_id: int, uniqueid: str) -> Line | None:
        """The answered call the script runs: the attempt's, on the channel it was placed on
        (the Originate's ChannelId), not over yet. A session for anything else gets None."""
        line = self._by_attempt.get(attempt_id)
        if line is None or line.channel_id != uniqueid or line.state == "done":
            return None
        if line.state in ("placing", "ringing"):  # the script came before OriginateResponse
            line.state = "answered"
            line.answered_at = self.reactor.seconds()
        return line

    def machine(self, line: Line, cause: str = "") -> None:
        now = self.reactor.seconds()
        line.run.machines += 1
        line.run.pacer.unanswered(now, "machine")
        log.info("attempt {a}: answering machine ({cause})", a=line.attempt_id, cause=cause)
        self._finish(line, "machine")

    def person(self, line: Line) -> None:
        now = self.reactor.seconds()
        line.state = "person"
        line.person_at = now
        line.run.answered += 1
        line.run.pacer.answered(now, now - line.placed_at)
        self._write(self.store.note_attempt(line.attempt_id, answered_at=_utc(now)))

    def connected(self, line: Line, agent_id: int) -> None:
        now = self.reactor.seconds()
        line.state = "talking"
        line.talk_at = now
        line.agent_id = agent_id
        wait_s = now - (line.person_at or now)
        line.run.pacer.connected(now, wait_s)
        self._write(
            self.store.note_attempt(line.attempt_id, agent_id=agent_id, wait_ms=int(wait_s * 1000))
        )
        self.bus.publish(
            LeadConnected(
                agent_id, line.campaign.id, line.lead.id, line.attempt_id, int(wait_s * 1000), now
            )
        )

    def abandoned(self, line: Line) -> None:
        """No agent within the wait (the safe-harbor message played), or the party hung up
        before one answered."""
        if line.state == "done":
            return
        line.run.abandoned += 1
        line.run.pacer.abandoned(self.reactor.seconds())
        self._finish(line, "abandoned")

    def ended(self, line: Line, wrapup_s: float = 0.0) -> None:
        """The agent's call is over (a conversation: the lead is done)."""
        if line.state == "done":
            return
        now = self.reactor.seconds()
        if line.talk_at is not None:
            talk_s = now - line.talk_at
            line.run.pacer.talk_ended(now, talk_s)
            line.run.pacer.handled(now, talk_s + wrapup_s)
        self._finish(line, "answered")

    # ---- outcomes -------------------------------------------------------------------------

    def _finish(self, line: Line, outcome: str) -> None:
        if line.state == "done":
            return
        if line.failure_timer is not None:
            if line.failure_timer.active():
                line.failure_timer.cancel()
            line.failure_timer = None
        was = line.state
        line.state = "done"
        now = self.reactor.seconds()
        line.done_at = now
        if was in ("placing", "ringing") and outcome != "dnc":
            line.run.pacer.unanswered(now, outcome)
        if line.channel_gone or was in ("placing", "ringing"):
            self._drop(line)  # the channel is gone (or never was): the trunk is free
        self._by_action.pop(line.action_id, None)
        self._by_attempt.pop(line.attempt_id, None)
        d = defer.ensureDeferred(self._record(line, outcome, now))
        d.addErrback(lambda f: log.failure("attempt {a}: outcome not stored", f, a=line.attempt_id))

    async def _record(self, line: Line, outcome: str, now: float) -> None:
        lead, campaign = line.lead, line.campaign
        if line.attempt_id:
            await self.store.finish_attempt(
                line.attempt_id,
                outcome,
                _utc(now),
                agent_id=line.agent_id,
            )
        attempts = lead.attempts + 1
        next_at = retry.next_attempt(
            outcome, attempts, campaign.max_attempts, campaign.retry_minutes, _utc(now)
        )
        if next_at is None:
            status = "done" if outcome == "answered" else "dnc" if outcome == "dnc" else "failed"
            await self.store.finish_lead(lead.id, status, outcome=outcome)
        else:
            await self.store.schedule(lead.id, next_at, outcome)
        self.bus.publish(
            AttemptEnded(
                campaign.id,
                lead.id,
                line.attempt_id,
                outcome,
                next_at.timestamp() if next_at is not None else None,
                now,
            )
        )

    def _drop(self, line: Line) -> None:
        """The line no longer holds a trunk channel."""
        if self.lines.get(line.channel_id) is line:
            del self.lines[line.channel_id]
        line.run.lines.discard(line)

    def _write(self, d: defer.Deferred[Any]) -> None:
        d.addErrback(lambda f: log.failure("dialer: a write failed", f))

    # ---- figures --------------------------------------------------------------------------

    def figures(self, campaign_id: int) -> CampaignFigures | None:
        run = self.runs.get(campaign_id)
        if run is None:
            return None
        now = self.reactor.seconds()
        try:
            counts = self.acd.agent_counts(run.campaign.queue_id)
            idle, busy = counts.available, counts.busy
        except Exception:
            idle = busy = 0
        pacing = run.pacer.figures()
        return CampaignFigures(
            campaign_id=run.campaign.id,
            name=run.campaign.name,
            mode=run.campaign.mode,
            state=run.campaign.state,
            placed=run.placed,
            answered=run.answered,
            abandoned=run.abandoned,
            machines=run.machines,
            in_flight=sum(1 for line in run.lines if line.in_flight),
            agents_idle=idle,
            agents_busy=busy,
            occupancy=run.talk_agent_s / run.logged_agent_s if run.logged_agent_s else 0.0,
            dial_level=float(pacing.get("dial_level", 0.0)),
            abandon_24h=run.meter.rate_24h(now),
            abandon_30d=run.meter.rate_30d(now),
            at=now,
        )

    def publish_figures(self) -> None:
        for cid in list(self.runs):
            figures = self.figures(cid)
            if figures is not None:
                self.bus.publish(figures)
        if self.health_registry is not None:
            ok, detail = self.health()
            self.health_registry.report(self.name, OK if ok else DEGRADED, detail)

    def health(self) -> tuple[bool, str]:
        """(ok, detail): running campaigns and lines, or why calls were refused in the last
        minute (no AMI link, the switch refusing the Originate, a campaign that cannot run)."""
        detail = f"{len(self.runs)} campaigns running, {len(self.lines)} lines"
        recent = [why for at, why in self.refused if self.reactor.seconds() - at < 60]
        recent += [why for _, why in self._unfit.values()]
        if recent:
            return False, f"{detail}; {recent[-1]}"
        return True, detail


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)

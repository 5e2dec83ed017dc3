"""Call control from the agent's desk, and from a supervisor's console for an agent: hold and
resume, mute, hang up, click-to-dial and redial, consultation (attended) transfer, three-way
call. Each action works on the agent's own leg only (the answered channel of the agent's
phone, ``SwitchLink.channel_of``) and says what the switch did, or why it was refused.

How Asterisk 22 does each, as tried on 22.10.1 (tests/asterisk/test_desk_control.py):

- There is no AMI Hold. A Redirect of the caller ends the FastAGI session's ``Dial`` (the
  ACD's whole hold on the call: redirect-during-dial.trace), and moving the caller out of the
  Dial's two-party basic bridge (AMI ``Bridge``, ``Park``) dissolves that bridge
  (bridge.c: bridge_dissolve_check_stolen), which hangs up the agent's leg. So hold is an
  attended transfer (AMI ``Atxfer``) of the agent's leg to ``0@ccbox-desk-hold``: the bridge puts
  the caller on hold at once (``Hold`` on the agent, ``MusicOnHoldStart`` class default on
  the caller, within 0.3 s), the agent waits with a silent Local leg (created 3 s after the
  digit: the transfer digit timeout), and the caller's FastAGI Dial stays blocked throughout.
  The music is the caller channel's class: ccbox writes the queue's (``CHANNEL(musicclass)``
  by Setvar) first.
- Resume hangs that Local leg up: the transfer target hung up, so Asterisk puts the two back
  together (``MusicOnHoldStop``, ``Unhold``, the agent back in the first bridge).
- If the caller hangs up on hold, Asterisk's transfer fails and leaves the agent with the
  hold leg (the consult bridge dissolves only when that leg goes): ccbox hangs the hold leg
  up when the party on hold hangs up, or when the agent leaves ``on_call``.
- Mute: ``Setvar`` of ``MUTEAUDIO(in)`` = on/off on the agent's leg (res_mutestream; answers
  ``Variable Set``); the module's ``MuteAudio`` action needs AMI system write.
- Consultation: ``Atxfer`` to an agent (through the ACD, which keeps the colleague from being
  offered a call meanwhile), an extension of the old PBX or an outside number
  (ccbox-outbound). Cancel hangs the consult leg up (Asterisk rebridges); transfer hangs the
  agent's leg up (``AttendedTransfer`` Success); conference presses ``*3`` (Asterisk's
  default atxferthreeway) on the agent's leg with ``PlayDTMF`` ``Receive: true``:
  ``BridgeMerge``, ``AttendedTransfer`` ``DestType: Threeway``, all three in the caller's
  bridge; when the agent hangs up later the other two go on talking.
- Consultation with a queue: ccboxd asks the queue's routing for the agent it would offer
  the queue's next call to now (``Router.candidates``: available, the lowest penalty, the
  strategy's order; the consulting agent is on a call and never one of them) and consults
  that agent as above: Atxfer of the agent's leg to ``<phone>@ccbox-agents``, the
  colleague held ``on_call`` by the ACD until the transfer or the cancel, then transfer,
  conference and cancel as with any agent (on 22.10.1: ``AttendedTransfer`` ``DestType:
  Threeway`` for the conference, the caller and the colleague talking on when the agent
  leaves: tests/asterisk/test_desk_consult_queue.py; the transfer is the agent consult's).
  The consult leg is no customer call: no calls row, nothing offered or answered in the
  queue's service level. It never waits in the queue: with no agent of it free the
  consultation is refused (the caller is not moved; a blind transfer to the queue lets the
  caller wait there). An Atxfer straight into ``<id>@ccbox-transfer-queue`` is not the
  way, as tried on 22.10.1: Asterisk makes a ``Local/<id>@ccbox-transfer-queue`` pair
  (``LocalBridge`` ``LocalOptimization: Yes``), the ;2 half enters FastAGI
  ``transfer-queue`` with a uniqueid no calls row has, and the script hangs it up as a
  stale redirect within milliseconds (the agent is back with the caller). Teaching the
  script consults would not be enough (not tried): an optimizable pair swaps itself out
  once both halves are bridged, and the session's ``Dial`` would lose the colleague's leg
  it answered for the ACD's books.
- All of it needs the transfer feature on the agent's leg: Dial option ``t`` (queue calls)
  or ``T`` (callbacks, click-to-dial); without it Atxfer's digits reach the caller
  (atxfer-without-t-option.trace).
- Click-to-dial: Originate of the agent's phone into ``ccbox-desk-dial,<number>`` with the
  caller ID in channel variables; the phone rings first, answered it dials the number.
- Answer: Asterisk cannot answer a phone that rings; a PJSIP phone that honours auto-answer
  headers answers by itself when the INVITE carries them. For a click-to-dial the Originate
  writes them as ``PJSIP_HEADER(add,...)`` Variable headers (set on the new channel before
  it is called; Asterisk keeps the name whole and writes the function). Originate's
  ``PreDialGoSub`` is no way: manager.c passes it to the synchronous Originate only, and
  with ``Async`` the handler never ran. ``PJSIPNotify`` (a "talk" event) needs system write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger

from acd import agent_state as st
from acd.dialer import numbers
from acd.service import ACDError
from acd.switch_link import TransferFailed
from appliance.text import N_
from drivers.asterisk.callmodel import ChannelHungUp

if TYPE_CHECKING:
    from acd.service import ACD, Agent
    from acd.switch_link import SwitchLink
    from appliance.db.acd_store import ACDQueue

log = Logger(namespace="ccbox.acd.desk")

HOLD_CONTEXT = "ccbox-desk-hold"
HOLD_EXTEN = "0"  # drivers/asterisk/confgen.py HOLD_EXTEN
HOLD_LEG = f"Local/{HOLD_EXTEN}@{HOLD_CONTEXT}-"  # the hold leg's name, but its id and ;1
OUTBOUND_CONTEXT = "ccbox-outbound"
EXTENSIONS_CONTEXT = "ccbox-extensions"
THREEWAY_KEYS = "*3"  # Asterisk's default atxferthreeway (features.conf)
CONSULT_KINDS = ("agent", "queue", "extension", "number")
MAX_EXTENSION = 20
RESUME_CONFIRM_S = 5.0  # the hold leg's Hangup event follows the action's answer at once


@dataclass
class DeskState:
    """What the desk shows for one agent's call, kept while ccboxd runs."""

    held: bool = False
    hold_leg: str = ""  # the Local ;1 of the hold transfer
    muted: bool = False
    consulting: str = ""  # the party consulted ("agent 1002", "number 5551234")
    back: defer.Deferred[None] | None = None  # fires when the switch ended the hold
    held_party: tuple[str, ...] = ()  # the channels on hold (the caller's side)
    desk_call: str = ""  # uniqueid of the phone's channel of a click-to-dial
    last_number: str = ""  # for redial
    last_caller: tuple[str, str] = ("", "")
    auto_answer: bool = False  # the last click-to-dial asked the phone to answer by itself
    hold_from: tuple[int, float] | None = None  # (calls row, when) of the hold under way


class DeskControl:
    """One method per desk action; refusals raise ACDError with an ``N_`` message."""

    def __init__(self, acd: ACD) -> None:
        self.acd = acd
        self.desks: dict[int, DeskState] = {}
        acd.bus.subscribe(st.AgentStateChanged, self._agent_changed)
        acd.bus.subscribe(ChannelHungUp, self._channel_gone)

    # ---- helpers ---------------------------------------------------------------------------

    def _switch(self) -> SwitchLink:
        if self.acd.switch is None:
            raise ACDError(N_("call control needs the AMI link to the switch"))
        return self.acd.switch

    def desk(self, agent_id: int) -> DeskState:
        return self.desks.setdefault(agent_id, DeskState())

    def _leg(self, agent: Agent) -> str:
        """The agent's own answered leg: the only channel any action here touches."""
        if agent.state != st.ON_CALL:
            raise ACDError(N_("agent {number} is not on a call", number=agent.number))
        channel = self._switch().channel_of(agent.device)
        if channel is None:
            raise ACDError(
                N_("agent {number}'s phone has no call on the switch", number=agent.number)
            )
        return channel

    def status(self, agent_id: int) -> dict[str, Any]:
        agent = self.acd.agent(agent_id)
        d = self.desk(agent_id)
        switch = self.acd.switch
        channel = switch.channel_of(agent.device) if switch is not None else None
        threeway = bool(channel and switch is not None and switch.in_threeway(channel))
        # the switch says whether a consultation is still under way (its party may have
        # hung up, or the ACD's attended transfer completed it)
        consulting = bool(
            channel and switch is not None and switch.consult_channel(channel) and not d.held
        )
        left = bool(channel and not d.held and self._left_on_hold(channel))
        return {
            "on_call": agent.state == st.ON_CALL and channel is not None,
            "held": d.held or left,
            "muted": d.muted,
            # one started elsewhere (the transfer form's attended transfer) has no label here
            "consulting": (d.consulting or N_("the party called")) if consulting else "",
            "conference": threeway,
            "last_number": d.last_number,
        }

    def _channel_gone(self, event: ChannelHungUp) -> None:
        """The party on hold hung up: Asterisk's transfer failed and the agent waits with the
        silent hold leg (a desk call's agent stays on the call meanwhile): hang that leg up,
        which ends the agent's leg too."""
        for agent_id, d in self.desks.items():
            if d.held and d.hold_leg and event.channel in d.held_party:
                self._drop_hold_leg(agent_id, d, "the party on hold hung up")

    def _drop_hold_leg(self, agent_id: int, d: DeskState, why: str) -> None:
        leg, d.hold_leg = d.hold_leg, ""
        d.held, d.held_party = False, ()
        switch = self.acd.switch
        if leg and switch is not None:
            log.info("agent {id}: {why}: hanging up {leg}", id=agent_id, why=why, leg=leg)
            defer.ensureDeferred(switch.hangup(leg)).addErrback(
                lambda f: log.warn("hold leg {leg}: {err}", leg=leg, err=f.getErrorMessage())
            )

    def _agent_changed(self, event: st.AgentStateChanged) -> None:
        """The call is over for the agent: forget its hold and mute; a hold leg left behind
        (the caller hung up on hold: Asterisk leaves the agent with it) is hung up."""
        if event.new == st.ON_CALL or event.agent_id not in self.desks:
            return
        d = self.desks[event.agent_id]
        d.muted = False
        d.consulting = d.desk_call = ""
        self._drop_hold_leg(event.agent_id, d, "the call ended on hold")

    # ---- hold, mute, hang up --------------------------------------------------------------

    async def hold(self, agent_id: int) -> str:
        agent = self.acd.agent(agent_id)
        channel = self._leg(agent)
        d = self.desk(agent_id)
        if d.held:
            raise ACDError(N_("the caller is on hold already"))
        switch = self._switch()
        if switch.consult_channel(channel) is not None or switch.in_threeway(channel):
            raise ACDError(N_("a consultation is under way: finish it first"))
        party = switch.bridged_with(channel)  # before the agent leaves the bridge
        await self._queue_music(agent, switch)
        try:
            done = await switch.atxfer(channel, HOLD_CONTEXT, HOLD_EXTEN)
        except TransferFailed as exc:
            raise ACDError(N_("not on hold: {exc}", exc=exc)) from None
        d.held, d.hold_leg = True, switch.consult_channel(channel) or ""
        record = agent.call.record_id if agent.call is not None else None
        d.hold_from = (record, self.acd.reactor.seconds()) if record is not None else None
        d.held_party = tuple(party)
        d.back = defer.Deferred()
        done.addBoth(lambda _: self._hold_over(agent_id))
        log.info("agent {n}: caller on hold ({leg})", n=agent.number, leg=d.hold_leg)
        return N_("the caller is on hold")

    async def _queue_music(self, agent: Agent, switch: SwitchLink) -> None:
        """A queue call's caller hears its queue's music on hold class (the bridge's hold
        plays the channel's class, else ``default``); a desk call keeps the default."""
        call = agent.call
        queue = self.acd.queues.get(call.queue_id) if call is not None else None
        klass = queue.moh_class if queue is not None else ""
        if call is None or not call.channel or klass in ("", "default"):
            return
        try:
            await switch.music_class(call.channel, klass)
        except Exception as exc:  # the default music then: no reason to refuse the hold
            log.warn("music class {k} for {ch}: {err}", k=klass, ch=call.channel, err=exc)

    def _hold_over(self, agent_id: int) -> None:
        d = self.desk(agent_id)
        d.held, d.hold_leg, d.held_party = False, "", ()
        if d.hold_from is not None:  # the call's hold time (calls.hold_ms: the reports)
            record, since = d.hold_from
            d.hold_from = None
            held_ms = int((self.acd.reactor.seconds() - since) * 1000)
            self.acd._write(self.acd.db.calls.add_hold(record, held_ms))
        back, d.back = d.back, None
        if back is not None and not back.called:
            back.callback(None)

    async def _hung_up_hold(self, d: DeskState) -> None:
        """Hang the hold leg up and wait (a few seconds at most) for the switch to show the
        agent back with the caller: the next action may be another transfer."""
        back = d.back
        await self._switch().hangup(d.hold_leg)
        if back is not None and not back.called:
            back.addTimeout(RESUME_CONFIRM_S, self.acd.reactor)
            try:
                await back
            except defer.TimeoutError:
                raise ACDError(N_("the switch did not end the hold in time")) from None

    async def resume(self, agent_id: int) -> str:
        agent = self.acd.agent(agent_id)
        channel = self._leg(agent)
        d = self.desk(agent_id)
        if not d.held or not d.hold_leg:
            left = self._left_on_hold(channel)
            if left is None:
                raise ACDError(N_("the caller is not on hold"))
            await self._switch().hangup(left)  # Asterisk puts the two back together
            return N_("back with the caller")
        await self._hung_up_hold(d)
        return N_("back with the caller")

    def _left_on_hold(self, channel: str) -> str | None:
        """A hold leg with the agent that ccboxd does not know of (put on hold before a
        restart): the switch's bridges show it."""
        switch = self.acd.switch
        if switch is None:
            return None
        return next(
            (
                n
                for n in switch.bridged_with(channel)
                if n.startswith(HOLD_LEG) and n.endswith(";1")
            ),
            None,
        )

    async def mute(self, agent_id: int, muted: bool) -> str:
        agent = self.acd.agent(agent_id)
        channel = self._leg(agent)
        await self._switch().mute(channel, muted)
        self.desk(agent_id).muted = muted
        return N_("muted: the caller does not hear you") if muted else N_("unmuted")

    async def hangup(self, agent_id: int) -> str:
        agent = self.acd.agent(agent_id)
        channel = self._leg(agent)
        switch = self._switch()
        if switch.consult_channel(channel) is not None and not self.desk(agent_id).held:
            raise ACDError(
                N_("a consultation is under way: transfer, conference or cancel it first")
            )
        d = self.desk(agent_id)
        if d.held and d.hold_leg:  # back with the caller first: the agent's hangup on hold
            await self._hung_up_hold(d)  # would transfer the caller to the silent hold leg
        await switch.hangup(channel)
        return N_("hung up")

    # ---- click-to-dial, redial ------------------------------------------------------------

    async def dial(
        self, agent_id: int, raw_number: str, caller: tuple[str, str], auto_answer: bool = False
    ) -> str:
        """Ring the agent's phone (``auto_answer``: a PJSIP phone that honours the headers
        answers by itself), then ``raw_number`` with ``caller`` (name, number) as the caller
        ID the customer sees."""
        agent = self.acd.agent(agent_id)
        try:
            number = numbers.normalise(raw_number)
        except ValueError as exc:
            raise ACDError(N_("not dialed: {exc}", exc=exc)) from None
        self.acd.check_desk_call(agent)
        switch = self._switch()
        if switch.has_device_channel(agent.device):
            raise ACDError(N_("agent {number}'s phone is busy", number=agent.number))
        try:
            uniqueid = await switch.desk_dial(
                agent.device, number, caller, ("", number), auto_answer=auto_answer
            )
        except Exception as exc:
            raise ACDError(N_("not dialed: the switch refused: {exc}", exc=exc)) from None
        self.acd.desk_call_started(agent_id, uniqueid)
        d = self.desk(agent_id)
        d.desk_call, d.last_number, d.last_caller = uniqueid, number, caller
        d.auto_answer = auto_answer
        log.info("agent {n}: click-to-dial {num}", n=agent.number, num=number)
        return N_("your phone rings: answer it to call {number}", number=number)

    async def redial(self, agent_id: int) -> str:
        d = self.desk(agent_id)
        if not d.last_number:
            raise ACDError(N_("nothing to redial yet"))
        return await self.dial(agent_id, d.last_number, d.last_caller, d.auto_answer)

    # ---- consultation, transfer, conference -----------------------------------------------

    async def consult(self, agent_id: int, kind: str, target: str) -> str:
        """Call ``target`` while the caller waits on hold (an agent, an extension of the old
        PBX or an outside number); then transfer, conference or cancel."""
        agent = self.acd.agent(agent_id)
        channel = self._leg(agent)
        d = self.desk(agent_id)
        switch = self._switch()
        if d.held:
            raise ACDError(N_("resume the caller first"))
        if switch.consult_channel(channel) is not None or switch.in_threeway(channel):
            raise ACDError(N_("a consultation is under way already"))
        if kind == "agent":
            if agent.call is None:
                raise ACDError(N_("consult an agent from a queue call; dial a number instead"))
            said = await self.acd.transfer(agent_id, "agent", target, attended=True)
            d.consulting = N_("agent {number}", number=target)
            return said
        if kind == "queue":
            return await self._consult_queue(agent, d, target)
        if kind == "extension":
            if not (target.isascii() and target.isdigit() and 0 < len(target) <= MAX_EXTENSION):
                raise ACDError(N_("an extension is 1-20 digits"))
            context, exten, what = EXTENSIONS_CONTEXT, target, N_("extension {t}", t=target)
        elif kind == "number":
            try:
                exten = numbers.normalise(target)
            except ValueError as exc:
                raise ACDError(N_("not called: {exc}", exc=exc)) from None
            context, what = OUTBOUND_CONTEXT, N_("number {t}", t=exten)
        else:
            raise ACDError(N_("consult an agent, an extension or a number"))  # or a queue
        try:
            await switch.atxfer(channel, context, exten)
        except TransferFailed as exc:
            raise ACDError(N_("not called: {exc}", exc=exc)) from None
        d.consulting = what
        return N_("calling {what}: transfer, conference or cancel", what=what)

    async def _consult_queue(self, agent: Agent, d: DeskState, target: str) -> str:
        """Consult the agent of queue ``target`` its routing would offer a call to now."""
        q = find_queue(self.acd, target)
        if q is None:
            raise ACDError(N_("no queue {name}", name=target))
        if agent.call is None:
            raise ACDError(N_("consult a queue from a queue call; dial a number instead"))
        colleague = self.free_agent_of(q, agent)
        if colleague is None:
            raise ACDError(
                N_(
                    "no agent of queue {name} is free to consult: transfer the caller to the "
                    "queue instead",
                    name=q.display_name or q.name,
                )
            )
        await self.acd.transfer(agent.id, "agent", colleague.number, attended=True)
        name = q.display_name or q.name
        d.consulting = N_("queue {name}: agent {number}", name=name, number=colleague.number)
        log.info(
            "agent {n}: consulting queue {q} ({c})", n=agent.number, q=q.name, c=colleague.number
        )
        return N_(
            "calling agent {number} of queue {name}: transfer, conference or cancel",
            number=colleague.number,
            name=name,
        )

    def free_agent_of(self, q: ACDQueue, asking: Agent) -> Agent | None:
        """The available agent of ``q`` the queue's routing puts first, whose phone can be
        rung for an attended transfer (not a Local channel)."""
        for agent_id in self.acd.router.candidates(q.id):
            found = self.acd.agents.get(agent_id)
            if (
                found is not None
                and found is not asking
                and found.state == st.AVAILABLE
                and not found.device.startswith("Local/")
            ):
                return found
        return None

    def _consult_leg(self, agent: Agent) -> tuple[str, str]:
        channel = self._leg(agent)
        if self.desk(agent.id).held:  # the hold leg is no party to hand the caller to
            raise ACDError(N_("resume the caller first"))
        consult = self._switch().consult_channel(channel)
        if consult is None:
            raise ACDError(N_("no consultation is under way"))
        return channel, consult

    async def complete(self, agent_id: int) -> str:
        """Hand the caller to the party consulted (or, in a three-way call, leave the two
        talking): the agent's leg hangs up, as when the agent puts the phone down."""
        agent = self.acd.agent(agent_id)
        channel = self._leg(agent)
        switch = self._switch()
        if self.desk(agent_id).held:  # hanging up now would hand the caller to the hold leg
            raise ACDError(N_("resume the caller first"))
        if switch.consult_channel(channel) is None and not switch.in_threeway(channel):
            raise ACDError(N_("no consultation is under way"))
        await switch.hangup(channel)
        return N_("transferred")

    async def cancel(self, agent_id: int) -> str:
        _, consult = self._consult_leg(self.acd.agent(agent_id))
        await self._switch().hangup(consult)
        self.desk(agent_id).consulting = ""
        return N_("back with the caller")

    async def conference(self, agent_id: int) -> str:
        channel, _ = self._consult_leg(self.acd.agent(agent_id))
        await self._switch().press(channel, THREEWAY_KEYS)
        self.desk(agent_id).consulting = ""
        return N_("three-way call")


def find_queue(acd: ACD, target: str) -> ACDQueue | None:
    """A queue by its name, else by its id (digits): what the desk's form sends."""
    found = acd.queue_by_name.get(target)
    if found is None and target.isascii() and target.isdigit() and len(target) <= 18:
        found = acd.queues.get(int(target))
    return found

"""What the ACD asks of the switch besides FastAGI: ring a phone (Originate), move a caller
(Redirect), start an attended transfer (Atxfer), find a phone's live channel, and for the
supervisor: ring a phone into ChanSpy (listen, whisper, barge) and hang up a stuck channel.

``SwitchLink`` is the interface the ACD holds; ``AMISwitch`` is it over the AMI client and
the call model (every value goes through the allowlists of drivers/asterisk/ami/actions.py).

A transfer reports what Asterisk did, not what it was asked. Asterisk answers a Redirect
``Success`` even into an extension that does not exist (manager.c checks only the channel)
and drops the caller there; it answers Atxfer ``Atxfer successfully queued`` even when the
agent's leg has no transfer feature, and then only plays the digits to the caller
(atxfer-without-t-option.trace). So a Redirect counts once the channel runs the target
extension (its Newexten there), and an Atxfer once the consult call exists (the Newchannel of
``Local/<exten>@<context>``); its outcome is Asterisk's ``AttendedTransfer`` event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet import defer
from twisted.logger import Logger

from appliance.text import N_
from drivers.asterisk.ami import actions
from drivers.asterisk.ami.client import AMIClient
from drivers.asterisk.ami.codec import Message
from drivers.asterisk.ami.protocol import AMIConnectionLost
from drivers.asterisk.callmodel import UP, CallModel, Channel, OriginateResult
from drivers.asterisk.device_names import device_key, device_of_channel

log = Logger(namespace="ccbox.acd.switch")

REDIRECT_CONFIRM_S = 15.0  # Asterisk runs the target once the old FastAGI session closes
CONSULT_START_S = 8.0  # Atxfer: the digits, Asterisk's 3 s digit timeout, the call (3.5 s)
RINGING = 5  # AST_STATE_RINGING: a phone being rung (4, Ring, is one dialing out)
DESK_DIAL_CONTEXT = "ccbox-desk-dial"  # click-to-dial (drivers/asterisk/confgen.py)
DESK_RING_S = 30.0  # how long the agent's own phone rings for a click-to-dial


class TransferFailed(Exception):
    """The switch did not do the transfer (the message says what it did instead)."""


class SwitchLink(Protocol):
    async def originate(
        self,
        device: str,
        context: str,
        exten: str,
        caller: tuple[str, str],
        timeout_s: float,
        *,
        variables: dict[str, str] | None = None,
        channel_id: str | None = None,
    ) -> str:
        """Ring ``device`` (showing ``caller``: name, number); once answered it runs
        ``context``/``exten`` (with ``variables`` set on the channel; ``channel_id``: its
        Uniqueid, chosen here). Returns the ActionID that the OriginateResponse
        (OriginateResult on the bus) will carry."""
        ...

    async def redirect(self, channel: str, context: str, exten: str) -> None:
        """Move ``channel`` to ``context``/``exten``; returns once the channel runs there,
        TransferFailed if it did not (refused, dropped, or not there in time)."""
        ...

    async def atxfer(self, channel: str, context: str, exten: str) -> defer.Deferred[bool]:
        """Start an attended transfer from the agent's ``channel``; returns once the
        consult call exists (TransferFailed if it never starts) with a Deferred that fires
        True when Asterisk completes the transfer, False when the consult ends without."""
        ...

    def channel_of(self, device: str) -> str | None:
        """The live, answered channel of a phone (``PJSIP/1001`` -> ``PJSIP/1001-0000002a``)."""
        ...

    def has_device_channel(self, device: str) -> bool | None:
        """The switch has a live channel of ``device`` (any state); None when it cannot
        tell (no AMI link, no call model)."""
        ...

    def legs_of(self, device: str) -> list[Leg]:
        """Every live channel of ``device`` (after an AMI resync: what outlived a restart)."""
        ...

    async def supervise(self, device: str, target_channel: str, mode: str) -> str:
        """Ring ``device``; answered, it spies on ``target_channel`` (listen, whisper or
        barge). Returns the Originate's ActionID."""
        ...

    async def hangup(self, channel: str) -> None: ...

    def consult_channel(self, channel: str) -> str | None:
        """The consult call (its Local ``;1``) of the attended transfer under way from the
        agent's ``channel``; hanging it up puts the agent back with the caller."""
        ...

    def in_threeway(self, channel: str) -> bool:
        """The agent's ``channel`` turned its consultation into a three-way call."""
        ...

    def bridged_with(self, channel: str) -> list[str]:
        """The names of the channels in ``channel``'s bridge, but its own (after a resync
        too: CoreShowChannels names each channel's bridge)."""
        ...

    async def music_class(self, channel: str, music_class: str) -> None:
        """The music on hold class ``channel`` hears when it is put on hold."""
        ...

    async def press(self, channel: str, digits: str) -> None:
        """Digits as if the agent's phone pressed them (the bridge's feature codes)."""
        ...

    async def mute(self, channel: str, muted: bool) -> None:
        """Mute (or unmute) what the agent's phone sends into the call."""
        ...

    async def desk_dial(
        self,
        device: str,
        number: str,
        caller: tuple[str, str],
        shown: tuple[str, str],
        auto_answer: bool = False,
    ) -> str:
        """Click-to-dial: ring ``device`` (showing ``shown``: name, number; ``auto_answer``:
        with the headers that make a PJSIP phone answer by itself); answered, it calls
        ``number`` with the caller ID ``caller``. Returns the uniqueid of the phone's channel
        (its Hangup ends the call)."""
        ...


@dataclass(frozen=True)
class Leg:
    """A live channel of a phone as the call model sees it."""

    uniqueid: str
    name: str
    up: bool  # answered
    bridged: bool  # talking to someone (in a bridge)
    rung: bool = False  # being rung (state Ringing), not dialing out (Ring)


@dataclass
class _Watch:
    """One transfer waiting for the switch to show what it did."""

    started: defer.Deferred[None]
    channel: str  # the channel redirected, or the agent's channel of an Atxfer
    context: str
    exten: str
    done: defer.Deferred[bool] = field(default_factory=defer.Deferred)
    consult: str = ""  # Atxfer: the consult call's Local ;1
    timer: Any = None
    threeway: bool = False  # Atxfer: the consultation became a three-way call


@dataclass
class _Unconfirmed:
    """An Originate sent on a connection that dropped before Asterisk answered it."""

    action_id: str  # the one originate() returned (what the OriginateResult will carry)
    channel: Channel | None = None  # its channel, once a resync found it on the switch


class AMISwitch:
    # The AMI events the transfers are judged by (subscribed before the client starts).
    EVENTS = ("Newexten", "Newchannel", "AttendedTransfer", "LocalOptimizationBegin", "Hangup")

    def __init__(self, ami: AMIClient, model: CallModel, clock: Any = None) -> None:
        self.ami = ami
        self.model = model
        self.clock = clock if clock is not None else ami.reactor
        self.redirect_confirm_s = REDIRECT_CONFIRM_S
        self.consult_start_s = CONSULT_START_S
        self._redirects: dict[str, _Watch] = {}  # channel name -> its Redirect
        self._atxfers: dict[str, _Watch] = {}  # agent's channel name -> its Atxfer
        # A Local device's call after Local optimization: the channel that took the place of
        # its ;1 leg (``IAX2/1001-978`` for ``Local/1001@ccbox-agents``) -> that device.
        self._stands_for: dict[str, str] = {}
        self._unconfirmed: dict[str, _Unconfirmed] = {}  # by the Originate's ChannelId
        ami.subscribe(self.EVENTS, self.handle)

    async def originate(
        self,
        device: str,
        context: str,
        exten: str,
        caller: tuple[str, str],
        timeout_s: float,
        *,
        variables: dict[str, str] | None = None,
        channel_id: str | None = None,
    ) -> str:
        """An Originate whose answer a dropped connection took may be ringing the phone: it
        is not an attempt that failed (a retry would ring the phone twice, and call the
        customer twice). Its OriginateResult comes from ``settle_unconfirmed`` instead."""
        channel_id = channel_id or f"ccbox-{uuid.uuid4().hex[:20]}"
        try:
            result = await actions.originate(
                self.ami,
                device,
                context,
                exten,
                timeout_s=timeout_s,
                caller=caller,
                variables_=variables,
                channel_id=channel_id,
            )
        except AMIConnectionLost:
            action_id = f"unconfirmed-{channel_id}"
            self._unconfirmed[channel_id] = _Unconfirmed(action_id)
            log.warn(
                "Originate to {device}: the AMI connection dropped before Asterisk answered; "
                "settled by the next resync",
                device=device,
            )
            return action_id
        if result.action_id is None:  # pragma: no cover - the client always sets one
            raise RuntimeError("Originate was sent without an ActionID")
        return result.action_id

    def settle_unconfirmed(self) -> None:
        """After each resync: an unconfirmed Originate whose channel the switch has rings or
        talks on (its result comes with its Hangup); one whose channel the switch does not
        have never rang or ended while AMI was down: its result is published now."""
        for channel_id, pending in list(self._unconfirmed.items()):
            found = self.model.channels.get(channel_id)
            if found is not None:
                pending.channel = found
            else:
                del self._unconfirmed[channel_id]
                self._originate_ended(channel_id, pending)

    def _originate_ended(self, channel_id: str, pending: _Unconfirmed) -> None:
        ch = pending.channel
        answered = ch is not None and ch.answered_at is not None
        self.model.publish(
            OriginateResult(
                ch.linkedid if ch is not None else channel_id,
                pending.action_id,
                answered,
                4 if answered else (3 if ch is not None else 0),
                ch.name if ch is not None else "",
                channel_id,
            )
        )

    async def redirect(self, channel: str, context: str, exten: str) -> None:
        if channel in self._redirects:
            raise TransferFailed(N_("{channel} is being transferred already", channel=channel))
        watch = _Watch(defer.Deferred(), channel, context, exten)
        self._redirects[channel] = watch
        watch.timer = self.clock.callLater(
            self.redirect_confirm_s,
            self._give_up,
            self._redirects,
            watch,
            N_(
                "the switch did not run {exten}@{context} for the caller within {wait_s:g} s",
                exten=exten,
                context=context,
                wait_s=self.redirect_confirm_s,
            ),
        )
        try:
            await actions.redirect(self.ami, channel, context, exten)
        except Exception as exc:
            self._drop(self._redirects, watch)
            raise TransferFailed(N_("the switch refused the transfer: {exc}", exc=exc)) from exc
        await watch.started

    async def atxfer(self, channel: str, context: str, exten: str) -> defer.Deferred[bool]:
        if channel in self._atxfers:
            raise TransferFailed(
                N_("{channel} has an attended transfer under way already", channel=channel)
            )
        watch = _Watch(defer.Deferred(), channel, context, exten)
        self._atxfers[channel] = watch
        watch.timer = self.clock.callLater(
            self.consult_start_s,
            self._give_up,
            self._atxfers,
            watch,
            N_(
                "the switch did not call {exten}@{context}: the agent's phone leg has no "
                "transfer feature (Dial option t), so the digits went to the caller",
                exten=exten,
                context=context,
            ),
        )
        try:
            await actions.atxfer(self.ami, channel, exten, context)
        except Exception as exc:
            self._drop(self._atxfers, watch)
            raise TransferFailed(
                N_("the switch refused the attended transfer: {exc}", exc=exc)
            ) from exc
        await watch.started
        return watch.done

    # ---- what the switch did ---------------------------------------------------------------

    def handle(self, msg: Message) -> None:
        event = msg.event
        if event == "Newexten":
            watch = self._redirects.get(msg.get("Channel") or "")
            if (
                watch is not None
                and not watch.started.called
                and msg.get("Context") == watch.context
                and (msg.get("Exten") or msg.get("Extension")) == watch.exten
            ):
                self._drop(self._redirects, watch)
                watch.started.callback(None)
        elif event == "Newchannel" and self._atxfers:
            name = msg.get("Channel") or ""
            if not name.endswith(";1"):
                return
            device = device_of_channel(name)
            for watch in self._atxfers.values():
                if not watch.started.called and device == f"Local/{watch.exten}@{watch.context}":
                    self._cancel_timer(watch)
                    watch.consult = name
                    watch.started.callback(None)
                    return
        elif event == "AttendedTransfer":
            watch = self._atxfers.get(msg.get("OrigTransfererChannel") or "")
            if watch is not None and watch.started.called and msg.get("DestType") == "Threeway":
                # *3: all three talk; the agent leaving later hands the caller over (Local
                # optimization hangs the consult ;1 up at once: not the end of anything).
                watch.threeway = True
                return
            if watch is not None and watch.started.called:
                self._drop(self._atxfers, watch)
                ok = msg.get("Result") == "Success"
                if not ok:
                    log.warn(
                        "attended transfer from {ch}: {r}", ch=watch.channel, r=msg.get("Result")
                    )
                watch.done.callback(ok)
        elif event == "LocalOptimizationBegin":
            device = device_of_channel(msg.get("LocalOneChannel") or "")
            source = msg.get("SourceChannel") or ""
            if device is not None and source and not self._dialed_the_local(msg):
                self._stands_for[source] = self._stands_for.get(
                    msg.get("LocalOneChannel") or "", device
                )
        elif event == "Hangup":
            name = msg.get("Channel") or ""
            self._stands_for.pop(name, None)
            self._hung_up(name)
            pending = self._unconfirmed.get(msg.get("Uniqueid") or "")
            if pending is not None and pending.channel is not None:
                del self._unconfirmed[msg.get("Uniqueid") or ""]
                self._originate_ended(pending.channel.uniqueid, pending)

    def _dialed_the_local(self, msg: Message) -> bool:
        """The optimization's source is the side that dialed the Local ;1 (a callback's
        agent leg calling the customer through ccbox-outbound: local-optimization-callback),
        not the phone ;2 dialed: it moves on as itself, standing for no Local device."""
        channels = self.model.channels
        source = channels.get(msg.get("SourceUniqueid") or "")
        one = channels.get(msg.get("LocalOneUniqueid") or "")
        return (
            source is not None
            and one is not None
            and source.bridge is not None
            and source.bridge == one.bridge
        )

    def _hung_up(self, name: str) -> None:
        watch = self._redirects.get(name)
        if watch is not None:
            self._drop(self._redirects, watch)
            watch.started.errback(
                TransferFailed(
                    N_(
                        "the switch dropped the caller: {exten}@{context} did not take the call "
                        "(no such extension?)",
                        exten=watch.exten,
                        context=watch.context,
                    )
                )
            )
        for watch in list(self._atxfers.values()):
            if name not in (watch.channel, watch.consult):
                continue
            if watch.threeway:
                if name == watch.channel:  # the agent left the three-way: the others go on
                    self._drop(self._atxfers, watch)
                    watch.done.callback(True)
                continue
            self._drop(self._atxfers, watch)
            if not watch.started.called:
                watch.started.errback(
                    TransferFailed(
                        N_(
                            "{name} hung up before the switch called {exten}@{context}",
                            name=name,
                            exten=watch.exten,
                            context=watch.context,
                        )
                    )
                )
            else:
                watch.done.callback(False)  # the consult ended without the transfer

    def _give_up(self, watches: dict[str, _Watch], watch: _Watch, why: str) -> None:
        watch.timer = None
        if watches.get(watch.channel) is watch:
            del watches[watch.channel]
        if not watch.started.called:
            watch.started.errback(TransferFailed(why))

    def _drop(self, watches: dict[str, _Watch], watch: _Watch) -> None:
        if watches.get(watch.channel) is watch:
            del watches[watch.channel]
        self._cancel_timer(watch)

    @staticmethod
    def _cancel_timer(watch: _Watch) -> None:
        if watch.timer is not None and watch.timer.active():
            watch.timer.cancel()
        watch.timer = None

    # ---- the rest ---------------------------------------------------------------------------

    async def supervise(self, device: str, target_channel: str, mode: str) -> str:
        result = await actions.supervise(self.ami, device, target_channel, mode)
        return result.action_id or ""

    async def hangup(self, channel: str) -> None:
        await actions.hangup(self.ami, channel, 16)

    def consult_channel(self, channel: str) -> str | None:
        watch = self._atxfers.get(channel)
        if watch is None or not watch.started.called or watch.threeway:
            return None
        return watch.consult or None

    def in_threeway(self, channel: str) -> bool:
        watch = self._atxfers.get(channel)
        return watch is not None and watch.threeway

    def bridged_with(self, channel: str) -> list[str]:
        chans = self.model.channels.values()
        mine = next((ch for ch in chans if ch.name == channel and ch.hungup_at is None), None)
        if mine is None or mine.bridge is None:
            return []
        return [
            ch.name
            for ch in chans
            if ch is not mine and ch.bridge == mine.bridge and ch.hungup_at is None
        ]

    async def press(self, channel: str, digits: str) -> None:
        for digit in digits:
            await actions.play_dtmf(self.ami, channel, digit, receive=True)

    async def mute(self, channel: str, muted: bool) -> None:
        await actions.mute_audio(self.ami, channel, muted, "in")

    async def music_class(self, channel: str, music_class: str) -> None:
        await actions.set_music_class(self.ami, channel, music_class)

    async def desk_dial(
        self,
        device: str,
        number: str,
        caller: tuple[str, str],
        shown: tuple[str, str],
        auto_answer: bool = False,
    ) -> str:
        channel_id = f"ccbox-{uuid.uuid4().hex[:20]}"
        await actions.originate(
            self.ami,
            device,
            DESK_DIAL_CONTEXT,
            actions.number(number),
            timeout_s=DESK_RING_S,
            caller=shown,
            variables_={
                "CCBOX_DESK_CID_NUM": actions.number(caller[1]) if caller[1] else "",
                "CCBOX_DESK_CID_NAME": _plain_name(caller[0]),
            },
            channel_id=channel_id,
            auto_answer=auto_answer and device.startswith("PJSIP/"),  # SIP headers
        )
        return channel_id

    def _of_device(self, name: str) -> str | None:
        """The device a live channel is a leg of, following Local optimization."""
        return self._stands_for.get(name) or device_of_channel(name)

    def channel_of(self, device: str) -> str | None:
        """The leg Dial handed back (``;1`` for a Local device) when several are up; after
        Local optimization, the channel that took its place."""
        key = _key(device)
        found = [
            ch.name
            for ch in self.model.channels.values()
            if ch.state == UP and ch.hungup_at is None and self._of_device(ch.name) == key
        ]
        return next((n for n in found if not n.endswith(";2")), found[0] if found else None)

    def legs_of(self, device: str) -> list[Leg]:
        key = _key(device)
        return [
            Leg(ch.uniqueid, ch.name, ch.state == UP, ch.bridge is not None, ch.state == RINGING)
            for ch in self.model.channels.values()
            if ch.hungup_at is None and self._of_device(ch.name) == key
        ]

    def has_device_channel(self, device: str) -> bool | None:
        if not self.ami.ready:  # the call model may be stale until the next resync
            return None
        key = _key(device)
        return any(
            ch.hungup_at is None and self._of_device(ch.name) == key
            for ch in self.model.channels.values()
        )


def _plain_name(name: str) -> str:
    """A caller name fit for a channel variable that ``Set(CALLERID(name)=...)`` reads."""
    return "".join(c for c in name if c not in '",<>$()\\' and ord(c) >= 32)[:40]


def _key(device: str) -> str:
    try:
        return device_key(device)
    except ValueError:
        return device

"""Transfers judged by what Asterisk did, replayed from the real traces at their recorded
times: an Atxfer counts once the consult call exists and ends with AttendedTransfer; a
Redirect once the channel runs the target extension (acd/switch_link.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from acd.switch_link import AMISwitch, TransferFailed
from drivers.asterisk.ami.codec import Message, Parser
from drivers.asterisk.ami.protocol import ActionError, AMIConnectionLost
from drivers.asterisk.callmodel import CallModel, OriginateResult
from tests.support.traces import ami_timed_messages, load


class TraceAMI:
    """The AMI client as AMISwitch uses it: subscriptions, and actions answered as the
    trace answered them."""

    def __init__(self, clock: Clock, answer: Message | None = None) -> None:
        self.reactor = clock
        self.ready = True
        self.handlers: dict[str, list[Callable[[Message], object]]] = {}
        self.sent: list[tuple[str, list[tuple[str, str]]]] = []
        self.answer = answer or Message((("Response", "Success"),))

    def subscribe(self, events: Iterable[str], handler: Callable[[Message], object]) -> None:
        for name in events:
            self.handlers.setdefault(name, []).append(handler)

    def send_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), timeout: Any = None
    ) -> defer.Deferred[Message]:
        self.sent.append((action, list(headers)))
        if self.answer.get("Response") == "Error":
            return defer.fail(ActionError(action, self.answer))
        return defer.succeed(self.answer)


def rig(answer: Message | None = None) -> tuple[Clock, TraceAMI, AMISwitch, CallModel]:
    clock = Clock()
    ami = TraceAMI(clock, answer)
    model = CallModel(clock.seconds, lambda _e: None)
    switch = AMISwitch(ami, model)  # type: ignore[arg-type]
    return clock, ami, switch, model


def replay(name: str, clock: Clock, ami: TraceAMI, model: CallModel, until: float = 1e9) -> None:
    parser = Parser()
    parser.banner = "Asterisk Call Manager/11.0.0"
    for at, data in ami_timed_messages(load(name)):
        if at > until:
            break
        clock.advance(max(0.0, at - clock.seconds()))
        for msg in parser.feed(data):
            model.handle(msg)
            for handler in ami.handlers.get(msg.event or "", []):
                handler(msg)


def outcome(d: defer.Deferred[Any]) -> list[Any]:
    box: list[Any] = []
    d.addBoth(box.append)
    return box


def test_an_atxfer_with_t_counts_from_the_consult_call_to_attended_transfer() -> None:
    clock, ami, switch, model = rig()
    started: list[Any] = []
    clock.callLater(
        6.051,
        lambda: started.append(
            outcome(defer.ensureDeferred(switch.atxfer("IAX2/1004-1527", "ccbox-agents", "1001")))
        ),
    )
    replay("atxfer-and-mixmonitor-mute", clock, ami, model, until=9.0)
    assert ami.sent[0][0] == "Atxfer"
    assert started == [[]]  # queued, digits read: no consult call yet
    replay("atxfer-and-mixmonitor-mute", clock, ami, model, until=20.0)
    [[done]] = started  # the consult Local/1001@ccbox-agents-...;1 came at 9.55 s
    assert isinstance(done, defer.Deferred) and not done.called
    replay("atxfer-and-mixmonitor-mute", clock, ami, model)
    assert outcome(done) == [True]  # AttendedTransfer Result: Success at 21.010


def test_an_atxfer_without_t_is_a_failure_though_asterisk_answered_success() -> None:
    queued = Message((("Response", "Success"), ("Message", "Atxfer successfully queued")))
    clock, ami, switch, model = rig(queued)
    started: list[Any] = []
    clock.callLater(
        2.551,
        lambda: started.append(
            outcome(defer.ensureDeferred(switch.atxfer("IAX2/1004-8448", "ccbox-agents", "1001")))
        ),
    )
    replay("atxfer-without-t-option", clock, ami, model)
    clock.advance(max(0.0, 2.551 + switch.consult_start_s - clock.seconds()) + 0.01)
    [[failure]] = started
    assert failure.check(TransferFailed)
    assert "Dial option t" in str(failure.value) and "digits went to the caller" in str(
        failure.value
    )


def test_a_redirect_counts_once_the_channel_runs_the_target() -> None:
    clock, ami, switch, model = rig()
    box: list[Any] = []
    clock.callLater(
        8.001,
        lambda: box.append(
            outcome(
                defer.ensureDeferred(
                    switch.redirect("Local/talk@sim-callers-0000002a;1", "agent-phones", "1001")
                )
            )
        ),
    )
    replay("bridged-call-and-spy", clock, ami, model, until=8.0015)
    clock.advance(8.0015 - clock.seconds())
    assert box == [[]]  # Asterisk said Success; the channel is not there yet
    replay("bridged-call-and-spy", clock, ami, model, until=8.01)
    assert box == [[None]]  # its Newexten at agent-phones,1001 (8.002 s)


def _hangup(channel: str) -> Message:
    return Message(
        (("Event", "Hangup"), ("Channel", channel), ("Uniqueid", "1.1"), ("Cause", "16"))
    )


def test_a_redirect_into_an_extension_that_does_not_exist_is_a_failure() -> None:
    # manager.c answers Redirect Success without looking at the extension; the channel
    # then finds nothing to run and is hung up.
    _clock, _ami, switch, _model = rig(Message((("Response", "Success"),)))
    box = outcome(defer.ensureDeferred(switch.redirect("DAHDI/1-1", "ccbox-transfer-queue", "1")))
    assert box == []
    switch.handle(_hangup("DAHDI/1-1"))
    [failure] = box
    assert failure.check(TransferFailed) and "dropped the caller" in str(failure.value)
    assert "1@ccbox-transfer-queue" in str(failure.value)


def test_a_refused_or_silent_redirect_is_a_failure() -> None:
    refused = Message((("Response", "Error"), ("Message", "Channel does not exist: DAHDI/1-1")))
    _clock, _ami, switch, _model = rig(refused)
    [failure] = outcome(defer.ensureDeferred(switch.redirect("DAHDI/1-1", "ccbox-x", "12")))
    assert failure.check(TransferFailed) and "Channel does not exist" in str(failure.value)
    clock, _ami, switch, _model = rig()
    box = outcome(defer.ensureDeferred(switch.redirect("DAHDI/1-1", "ccbox-x", "12")))
    clock.advance(switch.redirect_confirm_s - 0.1)
    assert box == []
    clock.advance(0.2)
    [failure] = box
    assert failure.check(TransferFailed) and "did not run 12@ccbox-x" in str(failure.value)
    assert not clock.getDelayedCalls()


@pytest.mark.parametrize("device", ["IAX2/1004", "IAX2/1004/"])
def test_the_agents_channel_is_found_by_its_device(device: str) -> None:
    clock, ami, switch, model = rig()
    replay("atxfer-and-mixmonitor-mute", clock, ami, model, until=6.0)
    if device.endswith("/"):
        assert switch.channel_of(device) is None
    else:
        assert switch.channel_of(device) == "IAX2/1004-1527"
        assert switch.has_device_channel(device) is True
    assert switch.has_device_channel("IAX2/1009") is False


def test_a_local_agent_stays_on_its_call_after_local_optimization() -> None:
    # device-channel-names, call 4: Dial(Local/1001@ccbox-agents), optimized at 16.036 s:
    # both Local legs hang up and IAX2/1001-978 talks in their place until 48.311 s.
    clock, ami, switch, model = rig()
    replay("device-channel-names", clock, ami, model, until=16.0)  # ringing
    assert switch.has_device_channel("Local/1001@ccbox-agents") is True
    assert switch.channel_of("Local/1001@ccbox-agents") is None  # not answered yet
    replay("device-channel-names", clock, ami, model, until=30.0)
    assert not [n for n in (c.name for c in model.channels.values()) if "00000085" in n]
    assert switch.has_device_channel("Local/1001@ccbox-agents") is True
    assert switch.channel_of("Local/1001@ccbox-agents") == "IAX2/1001-978"
    replay("device-channel-names", clock, ami, model, until=49.0)
    assert switch.has_device_channel("Local/1001@ccbox-agents") is False


def test_without_the_ami_link_the_switch_cannot_tell_whether_a_phone_has_a_call() -> None:
    clock, ami, switch, model = rig()
    replay("atxfer-and-mixmonitor-mute", clock, ami, model, until=6.0)
    assert switch.has_device_channel("IAX2/1009") is False
    ami.ready = False  # the model keeps what it last knew until the next resync
    assert switch.has_device_channel("IAX2/1009") is None


def test_a_callbacks_agent_stays_on_its_call_after_local_optimization() -> None:
    # local-optimization-callback: the agent's IAX2/1006-7989 (in ccbox-callback) dials
    # Local/5551234@ccbox-outbound, optimized at 17.041 s: the agent leg is the source, the
    # side that dialed ;1. It goes on as the agent's phone, not as the Local device (the
    # ACD's watch freed an agent 15 s into every callback).
    clock, ami, switch, model = rig()
    replay("local-optimization-callback", clock, ami, model, until=17.0)
    assert switch.has_device_channel("IAX2/1006") is True
    replay("local-optimization-callback", clock, ami, model, until=20.0)
    assert switch.has_device_channel("IAX2/1006") is True
    assert switch.channel_of("IAX2/1006") == "IAX2/1006-7989"
    assert switch.has_device_channel("Local/5551234@ccbox-outbound") is False


# ---- an Originate whose answer the dropped AMI connection took ---------------------------------


class DroppingAMI(TraceAMI):
    """The connection drops after the Originate is written, before Asterisk answers."""

    def send_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), timeout: Any = None
    ) -> defer.Deferred[Message]:
        self.sent.append((action, list(headers)))
        return defer.fail(AMIConnectionLost(f"{action}: connection lost"))


def unconfirmed_rig() -> tuple[DroppingAMI, AMISwitch, CallModel, list[Any], str]:
    clock = Clock()
    ami = DroppingAMI(clock)
    published: list[Any] = []
    model = CallModel(clock.seconds, published.append)
    switch = AMISwitch(ami, model)  # type: ignore[arg-type]
    d = defer.ensureDeferred(
        switch.originate("PJSIP/1004", "ccbox-callback", "7", ("Callback", "138"), 30)
    )
    assert d.result.startswith("unconfirmed-")  # not a failure: the phone may be ringing
    [(_, headers)] = ami.sent
    return ami, switch, model, published, dict(headers)["ChannelId"]


def originate_channel(channel_id: str, state: str) -> Message:
    return Message(
        (
            ("Event", "CoreShowChannel"),
            ("Channel", "PJSIP/1004-0000002b"),
            ("ChannelState", state),
            ("Uniqueid", channel_id),
            ("Linkedid", channel_id),
            ("Duration", "00:00:03"),
        )
    )


def test_an_unconfirmed_originate_found_ringing_reports_its_end_at_the_hangup() -> None:
    ami, switch, model, published, channel_id = unconfirmed_rig()
    model.resync([originate_channel(channel_id, "5")])  # AMI back: the phone rings
    switch.settle_unconfirmed()
    assert [e for e in published if isinstance(e, OriginateResult)] == []
    hangup = Message(
        (
            ("Event", "Hangup"),
            ("Channel", "PJSIP/1004-0000002b"),
            ("Uniqueid", channel_id),
            ("Cause", "19"),
        )
    )
    model.handle(hangup)
    switch.handle(hangup)
    [result] = [e for e in published if isinstance(e, OriginateResult)]
    assert result.action_id == f"unconfirmed-{channel_id}"
    assert (result.success, result.reason, result.uniqueid) == (False, 3, channel_id)
    assert len(ami.sent) == 1  # rung once


def test_an_unconfirmed_originate_answered_reports_success_at_the_hangup() -> None:
    _ami, switch, model, published, channel_id = unconfirmed_rig()
    model.resync([originate_channel(channel_id, "6")])
    switch.settle_unconfirmed()
    switch.settle_unconfirmed()  # a second resync changes nothing
    hangup = Message((("Event", "Hangup"), ("Uniqueid", channel_id), ("Cause", "16")))
    model.handle(hangup)
    switch.handle(hangup)
    [result] = [e for e in published if isinstance(e, OriginateResult)]
    assert (result.success, result.reason) == (True, 4)


def test_an_unconfirmed_originate_not_on_the_switch_fails_at_the_resync() -> None:
    _ami, switch, model, published, channel_id = unconfirmed_rig()
    model.resync([])
    switch.settle_unconfirmed()
    [result] = [e for e in published if isinstance(e, OriginateResult)]
    assert (result.action_id, result.success, result.reason) == (
        f"unconfirmed-{channel_id}",
        False,
        0,
    )
    switch.settle_unconfirmed()
    assert len([e for e in published if isinstance(e, OriginateResult)]) == 1

"""Typed AMI actions: what each sends, and the hostile values each refuses."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet import defer

from drivers.asterisk.ami import actions
from drivers.asterisk.ami.actions import BadActionValue
from drivers.asterisk.ami.codec import Message
from drivers.asterisk.ami.protocol import ListResult


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[tuple[str, str]]]] = []

    def send_action(
        self, action: str, headers: Any = (), timeout: Any = None
    ) -> defer.Deferred[Message]:
        self.sent.append((action, list(headers)))
        return defer.succeed(Message((("Response", "Success"), ("ActionID", "x1"))))

    def send_list_action(
        self, action: str, headers: Any = (), timeout: Any = None
    ) -> defer.Deferred[ListResult]:
        self.sent.append((action, list(headers)))
        m = Message((("Response", "Success"),))
        item = Message(
            (("Event", "DeviceStateChange"), ("Device", "PJSIP/1001"), ("State", "INUSE"))
        )
        return defer.succeed(ListResult(m, [item], m))


def run(coro: Any) -> Any:
    d = defer.ensureDeferred(coro)
    failures: list[Any] = []
    d.addErrback(failures.append)
    if failures:
        failures[0].raiseException()
    return d.result


def test_originate_is_async_into_a_context_with_a_channel_id() -> None:
    ami = Recorder()
    o = run(
        actions.originate(
            ami,
            "DAHDI/g1/5551234",
            "ccbox-outbound",
            "agent-bridge",
            caller=('Camp"aign <x>', "4008001234"),
            variables_={"CCBOX_CAMPAIGN": "7"},
            channel_id="ccbox-abc",
        )
    )
    assert o.channel_id == "ccbox-abc"
    [(name, headers)] = ami.sent
    h = dict(headers)
    assert name == "Originate"
    assert h["Async"] == "true" and h["ChannelId"] == "ccbox-abc"
    assert h["CallerID"] == '"Campaign x" <4008001234>'
    assert h["Variable"] == "CCBOX_CAMPAIGN=7"
    assert "Application" not in h and "Data" not in h


@pytest.mark.parametrize(
    "dial",
    [
        "555\r\nApplication: System",
        "PJSIP/100&DAHDI/g1/5551234",
        "PJSIP/$(reboot)",
        "Console/dsp",
        "SIP/1001",  # Asterisk 22 has no chan_sip
        "PJSIP/10 01",
        "",
        "DAHDI/g1/${EXTEN}",
    ],
)
def test_hostile_dial_strings_are_refused(dial: str) -> None:
    ami = Recorder()
    with pytest.raises(BadActionValue):
        run(actions.originate(ami, dial, "ctx", "s"))
    assert ami.sent == []


@pytest.mark.parametrize(
    "num", ["\uff11\uff12\uff13\uff14", "Local/x@ctx", "555\r\n1", "12a", "", "1" * 40]
)
def test_numbers_are_ascii_digits_only(num: str) -> None:
    with pytest.raises(BadActionValue):
        actions.number(num)


@pytest.mark.parametrize("value", ["a,b", "${SHELL(id)}", "$[1+1]", "x\ny"])
def test_variable_values_with_commas_expressions_or_breaks_are_refused(value: str) -> None:
    with pytest.raises(BadActionValue):
        actions.variables({"X": value})
    with pytest.raises(BadActionValue):
        actions.variables({"BAD NAME": "x"})


def test_redirect_moves_both_legs() -> None:
    ami = Recorder()
    run(
        actions.redirect(
            ami,
            "Local/talk@sim-callers-0000002a;1",
            "agent-phones",
            "1001",
            extra_channel="PJSIP/1004-00000001",
        )
    )
    [(name, headers)] = ami.sent
    h = dict(headers)
    assert name == "Redirect" and h["Exten"] == "1001" and h["ExtraExten"] == "1001"
    assert h["ExtraChannel"] == "PJSIP/1004-00000001"


def test_supervise_originates_the_supervisor_into_chanspy_context() -> None:
    ami = Recorder()
    run(actions.supervise(ami, "PJSIP/2001", "PJSIP/1004-00000001", "whisper"))
    h = dict(ami.sent[0][1])
    assert (h["Channel"], h["Context"], h["Exten"]) == ("PJSIP/2001", "ccbox-supervise", "whisper")
    assert h["Variable"] == "CCBOX_SPY_TARGET=PJSIP/1004-00000001"
    with pytest.raises(BadActionValue):
        run(actions.supervise(ami, "PJSIP/2001", "PJSIP/1004", "record"))


def test_other_actions_and_their_checks() -> None:
    ami = Recorder()
    run(actions.hangup(ami, "PJSIP/1001-1", 16))
    with pytest.raises(BadActionValue):
        run(actions.hangup(ami, "PJSIP/1001-1", 99))
    run(actions.mute_mixmonitor(ami, "PJSIP/1001-1", True))
    with pytest.raises(BadActionValue):
        run(actions.mute_mixmonitor(ami, "PJSIP/1001-1", True, "sideways"))
    run(actions.setvar(ami, "PJSIP/1001-1", "CCBOX_X", "1"))
    assert run(actions.device_states(ami)) == {"PJSIP/1001": "INUSE"}
    names = [a for a, _ in ami.sent]
    assert names == ["Hangup", "MixMonitorMute", "Setvar", "DeviceStateList"]
    assert dict(ami.sent[2][1]) == {"Channel": "PJSIP/1001-1", "Variable": "CCBOX_X", "Value": "1"}


def test_atxfer_dials_the_target_from_the_agents_channel() -> None:
    ami = Recorder()
    run(actions.atxfer(ami, "PJSIP/1001-0000002a", "2000", "ccbox-extensions"))
    [(name, headers)] = ami.sent
    assert name == "Atxfer"
    assert dict(headers) == {
        "Channel": "PJSIP/1001-0000002a",
        "Exten": "2000",
        "Context": "ccbox-extensions",
    }
    with pytest.raises(BadActionValue):
        run(actions.atxfer(ami, "PJSIP/1001-0000002a", "2000\r\nAction: Originate", "x"))


def test_play_dtmf_receive_is_a_key_the_phone_pressed() -> None:
    """``Receive: true`` queues the digit on the channel's read side, where the bridge's
    feature hooks see it (app_senddtmf.c's manager_play_dtmf); without it the digit is
    played to the phone."""
    ami = Recorder()
    run(actions.play_dtmf(ami, "IAX2/1001-3257", "*", receive=True))
    run(actions.play_dtmf(ami, "IAX2/1001-3257", "3"))
    assert ami.sent == [
        ("PlayDTMF", [("Channel", "IAX2/1001-3257"), ("Digit", "*"), ("Receive", "true")]),
        ("PlayDTMF", [("Channel", "IAX2/1001-3257"), ("Digit", "3")]),
    ]
    for bad in ("", "12", "x", "\r", "*\r\nAction: Originate", "\uff11"):
        with pytest.raises(BadActionValue):
            run(actions.play_dtmf(ami, "IAX2/1001-3257", bad, receive=True))
    assert len(ami.sent) == 2


def test_mute_audio_writes_muteaudio_by_setvar() -> None:
    """res_mutestream's own MuteAudio action needs AMI system write (res_mutestream.c
    registers it EVENT_FLAG_SYSTEM); Setvar of MUTEAUDIO() is a call-class action."""
    ami = Recorder()
    run(actions.mute_audio(ami, "IAX2/1001-3257", True))
    run(actions.mute_audio(ami, "IAX2/1001-3257", False, "all"))
    assert ami.sent == [
        ("Setvar", [("Channel", "IAX2/1001-3257"), ("Variable", "MUTEAUDIO(in)"), ("Value", "on")]),
        (
            "Setvar",
            [("Channel", "IAX2/1001-3257"), ("Variable", "MUTEAUDIO(all)"), ("Value", "off")],
        ),
    ]
    with pytest.raises(BadActionValue):
        run(actions.mute_audio(ami, "IAX2/1001-3257", True, "in)=x"))
    with pytest.raises(BadActionValue):
        run(actions.mute_audio(ami, "IAX2/1001-3257\r\nAction: Command", True))


def test_the_music_on_hold_class_of_a_channel() -> None:
    ami = Recorder()
    run(actions.set_music_class(ami, "DAHDI/1-1", "jazz"))
    assert ami.sent == [
        (
            "Setvar",
            [("Channel", "DAHDI/1-1"), ("Variable", "CHANNEL(musicclass)"), ("Value", "jazz")],
        )
    ]
    for bad in ("", "jazz,x", "a" * 33, "$(x)", "jazz\r\nAction: Command"):
        with pytest.raises(BadActionValue):
            run(actions.set_music_class(ami, "DAHDI/1-1", bad))

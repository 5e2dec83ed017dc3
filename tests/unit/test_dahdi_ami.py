"""chan_dahdi's AMI messages (shapes from Asterisk 22's channels/chan_dahdi.c: no recorded
trace touches DAHDI), read through the real AMI parser."""

from __future__ import annotations

from drivers.asterisk.ami.codec import Message, Parser
from drivers.dahdi import ami
from drivers.dahdi.status import BLUE, LOOPBACK, NOTOPEN, RECOVERING, RED, YELLOW


def messages(text: str) -> list[Message]:
    parser = Parser()
    parser.feed(b"Asterisk Call Manager/11.0.0\r\n")
    return parser.feed(text.replace("\n", "\r\n").encode())


def test_show_channels_items_idle_and_in_a_call() -> None:
    got = ami.show_channels(
        messages(
            "Event: DAHDIShowChannels\nDAHDIChannel: 1\nSignalling: PRI Signalling\n"
            "SignallingCode: 2\nContext: from-pstn\nDND: Disabled\nAlarm: No Alarm\n"
            "Description: \nActionID: 7\n\n"
            "Event: DAHDIShowChannels\nDAHDIChannel: 2\nChannel: DAHDI/2-1\n"
            "Uniqueid: 1700000000.4\nAccountCode: \nSignalling: PRI Signalling\n"
            "SignallingCode: 2\nContext: from-pstn\nDND: Enabled\nAlarm: Red Alarm\n"
            "Description: Line to CO\nActionID: 7\n\n"
            "Event: DAHDIShowChannels\nDAHDIChannel: -1\nActionID: 7\n\n"
            "Event: DAHDIShowChannels\nDAHDIChannel: 1e9\nActionID: 7\n\n"
        )
    )
    assert sorted(got) == [1, 2]
    assert not got[1].in_use and got[1].alarms == frozenset() and got[1].context == "from-pstn"
    two = got[2]
    assert two.in_use and two.owner == "DAHDI/2-1" and two.uniqueid == "1700000000.4"
    assert two.alarms == {RED} and two.dnd and two.description == "Line to CO"


def test_alarm_texts() -> None:
    names = {
        "Red Alarm": RED,
        "Yellow Alarm": YELLOW,
        "Blue Alarm": BLUE,
        "Recovering": RECOVERING,
        "Loopback": LOOPBACK,
        "Not Open": NOTOPEN,
    }
    for text, name in names.items():
        assert ami.alarms_of(text) == {name}
    assert ami.alarms_of("No Alarm") == frozenset() and ami.alarms_of(None) == frozenset()
    assert ami.alarms_of("Unknown Alarm") == {ami.UNKNOWN_ALARM}


def test_alarm_events() -> None:
    raised, cleared, span, span_clear, odd, pseudo = messages(
        "Event: Alarm\nPrivilege: system,all\nDAHDIChannel: 33\nAlarm: Red Alarm\n\n"
        "Event: AlarmClear\nPrivilege: system,all\nDAHDIChannel: 33\n\n"
        "Event: SpanAlarm\nPrivilege: system,all\nSpan: 2\nAlarm: Yellow Alarm\n\n"
        "Event: SpanAlarmClear\nPrivilege: system,all\nSpan: 2\n\n"
        "Event: SpanAlarm\nSpan: two\nAlarm: Red Alarm\n\n"
        "Event: DAHDIChannel\nChannel: DAHDI/pseudo-1\nDAHDIChannel: pseudo\n\n"
    )
    assert ami.alarm_event(raised) == ami.AlarmEvent("channel", 33, frozenset({RED}))
    assert ami.alarm_event(cleared) == ami.AlarmEvent("channel", 33, frozenset())
    assert ami.alarm_event(span) == ami.AlarmEvent("span", 2, frozenset({YELLOW}))
    assert ami.alarm_event(span_clear) == ami.AlarmEvent("span", 2, frozenset())
    assert ami.alarm_event(odd) is None
    assert ami.seized(pseudo) is None
    # dahdi_ami_channel_event(): a PRI call with no B channel yet seizes none
    (no_media,) = messages(
        "Event: DAHDIChannel\nChannel: DAHDI/i1/100-1\nDAHDIChannel: no-media (-5)\n\n"
    )
    assert ami.seized(no_media) is None


def test_seized_channel_and_bounded_texts() -> None:
    (msg,) = messages(
        "Event: DAHDIChannel\nChannel: DAHDI/12-1\nDAHDIGroup: 1\nDAHDISpan: 1\n"
        "DAHDIChannel: 12-2\n\n"
    )
    assert ami.seized(msg) == (12, "DAHDI/12-1")
    (item,) = messages(
        "Event: DAHDIShowChannels\nDAHDIChannel: 3\nContext: "
        + "x" * 5000
        + "\nDescription: <b>\x07bell</b>\n\n"
    )
    got = ami.show_channel(item)
    assert got is not None and len(got.context) == 80 and got.description == "<b>bell</b>"

"""The call model fed with the real traces at their recorded times; and resync."""

from __future__ import annotations

from typing import Any

from drivers.asterisk.ami.codec import Message, Parser
from drivers.asterisk.callmodel import (
    CallAnswered,
    CallEnded,
    CallModel,
    ChannelHungUp,
    DialEnded,
    OriginateResult,
    RecordingChanged,
)
from tests.support.traces import ami_timed_messages, load


def replay(name: str, until: float = 1e9) -> tuple[CallModel, list[Any], list[Message]]:
    now = [0.0]
    events: list[Any] = []
    model = CallModel(lambda: now[0], events.append)
    parser = Parser()
    parser.banner = "Asterisk Call Manager/11.0.0"
    seen: list[Message] = []
    for at, data in ami_timed_messages(load(name)):
        if at > until:
            break
        now[0] = at
        for msg in parser.feed(data):
            seen.append(msg)
            model.handle(msg)
    return model, events, seen


def of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def test_inbound_ivr_to_agent() -> None:
    model, events, _ = replay("inbound-ivr-to-agent")
    dials = of(events, DialEnded)
    assert [(d.dest_channel, d.status) for d in dials][-1] == (
        "Local/1001@agent-phones-00000021;1",
        "ANSWER",
    )
    assert round(dials[-1].at, 3) == 6.714  # the agent answered after one second of ringing
    hung = of(events, ChannelHungUp)
    assert {h.cause for h in hung} == {16} and len(hung) == 3
    assert all(round(h.at, 2) == 31.31 for h in hung)
    # The caller's own channel is still in FastAGI when the recording ends.
    [caller] = model.channels.values()
    assert (caller.caller_number, caller.caller_name) == ("13800138000", "Zhang San")
    assert caller.answered_at is not None and caller.state == 6
    [call] = model.calls.values()
    assert call.linkedid == "1795353349.64" and call.answered_at is not None
    assert len(of(events, RecordingChanged)) == 1  # MixMonitorStart


def test_noanswer_then_busy() -> None:
    _, events, _ = replay("noanswer-busy-voicemail")
    statuses = [
        (d.dest_channel.split("-")[0], d.status) for d in of(events, DialEnded) if d.uniqueid
    ]
    assert statuses == [("Local/1002@agent", "NOANSWER"), ("Local/1003@agent", "BUSY")]


def test_originate_that_nobody_answers() -> None:
    model, events, _ = replay("originate-noanswer")
    [result] = of(events, OriginateResult)
    assert (result.success, result.reason, result.uniqueid) == (False, 3, "")
    [ended] = of(events, CallEnded)
    assert ended.cause == 19 and ended.answered_at is None  # 19: no answer
    assert round(ended.ended_at - ended.started_at, 3) == 3.004
    assert model.calls == {} and model.channels == {}


def test_caller_abandons_on_hold() -> None:
    model, events, _ = replay("caller-abandons-on-hold")
    [gone] = of(events, ChannelHungUp)
    assert gone.channel.endswith(";2") and gone.cause == 16
    assert 4.0 < gone.at < 4.1
    # the caller's ;1 half is still in FastAGI (answering 511s) when the recording ends
    assert [c.name for c in model.channels.values()] == ["Local/abandon@sim-callers-00000025;1"]


def test_bridged_call_spy_and_redirect() -> None:
    _, events, _ = replay("bridged-call-and-spy")
    results = of(events, OriginateResult)
    assert [r.action_id for r in results] == ["a16", "a18"] and all(r.success for r in results)
    [spy_call] = of(events, CallEnded)
    assert spy_call.linkedid == "1795353505.88"
    assert len(of(events, CallAnswered)) == 2


def test_outbound_originate_and_resync_from_its_snapshot() -> None:
    model, _, msgs = replay("outbound-originate")
    assert len(model.channels) == 4 and len(model.calls) == 1
    snapshot = [m for m in msgs if m.event == "CoreShowChannel"]
    # The lab's snapshot also holds calls of earlier scenarios, still up: 9 channels, 5 calls.
    assert len(snapshot) == 9
    fresh_events: list[Any] = []
    fresh = CallModel(lambda: 4.001, fresh_events.append)
    fresh.resync(snapshot)
    assert set(fresh.channels) == {m["Uniqueid"] for m in snapshot}
    assert set(fresh.calls) == {
        "1795353481.78",
        "1795353392.68",
        "1795353458.76",
        "1795353349.64",
        "1795353435.74",
    }
    outbound = fresh.calls["1795353481.78"]
    assert set(outbound.channels) == set(model.channels)
    assert outbound.answered_at is not None
    assert outbound.started_at <= 4.001 - 2  # Duration 00:00:02 at least
    # The inbound call of an earlier scenario has been up 2 min 16 s.
    assert fresh.calls["1795353349.64"].started_at == 4.001 - 136
    # Resync into the model that followed the events keeps what it knew.
    before = dict(model.calls["1795353481.78"].channels)
    model.resync(snapshot)
    assert model.calls["1795353481.78"].started_at == 0.0
    assert set(model.calls["1795353481.78"].channels) == set(before)
    assert len(model.calls) == 5


def test_resync_after_asterisk_restart_ends_the_calls_that_are_gone() -> None:
    model, _, _ = replay("outbound-originate")
    events: list[Any] = []
    model.publish = events.append
    model.resync([])  # Asterisk came back with no channels
    [ended] = of(events, CallEnded)
    assert ended.linkedid == "1795353481.78"
    assert model.channels == {} and model.calls == {}
    assert all(h.cause_text == "Gone while AMI was disconnected" for h in of(events, ChannelHungUp))


def relinked(snapshot: list[Message], moved: dict[str, str]) -> list[Message]:
    """The snapshot with the Linkedid of the channels in ``moved`` re-pointed."""
    return [
        Message(
            tuple(
                (k, moved[m["Uniqueid"]]) if k == "Linkedid" and m["Uniqueid"] in moved else (k, v)
                for k, v in m.headers
            )
        )
        for m in snapshot
    ]


def test_resync_after_a_linkedid_changed_while_ami_was_down_leaves_no_ghost() -> None:
    """The outbound call's trunk legs hung up and its agent legs were re-pointed to another
    call while AMI was down: the old call ends once and keeps no stale channel."""
    model, _, msgs = replay("outbound-originate")
    old, new = "1795353481.78", "1795353499.90"
    agent = {"1795353482.80", "1795353482.81"}
    snapshot = [
        m
        for m in msgs
        if m.event == "CoreShowChannel" and m["Uniqueid"] not in {old, "1795353481.79"}
    ]
    events: list[Any] = []
    model.publish = events.append
    model.resync(relinked(snapshot, dict.fromkeys(agent, new)))
    assert [e.linkedid for e in of(events, CallEnded)] == [old]
    assert old not in model.calls
    assert set(model.calls[new].channels) == agent
    assert {ch.linkedid for ch in model.channels.values() if ch.uniqueid in agent} == {new}
    # Every live channel is in exactly one call, its own.
    for uniqueid, ch in model.channels.items():
        holders = [c.linkedid for c in model.calls.values() if uniqueid in c.channels]
        assert holders == [ch.linkedid]
    # The agent hangs up later: the new call ends and nothing is left.
    for uniqueid in sorted(agent):
        model.handle(Message((("Event", "Hangup"), ("Uniqueid", uniqueid), ("Cause", "16"))))
    assert [e.linkedid for e in of(events, CallEnded)] == [old, new]
    assert not any(c.live for c in model.calls.values() if c.linkedid in (old, new))


def test_resync_moves_a_relinked_channel_out_of_a_call_that_goes_on() -> None:
    model, _, msgs = replay("outbound-originate")
    old, new = "1795353481.78", "1795353499.90"
    snapshot = [m for m in msgs if m.event == "CoreShowChannel"]
    events: list[Any] = []
    model.publish = events.append
    model.resync(relinked(snapshot, {"1795353482.80": new, "1795353482.81": new}))
    assert of(events, CallEnded) == []
    assert {c.uniqueid for c in model.calls[old].live} == {old, "1795353481.79"}
    assert set(model.calls[old].channels) == {old, "1795353481.79"}
    for uniqueid in (old, "1795353481.79"):
        model.handle(Message((("Event", "Hangup"), ("Uniqueid", uniqueid), ("Cause", "16"))))
    assert [e.linkedid for e in of(events, CallEnded)] == [old]


def test_a_live_relink_ends_a_call_left_with_only_hung_up_channels() -> None:
    model, _, _ = replay("outbound-originate")
    old, new = "1795353481.78", "1795353499.90"
    events: list[Any] = []
    model.publish = events.append
    for uniqueid in (old, "1795353481.79"):
        model.handle(Message((("Event", "Hangup"), ("Uniqueid", uniqueid), ("Cause", "16"))))
    for uniqueid in ("1795353482.80", "1795353482.81"):
        model.handle(Message((("Event", "Newstate"), ("Uniqueid", uniqueid), ("Linkedid", new))))
    assert [e.linkedid for e in of(events, CallEnded)] == [old]
    assert set(model.calls) == {new}


def test_events_before_newchannel_and_unknown_events_are_harmless() -> None:
    events: list[Any] = []
    model = CallModel(lambda: 1.0, events.append)
    model.handle(Message((("Event", "Hangup"), ("Uniqueid", "nope"), ("Cause", "16"))))
    model.handle(Message((("Event", "Newstate"), ("Uniqueid", "nope"))))
    model.handle(Message((("Event", "Whatever"),)))
    assert events == [] and model.summary() == {"channels": 0, "calls": 0, "ended": 0}


def test_escaped_and_hostile_caller_names() -> None:
    events: list[Any] = []
    model = CallModel(lambda: 1.0, events.append)
    model.handle(
        Message(
            (
                ("Event", "Newchannel"),
                ("Channel", "DAHDI/1-1"),
                ("ChannelState", "4"),
                ("CallerIDNum", "13800138000"),
                ("CallerIDName", r"O\'Brien <img src=x onerror=alert(1)>"),
                ("Uniqueid", "1.1"),
                ("Linkedid", "1.1"),
            )
        )
    )
    assert events[0].caller_name == "O'Brien <img src=x onerror=alert(1)>"  # stored as given

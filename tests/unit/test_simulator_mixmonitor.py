"""The simulator's MixMonitor: the AMI actions MixMonitor, MixMonitorMute and StopMixMonitor
on a live channel, and legs that carry G.711 silence (mu-law 0xFF, A-law 0xD5) where muted."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from drivers.asterisk.ami.codec import Message, Parser, encode_action
from drivers.asterisk.simulator.agi_caller import CallerScript, SimulatedCall, _MixMonitor
from drivers.asterisk.simulator.manager import ManagerFactory
from drivers.asterisk.simulator.switch import Switch


def _legs(tmp_path: Path, law: str) -> tuple[str, str]:
    return str(tmp_path / f"c-rx.{law}"), str(tmp_path / f"c-tx.{law}")


@pytest.mark.parametrize(("law", "silence"), [("ulaw", 0xFF), ("alaw", 0xD5)])
def test_a_muted_span_is_silence_on_the_muted_legs(tmp_path: Path, law: str, silence: int) -> None:
    rx, tx = _legs(tmp_path, law)
    monitor = _MixMonitor.parse(f"/x/c.wav,br({rx})t({tx})", 100.0)
    assert monitor is not None and monitor.since is None  # b: nothing until bridged
    # The conversation the legs carry (agi_caller.SPEAKING): the caller speaks from 0 to
    # 1.5 s, the agent from 1.4 to 3.0 s; every span checked below is one where the voice
    # would be heard but for the mute.
    monitor.hear(101.0)
    monitor.mute("read", True, 101.5)  # only the caller's leg, 0.5 s in, for 0.25 s
    monitor.mute("read", False, 101.75)
    monitor.mute("both", True, 102.0)  # 1 s in
    monitor.mute("both", True, 102.5)  # twice: no new span
    monitor.mute("both", False, 103.0)
    monitor.mute("write", True, 103.5)  # only the agent's leg, left open until the end
    monitor.write(104.0)
    caller, agent = Path(rx).read_bytes(), Path(tx).read_bytes()
    assert len(caller) == len(agent) == 3 * 8000
    assert len(set(caller[0:4000])) > 10  # the caller's voice
    assert set(caller[4000:6000]) == {silence}
    assert len(set(caller[6000:8000])) > 10
    for leg in (caller, agent):
        assert set(leg[8000:16000]) == {silence}
    assert len(set(agent[16000:20000])) > 10  # the agent's voice, unmuted at 2 s
    assert set(agent[20000:24000]) == {silence}


def test_unbridged_time_is_not_written(tmp_path: Path) -> None:
    rx, tx = _legs(tmp_path, "ulaw")
    monitor = _MixMonitor.parse(f"/x/c.wav,br({rx})t({tx})", 0.0, bridged=True)
    assert monitor is not None
    monitor.deaf(1.0)
    monitor.hear(5.0)
    monitor.write(5.5)
    assert len(Path(rx).read_bytes()) == 12000  # 1.5 s heard


def _session() -> tuple[Switch, SimulatedCall, StringTransport, Parser, object]:
    clock = Clock()
    switch = Switch(clock)
    call = SimulatedCall(clock, CallerScript(), switch=switch)
    # AMI MixMonitor needs the system class, which ccbox's own AMI user lacks: a full user.
    factory = ManagerFactory(clock, switch, "ccbox", "s3cret", read="all", write="all")
    session = factory.buildProtocol(None)
    transport = StringTransport()
    session.makeConnection(transport)
    session.username = "ccbox"
    switch.subscribe(session.event)
    parser = Parser()
    parser.feed(transport.value())
    transport.clear()
    return switch, call, transport, parser, session


def _act(
    session: object, transport: StringTransport, parser: Parser, action: str, *h: tuple[str, str]
) -> list[Message]:
    session.dataReceived(encode_action(action, h, "a1"))  # type: ignore[attr-defined]
    out = parser.feed(transport.value())
    transport.clear()
    return out


def test_the_ami_actions_start_mute_and_stop_a_monitor(tmp_path: Path) -> None:
    switch, call, transport, parser, session = _session()
    ch = call.channel.name
    rx, tx = _legs(tmp_path, "alaw")
    options = f"br({rx})t({tx})"
    got = _act(
        session,
        transport,
        parser,
        "MixMonitor",
        ("Channel", ch),
        ("File", "/x/c.wav"),
        ("Options", options),
    )
    assert [m.get("Event") or m.get("Response") for m in got] == ["MixMonitorStart", "Success"]
    assert got[1].get("MixMonitorID")
    call._bridged_since = 0.0
    assert call._monitor is not None
    call._monitor.hear(0.0)
    switch.clock.advance(1.0)  # type: ignore[attr-defined]
    got = _act(
        session,
        transport,
        parser,
        "MixMonitorMute",
        ("Channel", ch),
        ("Direction", "both"),
        ("State", "1"),
    )
    assert [(m.get("Event"), m.get("Direction"), m.get("State")) for m in got[:1]] == [
        ("MixMonitorMute", "both", "1")
    ]
    assert got[1].get("Response") == "Success"
    bad = _act(
        session,
        transport,
        parser,
        "MixMonitorMute",
        ("Channel", ch),
        ("Direction", "up"),
        ("State", "1"),
    )
    assert bad[0].get("Response") == "Error"
    switch.clock.advance(1.0)  # type: ignore[attr-defined]
    got = _act(session, transport, parser, "StopMixMonitor", ("Channel", ch))
    assert [m.get("Event") or m.get("Response") for m in got] == ["MixMonitorStop", "Success"]
    leg = Path(rx).read_bytes()
    assert len(leg) == 16000 and set(leg[8000:]) == {0xD5}
    again = _act(
        session,
        transport,
        parser,
        "MixMonitorMute",
        ("Channel", ch),
        ("Direction", "both"),
        ("State", "0"),
    )
    assert again[0].get("Response") == "Error"  # no monitor any more
    missing = _act(
        session,
        transport,
        parser,
        "MixMonitor",
        ("Channel", "DAHDI/99-1"),
        ("File", "/x"),
        ("Options", options),
    )
    assert missing[0].get("Message") == "No such channel"

"""Replay the FastAGI side of the real traces: our bytes must equal the trace's, line for line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from drivers.asterisk.agi.codec import AGIResult
from drivers.asterisk.agi.session import (
    AGICommandError,
    AGISessionProtocol,
    DeadChannel,
)
from tests.support.traces import TraceLine, agi_sessions, load, trace_names

Script = Callable[[AGISessionProtocol], Awaitable[Any]]
KNOWN = [
    "GET FULL VARIABLE",
    "GET VARIABLE",
    "GET DATA",
    "SET VARIABLE",
    "SET MUSIC",
    "STREAM FILE",
    "WAIT FOR DIGIT",
    "RECORD FILE",
    "SAY DIGITS",
    "CHANNEL STATUS",
    "EXEC",
    "ANSWER",
    "HANGUP",
    "VERBOSE",
    "NO SUCH COMMAND",
]


def all_sessions() -> list[tuple[str, str]]:
    return [(n, s) for n in trace_names() for s in agi_sessions(load(n))]


def replay(lines: list[TraceLine], script: Script) -> tuple[AGISessionProtocol, Any]:
    """Run ``script`` against the trace; assert each line we send is the trace's next one."""
    outcome: dict[str, Any] = {}

    def ready(session: AGISessionProtocol) -> None:
        d = defer.ensureDeferred(script(session))
        d.addBoth(lambda result: outcome.__setitem__("result", result))

    proto = AGISessionProtocol(Clock(), ready)
    transport = StringTransport()
    proto.makeConnection(transport)
    sent_upto = 0
    for ln in lines:
        if ln.direction == "<":
            proto.dataReceived(ln.text.encode() + b"\n")
        elif ln.direction == ">":
            written = transport.value().decode()
            nxt = written.find("\n", sent_upto)
            assert nxt >= 0, f"the script did not send {ln.text!r}"
            assert written[sent_upto:nxt] == ln.text
            sent_upto = nxt + 1
        elif ln.direction == "-":
            transport.loseConnection()
            proto.connectionLost(None)
    assert transport.value().decode()[sent_upto:] == "", "the script sent more than the trace"
    assert "result" in outcome, "the script did not finish"
    result = outcome["result"]
    if isinstance(result, Failure):
        result.raiseException()
    return proto, result


def raw_script(lines: list[TraceLine], results: list[Any]) -> Script:
    async def run(session: AGISessionProtocol) -> None:
        for ln in lines:
            if ln.direction != ">":
                continue
            name = next(k for k in KNOWN if ln.text == k or ln.text.startswith(k + " "))
            args = ln.text[len(name) :].split(" ")[1:] if ln.text != name else []
            try:
                results.append(await session.command(name, *args))
            except (DeadChannel, AGICommandError) as exc:
                results.append(exc)

    return run


@pytest.mark.parametrize(("trace", "socket"), all_sessions())
def test_every_agi_session_replays(trace: str, socket: str) -> None:
    lines = agi_sessions(load(trace))[socket]
    results: list[Any] = []
    proto, outcome = replay(lines, raw_script(lines, results))
    assert outcome is None, outcome  # the script finished without an unexpected error
    replies = [
        ln.text
        for ln in lines
        if ln.direction == "<" and ln.text[:3].isdigit() and not ln.text.startswith("520-")
    ]
    assert len(results) == len(replies)
    for reply, got in zip(replies, results, strict=True):
        if reply.startswith("200"):
            assert isinstance(got, AGIResult)
        elif reply.startswith("511"):
            assert isinstance(got, DeadChannel)
        else:
            assert isinstance(got, AGICommandError)
    assert proto.env is not None and proto.env.get("network") == "yes"


def session_lines(trace: str, socket: str) -> list[TraceLine]:
    return agi_sessions(load(trace))[socket]


def test_inbound_ivr_to_agent_with_typed_commands() -> None:
    async def ivr(s: AGISessionProtocol) -> dict[str, Any]:
        seen: dict[str, Any] = {"scenario": await s.get_variable("SCENARIO")}
        await s.answer()
        seen["menu"] = await s.stream_file("demo-congrats", "0123456789*#")
        seen["data"] = await s.get_data("beep", 6000, 4)
        await s.set_variable("CCBOX_CALL_ID", "c-0001")
        seen["caller"] = await s.get_full_variable("${CALLERID(num)}")
        seen["mixmonitor"] = await s.exec_(
            "MixMonitor", "/var/spool/asterisk/monitor/${UNIQUEID}.wav,b"
        )
        seen["dial"] = await s.exec_("Dial", "Local/1001@agent-phones/n,15")
        seen["dialstatus"] = await s.get_variable("DIALSTATUS")
        seen["hung_up"] = s.hung_up
        seen["answered"] = await s.get_variable("ANSWEREDTIME")
        with pytest.raises(DeadChannel):
            await s.hangup()
        return seen

    proto, seen = replay(session_lines("inbound-ivr-to-agent", "AGI1"), ivr)
    assert seen["scenario"] == "ivr-answered"
    assert (seen["menu"].digit, seen["menu"].endpos) == ("1", 17760)
    assert (seen["data"].digits, seen["data"].timed_out) == ("1234", False)
    assert seen["caller"] == "13800138000"
    assert (seen["mixmonitor"], seen["dial"]) == (0, -1)  # -1: the caller hung up in the call
    assert seen["dialstatus"] == "ANSWER" and seen["hung_up"] is True
    assert seen["answered"] == "31"
    assert proto.env is not None
    assert (proto.env.caller_number, proto.env.dialed) == ("13800138000", "4008001234")
    assert proto.env.get("dnid") == "unknown"


def test_noanswer_busy_voicemail_with_typed_commands() -> None:
    async def vm(s: AGISessionProtocol) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        await s.get_variable("SCENARIO")
        await s.answer()
        seen["noanswer"] = (
            await s.exec_("Dial", "Local/1002@agent-phones/n,3"),
            await s.get_variable("DIALSTATUS"),
        )
        seen["busy"] = (
            await s.exec_("Dial", "Local/1003@agent-phones/n,3"),
            await s.get_variable("DIALSTATUS"),
        )
        seen["intro"] = await s.stream_file("vm-intro")
        seen["record"] = await s.record_file(
            "/var/spool/asterisk/monitor/vm-msg", "wav", "#", 4000, beep=True, silence_s=2
        )
        seen["say"] = await s.say_digits("1001")
        await s.hangup()
        return seen

    _, seen = replay(session_lines("noanswer-busy-voicemail", "AGI2"), vm)
    assert seen["noanswer"] == (0, "NOANSWER") and seen["busy"] == (0, "BUSY")
    assert (seen["intro"].digit, seen["intro"].endpos, seen["intro"].failed) == (None, 45235, False)
    assert seen["record"].timed_out and not seen["record"].hung_up
    assert seen["say"].digit is None


def test_caller_abandons_on_hold_with_typed_commands() -> None:
    async def hold(s: AGISessionProtocol) -> dict[str, Any]:
        seen: dict[str, Any] = {"waits": []}
        await s.get_variable("SCENARIO")
        await s.answer()
        await s.set_music(True, "default")
        try:
            while True:
                seen["waits"].append(await s.wait_for_digit(2000))
        except DeadChannel:
            seen["gone_after"] = len(seen["waits"])
        with pytest.raises(DeadChannel):  # HANGUP arrives, then 511
            await s.wait_for_digit(2000)
        with pytest.raises(DeadChannel, match="dead channel"):
            await s.channel_status()
        await s.verbose("after hangup", 1)
        return seen

    proto, seen = replay(session_lines("caller-abandons-on-hold", "AGI3"), hold)
    assert seen["waits"] == [None, None] and seen["gone_after"] == 2
    assert proto.hung_up


def test_agi_errors_with_typed_commands() -> None:
    async def errors(s: AGISessionProtocol) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        await s.get_variable("SCENARIO")
        await s.answer()
        for key, cmd in (("unknown", ("NO SUCH COMMAND",)), ("usage", ("STREAM FILE",))):
            try:
                await s.command(*cmd)
            except AGICommandError as exc:
                seen[key] = exc.result
        # The lab script read a variable next; the typed stream_file would ask CHANNEL
        # STATUS first (test_missing_sound_with_typed_commands), so the raw command here.
        seen["missing"] = await s.command("STREAM FILE", "no-such-sound-file", '""')
        seen["unset"] = await s.get_variable("NOT_SET_ANYWHERE")
        seen["status"] = await s.channel_status()
        await s.hangup()
        return seen

    proto, seen = replay(session_lines("agi-errors", "AGI4"), errors)
    assert seen["unknown"].code == 510
    assert seen["usage"].code == 520 and "PLAYBACKSTATUS" in seen["usage"].text
    assert seen["missing"].value == -1 and seen["missing"].extras == {"endpos": "0"}
    assert seen["unset"] is None and seen["status"] == 6
    assert proto.hung_up  # the trailing HANGUP line


def test_missing_sound_with_typed_commands() -> None:
    """A missing hold sound answers -1 with the caller still there: the session asks CHANNEL
    STATUS, reports the name once, and the call goes on until the caller really leaves."""
    missing: list[str] = []

    async def hold(s: AGISessionProtocol) -> dict[str, Any]:
        seen: dict[str, Any] = {"waits": []}
        await s.get_variable("SCENARIO")
        await s.answer()
        seen["hold"] = await s.stream_file("ccbox-hold-missing")
        seen["left"] = s.hung_up
        await s.get_variable("CALLERID(num)")
        seen["beep"] = await s.stream_file("beep")
        try:
            while True:
                seen["waits"].append(await s.wait_for_digit(5000))
        except DeadChannel:
            pass
        return seen

    def ready_with(script: Script) -> Script:
        async def run(s: AGISessionProtocol) -> Any:
            s.on_missing_sound = missing.append
            return await script(s)

        return run

    proto, seen = replay(session_lines("queue-hold-missing-sound", "AGI1"), ready_with(hold))
    assert seen["hold"].failed and seen["hold"].missing and seen["left"] is False
    assert missing == ["ccbox-hold-missing"]
    assert not seen["beep"].failed and seen["beep"].endpos == 3404
    assert seen["waits"] == [None, None] and proto.hung_up


def test_a_hangup_during_a_playback_is_not_a_missing_sound() -> None:
    """-1 mid-playback (endpos is where it stopped), then HANGUP before the next reply: the
    caller left, and nothing is reported missing."""
    s, transport, _ = _session()
    missing: list[str] = []
    s.on_missing_sound = missing.append
    played: list[Any] = []
    defer.ensureDeferred(s.stream_file("ccbox-welcome")).addCallback(played.append)
    s.dataReceived(b"200 result=-1 endpos=24160\n")
    assert transport.value().endswith(b"CHANNEL STATUS\n")
    s.dataReceived(b"HANGUP\n511 Command Not Permitted on a dead channel or intercept routine\n")
    assert played[0].failed and not played[0].missing and played[0].endpos == 24160
    assert s.hung_up and missing == []


def _session() -> tuple[AGISessionProtocol, StringTransport, list[Any]]:
    ready: list[Any] = []
    proto = AGISessionProtocol(Clock(), ready.append)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(b"agi_network: yes\nagi_channel: DAHDI/1-1\n\n")
    return proto, transport, ready

"""The simulator's FastAGI side answers as Asterisk did in the traces."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.test.iosim import connect, makeFakeClient, makeFakeServer

from drivers.asterisk.agi.session import AGICommandError, AGISessionProtocol, DeadChannel
from drivers.asterisk.simulator.agi_caller import CallerScript, SimulatedCall
from drivers.asterisk.simulator.sounds import SoundLibrary
from drivers.asterisk.simulator.switch import Device, Switch
from tests.support.traces import agi_sessions, load


def talk(
    script: CallerScript,
    body: Any,
    devices: dict[str, Device] | None = None,
    sounds: tuple[str, ...] = (),
) -> tuple[Any, SimulatedCall, Clock]:
    """Run ``body(session)`` on our session against a simulated call; return its result.
    The switch has Asterisk's core sounds and ``sounds``."""
    clock = Clock()
    library = SoundLibrary()
    library.install_names(sounds)
    result: dict[str, Any] = {}

    def ready(session: AGISessionProtocol) -> None:
        d = defer.ensureDeferred(body(session))
        d.addBoth(lambda r: result.__setitem__("r", r))

    server = AGISessionProtocol(clock, ready)
    caller = SimulatedCall(clock, script, switch=Switch(clock, devices=devices, sounds=library))
    pump = connect(server, makeFakeServer(server), caller, makeFakeClient(caller))
    for _ in range(400):
        pump.flush()
        if "r" in result:
            break
        clock.advance(0.5)
    pump.flush()
    clock.advance(0.1)  # lines due shortly after the last reply (the HANGUP line: 40 ms)
    pump.flush()
    return result.get("r"), caller, clock


def trace_replies(trace: str, socket: str) -> dict[str, list[str]]:
    """Command -> the reply lines Asterisk gave to it (HANGUP lines included)."""
    out: dict[str, list[str]] = {}
    current = None
    for ln in agi_sessions(load(trace))[socket]:
        if ln.direction == ">":
            current = ln.text
            out.setdefault(current, [])
        elif ln.direction == "<" and current is not None:
            out[current].append(ln.text)
    return out


def test_header_carries_the_callers_identity() -> None:
    async def body(s: AGISessionProtocol) -> Any:
        await s.hangup()
        return s.env

    env, _, _ = talk(CallerScript(caller_number="13800138000", caller_name="<b>x</b>"), body)
    assert env.caller_number == "13800138000" and env.caller_name == "<b>x</b>"
    assert env.script == "inbound" and env.args == ["4008001234"]


def test_errors_are_answered_as_in_the_agi_errors_trace() -> None:
    expected = trace_replies("agi-errors", "AGI4")

    async def body(s: AGISessionProtocol) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        await s.answer()  # as the trace's script did: CHANNEL STATUS is 4 (Ring) before
        try:
            await s.command("NO SUCH COMMAND")
        except AGICommandError as exc:
            seen["unknown"] = exc.result.code
        seen["unset"] = await s.get_variable("NOT_SET_ANYWHERE")
        seen["status"] = await s.channel_status()
        await s.hangup()
        seen["session"] = s  # the HANGUP line is read after the reply: look afterwards
        return seen

    seen, caller, _ = talk(CallerScript(), body)
    assert expected["NO SUCH COMMAND"] == ["510 Invalid or unknown command"]
    assert seen["unknown"] == 510
    assert expected["GET VARIABLE NOT_SET_ANYWHERE"] == ["200 result=0"] and seen["unset"] is None
    assert expected["CHANNEL STATUS"] == ["200 result=6"] and seen["status"] == 6
    assert expected["HANGUP"] == ["200 result=1", "HANGUP"] and seen["session"].hung_up
    assert caller.outcome.script_hung_up


def test_caller_abandoning_on_hold_as_in_the_trace() -> None:
    expected = trace_replies("caller-abandons-on-hold", "AGI3")
    assert expected["CHANNEL STATUS"] == [
        "511 Command Not Permitted on a dead channel or intercept routine"
    ]

    async def body(s: AGISessionProtocol) -> dict[str, Any]:
        seen: dict[str, Any] = {"waits": 0}
        await s.answer()
        await s.set_music(True)
        try:
            while True:
                await s.wait_for_digit(2000)
                seen["waits"] += 1
        except DeadChannel:
            pass
        try:
            await s.channel_status()
        except DeadChannel as exc:
            seen["status"] = str(exc)
        await s.verbose("after hangup", 1)  # still answered after the hangup
        return seen

    seen, caller, _ = talk(CallerScript(patience_s=5.0), body)
    assert seen["waits"] == 2  # 2 s + 2 s waited, the caller leaves at 5 s
    assert seen["status"] == "Command Not Permitted on a dead channel or intercept routine"
    assert caller.outcome.caller_hung_up and not caller.outcome.script_hung_up


def test_menu_digits_and_dial_outcome() -> None:
    async def body(s: AGISessionProtocol) -> dict[str, Any]:
        menu = await s.stream_file("demo-congrats", "0123456789*#")
        data = await s.get_data("beep", 6000, 4)
        await s.exec_("Dial", "PJSIP/1001,15")
        status = await s.get_variable("DIALSTATUS")
        await s.hangup()
        return {"menu": menu.digit, "data": data.digits, "status": status}

    seen, caller, _ = talk(
        CallerScript(digits="11234"),
        body,
        {"PJSIP/1001": Device(answers=False)},
        sounds=("demo-congrats",),
    )
    assert seen == {"menu": "1", "data": "1234", "status": "NOANSWER"}
    assert caller.outcome.commands[0] == 'STREAM FILE demo-congrats "0123456789*#"'

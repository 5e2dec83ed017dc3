"""The simulator's FastAGI side, line by line, against the facts of the second set of traces
(shared/asterisk-traces/README.md) and res_agi.c: missing sounds, interrupted playbacks,
EXEC Dial's results, the HANGUP line's timing, the script's close and AGISTATUS."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from drivers.asterisk.simulator.agi_caller import (
    CallerScript,
    SimulatedCall,
    SimulatorLimitation,
    parse_args,
)
from drivers.asterisk.simulator.manager import ManagerFactory
from drivers.asterisk.simulator.sounds import SoundLibrary
from drivers.asterisk.simulator.switch import Device, Switch
from tests.support.sim_rig import trace_messages
from tests.support.traces import agi_sessions, load

BEEP = 'STREAM FILE beep ""'
MISSING = 'STREAM FILE ccbox-hold-missing ""'
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"


class Rig:
    """One simulated call, its FastAGI socket a StringTransport, on a clock."""

    def __init__(
        self,
        script: CallerScript | None = None,
        devices: dict[str, Device] | None = None,
        sounds: tuple[str, ...] = (),
        core: bool = True,
    ) -> None:
        self.clock = Clock()
        library = SoundLibrary(core=core)
        library.install_names(sounds)
        self.switch = Switch(self.clock, devices=devices, sounds=library)
        self.events: list[dict[str, str]] = []
        self.switch.subscribe(lambda headers: self.events.append(dict(headers)))
        self.started: list[tuple[str, str, str]] = []
        self.switch.agi_starter = lambda ch, script, exten: self.started.append(
            (ch.uniqueid, script, exten)
        )
        self.ended: list[str] = []
        agi_ended = self.switch.agi_ended

        def spy(ch: Any, status: str) -> None:
            self.ended.append(status)
            agi_ended(ch, status)

        self.switch.agi_ended = spy  # type: ignore[method-assign]
        self.call = SimulatedCall(
            self.clock, script or CallerScript(prompt_s=2.0), switch=self.switch
        )
        self.channel = self.call.channel
        self.transport = StringTransport()
        self.call.makeConnection(self.transport)
        self.transport.clear()  # the header

    def send(self, *lines: str) -> None:
        for line in lines:
            self.call.dataReceived(line.encode() + b"\n")

    def read(self) -> list[str]:
        out = self.transport.value().decode().splitlines()
        self.transport.clear()
        return out

    def ask(self, line: str) -> list[str]:
        self.send(line)
        return self.read()

    def advance(self, seconds: float) -> None:
        """From one due call to the next: Clock.advance moves to the end of its step first,
        so a timer started by a call that fell due inside a long step would start late."""
        target = self.clock.seconds() + seconds
        while True:
            calls: list[Any] = list(self.clock.getDelayedCalls())
            due = [c.getTime() for c in calls if c.getTime() <= target]
            if not due:
                break
            self.clock.rightNow = max(self.clock.rightNow, min(due))
            self.clock.advance(0)
        self.clock.rightNow = max(self.clock.rightNow, target)

    def close(self) -> list[str]:
        """The script shuts its end, as ccboxd does: what Asterisk writes before it closes."""
        self.call.readConnectionLost()
        written = self.read()
        assert self.transport.disconnecting
        self.call.connectionLost()
        return written

    def named(self, name: str) -> list[dict[str, str]]:
        return [e for e in self.events if e["Event"] == name]

    def varsets(self, name: str) -> list[str]:
        return [e["Value"] for e in self.named("VarSet") if e["Variable"] == name]

    def agistatus(self) -> list[str]:
        return self.varsets("AGISTATUS")


def trace_sessions(trace: str) -> list[list[tuple[str, str]]]:
    """Each FastAGI session of a trace as (direction, text) after the header."""
    out = []
    for lines in agi_sessions(load(trace)).values():
        body = [(ln.direction, ln.text) for ln in lines if not ln.text.startswith("agi_")]
        out.append(body[1:] if body and body[0] == ("<", "") else body)
    return out


# ---- missing sounds ---------------------------------------------------------------------------


def test_a_missing_sound_answers_minus_one_at_once_and_the_call_goes_on() -> None:
    """queue-hold-missing-sound: -1 endpos=0 at once, no HANGUP, CHANNEL STATUS 6, the next
    commands answer normally; the caller hangs up later; AGISTATUS is FAILURE."""
    expected = dict(
        (cmd, reply)
        for (d1, cmd), (d2, reply) in zip(
            trace_sessions("queue-hold-missing-sound")[0],
            trace_sessions("queue-hold-missing-sound")[0][1:],
            strict=False,
        )
        if d1 == ">" and d2 == "<"
    )
    rig = Rig(CallerScript(prompt_s=0.425, patience_s=15.0))
    assert rig.ask("ANSWER") == ["200 result=0"]
    assert rig.ask(MISSING) == [expected[MISSING]] == ["200 result=-1 endpos=0"]
    assert rig.ask("CHANNEL STATUS") == [expected["CHANNEL STATUS"]] == ["200 result=6"]
    assert rig.ask("GET VARIABLE CALLERID(num)") == ["200 result=1 (13800138000)"]
    assert rig.ask(BEEP) == []
    rig.advance(0.425)
    assert rig.read() == ["200 result=0 endpos=3400"]
    assert rig.varsets("PLAYBACKSTATUS") == ["SUCCESS"]  # none for the missing sound
    rig.send("WAIT FOR DIGIT 5000")
    rig.advance(5)
    assert rig.read() == ["200 result=0"]
    rig.send("WAIT FOR DIGIT 5000")
    rig.advance(5)
    assert rig.read() == ["200 result=0"]
    rig.send("WAIT FOR DIGIT 5000")
    rig.advance(4.575)  # the caller leaves at 15 s
    assert rig.read() == ["200 result=-1"]
    assert rig.channel.alive and not rig.named("Hangup")  # until the script closes
    rig.advance(0.04)
    assert rig.read() == ["HANGUP"]
    assert rig.close() == ["HANGUP"]
    assert rig.agistatus() == ["FAILURE"] and rig.call.outcome.agi_status == "FAILURE"
    assert rig.call.outcome.missing_sounds == ["ccbox-hold-missing"]
    assert [e["Cause"] for e in rig.named("Hangup")] == ["16"]
    assert not rig.channel.alive


def test_playbackstatus_is_failed_for_a_digit_and_unset_when_cut() -> None:
    """res_agi.c sets PLAYBACKSTATUS after STREAM FILE's reply: FAILED unless result=0; a
    playback cut by a new command returns before it."""
    rig = Rig(CallerScript(digits="1", prompt_s=2.0))
    assert rig.ask('STREAM FILE beep "1"') == []  # the caller presses 1 half way
    rig.advance(1.0)
    assert rig.read() == ["200 result=49 endpos=4000"]
    rig.send(BEEP)
    rig.advance(1.0)
    assert rig.ask("NOOP") == ["200 result=0"]
    assert rig.varsets("PLAYBACKSTATUS") == ["FAILED"]


def test_get_data_with_a_missing_prompt_answers_minus_one_and_is_no_failure() -> None:
    """main/app.c: ast_app_getdata_full returns the failed streamfile's -1 before reading a
    digit; handle_getdata answers ``200 result=-1`` and returns RESULT_SUCCESS."""
    rig = Rig(CallerScript(digits="12#", prompt_s=2.0))
    assert rig.ask("ANSWER") == ["200 result=0"]
    assert rig.ask("GET DATA ccbox-no-such-prompt 3000 4") == ["200 result=-1"]
    assert rig.ask('GET DATA "" 3000 4') == ["200 result=12"]  # no prompt: digits at once
    rig.close()
    assert rig.agistatus() == ["SUCCESS"]


def test_say_number_fails_on_a_missing_digit_file_and_say_digits_skips_it() -> None:
    """say.c: SAY NUMBER streams each file and fails (-1, FAILURE) on a missing one; SAY
    DIGITS keeps only the digit files that exist (ast_get_digit_str)."""
    rig = Rig(sounds=("digits/1", "digits/2"), core=False)
    assert rig.ask("ANSWER") == ["200 result=0"]
    assert rig.ask('SAY DIGITS 9 ""') == ["200 result=0"]  # nothing to say: at once
    assert rig.ask('SAY DIGITS 123 ""') == []
    rig.advance(2.0)
    assert rig.read() == ["200 result=0"]
    assert rig.call.status == "SUCCESS"
    assert rig.ask('SAY NUMBER 12 ""') == ["200 result=-1"]  # digits/12 is missing
    assert rig.ask("CHANNEL STATUS") == ["200 result=6"]  # still up: no HANGUP line
    rig.close()
    assert rig.agistatus() == ["FAILURE"]


def test_the_core_sounds_say_numbers_and_dates() -> None:
    rig = Rig()
    for command in ('SAY NUMBER 1234567 ""', 'SAY NUMBER -40 ""', 'SAY DATE 1796529878 ""'):
        assert rig.ask(command) == []
        rig.advance(2.0)
        assert rig.read() == ["200 result=0"], command
    assert rig.call.outcome.missing_sounds == []


# ---- arguments as res_agi.c's parse_args splits them ---------------------------------------


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('STREAM FILE beep ""', ["STREAM", "FILE", "beep", ""]),
        ('EXEC Dial "PJSIP/1001&PJSIP/1002,15,t"', ["EXEC", "Dial", "PJSIP/1001&PJSIP/1002,15,t"]),
        ('SET VARIABLE X "a \\"b\\" c"', ["SET", "VARIABLE", "X", 'a "b" c']),
        ("SET VARIABLE X a\\ b\\\\", ["SET", "VARIABLE", "X", "a b\\"]),
        ('x"y z"w \t v', ["xy zw", "v"]),
        ("GET VARIABLE X\r", ["GET", "VARIABLE", "X\r"]),  # only space and tab split
        ('SET VARIABLE X "open', ["SET", "VARIABLE", "X", "open"]),  # never an error
        ("   ", []),
    ],
)
def test_arguments_split_as_parse_args_splits_them(line: str, words: list[str]) -> None:
    assert parse_args(line) == words


def test_a_trailing_cr_is_part_of_the_last_argument() -> None:
    rig = Rig()
    assert rig.ask("SET VARIABLE X 1") == ["200 result=1"]
    rig.send("GET VARIABLE X\r")  # a CRLF line end, as PROTOCOL.md warns
    assert rig.read() == ["200 result=0"] and rig.call.variables["X"] == "1"


# ---- usage errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "STREAM FILE",
        "STREAM FILE beep",  # the escape digits are not optional
        'STREAM FILE beep "" x',
        'SAY NUMBER twelve ""',
        "SAY DIGITS 12",
        "WAIT FOR DIGIT",
        "GET VARIABLE",
        "SET VARIABLE X",
        "SET MUSIC maybe",
    ],
)
def test_wrong_arguments_answer_the_520_usage(command: str) -> None:
    rig = Rig()
    lines = rig.ask(command)
    assert lines[0] == "520-Invalid command syntax.  Proper usage follows:"
    assert lines[-1] == "520 End of proper usage." and len(lines) == 3


# ---- interrupted commands -----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        'STREAM FILE beep "0123"',
        "GET DATA beep 3000 4",
        'SAY NUMBER 42 ""',
        'SAY DIGITS 42 ""',
        'SAY DATE 1796529878 ""',
    ],
)
def test_a_new_command_stops_a_playback_which_is_never_answered(command: str) -> None:
    """PROTOCOL.md / res_agi.c (res == 1, res == 2): no reply line for the cut command."""
    rig = Rig(CallerScript(prompt_s=2.0))
    assert rig.ask("ANSWER") == ["200 result=0"]
    assert rig.ask(command) == []
    rig.advance(1.0)
    assert rig.ask("GET FULL VARIABLE ccbox-sync-1") == ["200 result=1 (ccbox-sync-1)"]
    rig.advance(30)
    assert rig.read() == []


def test_get_data_is_cut_while_it_waits_for_digits_too() -> None:
    rig = Rig(CallerScript(prompt_s=2.0))
    rig.send("GET DATA beep 5000 4")
    rig.advance(4.0)  # the prompt is over, the digits are awaited
    assert rig.ask("GET FULL VARIABLE ${CHANNEL(uniqueid)}") == [
        f"200 result=1 ({rig.channel.uniqueid})"
    ]
    rig.advance(30)
    assert rig.read() == []


def test_wait_for_digit_cut_by_a_command_answers_one() -> None:
    """ast_waitfordigit_full returns 1 when the AGI socket has a command waiting."""
    rig = Rig()
    rig.send("WAIT FOR DIGIT 5000")
    rig.advance(1.0)
    assert rig.ask("GET FULL VARIABLE x") == ["200 result=1", "200 result=1 (x)"]
    rig.advance(10)
    assert rig.read() == []


def test_exec_does_not_read_the_socket() -> None:
    rig = Rig(devices={"PJSIP/1002": Device(answers=False)})
    assert rig.ask("ANSWER") == ["200 result=0"]
    assert rig.ask('EXEC Dial "PJSIP/1002,5"') == []
    assert rig.ask("GET VARIABLE DIALSTATUS") == []  # waits for Dial
    rig.advance(5)
    assert rig.read() == ["200 result=0", "200 result=1 (NOANSWER)"]


# ---- EXEC Dial ----------------------------------------------------------------------------


def _answered_dial(rig: Rig, data: str) -> str:
    """ANSWER, EXEC Dial ``data``; the device answers after 1 s: the agent leg's name."""
    assert rig.ask("ANSWER") == ["200 result=0"]
    assert rig.ask(f'EXEC Dial "{data}"') == []
    rig.advance(1.0)
    (begin,) = rig.named("DialBegin")
    assert rig.named("DialEnd")[-1]["DialStatus"] == "ANSWER"
    return begin["DestChannel"]


@pytest.mark.parametrize(("options", "result"), [("", "-1"), (",g", "0")])
def test_the_agent_hanging_up_first_answers_minus_one_without_g(options: str, result: str) -> None:
    """dial-agent-hangs-up: -1 without g, 0 with it; the caller stays up (no HANGUP line,
    CHANNEL STATUS 6, a beep plays); DIALSTATUS ANSWER; ANSWEREDTIME the caller's up time."""
    rig = Rig(CallerScript(prompt_s=0.425), devices={"PJSIP/1007": Device(talk_s=3.0)})
    agent = _answered_dial(rig, f"PJSIP/1007,20{options}")
    # Dial clears it, then sets it when the agent answers: VarSets on the caller's channel
    assert rig.varsets("DIALEDPEERNAME") == ["", agent]
    rig.advance(2.9)
    assert rig.read() == []
    rig.advance(0.1)
    assert rig.read() == [f"200 result={result}"]
    rig.advance(1.0)
    assert rig.read() == []  # no HANGUP line: the caller is still there
    assert rig.ask("GET VARIABLE DIALSTATUS") == ["200 result=1 (ANSWER)"]
    assert rig.ask("GET VARIABLE DIALEDPEERNAME") == [f"200 result=1 ({agent})"]
    assert rig.ask("GET VARIABLE ANSWEREDTIME") == ["200 result=1 (4)"]
    assert rig.ask("GET VARIABLE ANSWEREDTIME_MS") == ["200 result=1 (4000)"]
    assert rig.ask("GET VARIABLE HANGUPCAUSE") == ["200 result=1 (16)"]
    assert rig.ask("CHANNEL STATUS") == ["200 result=6"]
    rig.send(BEEP)
    rig.advance(0.425)
    assert rig.read() == ["200 result=0 endpos=3400"]
    assert rig.channel.alive


@pytest.mark.parametrize(
    ("device", "status", "cause"),
    [
        (Device(busy=True), "BUSY", "17"),
        (Device(answers=False), "NOANSWER", "0"),
        (Device(unavailable=True), "CHANUNAVAIL", "20"),
    ],
)
def test_an_unanswered_dial_answers_zero(device: Device, status: str, cause: str) -> None:
    rig = Rig(devices={"PJSIP/1003": device})
    assert rig.ask("ANSWER") == ["200 result=0"]
    rig.send('EXEC Dial "PJSIP/1003,4"')
    rig.advance(4)
    assert rig.read() == ["200 result=0"]
    assert rig.ask("GET VARIABLE DIALSTATUS") == [f"200 result=1 ({status})"]
    assert rig.ask("GET VARIABLE HANGUPCAUSE") == [f"200 result=1 ({cause})"]
    assert rig.ask("GET VARIABLE ANSWEREDTIME") == ["200 result=1 ()"]
    assert rig.ask("CHANNEL STATUS") == ["200 result=6"]


def test_the_caller_hanging_up_during_the_talk() -> None:
    """-1 at once, the HANGUP line 40 ms later, then 511 for channel commands; the agent's
    leg hangs up now, the caller's channel only once the script closes (AGISTATUS HANGUP,
    and the dialplan after AGI does not run)."""
    rig = Rig(devices={"PJSIP/1001": Device()})
    agent = _answered_dial(rig, "PJSIP/1001,20")
    rig.advance(5)
    rig.call.caller_hangs_up()
    assert rig.read() == ["200 result=-1"]
    rig.advance(0.039)
    assert rig.read() == []
    rig.advance(0.001)
    assert rig.read() == ["HANGUP"]
    assert rig.ask("CHANNEL STATUS") == [DEAD]
    assert rig.ask("GET VARIABLE DIALSTATUS") == ["200 result=1 (ANSWER)"]
    assert rig.ask("VERBOSE bye 1") == ["200 result=1"]
    assert [e["Channel"] for e in rig.named("Hangup")] == [agent]
    assert rig.close() == ["HANGUP"]
    assert rig.agistatus() == ["HANGUP"] and rig.ended == ["HANGUP"]
    after = rig.events[[e.get("Variable") for e in rig.events].index("AGISTATUS") :]
    assert not [e for e in after if e["Event"] == "Newexten"]
    assert [e["Channel"] for e in rig.named("Hangup")] == [agent, rig.channel.name]


def test_the_hangup_line_comes_before_the_reply_to_a_command_sent_meanwhile() -> None:
    """hangup-causes (caller hangs up in a prompt): -1 with the position reached; the next
    command's reply comes 40 ms after the HANGUP line."""
    rig = Rig(CallerScript(prompt_s=10.0, patience_s=3.0))
    assert rig.ask("ANSWER") == ["200 result=0"]
    assert rig.ask('STREAM FILE beep "" ') == []  # trailing space: still two arguments
    rig.advance(3.0)
    assert rig.read() == ["200 result=-1 endpos=24000"]
    assert rig.ask("GET VARIABLE HANGUPCAUSE") == ["HANGUP"]
    rig.advance(0.04)
    assert rig.read() == ["200 result=1 (16)"]
    rig.advance(1)
    assert rig.read() == []


def test_agi_hangup_answers_one_then_the_line_and_waits_for_the_script() -> None:
    rig = Rig()
    assert rig.ask("HANGUP") == ["200 result=1"]
    rig.advance(0.04)
    assert rig.read() == ["HANGUP"]
    assert not rig.transport.disconnecting  # Asterisk waits for the script to close
    soft = rig.named("SoftHangupRequest")
    assert [e["Cause"] for e in soft] == ["32"]
    assert rig.ask("CHANNEL STATUS") == [DEAD]
    assert rig.close() == ["HANGUP"]
    assert rig.agistatus() == ["HANGUP"] and not rig.channel.alive


def test_a_redirect_while_ringing(monkeypatch: pytest.MonkeyPatch) -> None:
    """redirect-during-dial: Dial answers -1, DIALSTATUS CANCEL, HANGUP first then the
    next reply, 511 for CHANNEL STATUS; the channel enters the new context (a new FastAGI
    session) only once the script has closed, AGISTATUS HANGUP."""
    rig = Rig(devices={"PJSIP/1002": Device(answers=False)})
    assert rig.ask("ANSWER") == ["200 result=0"]
    rig.send('EXEC Dial "PJSIP/1002,60"')
    rig.advance(5)
    rig.switch.redirect(rig.channel, "ccbox-transfer-queue", "12")
    assert rig.read() == ["200 result=-1"]
    assert [e["DialStatus"] for e in rig.named("DialEnd")] == ["CANCEL"]
    assert rig.ask("GET VARIABLE DIALSTATUS") == ["HANGUP"]
    rig.advance(0.04)
    assert rig.read() == ["200 result=1 (CANCEL)"]
    assert rig.ask("CHANNEL STATUS") == [DEAD]
    rig.advance(1.3)
    assert rig.started == [] and rig.channel.alive and rig.channel.agi is rig.call
    assert rig.close() == ["HANGUP"]
    assert rig.agistatus() == ["HANGUP"] and rig.ended == []
    assert rig.started == [(rig.channel.uniqueid, "transfer-queue", "12")]
    assert rig.channel.alive and rig.call.outcome.redirected


def test_a_redirect_while_bridged_answers_zero() -> None:
    """bridged-call-and-spy: the bridged Dial returns 0 (DIALSTATUS ANSWER), HANGUP follows."""
    rig = Rig(devices={"PJSIP/1004": Device()})
    _answered_dial(rig, "PJSIP/1004,15")
    rig.advance(7)
    rig.switch.redirect(rig.channel, "ccbox-transfer-queue", "12")
    assert rig.read() == ["200 result=0"]
    rig.advance(0.04)
    assert rig.read() == ["HANGUP"]


def test_dial_goes_on_when_the_script_goes_away() -> None:
    """ccboxd closes the socket while Dial rings (a restart): Dial goes on; when it returns,
    the AGI ends (AGISTATUS, the dialplan after AGI); a caller may still leave before."""
    rig = Rig(devices={"PJSIP/1001": Device(ring_s=2.0, talk_s=5.0)})
    rig.send('EXEC Dial "PJSIP/1001,20"')
    rig.call.connectionLost()  # the script is gone, no close handshake
    assert rig.call.finished.called and rig.agistatus() == []
    rig.advance(2.0)
    assert rig.named("BridgeEnter")  # the agent answered all the same
    rig.advance(5.0)
    assert rig.agistatus() == ["SUCCESS"] and rig.ended == ["SUCCESS"]
    assert not rig.channel.alive  # the generated dialplan hangs up after AGI

    gone = Rig(CallerScript(patience_s=3.0), devices={"PJSIP/1001": Device(answers=False)})
    gone.send('EXEC Dial "PJSIP/1001,20"')
    gone.call.connectionLost()
    gone.advance(3.0)
    assert gone.agistatus() == ["HANGUP"] and not gone.channel.alive
    assert [e["DialStatus"] for e in gone.named("DialEnd")] == ["CANCEL"]


def test_dial_options_t_and_T_give_the_legs_their_features() -> None:
    rig = Rig(devices={"PJSIP/1004": Device()})
    agent = _answered_dial(rig, "PJSIP/1004,20,tH")
    leg = rig.switch.find(agent)
    assert leg is not None and leg.features == {"t"} and rig.channel.features == {"h"}


def test_dial_option_s_ends_the_talk() -> None:
    rig = Rig(devices={"PJSIP/1004": Device()})
    _answered_dial(rig, "PJSIP/1004,20,S(2)")
    rig.advance(1.9)
    assert rig.read() == []
    rig.advance(0.1)
    assert rig.read() == ["200 result=-1"] and rig.channel.alive


@pytest.mark.parametrize("data", ["PJSIP/1004,20,L(60000)", "PJSIP/1004,,r", "PJSIP/1004,20,U(x)"])
def test_dial_options_the_simulator_lacks_are_refused_by_name(data: str) -> None:
    rig = Rig()
    with pytest.raises(SimulatorLimitation, match="Dial option"):
        rig.send(f'EXEC Dial "{data}"')


def test_applications_and_functions_it_lacks_are_refused_by_name() -> None:
    rig = Rig()
    with pytest.raises(SimulatorLimitation, match="AGI command GET OPTION"):
        rig.send('GET OPTION beep "12" 3000')  # Asterisk has it: no 510 here
    assert rig.ask("GET OPTIONS") == ["510 Invalid or unknown command"]
    with pytest.raises(SimulatorLimitation, match="EXEC Queue"):
        rig.send('EXEC Queue "support"')
    with pytest.raises(SimulatorLimitation, match="CDR"):
        rig.send("GET VARIABLE CDR(billsec)")


# ---- AGISTATUS ----------------------------------------------------------------------------


def test_agistatus_as_in_the_agi_status_after_failure_trace() -> None:
    """The six sessions of the trace, replayed: each command's replies, then AGISTATUS; with
    SUCCESS and FAILURE the dialplan goes on after AGI() (Switch.agi_ended)."""
    trace = load("agi-status-after-failure")
    expected = [
        ln.text.split(": ", 1)[1]
        for i, ln in enumerate(trace)
        if ln.text.startswith("Value: ") and trace[i - 1].text == "Variable: AGISTATUS"
    ]
    assert expected == ["FAILURE", "SUCCESS", "SUCCESS", "FAILURE", "SUCCESS", "HANGUP"]
    seen = []
    for n, session in enumerate(trace_sessions("agi-status-after-failure")):
        # session 6: the caller hangs up 3.5 s into WAIT FOR DIGIT 6000
        script = CallerScript("13900139000", prompt_s=0.424, patience_s=3.5 if n == 5 else None)
        rig = Rig(script)
        commands = [text for d, text in session if d == ">"]
        for command in commands:
            rig.send(command)
            rig.advance(0.5)
        rig.advance(7)
        replies = [text for d, text in session if d == "<" and not text.startswith(" ")]
        ours = rig.read()
        usage = ("Send the given", "It sets", "<variable>")
        assert [r for r in ours if not r.startswith("Usage:")] == [
            r.replace("3404", "3392")
            for r in replies[: len(replies) - 1]
            if not r.startswith(usage)
        ], n
        assert rig.close() == ["HANGUP"]
        seen += rig.agistatus()
        assert rig.ended == [expected[n]]  # HANGUP: Switch.agi_ended ends the dialplan
    assert seen == expected


def test_the_dialplan_goes_on_after_agi_only_without_hangup() -> None:
    """With SUCCESS/FAILURE the generated dialplan's next priority runs (a Newexten after the
    VarSet); with HANGUP the channel goes to SoftHangupRequest and Hangup."""
    for status, commands in (("FAILURE", [MISSING]), ("SUCCESS", [BEEP]), ("HANGUP", ["HANGUP"])):
        rig = Rig()
        for command in commands:
            rig.send(command)
            rig.advance(3)
        rig.close()
        after = rig.events[[e.get("Variable") for e in rig.events].index("AGISTATUS") :]
        assert after[0]["Value"] == status
        assert bool([e for e in after if e["Event"] == "Newexten"]) == (status != "HANGUP")
        assert not rig.channel.alive  # the generated contexts hang up after AGI


# ---- AGIExecStart / AGIExecEnd ------------------------------------------------------------


def _exec_ends(rig: Rig) -> list[tuple[str, str, str]]:
    return [(e["Command"], e["ResultCode"], e["Result"]) for e in rig.named("AGIExecEnd")]


def test_agi_exec_events_as_in_the_traces() -> None:
    """queue-hold-missing-sound: the missing sound's AGIExecEnd is ResultCode -1, Failure,
    with the trace's headers; 510 and the good commands as agi_handle_command reports them."""
    theirs = next(
        m
        for m in trace_messages("queue-hold-missing-sound")
        if m.event == "AGIExecEnd" and m.get("Command") == MISSING
    )
    rig = Rig(CallerScript(prompt_s=0.5))
    for command in ("ANSWER", MISSING, "NO SUCH COMMAND", BEEP):
        rig.send(command)
        rig.advance(1)
    ours = rig.named("AGIExecEnd")
    assert [k for k, _ in theirs.headers] == list(ours[1])
    assert (theirs["ResultCode"], theirs["Result"]) == ("-1", "Failure")
    assert _exec_ends(rig) == [
        ("ANSWER", "200", "Success"),
        (MISSING, "-1", "Failure"),
        ("NO SUCH COMMAND", "510", "Invalid or unknown command"),
        (BEEP, "200", "Success"),
    ]
    starts = rig.named("AGIExecStart")
    assert [e["CommandId"] for e in starts] == [e["CommandId"] for e in ours]
    assert len({e["CommandId"] for e in starts}) == 4


@pytest.mark.parametrize(("options", "result"), [("", "Unknown Result"), (",g", "Success")])
def test_agi_exec_end_of_a_dial_the_agent_ended(options: str, result: str) -> None:
    """dial-agent-hangs-up: AGIExecEnd reports Dial's -1 as 200 Unknown Result, 0 Success."""
    rig = Rig(devices={"PJSIP/1007": Device(talk_s=3.0)})
    _answered_dial(rig, f"PJSIP/1007,20{options}")
    rig.advance(3)
    assert _exec_ends(rig)[-1] == (f'EXEC Dial "PJSIP/1007,20{options}"', "200", result)


# ---- the header ---------------------------------------------------------------------------


def _header(call: SimulatedCall) -> dict[str, str]:
    transport = StringTransport()
    call.makeConnection(transport)
    lines = transport.value().decode().split("\n")
    assert lines[-2:] == ["", ""]  # the blank line ends it
    return dict(line.split(": ", 1) for line in lines[:-2])


def test_the_header_carries_the_agi_steps_priority_and_only_the_arguments_given() -> None:
    """agi_priority is where AGI() is in the dialplan; AGI(agi://host/voicemail) without
    arguments sends no agi_arg_1 (redirect-during-dial: agi_priority 1, agi_arg_1 7)."""
    clock = Clock()
    switch = Switch(clock, sounds=SoundLibrary())
    inbound = _header(SimulatedCall(clock, CallerScript(dialed="4008001234"), switch=switch))
    step = switch.dialplan.find("ccbox-inbound", "4008001234", int(inbound["agi_priority"]))
    assert step is not None and step.step.app == "AGI"
    assert inbound["agi_arg_1"] == "4008001234" and inbound["agi_context"] == "ccbox-inbound"
    phone = switch.phone_call("PJSIP/1001", "*98")
    voicemail = _header(SimulatedCall(clock, CallerScript(), "voicemail", switch, phone))
    assert "agi_arg_1" not in voicemail and voicemail["agi_network_script"] == "voicemail"
    login = _header(
        SimulatedCall(
            clock, CallerScript(), "agent", switch, switch.phone_call("PJSIP/1001", "*71")
        )
    )
    assert login["agi_arg_1"] == "login"


def test_an_ami_hangup_of_a_channel_in_agi() -> None:
    """manager.c's Hangup soft-hangs the channel up (no event: ast_softhangup_nolock; the
    Cause given becomes its HANGUPCAUSE): the AGI hears -1 and HANGUP, the agent's leg goes,
    and the caller's Hangup comes only once the script closes, with that cause."""
    rig = Rig(devices={"PJSIP/1001": Device()})
    agent = _answered_dial(rig, "PJSIP/1001,20")
    factory = ManagerFactory(rig.clock, rig.switch, "ccbox", "secret")
    ami = factory.buildProtocol(None)
    ami.makeConnection(StringTransport())
    ami.dataReceived(b"Action: Login\r\nUsername: ccbox\r\nSecret: secret\r\n\r\n")
    hangup = f"Action: Hangup\r\nActionID: h1\r\nChannel: {rig.channel.name}\r\nCause: 21"
    ami.dataReceived(f"{hangup}\r\n\r\n".encode())
    assert rig.read() == ["200 result=-1"]
    mine = [e for e in rig.named("SoftHangupRequest") if e["Channel"] == rig.channel.name]
    assert mine == []
    assert [e["Channel"] for e in rig.named("Hangup")] == [agent]
    rig.advance(0.04)
    assert rig.read() == ["HANGUP"]
    assert rig.ask("GET VARIABLE HANGUPCAUSE") == ["200 result=1 (21)"]
    assert rig.channel.alive
    rig.close()
    assert rig.agistatus() == ["HANGUP"]
    assert [(e["Channel"], e["Cause"]) for e in rig.named("Hangup")] == [
        (agent, "16"),
        (rig.channel.name, "21"),
    ]


def _music(rig: Rig) -> list[str]:
    return [
        f"{e['Event']}:{e.get('Class', '')}"
        for e in rig.events
        if e["Event"] in ("MusicOnHoldStart", "MusicOnHoldStop")
    ]


def test_dial_m_keeps_the_callers_music_while_ringing_and_stops_it_at_the_answer() -> None:
    """app_dial with m(class): ast_moh_start (the running generator is released first:
    Stop, then Start in the class); ast_moh_stop when the agent answers."""
    rig = Rig(devices={"PJSIP/1004": Device(ring_s=1.0)})
    assert rig.ask("ANSWER") == ["200 result=0"]
    assert rig.ask("SET MUSIC ON default") == ["200 result=0"]
    assert rig.ask('EXEC Dial "PJSIP/1004,20,tm(jazz)"') == []
    assert _music(rig) == ["MusicOnHoldStart:default", "MusicOnHoldStop:", "MusicOnHoldStart:jazz"]
    rig.advance(1.0)
    assert rig.named("DialEnd")[-1]["DialStatus"] == "ANSWER"
    assert _music(rig)[-1] == "MusicOnHoldStop:" and len(_music(rig)) == 4


def test_dial_m_stops_the_music_when_nobody_answers() -> None:
    rig = Rig(devices={"PJSIP/1002": Device(answers=False)})
    rig.ask("ANSWER")
    rig.ask("SET MUSIC ON default")
    assert rig.ask('EXEC Dial "PJSIP/1002,2,tm(default)"') == []
    rig.advance(2.0)
    assert rig.read() == ["200 result=0"]
    assert _music(rig) == [
        "MusicOnHoldStart:default",
        "MusicOnHoldStop:",
        "MusicOnHoldStart:default",
        "MusicOnHoldStop:",
    ]


def test_dial_without_m_to_one_phone_stops_the_music_at_once() -> None:
    """app_dial (wait_for_answer, single, not entertained): ast_deactivate_generator, whose
    release posts MusicOnHoldStop; the music does not come back after the Dial."""
    rig = Rig(devices={"PJSIP/1002": Device(answers=False)})
    rig.ask("ANSWER")
    rig.ask("SET MUSIC ON default")
    rig.ask('EXEC Dial "PJSIP/1002,2,t"')
    assert _music(rig) == ["MusicOnHoldStart:default", "MusicOnHoldStop:"]
    rig.advance(2.0)
    assert rig.read() == ["200 result=0"] and len(_music(rig)) == 2


def test_wait_for_digit_minus_one_waits_until_cut_and_answers_one() -> None:
    """WAIT FOR DIGIT -1 waits for ever (ast_waitfordigit_full: a negative timeout); the
    next command line cuts it and it answers 1 before the new command runs."""
    rig = Rig()
    rig.ask("ANSWER")
    assert rig.ask("WAIT FOR DIGIT -1") == []
    rig.advance(3600.0)
    assert rig.read() == []
    assert rig.ask("NOOP") == ["200 result=1", "200 result=0"]

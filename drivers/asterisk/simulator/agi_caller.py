"""The Asterisk side of FastAGI for simulated calls: connect, send the header, answer commands.

Replies follow the traces in shared/asterisk-traces: STREAM FILE answers ``result=0`` or the
ASCII code of a pressed digit with ``endpos``; GET DATA answers the digits (``(timeout)``
when none); WAIT FOR DIGIT answers 0 on timeout; EXEC Dial rings the device on the switch
and answers 0 when it did not answer, was busy, or hung up after talking (the outcome in
DIALSTATUS), -1 when the caller hung up; when the caller hangs up, the command in progress
answers ``result=-1``, an unsolicited ``HANGUP`` line follows, and later channel commands
answer 511 while GET VARIABLE, SET VARIABLE and VERBOSE still work. HANGUP from the script
answers ``result=1``, then ``HANGUP``, then the socket closes.

Each call is a channel on a ``Switch`` (switch.py), which turns what happens into the AMI
events Asterisk would send: Newchannel, Newstate, DTMF, Dial*, Bridge*, MixMonitor*, Hangup.
"""

from __future__ import annotations

import functools
import math
import re
import shlex
import wave
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from twisted.internet import defer
from twisted.protocols.basic import LineOnlyReceiver

from drivers.asterisk.simulator.snapshots import UP
from drivers.asterisk.simulator.switch import SimChannel, Switch
from recorder import g711

LAWS = {"ulaw": g711.ulaw_encode, "alaw": g711.alaw_encode}
SILENCE = {"ulaw": b"\xff", "alaw": b"\xd5"}  # G.711 zero

DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
ALIVE_AFTER_HANGUP = (
    "GET VARIABLE",
    "GET FULL VARIABLE",
    "SET VARIABLE",
    "VERBOSE",
    "NOOP",
    "EXEC",
    "DATABASE",
)


@dataclass
class CallerScript:
    """How the simulated caller behaves."""

    caller_number: str = "13800138000"
    caller_name: str = "Zhang San"
    dialed: str = "4008001234"
    digits: str = ""  # pressed one at a time when the call asks for input
    patience_s: float | None = None  # hangs up after this long (None: waits for the script)
    prompt_s: float = 0.0  # how long each prompt plays
    message_s: float | None = None  # how long the caller speaks when recorded (None: silent)


@dataclass
class CallOutcome:
    uniqueid: str
    commands: list[str] = field(default_factory=list)
    caller_hung_up: bool = False
    script_hung_up: bool = False
    redirected: bool = False
    recorded: list[str] = field(default_factory=list)  # RECORD FILE paths


class SimulatedCall(LineOnlyReceiver):
    delimiter = b"\n"

    def __init__(
        self,
        clock: Any,
        script: CallerScript,
        agi_script: str = "inbound",
        switch: Switch | None = None,
        channel: SimChannel | None = None,
    ) -> None:
        self.clock = clock
        self.script = script
        self.agi_script = agi_script
        self.switch = switch if switch is not None else Switch(clock)
        if channel is None:
            channel = self.switch.trunk_call(
                script.caller_number, script.caller_name, script.dialed
            )
        self.channel = channel
        channel.agi = self
        channel.on_hangup.append(self._channel_gone)
        self.uniqueid = channel.uniqueid
        self.outcome = CallOutcome(self.uniqueid)
        self.finished: defer.Deferred[CallOutcome] = defer.Deferred()
        self.hung_up = False
        self._digits = list(script.digits)
        self._pending: Any = None  # the delayed reply of a command in progress
        self._busy = False  # a command is in progress (its reply not yet sent)
        self._backlog: list[bytes] = []  # commands sent while one was in progress
        self._streaming = False  # the command in progress answers with endpos
        self._recording = False  # RECORD FILE in progress: a hangup answers "(hangup)"
        self._orphaned = False  # the AGI socket closed while Dial ran (the Dial goes on)
        self._dialing: list[defer.Deferred[Any]] | None = None  # the rings of EXEC Dial
        self._patience: Any = None
        self.sound_lengths = {"ccbox-hold": 600.0}  # seconds; other sounds: prompt_s
        self._bridged_since: float | None = None

    @property
    def variables(self) -> dict[str, str]:
        return self.channel.variables

    # ---- connection -----------------------------------------------------------------------

    def connectionMade(self) -> None:
        s, ch = self.script, self.channel
        header = {
            "network": "yes",
            "network_script": self.agi_script,
            "request": f"agi://127.0.0.1:4573/{self.agi_script}",
            "channel": ch.name,
            "language": "en",
            "type": ch.name.split("/")[0],
            "uniqueid": ch.uniqueid,
            "version": "22.10.1",
            "callerid": s.caller_number or "unknown",
            "calleridname": s.caller_name or "unknown",
            "callingpres": "0",
            "callingani2": "0",
            "callington": "0",
            "callingtns": "0",
            "dnid": s.dialed or "unknown",
            "rdnis": "unknown",
            "context": ch.context,
            "extension": ch.exten,
            "priority": "2",
            "enhanced": "0.0",
            "accountcode": "",
            "threadid": "140504281466560",
            "arg_1": ch.agi_arg or ch.exten,
        }
        lines = "".join(f"agi_{k}: {v}\n" for k, v in header.items()) + "\n"
        cast(Any, self.transport).write(lines.encode())
        if s.patience_s is not None:
            self._patience = self.clock.callLater(s.patience_s, self.caller_hangs_up)

    def connectionLost(self, reason: Any = None) -> None:
        for call in (self._pending, self._patience):
            if call is not None and call.active():
                call.cancel()
        if self.channel.agi is self:
            self.channel.agi = None
            if self._busy and self.channel.application == "Dial":
                # Asterisk's Dial goes on without the AGI (ccboxd restarting): the channel
                # hangs up when Dial returns and the dialplan has nothing more.
                self._orphaned = True
            else:
                # The AGI ended: Asterisk hangs the channel up (the dialplan has nothing more).
                self.switch.hangup(self.channel, 16)
        if not self.finished.called:
            self.finished.callback(self.outcome)

    @property
    def _monitor(self) -> _MixMonitor | None:
        """The MixMonitor running on the channel (it outlives this session: a Redirect)."""
        monitor: _MixMonitor | None = self.channel.monitor
        return monitor

    @_monitor.setter
    def _monitor(self, monitor: _MixMonitor | None) -> None:
        self.channel.monitor = monitor

    # ---- the caller -----------------------------------------------------------------------

    def caller_hangs_up(self) -> None:
        """The far end hangs up: the channel is torn down; the AGI learns it as Asterisk says."""
        if self.hung_up:
            return
        self.outcome.caller_hung_up = True
        self.switch.request_hangup(self.channel, 16)
        self.switch.hangup(self.channel, 16)

    def _unbridged(self) -> None:
        self._bridged_since = None
        if self._monitor is not None:
            self._monitor.deaf(self.clock.seconds())

    def _write_legs(self) -> None:
        """What MixMonitor leaves when it stops or the channel goes: the two legs (tones)."""
        self._unbridged()
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.write(self.clock.seconds())

    # ---- MixMonitor (EXEC, or the AMI actions through the switch) -------------------------

    def start_monitor(self, data: str) -> bool:
        """MixMonitor "file,options" on this channel; False when one already runs (Asterisk
        would start a second: ccbox never asks for that) or the options name no legs."""
        if self._monitor is not None:
            return False
        now = self.clock.seconds()
        self._monitor = _MixMonitor.parse(data, now, bridged=self._bridged_since is not None)
        return self._monitor is not None

    def stop_monitor(self) -> bool:
        if self._monitor is None:
            return False
        monitor, self._monitor = self._monitor, None
        monitor.write(self.clock.seconds())
        return True

    def mute_monitor(self, direction: str, on: bool) -> bool:
        if self._monitor is None:
            return False
        self._monitor.mute(direction, on, self.clock.seconds())
        return True

    def _channel_gone(self, _ch: SimChannel, _cause: int) -> None:
        """The channel hung up (the caller, or an AMI Hangup) while the AGI still runs."""
        self._write_legs()
        if self.hung_up:
            return
        self.hung_up = True
        self._cancel_dial()
        if self._busy:
            self._busy = False
            if self._pending is not None and self._pending.active():
                self._pending.cancel()
            self._pending = None
            if self._recording:
                self._send("200 result=-1 (hangup) endpos=0")
            else:
                self._send("200 result=-1 endpos=0" if self._streaming else "200 result=-1")
        self._send("HANGUP")
        self._drain()

    def _cancel_dial(self) -> None:
        rings, self._dialing = self._dialing, None
        if rings:
            self.variables["DIALSTATUS"] = "CANCEL"
        for ring in rings or ():
            ring.cancel()

    def redirected(self) -> None:
        """An AMI Redirect took the channel away: the command in progress ends and HANGUP
        follows (as in the bridged-call-and-spy trace); variables stay readable until the
        script closes the socket."""
        if self.hung_up:
            return
        self.hung_up = True
        self.outcome.redirected = True
        self.channel.on_hangup.remove(self._channel_gone)
        self._cancel_dial()
        if self._busy:
            self._reply("200 result=0")
        self._send("HANGUP")

    # ---- commands ---------------------------------------------------------------------------

    def lineReceived(self, line: bytes) -> None:
        if self._busy:
            if self._streaming and self._pending is not None and self._pending.active():
                # A new command stops the playback; the playback is never answered.
                self._pending.cancel()
                self._pending = None
                self._busy = False
            else:
                self._backlog.append(line)  # Asterisk reads it when the command ends
                return
        self._run(line)

    def _run(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        self.outcome.commands.append(text)
        try:
            words = shlex.split(text)
        except ValueError:
            self._send("520 Invalid command syntax.  Proper usage not available.")
            return
        upper = " ".join(words).upper()
        if self.hung_up and not upper.startswith(ALIVE_AFTER_HANGUP):
            self._send(DEAD)
            return
        self._streaming = self._recording = False
        for name, handler in self._COMMANDS:
            if upper == name or upper.startswith(name + " "):
                handler(self, words[len(name.split()) :])
                return
        self._send("510 Invalid or unknown command")

    def _send(self, text: str) -> None:
        if self.transport is not None:
            cast(Any, self.transport).write(text.encode() + b"\n")

    def _reply(self, text: str) -> None:
        """The reply of the command in progress (once: a hangup may have answered it)."""
        if self._busy and self._orphaned:
            self._busy = False
            if self.channel.alive:
                self.switch.hangup(self.channel, 16)
            return
        if self._busy:
            self._busy = False
            self._pending = None
            self._send(text)
            self._drain()

    def _drain(self) -> None:
        while self._backlog and not self._busy:
            self._run(self._backlog.pop(0))

    def _later(self, seconds: float, reply: str) -> None:
        self._busy = True
        if seconds <= 0:
            self._reply(reply)
            return
        self._pending = self.clock.callLater(seconds, self._reply, reply)

    def _answer(self, args: list[str]) -> None:
        self.switch.set_state(self.channel, UP)
        self._send("200 result=0")

    def _hangup(self, args: list[str]) -> None:
        self.outcome.script_hung_up = True
        self.hung_up = True
        self._send("200 result=1")
        self._send("HANGUP")
        self.switch.request_hangup(self.channel, 16, soft=True)
        self.clock.callLater(0, cast(Any, self.transport).loseConnection)

    def _press(self) -> str:
        digit = self._digits.pop(0)
        self.switch.dtmf(self.channel, digit)
        return digit

    def _stream(self, args: list[str]) -> None:
        escape = args[1] if len(args) > 1 else ""
        length = self.sound_lengths.get(args[0] if args else "", self.script.prompt_s)
        self._streaming = True
        if self._digits and self._digits[0] in escape:
            digit = self._press()
            self._later(
                min(length, self.script.prompt_s) / 2, f"200 result={ord(digit)} endpos=4000"
            )
        else:
            self._later(length, f"200 result=0 endpos={int(length * 8000)}")

    def _get_data(self, args: list[str]) -> None:
        """The caller types its digits; ``#`` ends the entry (and is not returned), as does
        the maximum length (``GET DATA file timeout max``)."""
        limit = int(args[2]) if len(args) > 2 and args[2].isdigit() else 1024
        pressed = ""
        while self._digits and len(pressed) < limit:
            digit = self._press()
            if digit == "#":
                break
            pressed += digit
        self._later(
            self.script.prompt_s, f"200 result={pressed}" if pressed else "200 result= (timeout)"
        )

    def _say(self, args: list[str]) -> None:
        """SAY NUMBER / SAY DIGITS: like a prompt, without endpos (as the traces show)."""
        escape = args[1] if len(args) > 1 else ""
        if self._digits and self._digits[0] in escape:
            self._later(self.script.prompt_s / 2, f"200 result={ord(self._press())}")
        else:
            self._later(self.script.prompt_s, "200 result=0")

    def _record(self, args: list[str]) -> None:
        """RECORD FILE path fmt escape timeout_ms ...: the caller speaks for ``message_s``,
        or presses an escape digit; a silent caller times out (``0 (timeout) endpos=0``)."""
        escape = args[2] if len(args) > 2 else ""
        timeout = int(args[3]) / 1000 if len(args) > 3 and args[3].lstrip("-").isdigit() else 0
        self.outcome.recorded.append(args[0] if args else "")
        self._recording = True
        speak = self.script.message_s
        if speak is not None and timeout > 0:
            speak = min(speak, timeout)
        if speak is not None and len(args) > 1 and args[1] == "wav":
            _write_message(args[0], speak)
        if self._digits and self._digits[0] in escape and speak is not None:
            self._later(speak, f"200 result={ord(self._press())} (dtmf) endpos={int(speak * 8000)}")
        elif speak is not None:
            # silence detection ends it 2 s after the caller stops, the limit at the latest
            end = speak + 2 if timeout <= 0 or speak < timeout else timeout
            self._later(end, f"200 result=0 (timeout) endpos={int(speak * 8000)}")
        else:
            self._later(max(timeout, 0), "200 result=0 (timeout) endpos=0")

    def _wait_digit(self, args: list[str]) -> None:
        if self._digits:
            self._send(f"200 result={ord(self._press())}")
            return
        timeout = int(args[0]) / 1000 if args and args[0].lstrip("-").isdigit() else 0
        self._later(max(timeout, 0), "200 result=0")

    def _get_variable(self, args: list[str]) -> None:
        name = args[0] if args else ""
        value = self.variables.get(name, self.switch.globals.get(name))
        self._send(f"200 result=1 ({value})" if value is not None else "200 result=0")

    def _set_variable(self, args: list[str]) -> None:
        if len(args) >= 2:
            self.variables[args[0]] = args[1]
        self._send("200 result=1")

    def _set_music(self, args: list[str]) -> None:
        on = bool(args) and args[0].lower() == "on"
        self.switch.music_on_hold(self.channel, on, args[1] if len(args) > 1 else "default")
        self._send("200 result=0")

    def _exec(self, args: list[str]) -> None:
        app = args[0].lower() if args else ""
        data = args[1] if len(args) > 1 else ""
        if self.hung_up:
            self._send("200 result=-1")
        elif app == "dial":
            self._dial(data)
        elif app == "mixmonitor":  # without r()/t() only the mixed file: no legs here
            self.start_monitor(data)
            self.switch.mixmonitor(self.channel, True)
            self._send("200 result=0")
        elif app == "stopmixmonitor":
            self.stop_monitor()
            self.switch.mixmonitor(self.channel, False)
            self._send("200 result=0")
        else:
            self._send("200 result=0")

    def _dial(self, data: str) -> None:
        """EXEC Dial(PJSIP/1001&PJSIP/1002,15): ring them all, the first answer wins, then
        stay in the bridge until one side hangs up."""
        parts = data.split(",")
        targets = [t for t in parts[0].split("&") if t]
        timeout = float(parts[1]) if len(parts) > 1 and parts[1].strip().isdigit() else 60.0
        self._busy = True
        ch = self.channel
        ch.application, ch.appdata = "Dial", data
        rings = [self.switch.dial(ch, t, timeout) for t in targets]
        statuses: list[str] = []
        self._dialing = rings

        def one_done(outcome: tuple[str, SimChannel | None], index: int) -> None:
            status, answered = outcome
            statuses.append(status)
            if self._dialing is not rings:
                return  # another device already answered, or the dial was cancelled
            if answered is not None:
                self._dialing = None
                self._bridged_since = self.clock.seconds()
                if self._monitor is not None:
                    self._monitor.hear(self._bridged_since)
                for i, ring in enumerate(rings):
                    if i != index:
                        ring.cancel()
                self.variables["DIALSTATUS"] = "ANSWER"
                self.variables["DIALEDPEERNAME"] = answered.name
                self.switch.bridge(ch, answered)
                self.switch.hang_up_after_talk(answered, targets[index])
                answered.on_hangup.append(lambda _c, _cause: self._unbridged())
                answered.on_hangup.append(lambda _c, _cause: self._reply("200 result=0"))
            elif len(statuses) == len(rings):
                self._dialing = None
                self.variables["DIALSTATUS"] = _worst(statuses)
                self._reply("200 result=0")

        for i, ring in enumerate(rings):
            ring.addCallback(one_done, i)
            ring.addErrback(lambda f: None)  # a cancelled ring: nothing more to do

    _COMMANDS: list[tuple[str, Any]] = []


# The conversation a bridged call's legs carry, over and over: the caller speaks (a 300 Hz
# tone on the r() leg), the agent answers a little before the caller is done (700 Hz on
# t()), then both are quiet. A recording of a simulated call so has the talk-over and
# silence a real one has (about 8 % and 11 % with the recorder's voice activity hangover),
# and each voice on its own leg.
TURN_S = 3.6
SPEAKING = {"read": (0.0, 1.5), "write": (1.4, 3.0)}  # seconds into each turn
_TONES = {"read": 300, "write": 700}  # whole periods in a turn: the tone runs on unbroken


@functools.cache
def _turn(leg: str) -> bytes:
    start, end = (int(s * 8000) for s in SPEAKING[leg])
    freq = _TONES[leg]
    return array(
        "h",
        (
            int(3000 * math.sin(2 * math.pi * freq * i / 8000)) if start <= i < end else 0
            for i in range(int(TURN_S * 8000))
        ),
    ).tobytes()


def conversation(leg: str, seconds: float) -> bytes:
    """``seconds`` of one leg of the conversation, 16-bit little-endian PCM at 8 kHz."""
    turn = _turn(leg)
    size = int(seconds * 8000) * 2
    return (turn * (size // len(turn) + 1))[:size]


@dataclass
class _MixMonitor:
    """MixMonitor on the channel (EXEC MixMonitor "file,options" or the AMI action): the r()
    and t() legs it writes when it stops (raw G.711 by their extension, the ``conversation``),
    only while bridged with the b option. MixMonitorMute turns a leg's spans into silence, as
    Asterisk's audiohook does (it keeps writing, zeroed: mu-law 0xFF, A-law 0xD5)."""

    rx: str
    tx: str
    bridged_only: bool
    started: float
    heard_s: float = 0.0  # seconds written so far, up to ``since``
    since: float | None = None  # hearing since then (bridged, or always without b)
    muted: dict[str, float] = field(default_factory=dict)  # direction -> position muted at
    mutes: list[tuple[str, float, float]] = field(default_factory=list)  # closed spans

    @classmethod
    def parse(cls, data: str, now: float, bridged: bool = False) -> _MixMonitor | None:
        _file, _, options = data.partition(",")
        rx, tx = re.search(r"r\(([^)]*)\)", options), re.search(r"t\(([^)]*)\)", options)
        if rx is None or tx is None:
            return None
        monitor = cls(rx.group(1), tx.group(1), "b" in options.split("r(")[0], now)
        if bridged or not monitor.bridged_only:
            monitor.since = now
        return monitor

    def position(self, now: float) -> float:
        """Where in the legs ``now`` falls."""
        return self.heard_s + (now - self.since if self.since is not None else 0.0)

    def hear(self, now: float) -> None:
        if self.since is None:
            self.since = now

    def deaf(self, now: float) -> None:
        """Unbridged: a b-option monitor stops writing until the next bridge."""
        if self.since is not None and self.bridged_only:
            self.heard_s, self.since = self.position(now), None

    def mute(self, direction: str, on: bool, now: float) -> None:
        """``direction`` read (the caller's voice, the r() leg), write (t()) or both."""
        at = self.position(now)
        for leg in ("read", "write") if direction == "both" else (direction,):
            if on:
                self.muted.setdefault(leg, at)
            elif leg in self.muted:
                self.mutes.append((leg, self.muted.pop(leg), at))

    def write(self, now: float) -> None:
        seconds = min(self.position(now), 3600)
        for leg in list(self.muted):
            self.mute(leg, False, now)
        for path, leg in ((self.rx, "read"), (self.tx, "write")):
            target = Path(path)
            law = target.suffix.lstrip(".")
            if not target.is_absolute() or not target.parent.is_dir() or law not in LAWS:
                continue
            if seconds <= 0:
                continue  # never bridged: Asterisk writes nothing
            frames = int(seconds * 8000)
            data = bytearray(LAWS[law](conversation(leg, seconds)))
            for which, start, end in self.mutes:
                if which == leg:
                    a, b = int(start * 8000), min(frames, int(end * 8000))
                    data[a:b] = SILENCE[law] * max(0, b - a)
            target.write_bytes(bytes(data))


def _write_message(path: str, seconds: float) -> None:
    """What Asterisk's RECORD FILE leaves on disk: ``<path>.wav``, 8 kHz 16-bit mono (here a
    quiet 440 Hz tone for the caller's voice). Only absolute paths into existing folders,
    as Asterisk needs."""
    target = Path(f"{path}.wav")
    if not target.is_absolute() or not target.parent.is_dir():
        return
    frames = int(min(seconds, 600) * 8000)
    tone = array("h", (int(3000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(80)))
    samples = (tone * (frames // 80 + 1))[:frames]
    with wave.open(str(target), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())


def _worst(statuses: list[str]) -> str:
    """Dial's DIALSTATUS over several devices: the most telling failure."""
    for status in ("CANCEL", "BUSY", "NOANSWER", "CONGESTION", "CHANUNAVAIL"):
        if status in statuses:
            return status
    return statuses[0] if statuses else "CHANUNAVAIL"


SimulatedCall._COMMANDS = [
    ("ANSWER", SimulatedCall._answer),
    ("HANGUP", SimulatedCall._hangup),
    ("STREAM FILE", SimulatedCall._stream),
    ("SAY NUMBER", SimulatedCall._say),
    ("SAY DIGITS", SimulatedCall._say),
    ("SAY DATE", SimulatedCall._say),
    ("RECORD FILE", SimulatedCall._record),
    ("GET DATA", SimulatedCall._get_data),
    ("WAIT FOR DIGIT", SimulatedCall._wait_digit),
    ("GET FULL VARIABLE", SimulatedCall._get_variable),
    ("GET VARIABLE", SimulatedCall._get_variable),
    ("SET VARIABLE", SimulatedCall._set_variable),
    ("EXEC", SimulatedCall._exec),
    ("SET MUSIC", SimulatedCall._set_music),
    ("CHANNEL STATUS", lambda self, args: self._send("200 result=6")),
    ("VERBOSE", lambda self, args: self._send("200 result=1")),
    ("NOOP", lambda self, args: self._send("200 result=0")),
]

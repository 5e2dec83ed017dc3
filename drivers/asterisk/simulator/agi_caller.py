"""The Asterisk side of FastAGI for simulated calls: connect, send the header, answer commands.

Replies follow the traces in shared/asterisk-traces and res/res_agi.c of Asterisk 22:

- Sounds come from the switch's ``SoundLibrary`` (sounds.py). STREAM FILE of a sound that
  is not installed answers ``200 result=-1 endpos=0`` at once and the channel stays up (no
  ``HANGUP`` line); GET DATA with such a prompt answers ``200 result=-1`` at once; SAY NUMBER
  / SAY DATE answer -1 when a ``digits/*`` file is missing, SAY DIGITS skips it.
- STREAM FILE, GET DATA and SAY watch the socket: a command line arriving while they run
  stops them and they are never answered (``res == 1`` / ``res == 2`` in res_agi.c). WAIT FOR
  DIGIT answers ``200 result=1`` when cut so (ast_waitfordigit_full returns 1). Other
  commands (EXEC, RECORD FILE) do not read the socket: a line sent meanwhile waits its turn.
- GET DATA answers the digits (``#`` ends the entry and is not returned, as does the maximum
  length); digits that stop coming answer ``result=<digits> (timeout)`` after the timeout
  (2 s between digits and 6 s for the first when the timeout is 0).
- EXEC Dial answers ``result=0`` for BUSY, NOANSWER, CONGESTION and CHANUNAVAIL; ``-1`` when
  the caller hangs up, when the channel is redirected while it rings (DIALSTATUS CANCEL), and
  when the agent hangs up first after talking unless Dial had the ``g`` option (then 0; the
  caller stays up either way). DIALSTATUS, DIALEDPEERNAME, ANSWEREDTIME (how long the caller's
  channel has been up) and DIALEDTIME are set as app_dial sets them. Dial's feature options
  land on ``SimChannel.features`` (``t`` on the agent's leg lets AMI Atxfer work).
- When the channel ends while in AGI (the caller hangs up, the AGI HANGUP command, an AMI
  Redirect), the command in progress answers ``-1`` (``result=1`` for HANGUP) and an
  unsolicited ``HANGUP`` line follows 40 ms later; a command the script sends meanwhile gets
  the ``HANGUP`` line at once and its reply 40 ms later. Channel commands then answer 511
  while GET VARIABLE, SET VARIABLE, VERBOSE, EXEC... still work. The socket stays open until
  the script closes it; Asterisk then writes one more ``HANGUP`` and closes.
- AGISTATUS: FAILURE after any command that failed on a live channel (a missing sound),
  SUCCESS after only good commands, nothing, or only 510/520; HANGUP when the channel ended
  first. It is set (a VarSet on AMI) when the script closes; with SUCCESS or FAILURE the
  dialplan goes on after AGI() (``Switch.agi_ended``), with HANGUP the channel hangs up, and a
  redirected channel only now runs its new context (a new FastAGI session there).

What the simulator cannot do as Asterisk would (a Dial option it does not model, a dialplan
function it does not know) raises ``SimulatorLimitation`` naming it, instead of answering.

Each call is a channel on a ``Switch`` (switch.py), which turns what happens into the AMI
events Asterisk would send: Newchannel, Newstate, DTMF, Dial*, Bridge*, MixMonitor*, Hangup.
"""

from __future__ import annotations

import functools
import math
import re
import wave
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from twisted.internet import defer, interfaces
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from zope.interface import implementer  # type: ignore[import-untyped]

from drivers.asterisk.simulator import snapshots as snap
from drivers.asterisk.simulator.snapshots import UP
from drivers.asterisk.simulator.switch import SimChannel, Switch
from drivers.audio import g711

LAWS = {"ulaw": g711.ulaw_encode, "alaw": g711.alaw_encode}
SILENCE = {"ulaw": b"\xff", "alaw": b"\xd5"}  # G.711 zero
log = Logger(namespace="ccbox.simulator")

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
HANGUP_LINE_DELAY_S = 0.04  # the HANGUP line after the reply that returned -1 (the traces)
NO_LIMIT_S = 86400.0  # Dial without a timeout rings until answered (a day, here)
# Dial's options the simulator models: g, S(n) and the feature letters; the rest change
# nothing it simulates (i: ignore forwarding, c: "answered elsewhere", e/F without a target).
_DIAL_FEATURES = "tThHkKwWxX"
_DIAL_NEUTRAL = "gSicm"  # m(class): music on hold while ringing (SimulatedCall._dial)
_VAR = re.compile(r"\$\{([^{}]*)\}")


class SimulatorLimitation(NotImplementedError):
    """The simulated Asterisk cannot do this as Asterisk would, so it refuses (loudly)."""


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
    agi_status: str = ""  # AGISTATUS once the script closed
    missing_sounds: list[str] = field(default_factory=list)  # played but not installed


@dataclass(frozen=True)
class DialArgs:
    """``Dial(targets,timeout,options)`` as app_dial reads it."""

    targets: list[str]
    timeout_s: float | None  # None: no limit
    options: dict[str, str]  # letter -> its argument ("" when none)

    @classmethod
    def parse(cls, data: str) -> DialArgs:
        parts = data.split(",")
        targets = [t for t in parts[0].split("&") if t] if parts else []
        timeout_s: float | None = None
        raw = parts[1].strip() if len(parts) > 1 else ""
        if raw:
            try:
                timeout_s = float(raw)
            except ValueError:
                timeout_s = None  # atof: 0, which app_dial takes as no limit
            if timeout_s is not None and timeout_s <= 0:
                timeout_s = None
        options = _parse_options(",".join(parts[2:]) if len(parts) > 2 else "")
        for letter in options:
            if letter not in _DIAL_FEATURES + _DIAL_NEUTRAL:
                raise SimulatorLimitation(f"Dial option {letter!r} is not simulated (Dial({data}))")
        if "S" in options and not options["S"].strip().isdigit():
            raise SimulatorLimitation(f"Dial option S needs whole seconds: S({options['S']})")
        return cls(targets, timeout_s, options)


def _parse_options(text: str) -> dict[str, str]:
    """ast_app_parse_options: letters, each with an optional ``(argument)``."""
    out: dict[str, str] = {}
    i = 0
    while i < len(text):
        letter = text[i]
        i += 1
        arg = ""
        if i < len(text) and text[i] == "(":
            end = text.find(")", i)
            if end < 0:
                raise SimulatorLimitation(f"Dial option {letter}( without its closing ')'")
            arg, i = text[i + 1 : end], end + 1
        out[letter] = arg
    return out


class _Usage(Exception):
    """The arguments do not fit the command: Asterisk answers 520 with the usage."""


@implementer(interfaces.IHalfCloseableProtocol)
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
        self.hung_up = False  # the channel ended for this AGI (dead mode: 511s)
        self.status = "SUCCESS"  # AGISTATUS so far
        self.language = "en"
        self._digits = list(script.digits)
        self._pending: Any = None  # the delayed reply of a command in progress
        self._busy = False  # a command is in progress (its reply not yet sent)
        self._cut: str | None = None  # how a new line ends it: "silent", "digit" (None: waits)
        self._dead_reply = "200 result=-1"  # what it answers if the channel ends under it
        self._playback = False  # STREAM FILE in progress: its reply sets PLAYBACKSTATUS
        self._music = False  # SET MUSIC ON is playing (a generator on the channel)
        self._last_reply = ""
        self._exec_id: str | None = None  # AGIExecStart sent, AGIExecEnd not yet
        self._exec_command = ""
        self._exec_name = ""
        self._started = 0.0  # when the command in progress began (endpos of a cut stream)
        self._backlog: list[bytes] = []  # commands sent while one was in progress
        self._hangup_line: Any = None  # the HANGUP line, due 40 ms after a -1 reply
        self._redirect: tuple[str, str, int] | None = None  # where an AMI Redirect sends us
        self._orphaned = False  # the AGI socket closed while Dial ran (the Dial goes on)
        self._dialing: list[defer.Deferred[Any]] | None = None  # the rings of EXEC Dial
        self._patience: Any = None
        self._closing = False
        self.sound_lengths: dict[str, float] = {}  # seconds; other sounds: prompt_s
        self._bridged_since: float | None = None
        self._up_at: float | None = channel.created if channel.state == UP else None

    @property
    def variables(self) -> dict[str, str]:
        return self.channel.variables

    # ---- connection -----------------------------------------------------------------------

    def connectionMade(self) -> None:
        """The header as Asterisk writes it (res_agi.c launch_netscript, setup_env): these
        keys in this order, every value raw (a caller name may hold a line break: so it goes
        out, as from a trunk), agi_network_script only for a script name."""
        s, ch = self.script, self.channel
        header = {
            "network": "yes",
            "network_script": self.agi_script,
            "request": f"agi://127.0.0.1:4573/{self.agi_script}",
            "channel": ch.name,
            "language": self.language,
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
            "priority": str(ch.priority),  # the AGI step's (the dialplan put it there)
            "enhanced": "0.0",
            "accountcode": "",
            "threadid": "140504281466560",
        }
        if not self.agi_script:
            del header["network_script"]
        if ch.agi_arg:  # AGI(agi://host/script) without arguments sends no agi_arg_1
            header["arg_1"] = ch.agi_arg
        lines = "".join(f"agi_{k}: {v}\n" for k, v in header.items()) + "\n"
        cast(Any, self.transport).write(lines.encode())
        if s.patience_s is not None:
            self._patience = self.clock.callLater(s.patience_s, self.caller_hangs_up)

    def readConnectionLost(self) -> None:
        """The script shut its write side: Asterisk writes one more HANGUP, then closes."""
        self._send("HANGUP")
        self._closing = True
        cast(Any, self.transport).loseConnection()

    def writeConnectionLost(self) -> None:
        cast(Any, self.transport).loseConnection()

    def connectionLost(self, reason: Any = None) -> None:
        self._closing = True
        for call in (self._pending, self._hangup_line):
            if call is not None and call.active():
                call.cancel()
        if self.channel.agi is self:
            self.channel.agi = None
            if self._busy and self.channel.application == "Dial" and not self.hung_up:
                # Asterisk's Dial goes on without the script (ccboxd restarting): when Dial
                # returns the AGI ends and the dialplan goes on; the caller may still leave.
                self._orphaned = True
                self._finish()
                return
            self._agi_returned()
        if self._patience is not None and self._patience.active():
            self._patience.cancel()
        self._finish()

    def _finish(self) -> None:
        if not self.finished.called:
            self.finished.callback(self.outcome)

    def _agi_returned(self) -> None:
        """The script closed: AGISTATUS is set, then the dialplan after AGI() (or the
        redirect target, or nothing: a hung-up channel)."""
        ch = self.channel
        self.outcome.agi_status = self.status
        if not ch.alive:
            return
        self._setvar("AGISTATUS", self.status)
        if self._redirect is not None:
            self.switch.enter(ch, *self._redirect)
        else:
            self.switch.agi_ended(ch, self.status)

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
        """The far end hangs up: HangupRequest, the bridge (if any) ends, the AGI learns it
        as Asterisk says (-1, then HANGUP). The channel's Hangup event comes only when the
        script closes the socket and the dialplan ends (queue-hold-missing-sound trace)."""
        ch = self.channel
        if self.hung_up or not ch.alive:
            return
        self.outcome.caller_hung_up = True
        ch.hangupcause = 16
        self.switch.request_hangup(ch, 16)
        self._torn_down()

    def hangup_requested(self, cause: int) -> None:
        """AMI Hangup of this channel (ast_channel_softhangup_withcause_locked): a cause
        above 0 becomes its HANGUPCAUSE (none given: it stays), no event yet (the soft
        hangup goes through ast_softhangup_nolock, which publishes nothing), the AGI learns
        it as for a caller hangup, and the Hangup event comes only once the script closes
        and the dialplan ends, as for any channel still in AGI."""
        ch = self.channel
        if self.hung_up or not ch.alive:
            return
        if cause > 0:
            ch.hangupcause = cause
        self._torn_down()

    def _torn_down(self) -> None:
        """The channel is hung up under the AGI: its MixMonitor closes, the command in
        progress answers -1 (HANGUP follows), the bridge ends and the other party goes."""
        self._write_legs()
        self._dead(cancel_dial=True)
        for other in self.switch.leave_bridge(self.channel):
            self.switch.request_hangup(other, 16)
            self.switch.hangup(other, 16)

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

    # ---- the channel ends under the AGI ----------------------------------------------------

    def _channel_gone(self, _ch: SimChannel, _cause: int) -> None:
        """The channel hung up (the caller, or an AMI Hangup) while the AGI still runs."""
        self._write_legs()
        if self.hung_up:
            return
        self._dead(cancel_dial=True)

    def redirected(self, context: str, exten: str, priority: int = 1) -> None:
        """An AMI Redirect took the channel away: the command in progress ends (Dial: -1
        while ringing, DIALSTATUS CANCEL; 0 when bridged) and HANGUP follows, as in the
        redirect-during-dial trace. Variables stay readable and the channel runs
        ``context,exten,priority`` only once the script closes the socket."""
        if self.hung_up:
            return
        self.outcome.redirected = True
        self._redirect = (context, exten, priority)
        if self._busy and self.channel.application == "Dial" and self._dialing is None:
            self._dead_reply = "200 result=0"  # bridged: the bridge ends, Dial returns 0
        self._dead(cancel_dial=True)

    def _dead(self, cancel_dial: bool) -> None:
        """Dead mode: the command in progress answers now, the HANGUP line follows."""
        self.hung_up = True
        if self.status == "SUCCESS":
            self.status = "HANGUP"
        if cancel_dial:
            self._cancel_dial()
        if self._busy and self._orphaned:
            self._busy = False
            self._agi_returned()  # nobody to tell: the AGI ends (AGISTATUS HANGUP)
            return
        if self._busy:
            if self._pending is not None and self._pending.active():
                self._pending.cancel()
            self._pending = None
            reply = self._dead_reply
            if "{endpos}" in reply:
                reply = reply.format(endpos=int((self.clock.seconds() - self._started) * 8000))
            self._busy = False
            self._send(reply)
            self._ended(reply)
            self._exec_ended(reply)
            self._hangup_line = self.clock.callLater(HANGUP_LINE_DELAY_S, self._hangup_now)
        else:
            self._hangup_now()

    def _hangup_now(self) -> None:
        """The unsolicited HANGUP line (once); commands that waited for it run after it."""
        if self._hangup_line is not None and self._hangup_line.active():
            self._hangup_line.cancel()
        self._hangup_line = None
        self._send("HANGUP")
        if self._backlog and not self._busy:
            self._busy = True  # the reply to a command sent meanwhile comes 40 ms later
            self._pending = self.clock.callLater(HANGUP_LINE_DELAY_S, self._resume)

    def _resume(self) -> None:
        self._busy = False
        self._pending = None
        self._drain()

    def _cancel_dial(self) -> None:
        rings, self._dialing = self._dialing, None
        if rings:
            self._setvar("DIALSTATUS", "CANCEL")
        for ring in rings or ():
            ring.cancel()

    # ---- commands ---------------------------------------------------------------------------

    def lineReceived(self, line: bytes) -> None:
        if self._closing:
            return
        if self._hangup_line is not None:
            self._backlog.append(line)
            self._hangup_now()
            return
        if self._busy:
            if self._cut is not None and self._pending is not None and self._pending.active():
                # The command reads the socket: a new line stops it (res_agi.c: res == 1).
                self._pending.cancel()
                self._pending = None
                self._busy = False
                if self._cut == "digit":
                    self._send("200 result=1")  # WAIT FOR DIGIT returns 1 when cut so
                self._exec_ended(None)
            else:
                self._backlog.append(line)  # Asterisk reads it when the command ends
                return
        self._run(line)

    def _run(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        self.outcome.commands.append(text)
        self._exec_start(text)
        words = parse_args(text)
        upper = [w.upper() for w in words]
        self._cut = None
        self._dead_reply = "200 result=-1"
        self._playback = False
        self._started = self.clock.seconds()
        for name, handler in self._COMMANDS:
            if upper[: len(name.split())] == name.split():
                if self.hung_up and not name.startswith(ALIVE_AFTER_HANGUP):
                    self._send(DEAD)
                    self._exec_end(511, DEAD[4:])
                    return
                self._exec_name = name
                try:
                    handler(self, words[len(name.split()) :])
                except _Usage as usage:
                    self._send("520-Invalid command syntax.  Proper usage follows:")
                    self._send(f"Usage: {name} {usage}")
                    self._send("520 End of proper usage.")
                    self._exec_end(520, "Usage")
                    return
                if not self._busy:
                    self._exec_ended(self._last_reply)
                return
        for name in _NOT_SIMULATED:
            if upper[: len(name.split())] == name.split():
                raise SimulatorLimitation(f"the AGI command {name} is not simulated")
        self._send("510 Invalid or unknown command")
        self._exec_end(510, "Invalid or unknown command")

    def _send(self, text: str) -> None:
        if text[:1].isdigit():
            self._last_reply = text
        if self.transport is not None:
            cast(Any, self.transport).write(text.encode() + b"\n")

    # ---- AGIExecStart / AGIExecEnd on AMI (agi_handle_command) ----------------------------

    def _exec_start(self, command: str) -> None:
        self._exec_id = str(self.switch.rng.randrange(1, 2**31))
        self._exec_command = command
        self._exec_name = ""
        self.switch.emit(
            snap.event(
                "AGIExecStart",
                "agi",
                self.channel.headers(),
                [("CommandId", self._exec_id), ("Command", command)],
            )
        )

    def _exec_end(self, code: int, result: str) -> None:
        if self._exec_id is None:
            return
        command_id, self._exec_id = self._exec_id, None
        self.switch.emit(
            snap.event(
                "AGIExecEnd",
                "agi",
                self.channel.headers(),
                [
                    ("CommandId", command_id),
                    ("Command", self._exec_command),
                    ("ResultCode", str(code)),
                    ("Result", result),
                ],
            )
        )

    def _exec_ended(self, reply: str | None) -> None:
        """The command's handler returned: RESULT_SUCCESS (200 Success), RESULT_FAILURE (-1
        Failure: a negative result of a playback or WAIT FOR DIGIT), or for EXEC the
        application's own return (0: Success, else 200 Unknown Result). ``reply`` None: cut
        by a new command (RESULT_SUCCESS)."""
        m = re.match(r"200 result=(-?\d+)", reply or "")
        value = int(m.group(1)) if m else 0
        if reply is not None and self._exec_name == "EXEC":
            self._exec_end(200, "Success" if value == 0 else "Unknown Result")
        elif reply is not None and self._exec_name in _FAIL_ON_NEGATIVE and value < 0:
            self._exec_end(-1, "Failure")
        else:
            self._exec_end(200, "Success")

    def _failed(self) -> None:
        """A command failed on a live channel (RESULT_FAILURE): AGISTATUS ends FAILURE."""
        self.status = "FAILURE"

    def _reply(self, text: str) -> None:
        """The reply of the command in progress (once: a hangup may have answered it)."""
        if self._busy and self._orphaned:
            # Dial returned to an AGI whose script has gone: the AGI ends (its socket is
            # closed) and the dialplan goes on after AGI(), as for any script that closed.
            self._busy = False
            self._agi_returned()
            return
        if self._busy:
            self._busy = False
            self._pending = None
            self._send(text)
            self._ended(text)
            self._exec_ended(text)
            self._drain()

    def _setvar(self, name: str, value: str) -> None:
        """Set a channel variable as pbx_builtin_setvar_helper does: with a VarSet event."""
        self.variables[name] = value
        ch = self.channel
        if not ch.alive:
            return  # its Hangup is out already: nothing more about it on AMI
        self.switch.emit(
            snap.event("VarSet", "dialplan", ch.headers(), [("Variable", name), ("Value", value)])
        )

    def _ended(self, reply: str) -> None:
        """After STREAM FILE's reply (not a cut one): PLAYBACKSTATUS, as a VarSet on AMI;
        res_agi.c sets FAILED for any result but 0 (a digit pressed too)."""
        if not self._playback:
            return
        self._playback = False
        status = "SUCCESS" if reply.startswith("200 result=0 ") else "FAILED"
        self._setvar("PLAYBACKSTATUS", status)

    def _drain(self) -> None:
        while self._backlog and not self._busy and self._hangup_line is None:
            self._run(self._backlog.pop(0))

    def _later(self, seconds: float, reply: str, cut: str | None = None) -> None:
        """Answer ``reply`` after ``seconds``; ``cut``: how a new command line ends it."""
        self._busy = True
        self._cut = cut
        if seconds <= 0:
            self._reply(reply)
            return
        self._pending = self.clock.callLater(seconds, self._reply, reply)

    def _sound(self, name: str) -> bool:
        """Is ``name`` installed (as Asterisk would find it for this channel's language)?"""
        if self.switch.sounds.exists(name, self.language):
            return True
        self.outcome.missing_sounds.append(name)
        return False

    def _length(self, name: str) -> float:
        return self.sound_lengths.get(name, self.script.prompt_s)

    def _answer(self, args: list[str]) -> None:
        self.switch.set_state(self.channel, UP)
        if self._up_at is None:
            self._up_at = self.clock.seconds()
        self._send("200 result=0")

    def _hangup(self, args: list[str]) -> None:
        """AGI HANGUP: ``result=1``, the HANGUP line 40 ms later; the channel hangs up once
        the script closes (the dialplan after AGI does not run)."""
        if len(args) > 1:
            raise _Usage("[<channelname>]")
        if args and args[0] != self.channel.name:
            raise SimulatorLimitation("AGI HANGUP of another channel is not simulated")
        self.outcome.script_hung_up = True
        self.switch.request_hangup(self.channel, 32, soft=True)
        self._busy = True
        self._dead_reply = "200 result=1"
        self._dead(cancel_dial=False)

    def _press(self) -> str:
        digit = self._digits.pop(0)
        self.switch.dtmf(self.channel, digit)
        return digit

    def _stream(self, args: list[str]) -> None:
        """STREAM FILE name escape [offset] (the escape digits are not optional)."""
        if len(args) not in (2, 3) or (len(args) == 3 and not _is_int(args[2])):
            raise _Usage("<filename> <escape_digits> [sample offset]")
        name, escape = args[0], args[1]
        offset = int(args[2]) if len(args) == 3 else 0
        self._stop_music()
        if not self._sound(name):
            self._send(f"200 result=-1 endpos={offset}")
            self._failed()
            return
        length = self._length(name)
        self._dead_reply = "200 result=-1 endpos={endpos}"
        self._playback = True
        if self._digits and self._digits[0] in escape:
            digit = self._press()
            self._later(
                min(length, self.script.prompt_s) / 2,
                f"200 result={ord(digit)} endpos=4000",
                cut="silent",
            )
        else:
            self._later(length, f"200 result=0 endpos={int(length * 8000)}", cut="silent")

    def _get_data(self, args: list[str]) -> None:
        """GET DATA file [timeout_ms [max]]: the prompt (a missing one answers -1 at once),
        then the caller's digits; ``#`` ends the entry (and is not returned), as does the
        maximum length; otherwise the timeout does: ``result=<digits> (timeout)``."""
        if not args:
            raise _Usage("<file to be streamed> [timeout] [max digits]")
        prompt = args[0]
        timeout = _atoi(args[1]) if len(args) > 1 else 0
        limit = _atoi(args[2]) if len(args) > 2 else 1024
        if prompt:
            self._stop_music()
        if prompt and not self._sound(prompt):
            self._send("200 result=-1")  # GET DATA's failure is no AGI failure
            return
        first, between = (timeout, timeout) if timeout > 0 else (6000, 2000)
        if timeout < 0:
            first = between = 1_000_000_000
        if limit <= 0:
            self._send("200 result=-1")
            return
        pressed, ended = "", False
        while self._digits and len(pressed) < limit:
            digit = self._press()
            if digit == "#":
                ended = True
                break
            pressed += digit
        play = self.script.prompt_s if prompt else 0.0
        if ended or len(pressed) >= limit:
            self._later(play, f"200 result={pressed}", cut="silent")
        else:
            wait = (between if pressed else first) / 1000
            self._later(play + wait, f"200 result={pressed} (timeout)", cut="silent")

    def _say(self, files: list[str], escape: str, missing_fails: bool) -> None:
        """Play ``files`` in turn, as say.c does: a missing one fails the command (-1) or,
        for SAY DIGITS, was left out beforehand."""
        if files:
            self._stop_music()
        for name in files:
            if not self._sound(name) and missing_fails:
                self._send("200 result=-1")
                self._failed()
                return
        if not files:
            self._send("200 result=0")
            return
        if self._digits and self._digits[0] in escape:
            self._later(self.script.prompt_s / 2, f"200 result={ord(self._press())}", "silent")
        else:
            self._later(self.script.prompt_s, "200 result=0", cut="silent")

    def _say_number(self, args: list[str]) -> None:
        if len(args) not in (2, 3) or not _is_int(args[0]):
            raise _Usage("<number> <escape digits> [gender]")
        number = int(args[0])
        if number == 0:
            files = [f for f in _digit_files("0") if self.switch.sounds.exists(f, self.language)]
            self._say(files, args[1], missing_fails=True)
            return
        self._say(_number_files(number), args[1], missing_fails=True)

    def _say_digits(self, args: list[str]) -> None:
        if len(args) != 2 or not _is_int(args[0]):
            raise _Usage("<number> <escape digits>")
        known = [f for f in _digit_files(args[0]) if self.switch.sounds.exists(f, self.language)]
        self._say(known, args[1], missing_fails=False)

    def _say_date(self, args: list[str]) -> None:
        if len(args) != 2 or not _is_int(args[0]):
            raise _Usage("<date> <escape digits>")
        import datetime

        day = datetime.datetime.fromtimestamp(int(args[0]), datetime.UTC)
        files = [f"digits/day-{(day.weekday() + 1) % 7}", f"digits/mon-{day.month - 1}"]
        files += _number_files(day.day) + _number_files(day.year)
        self._say(files, args[1], missing_fails=True)

    def _record(self, args: list[str]) -> None:
        """RECORD FILE path fmt escape timeout_ms ...: the caller speaks for ``message_s``,
        or presses an escape digit; a silent caller times out (``0 (timeout) endpos=0``)."""
        if len(args) < 4:
            raise _Usage("<filename> <format> <escape digits> <timeout> [offset samples] [BEEP]")
        escape = args[2]
        timeout = int(args[3]) / 1000 if args[3].lstrip("-").isdigit() else 0
        self.outcome.recorded.append(args[0])
        self._dead_reply = "200 result=-1 (hangup) endpos=0"
        speak = self.script.message_s
        if speak is not None and timeout > 0:
            speak = min(speak, timeout)
        if speak is not None and args[1] == "wav" and not _write_message(args[0], speak):
            self._send("200 result=-1 (writefile)")
            return
        if self._digits and self._digits[0] in escape and speak is not None:
            self._later(speak, f"200 result={ord(self._press())} (dtmf) endpos={int(speak * 8000)}")
        elif speak is not None:
            # silence detection ends it 2 s after the caller stops, the limit at the latest
            end = speak + 2 if timeout <= 0 or speak < timeout else timeout
            self._later(end, f"200 result=0 (timeout) endpos={int(speak * 8000)}")
        else:
            self._later(max(timeout, 0), "200 result=0 (timeout) endpos=0")

    def _wait_digit(self, args: list[str]) -> None:
        if len(args) != 1 or not _is_int(args[0]):
            raise _Usage("<timeout>")
        if self._digits:
            self._send(f"200 result={ord(self._press())}")
            return
        timeout = int(args[0]) / 1000
        if timeout < 0:  # ast_waitfordigit_full waits for ever: a key, a hangup or a cut
            timeout = NO_LIMIT_S
        self._later(max(timeout, 0), "200 result=0", cut="digit")

    def _value(self, name: str) -> str | None:
        """A variable, a global, or one of the few dialplan functions the simulator knows."""
        if name.endswith(")") and "(" in name:
            func, _, arg = name[:-1].partition("(")
            ch = self.channel
            known = {
                ("CHANNEL", "name"): ch.name,
                ("CHANNEL", "uniqueid"): ch.uniqueid,
                ("CHANNEL", "linkedid"): ch.linkedid,
                ("CHANNEL", "language"): self.language,
                ("CALLERID", "num"): ch.caller_num,
                ("CALLERID", "name"): ch.caller_name,
            }
            if (func.upper(), arg) not in known:
                raise SimulatorLimitation(f"the dialplan function {name} is not simulated")
            return known[(func.upper(), arg)]
        value = self.variables.get(name, self.switch.globals.get(name))
        ch = self.channel
        builtin = {
            "UNIQUEID": ch.uniqueid,
            "CHANNEL": ch.name,
            "EXTEN": ch.exten,
            "CONTEXT": ch.context,
            "HANGUPCAUSE": str(ch.hangupcause),
        }
        return builtin[name] if value is None and name in builtin else value

    def _get_variable(self, args: list[str]) -> None:
        if len(args) != 1:
            raise _Usage("<variablename>")
        value = self._value(args[0])
        self._send(f"200 result=1 ({value})" if value is not None else "200 result=0")

    def _get_full_variable(self, args: list[str]) -> None:
        """GET FULL VARIABLE expr [channel]: ``${...}`` substituted, unset ones empty."""
        if len(args) not in (1, 2):
            raise _Usage("<expression> [<channelname>]")
        if len(args) == 2 and args[1] != self.channel.name:
            raise SimulatorLimitation("GET FULL VARIABLE on another channel is not simulated")
        text = _VAR.sub(lambda m: self._value(m.group(1)) or "", args[0])
        self._send(f"200 result=1 ({text})")

    def _set_variable(self, args: list[str]) -> None:
        if len(args) != 2:
            raise _Usage("<variablename> <value>")
        if args[0] == "CHANNEL(language)":
            self.language = args[1]
        elif args[0].endswith(")"):
            raise SimulatorLimitation(f"setting the dialplan function {args[0]} is not simulated")
        else:
            self._setvar(args[0], args[1])
        self._send("200 result=1")

    def _set_music(self, args: list[str]) -> None:
        if not args or len(args) > 2 or args[0].lower() not in ("on", "off"):
            raise _Usage("<on|off> <class>")
        on = args[0].lower() == "on"
        if on or self._music:
            self.switch.music_on_hold(self.channel, on, args[1] if len(args) > 1 else "default")
        self._music = on
        self._send("200 result=0")

    def _dial_music(self, dial: DialArgs) -> None:
        """What app_dial does to the caller's music when it starts ringing: ``m(class)``
        (re)starts music on hold in that class (the running generator is released first:
        MusicOnHoldStop, then MusicOnHoldStart); without m or r, one target only, the
        generator is deactivated (its release says MusicOnHoldStop); several targets keep
        what plays until one answers."""
        if "m" in dial.options:
            self._stop_music()
            self.switch.music_on_hold(self.channel, True, dial.options["m"] or "default")
            self._music = True
        elif len(dial.targets) == 1:
            self._stop_music()

    def _stop_music(self) -> None:
        """Opening a sound stops the channel's generator, music on hold included, before the
        file is even looked for (main/file.c openstream_internal): music that SET MUSIC
        started does not come back after a prompt."""
        if self._music:
            self._music = False
            self.switch.music_on_hold(self.channel, False)

    def _channel_status(self, args: list[str]) -> None:
        if len(args) > 1:
            raise _Usage("[<channelname>]")
        if args and args[0] != self.channel.name:
            other = self.switch.find(args[0])
            self._send(f"200 result={other.state}" if other is not None else "200 result=-1")
            return
        self._send(f"200 result={self.channel.state}")

    def _verbose(self, args: list[str]) -> None:
        if len(args) not in (1, 2):
            raise _Usage("<message> <level>")
        self._send("200 result=1")

    def _exec(self, args: list[str]) -> None:
        if not args:
            raise _Usage("<application> <options>")
        app = args[0].lower()
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
        elif app in ("noop", "set", "verbose", "log"):
            if app == "set":
                key, _, value = data.partition("=")
                self._setvar(key, value)
            self._send("200 result=0")
        else:
            raise SimulatorLimitation(f"EXEC {args[0]} is not simulated")

    def _dial(self, data: str) -> None:
        """EXEC Dial(PJSIP/1001&PJSIP/1002,15,g): ring them all, the first answer wins, then
        stay in the bridge until one side hangs up (see the module docstring for results)."""
        dial = DialArgs.parse(data)
        ch = self.channel
        for name in ("DIALSTATUS", "DIALEDPEERNAME", "ANSWEREDTIME", "ANSWEREDTIME_MS"):
            self._setvar(name, "")
        for name in ("DIALEDTIME", "DIALEDTIME_MS", "RINGTIME", "PROGRESSTIME"):
            self._setvar(name, "")
        if not dial.targets:
            self._send("200 result=-1")  # "Dial requires an argument"
            return
        self._busy = True
        ch.application, ch.appdata = "Dial", data
        self._dial_music(dial)
        timeout = dial.timeout_s if dial.timeout_s is not None else NO_LIMIT_S
        rings = [self.switch.dial(ch, t, timeout) for t in dial.targets]
        statuses: list[str] = []
        self._dialing = rings

        def durations() -> None:
            now = self.clock.seconds()
            up = now - self._up_at if self._up_at is not None else 0.0
            for name, seconds in (("ANSWEREDTIME", up), ("DIALEDTIME", now - ch.created)):
                self._setvar(name, str(int(seconds)))
                self._setvar(f"{name}_MS", str(int(seconds * 1000)))

        def agent_gone(_c: SimChannel, cause: int) -> None:
            self._unbridged()
            if not ch.alive or self.hung_up:
                return  # the caller went first: it answered -1 already
            durations()
            ch.hangupcause = cause
            self._reply("200 result=0" if "g" in dial.options else "200 result=-1")

        def one_done(outcome: tuple[str, SimChannel | None], index: int) -> None:
            status, answered = outcome
            statuses.append(status)
            if self._dialing is not rings:
                return  # another device already answered, or the dial was cancelled
            if answered is not None:
                self._dialing = None
                self._stop_music()  # app_dial: ast_moh_stop, then no generator left
                self._bridged_since = self.clock.seconds()
                if self._up_at is None:  # Dial answers the caller when the agent answers
                    self._up_at = self._bridged_since
                if self._monitor is not None:
                    self._monitor.hear(self._bridged_since)
                for i, ring in enumerate(rings):
                    if i != index:
                        ring.cancel()
                self._setvar("DIALSTATUS", "ANSWER")
                self._setvar("DIALEDPEERNAME", answered.name)
                answered.features |= {o for o in dial.options if o in _DIAL_FEATURES.lower()}
                ch.features |= {o.lower() for o in dial.options if o in _DIAL_FEATURES.upper()}
                self.switch.bridge(ch, answered)
                self.switch.hang_up_after_talk(answered, dial.targets[index])
                if "S" in dial.options:
                    timer = self.clock.callLater(
                        int(dial.options["S"]), self.switch.hangup, answered, 16
                    )
                    answered.on_hangup.append(lambda *_: timer.cancel() if timer.active() else None)
                answered.on_hangup.append(agent_gone)
            elif len(statuses) == len(rings):
                self._dialing = None
                if "m" in dial.options:
                    self._stop_music()  # app_dial's end: ast_moh_stop
                status = _worst(statuses)
                self._setvar("DIALSTATUS", status)
                ch.hangupcause = _CAUSES.get(status, 0)
                self._reply("200 result=0")

        for i, ring in enumerate(rings):
            ring.addCallback(one_done, i)
            ring.addErrback(lambda f: None)  # a cancelled ring: nothing more to do

    _COMMANDS: list[tuple[str, Any]] = []


# Asterisk 22's other AGI commands (res_agi.c's table): known to Asterisk, not simulated.
_NOT_SIMULATED = (
    "ASYNCAGI BREAK",
    "CONTROL STREAM FILE",
    "DATABASE",
    "GET OPTION",
    "GOSUB",
    "RECEIVE CHAR",
    "RECEIVE TEXT",
    "SAY ALPHA",
    "SAY DATETIME",
    "SAY PHONETIC",
    "SAY TIME",
    "SEND IMAGE",
    "SEND TEXT",
    "SET AUTOHANGUP",
    "SET CALLERID",
    "SET CONTEXT",
    "SET EXTENSION",
    "SET PRIORITY",
    "SPEECH",
    "TDD MODE",
)
# Commands whose handler returns RESULT_FAILURE on a negative result (res_agi.c).
_FAIL_ON_NEGATIVE = (
    "STREAM FILE",
    "SAY NUMBER",
    "SAY DIGITS",
    "SAY DATE",
    "WAIT FOR DIGIT",
    "RECORD FILE",
)
_CAUSES = {"BUSY": 17, "CHANUNAVAIL": 20}  # HANGUPCAUSE after an unanswered Dial (else 0)


def parse_args(line: str) -> list[str]:
    """res_agi.c's parse_args: words split on spaces and tabs only (a CR stays in the last
    word), ``"`` toggles quoting anywhere (``""`` is an empty word), ``\\`` escapes the next
    character; never an error. At most 127 words, as MAX_ARGS allows."""
    words: list[str] = []
    current: list[str] | None = None
    quoted = escaped = False
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and current is None:
                current = []
                words.append("")
            continue
        if ch in " \t" and not quoted and not escaped:
            if current is not None:
                words[-1] = "".join(current)
            current = None
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if current is None:
            if len(words) >= 127:
                escaped = False
                continue  # "Too many arguments, truncating"
            current = []
            words.append("")
        current.append(ch)
        escaped = False
    if current is not None:
        words[-1] = "".join(current)
    return words


def _is_int(text: str) -> bool:
    return bool(re.fullmatch(r"\s*[-+]?\d+", text))


def _atoi(text: str) -> int:
    m = re.match(r"\s*([-+]?\d+)", text)
    return int(m.group(1)) if m else 0


def _digit_files(digits: str) -> list[str]:
    """ast_get_digit_str: one file per digit (and * # -)."""
    names = {"*": "digits/star", "#": "digits/pound", "-": "digits/minus"}
    return [names.get(c, f"digits/{c}") for c in digits if c.isdigit() or c in names]


def _number_files(num: int) -> list[str]:
    """get_number_str_en: the files SAY NUMBER plays for ``num`` in English."""
    files: list[str] = []
    if num < 0:
        files.append("digits/minus")
        num = -num
    if num == 0:
        return files or ["digits/0"]
    for size, word in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if num >= size:
            files += [*_number_files(num // size), f"digits/{word}"]
            num %= size
    if num >= 100:
        files += [f"digits/{num // 100}", "digits/hundred"]
        num %= 100
    if num >= 20:
        files.append(f"digits/{num // 10 * 10}")
        num %= 10
    if num:
        files.append(f"digits/{num}")
    return files


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
            try:
                target.write_bytes(bytes(data))
            except OSError as exc:  # a full disk: Asterisk's audiohook writes what fits, goes on
                log.warn("Simulator: MixMonitor could not write {path}: {why}", path=path, why=exc)


def _write_message(path: str, seconds: float) -> bool:
    """What Asterisk's RECORD FILE leaves on disk: ``<path>.wav``, 8 kHz 16-bit mono (here a
    quiet 440 Hz tone for the caller's voice). Only absolute paths into existing folders,
    as Asterisk needs. False when the file cannot be created (res_agi.c answers
    ``(writefile)``); a write that fails later (a full disk) leaves what fitted, as
    ast_writestream's unchecked failures do, and the recording goes on."""
    target = Path(f"{path}.wav")
    if not target.is_absolute() or not target.parent.is_dir():
        return True
    frames = int(min(seconds, 600) * 8000)
    tone = array("h", (int(3000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(80)))
    samples = (tone * (frames // 80 + 1))[:frames]
    try:
        out = target.open("wb")
    except OSError as exc:
        log.warn("Simulator: RECORD FILE cannot create {path}: {why}", path=target, why=exc)
        return False
    try:
        with out, wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(samples.tobytes())
    except OSError as exc:
        log.warn("Simulator: RECORD FILE could not write {path}: {why}", path=target, why=exc)
    return True


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
    ("SAY NUMBER", SimulatedCall._say_number),
    ("SAY DIGITS", SimulatedCall._say_digits),
    ("SAY DATE", SimulatedCall._say_date),
    ("RECORD FILE", SimulatedCall._record),
    ("GET DATA", SimulatedCall._get_data),
    ("WAIT FOR DIGIT", SimulatedCall._wait_digit),
    ("GET FULL VARIABLE", SimulatedCall._get_full_variable),
    ("GET VARIABLE", SimulatedCall._get_variable),
    ("SET VARIABLE", SimulatedCall._set_variable),
    ("EXEC", SimulatedCall._exec),
    ("SET MUSIC", SimulatedCall._set_music),
    ("CHANNEL STATUS", SimulatedCall._channel_status),
    ("VERBOSE", SimulatedCall._verbose),
    ("NOOP", lambda self, args: self._send("200 result=0")),
]

"""The Asterisk side of FastAGI for simulated calls: connect, send the header, answer commands.

Replies follow the traces in shared/asterisk-traces: STREAM FILE answers ``result=0`` or the
ASCII code of a pressed digit with ``endpos``; GET DATA answers the digits (``(timeout)``
when none); WAIT FOR DIGIT answers 0 on timeout; EXEC Dial answers 0 and leaves the outcome
in DIALSTATUS; when the caller hangs up, the command in progress answers ``result=-1``, an
unsolicited ``HANGUP`` line follows, and later channel commands answer 511 while GET
VARIABLE, SET VARIABLE and VERBOSE still work. HANGUP from the script answers
``result=1``, then ``HANGUP``, then the socket closes.
"""

from __future__ import annotations

import itertools
import shlex
from dataclasses import dataclass, field
from typing import Any, cast

from twisted.internet import defer
from twisted.protocols.basic import LineOnlyReceiver

DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
ALIVE_AFTER_HANGUP = ("GET VARIABLE", "GET FULL VARIABLE", "SET VARIABLE", "VERBOSE", "NOOP")
_uniqueids = itertools.count(1)


@dataclass
class CallerScript:
    """How the simulated caller behaves."""

    caller_number: str = "13800138000"
    caller_name: str = "Zhang San"
    dialed: str = "4008001234"
    digits: str = ""  # pressed one at a time when the call asks for input
    patience_s: float | None = None  # hangs up after this long (None: waits for the script)
    prompt_s: float = 0.0  # how long each prompt plays
    agent_answers: bool = True  # what EXEC Dial of an agent gives


@dataclass
class CallOutcome:
    uniqueid: str
    commands: list[str] = field(default_factory=list)
    caller_hung_up: bool = False
    script_hung_up: bool = False


class SimulatedCall(LineOnlyReceiver):
    delimiter = b"\n"

    def __init__(
        self, clock: Any, script: CallerScript, agi_script: str = "inbound", epoch: int = 1795353000
    ) -> None:
        self.clock = clock
        self.script = script
        self.agi_script = agi_script
        self.uniqueid = f"{epoch}.{next(_uniqueids)}"
        self.outcome = CallOutcome(self.uniqueid)
        self.finished: defer.Deferred[CallOutcome] = defer.Deferred()
        self.variables: dict[str, str] = {}
        self.hung_up = False
        self._digits = list(script.digits)
        self._pending: Any = None  # the delayed reply of a command in progress
        self._streaming = False  # the command in progress answers with endpos
        self._patience: Any = None

    # ---- connection -----------------------------------------------------------------------

    def connectionMade(self) -> None:
        s = self.script
        header = {
            "network": "yes",
            "network_script": self.agi_script,
            "request": f"agi://127.0.0.1:4573/{self.agi_script}",
            "channel": f"DAHDI/1-{self.uniqueid.split('.')[1]}",
            "language": "en",
            "type": "DAHDI",
            "uniqueid": self.uniqueid,
            "version": "22.10.1",
            "callerid": s.caller_number or "unknown",
            "calleridname": s.caller_name or "unknown",
            "callingpres": "0",
            "callingani2": "0",
            "callington": "0",
            "callingtns": "0",
            "dnid": s.dialed or "unknown",
            "rdnis": "unknown",
            "context": "ccbox-inbound",
            "extension": s.dialed,
            "priority": "2",
            "enhanced": "0.0",
            "accountcode": "",
            "threadid": "140504281466560",
            "arg_1": s.dialed,
        }
        lines = "".join(f"agi_{k}: {v}\n" for k, v in header.items()) + "\n"
        cast(Any, self.transport).write(lines.encode())
        if s.patience_s is not None:
            self._patience = self.clock.callLater(s.patience_s, self.caller_hangs_up)

    def connectionLost(self, reason: Any = None) -> None:
        for call in (self._pending, self._patience):
            if call is not None and call.active():
                call.cancel()
        if not self.finished.called:
            self.finished.callback(self.outcome)

    # ---- the caller ---------------------------------------------------------------------------

    def caller_hangs_up(self) -> None:
        if self.hung_up:
            return
        self.hung_up = True
        self.outcome.caller_hung_up = True
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
            self._pending = None
            self._send("200 result=-1 endpos=0" if self._streaming else "200 result=-1")
        self._send("HANGUP")

    # ---- commands ---------------------------------------------------------------------------

    def lineReceived(self, line: bytes) -> None:
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
        self._streaming = False
        for name, handler in self._COMMANDS:
            if upper == name or upper.startswith(name + " "):
                handler(self, words[len(name.split()) :])
                return
        self._send("510 Invalid or unknown command")

    def _send(self, text: str) -> None:
        if self.transport is not None:
            cast(Any, self.transport).write(text.encode() + b"\n")

    def _later(self, seconds: float, reply: str) -> None:
        if seconds <= 0:
            self._send(reply)
            return

        def fire() -> None:
            self._pending = None
            self._send(reply)

        self._pending = self.clock.callLater(seconds, fire)

    def _answer(self, args: list[str]) -> None:
        self._send("200 result=0")

    def _hangup(self, args: list[str]) -> None:
        self.outcome.script_hung_up = True
        self.hung_up = True
        self._send("200 result=1")
        self._send("HANGUP")
        self.clock.callLater(0, cast(Any, self.transport).loseConnection)

    def _stream(self, args: list[str]) -> None:
        escape = args[1] if len(args) > 1 else ""
        self._streaming = True
        if self._digits and self._digits[0] in escape:
            digit = self._digits.pop(0)
            self._later(self.script.prompt_s / 2, f"200 result={ord(digit)} endpos=4000")
        else:
            self._later(self.script.prompt_s, "200 result=0 endpos=8000")

    def _get_data(self, args: list[str]) -> None:
        pressed = "".join(self._digits)
        self._digits.clear()
        self._later(
            self.script.prompt_s, f"200 result={pressed}" if pressed else "200 result= (timeout)"
        )

    def _wait_digit(self, args: list[str]) -> None:
        if self._digits:
            self._send(f"200 result={ord(self._digits.pop(0))}")
            return
        timeout = int(args[0]) / 1000 if args and args[0].lstrip("-").isdigit() else 0
        self._later(max(timeout, 0), "200 result=0")

    def _get_variable(self, args: list[str]) -> None:
        name = args[0] if args else ""
        value = self.variables.get(name)
        self._send(f"200 result=1 ({value})" if value is not None else "200 result=0")

    def _set_variable(self, args: list[str]) -> None:
        if len(args) >= 2:
            self.variables[args[0]] = args[1]
        self._send("200 result=1")

    def _exec(self, args: list[str]) -> None:
        app = args[0].lower() if args else ""
        if app == "dial":
            self.variables["DIALSTATUS"] = "ANSWER" if self.script.agent_answers else "NOANSWER"
        self._send("200 result=0")

    _COMMANDS: list[tuple[str, Any]] = []


SimulatedCall._COMMANDS = [
    ("ANSWER", SimulatedCall._answer),
    ("HANGUP", SimulatedCall._hangup),
    ("STREAM FILE", SimulatedCall._stream),
    ("GET DATA", SimulatedCall._get_data),
    ("WAIT FOR DIGIT", SimulatedCall._wait_digit),
    ("GET FULL VARIABLE", SimulatedCall._get_variable),
    ("GET VARIABLE", SimulatedCall._get_variable),
    ("SET VARIABLE", SimulatedCall._set_variable),
    ("EXEC", SimulatedCall._exec),
    ("SET MUSIC", lambda self, args: self._send("200 result=0")),
    ("CHANNEL STATUS", lambda self, args: self._send("200 result=6")),
    ("VERBOSE", lambda self, args: self._send("200 result=1")),
    ("NOOP", lambda self, args: self._send("200 result=0")),
]

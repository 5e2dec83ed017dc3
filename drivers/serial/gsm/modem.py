"""A GSM modem on a serial port: SMS in PDU mode over AT commands, in the reactor.

``GsmModem`` is the line protocol of one connection, an explicit state machine on two
levels. The modem's ``state``: absent -> initialising -> ready (or pin_required / error).
The command phase: idle -> waiting for the result (-> waiting for the "> " prompt -> waiting
for the send's result) -> idle. One command is in flight at a time, the rest wait in a
queue; every command has a deadline on the reactor's clock, and any error, ``+CME ERROR``,
``+CMS ERROR`` or silence fails that command with ``ModemError`` and takes the phase back to
idle, so the next command runs. Unsolicited lines (+CMTI, +CMT, +CDS, RING, ...) may come
between a command and its answer and are handled on the side.

Inbound SMS are stored by the modem and announced (+CMTI, AT+CNMI=2,1,0,1,0): the driver
reads (AT+CMGR) each and deletes it (AT+CMGD) only once ``on_sms`` (which may return a
Deferred: the inbox's database write) fired; a failed store leaves it on the SIM and the
SIM is read again (AT+CMGL=4) ``reread_s`` later, as at every start, so a message waits on
the SIM while the box or its database is down. Delivery reports come directly (+CDS) and
are acknowledged (AT+CNMA) when the modem runs phase 2+ (AT+CSMS? says 1); an SMS that
came directly (+CMT, from a modem that ignores <mt>=1) is acknowledged once stored, and
refused (AT+CNMA=2, RP-ERROR) when the store failed, so the network sends it again
(TS 27.005 3.4.4: a store slower than the modem's acknowledgement timeout gets the same
RP-ERROR from the modem; the driver then switches routing on again).

``GsmModemService`` keeps one modem open through a ``SerialLink``: unplugged -> "absent";
replugged -> a new ``GsmModem`` that initialises from scratch. Parts of long messages wait
in the service's ``Reassembly``, so a replug between two parts loses nothing.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from twisted.application import service
from twisted.internet import defer, task
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from drivers import health as health_states
from drivers.health import HealthReporter
from drivers.serial.gsm.pdu import (
    Deliver,
    PduError,
    Reassembly,
    ReceivedSms,
    StatusReport,
    decode,
    encode_submit,
)
from drivers.serial.port import BACKOFF, SerialLink

__all__ = [
    "ABSENT",
    "ERROR",
    "INITIALISING",
    "PIN_REQUIRED",
    "READY",
    "SIM_STATES",
    "STATES",
    "DeliveryReport",
    "GsmModem",
    "GsmModemService",
    "ModemError",
    "ModemSettings",
    "ModemStatus",
    "ReceivedSms",
]

log = Logger()

ABSENT = "absent"
INITIALISING = "initialising"
PIN_REQUIRED = "pin_required"
READY = "ready"
ERROR = "error"
STATES = (ABSENT, INITIALISING, PIN_REQUIRED, READY, ERROR)
# ModemStatus.sim once the modem said (webui/labels.py names each)
SIM_STATES = ("ready", "pin", "puk", "absent")

# command phases
IDLE = "idle"
WAIT_RESULT = "wait_result"
WAIT_PROMPT = "wait_prompt"
WAIT_SENT = "wait_sent"
SETTLING = "settling"  # after a command went unanswered: a late answer must not be the next one's
SETTLE_S = 1.0

CNMI = "AT+CNMI=2,1,0,1,0"  # SMS stored and announced (+CMTI), reports direct (+CDS)
CTRL_Z = b"\x1a"
ESC = b"\x1b"
MAX_LINE = 1024  # a PDU line is at most 2 * (12 + 164) hex digits; longer is noise
MAX_LINES = 256  # lines one command may collect (AT+CMGL of a full SIM: 2 per message)
MAX_TEXT_SHOWN = 64  # operator names and other modem text kept for the status
MAX_TIMEOUTS = 3  # commands in a row without an answer before the modem is initialised again
# AT+CMGS's answer waits for the network: Quectel's manuals give it 120 s at most (SIMCom's
# 60). A deadline shorter than the modem's fails a send that then goes through: the outbox
# tries it again and the customer has it twice, and the late +CMGS could answer the retry.
SEND_S = 120.0

_URC_PREFIXES = (
    "+CMTI:",
    "+CMT:",
    "+CDS:",
    "+CDSI:",
    "RING",
    "+CRING:",
    "+CLIP:",
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+CUSD:",
    "+CIEV:",
    "+CPIN:",
    "+PACSP",
    "NO CARRIER",
    "RDY",
    "SMS READY",
    "CALL READY",
    "^",
)

_FAILURES = ("ERROR", "COMMAND NOT SUPPORT", "NO CARRIER")  # final results without a code

# the texts of the codes modems answer most (3GPP TS 27.007 9.2, TS 27.005 3.2.5)
CME_TEXTS = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    15: "SIM wrong",
    16: "incorrect password",
    30: "no network service",
    31: "network timeout",
    100: "unknown error",
}
CMS_TEXTS = {
    300: "ME failure",
    302: "operation not allowed",
    304: "invalid PDU mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    316: "SIM PUK required",
    321: "invalid memory index",
    322: "SIM memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    500: "unknown error",
}


class ModemError(Exception):
    """A command the modem refused or did not answer: ``code`` is the +CME/+CMS ERROR
    number (None for a plain ERROR, silence, an unplug or a refusal before sending)."""

    def __init__(self, code: int | None, text: str) -> None:
        super().__init__(f"{text} ({code})" if code is not None else text)
        self.code = code
        self.text = text


@dataclass(frozen=True)
class ModemSettings:
    """``[modem]`` as the driver takes it (the daemon maps the config section to it)."""

    device: str
    baudrate: int = 115200
    pin: str = ""  # 4-8 digits, entered when the SIM asks for it
    smsc: str = ""  # empty: the SMSC stored on the SIM


@dataclass(frozen=True)
class DeliveryReport:
    """What became of a sent part: ``reference`` is the +CMGS number ``send_sms`` gave."""

    reference: int
    recipient: str
    delivered: bool
    status: int  # TP-ST: 0 delivered; 0x20-0x3F still trying; 0x40 and up failed
    at: datetime
    final: bool = True  # False while the SMSC is still trying


@dataclass(frozen=True)
class ModemStatus:
    state: str  # absent, initialising, pin_required, ready, error
    sim: str = ""  # ready, pin, puk, absent, or "" before the modem said
    signal_dbm: int | None = None
    operator: str = ""
    detail: str = ""


def rssi_dbm(rssi: int) -> int | None:
    """AT+CSQ's <rssi> in dBm (0: -113 or less, 31: -51 or more, 99: unknown)."""
    if 0 <= rssi <= 31:
        return -113 + 2 * rssi
    return None


def _shown(text: str) -> str:
    """Modem text kept for display: printable, bounded."""
    return "".join(c for c in text if c.isprintable())[:MAX_TEXT_SHOWN]


def _info_prefix(command: str) -> str:
    """The prefix of a command's information lines: AT+CPIN? -> +CPIN:."""
    match = re.match(r"AT(\+\w+)", command)
    return match.group(1) + ":" if match else ""


@dataclass
class _Command:
    line: str
    timeout: float
    deferred: defer.Deferred[list[str]]
    pdu: str | None = None  # sent after the "> " prompt (AT+CMGS)
    lines: list[str] = field(default_factory=list)


class GsmModem(Protocol):
    """One connection to a modem: AT commands in, SMS and reports out (see the module)."""

    def __init__(
        self,
        clock: Any,
        *,
        pin: str = "",
        on_deliver: Callable[[Deliver, int | None], defer.Deferred[bool] | None] = (
            lambda part, index: None
        ),
        on_report: Callable[[DeliveryReport], None] = lambda report: None,
        on_status: Callable[[ModemStatus], None] = lambda status: None,
        on_pin_refused: Callable[[], None] = lambda: None,
        command_timeout_s: float = 10.0,
        send_timeout_s: float = SEND_S,
        signal_interval_s: float = 60.0,
        retry_init_s: float = 30.0,
    ) -> None:
        self.clock = clock
        self.pin = pin
        self.on_deliver = on_deliver
        self.on_report = on_report
        self.on_status = on_status
        self.on_pin_refused = on_pin_refused
        self.command_timeout_s = command_timeout_s
        self.send_timeout_s = send_timeout_s
        self.signal_interval_s = signal_interval_s
        self.retry_init_s = retry_init_s
        self.status = ModemStatus(ABSENT)
        self.phase = IDLE
        self.need_ack = False  # +CMT / +CDS need AT+CNMA (phase 2+ service)
        self.bad_pdus = 0
        self._pin_tried = False  # the PIN entered on this connection and the modem not ready since
        self._queue: deque[_Command] = deque()
        self._current: _Command | None = None
        self._timer: Any = None
        self._armed_s = 0.0  # the deadline of the phase now waiting
        self._buffer = b""
        self._expect_pdu: tuple[str, int] | None = None  # (URC, announced length)
        self._timeouts = 0
        self._lost = False
        self._poll: task.LoopingCall | None = None
        self._retry: Any = None

    # ---- connection ------------------------------------------------------------------

    def connectionMade(self) -> None:
        defer.Deferred.fromCoroutine(self._initialise())

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._lost = True
        self._stop_timers()
        self._fail_all(ModemError(None, "modem unplugged"))
        self._set(ABSENT, detail="the serial port closed (unplugged or stopped)")

    # ---- requests ---------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.status.state == READY and not self._lost

    async def send_sms(
        self, number: str, text: str, *, reference: int, smsc: str = ""
    ) -> tuple[int, ...]:
        """Send every part; the modem's message reference of each. ModemError when any
        part is refused or not answered (the parts before it are gone already)."""
        try:
            parts = encode_submit(number, text, reference=reference, request_report=True, smsc=smsc)
        except PduError as e:
            raise ModemError(None, str(e)) from None
        references = []
        for part in parts:
            lines = await self.command(
                f"AT+CMGS={part.tpdu_length}", pdu=part.hex, timeout=self.send_timeout_s
            )
            references.append(_cmgs_reference(lines))
        return tuple(references)

    def command(
        self, line: str, *, pdu: str | None = None, timeout: float | None = None
    ) -> defer.Deferred[list[str]]:
        """Queue one AT command: its information lines, or ModemError."""
        if self._lost:
            return defer.fail(ModemError(None, "modem unplugged"))
        if any(c in line for c in "\r\n\x1a\x1b"):
            return defer.fail(ModemError(None, "a command with a line break or Ctrl-Z"))
        d: defer.Deferred[list[str]] = defer.Deferred()
        default = self.send_timeout_s if pdu is not None else self.command_timeout_s
        self._queue.append(_Command(line, timeout or default, d, pdu))
        self._next()
        return d

    # ---- the command state machine -----------------------------------------------------

    def _next(self) -> None:
        if self.phase != IDLE or not self._queue or self._lost:
            return
        self._current = command = self._queue.popleft()
        self.phase = WAIT_PROMPT if command.pdu is not None else WAIT_RESULT
        self._arm(command.timeout if command.pdu is None else self.command_timeout_s)
        self._write(command.line.encode("ascii") + b"\r")

    def _arm(self, seconds: float) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._armed_s = seconds
        self._timer = self.clock.callLater(seconds, self._timed_out)

    def _timed_out(self) -> None:
        command = self._current
        if command is None:
            return
        if self.phase == WAIT_PROMPT:
            self._write(ESC)  # leave the modem's PDU prompt, or it takes the next command as PDU
        self._timeouts += 1
        self._current = None
        # A late answer to this command would be taken for the next one's: lines that come
        # in the next SETTLE_S seconds answer nothing (unsolicited ones are still handled).
        self.phase = SETTLING
        self._timer = self.clock.callLater(SETTLE_S, self._settled)
        command.deferred.errback(
            ModemError(
                None, f"no answer to {command.line.split('=')[0]} within {self._armed_s:g} s"
            )
        )
        if self._timeouts >= MAX_TIMEOUTS and self.status.state == READY:
            self._timeouts = 0
            self._set(ERROR, detail="the modem stopped answering; initialising it again")
            self._fail_all(ModemError(None, "the modem stopped answering"))
            self._retry = self.clock.callLater(0, self._restart)

    def _settled(self) -> None:
        self._timer = None
        if self.phase == SETTLING:
            self.phase = IDLE
            self._next()

    def _finish(self, result: list[str] | ModemError) -> None:
        """The current command is over: back to idle, then the next one."""
        command, self._current = self._current, None
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self.phase = IDLE
        if command is not None:
            if isinstance(result, ModemError):
                command.deferred.errback(result)
            else:
                self._timeouts = 0
                command.deferred.callback(result)
        self._next()

    def _fail_all(self, error: ModemError) -> None:
        """Every command fails with ``error``; then a settling pause (unless the modem is
        gone), so what the modem still says to them answers nothing."""
        failed = [self._current] if self._current is not None else []
        failed += list(self._queue)
        self._current = None
        self._queue = deque()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self.phase = IDLE
        if not self._lost:
            self.phase = SETTLING
            self._timer = self.clock.callLater(SETTLE_S, self._settled)
        for command in failed:
            command.deferred.errback(error)

    # ---- bytes and lines in ------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if self.phase == WAIT_PROMPT:
                start = self._buffer.lstrip(b"\r\n")
                if start.startswith(b">"):
                    self._buffer = start[1:].lstrip(b" ")
                    self._prompted()
                    continue
            match = re.search(rb"[\r\n]", self._buffer)
            if match is None:
                break
            raw, self._buffer = self._buffer[: match.start()], self._buffer[match.end() :]
            # modems write ASCII; some give operator names in UTF-8: kept, and anything
            # else shown as U+FFFD (a PDU is hex, so nothing of an SMS is lost this way)
            line = raw.replace(b"\x00", b"").decode("utf-8", "replace").strip()
            if line:
                self._line(line)
        if len(self._buffer) > MAX_LINE:
            log.warn("modem: {n} bytes without a line end dropped", n=len(self._buffer))
            self._buffer = b""

    def _prompted(self) -> None:
        command = self._current
        if command is None or command.pdu is None:
            return
        self.phase = WAIT_SENT
        self._arm(command.timeout)
        self._write(command.pdu.encode("ascii") + CTRL_Z)

    def _line(self, line: str) -> None:
        if self._expect_pdu is not None:
            urc, length = self._expect_pdu
            self._expect_pdu = None
            if re.fullmatch(r"[0-9A-Fa-f]+", line):
                self._urc_pdu(urc, line, length)
                return
            log.warn("modem: {urc} without its PDU", urc=urc)
        command = self._current
        if command is not None:
            prefix = _info_prefix(command.line)
            if prefix and line.startswith(prefix) and self.phase != WAIT_PROMPT:
                self._collect(command, line)
                return
        if line.startswith(_URC_PREFIXES) or line.upper().startswith(_URC_PREFIXES):
            self._unsolicited(line)
            return
        if command is None:
            log.debug("modem: unexpected line {line!r}", line=line[:80])
            return
        if line == command.line:
            # the echo, before ATE0 took effect; once ready, a modem that forgot it
            self._restarted_by_itself(line, echoed=True)
            return
        failed = line in _FAILURES or line.startswith(("+CME ERROR:", "+CMS ERROR:"))
        if self.phase == WAIT_PROMPT and not failed:
            # Before its "> " an AT+CMGS has no answer but an error: an OK or a +CMGS here
            # is the late answer of a send given up on, and would end this one unsent.
            log.warn("modem: {line!r} before the prompt answers nothing", line=line[:80])
            return
        if line == "OK":
            self._finish(command.lines)
        elif line in _FAILURES:
            self._finish(ModemError(None, f"{command.line.split('=')[0]}: {line}"))
        elif line.startswith(("+CME ERROR:", "+CMS ERROR:")):
            self._finish(_error_of(line))
        else:
            self._collect(command, line)

    def _collect(self, command: _Command, line: str) -> None:
        if len(command.lines) < MAX_LINES:
            command.lines.append(line)

    # ---- unsolicited results -----------------------------------------------------------

    def _unsolicited(self, line: str) -> None:
        head, _, rest = line.partition(":")
        rest = rest.strip()
        if head in ("+CMTI", "+CDSI"):
            index = _stored_index(rest)
            if index is None:
                log.warn("modem: malformed {line!r}", line=line[:80])
                return
            defer.Deferred.fromCoroutine(self._read_stored(index))
        elif head in ("+CMT", "+CDS"):
            length = _last_int(rest)
            if length is None:
                log.warn("modem: malformed {line!r}", line=line[:80])
                return
            self._expect_pdu = (head, length)
        elif head == "+CPIN" or line.upper() == "RDY":
            self._restarted_by_itself(line)
        # RING, +CREG and the rest: nothing to do for SMS

    def _restarted_by_itself(self, line: str, *, echoed: bool = False) -> None:
        """A ready modem said ``RDY`` (it rebooted: a brownout, its own watchdog) or its SIM's
        state unasked (reset, removed, asking for its PIN again): it forgot ATE0, PDU mode and
        AT+CNMI, so every send would fail and no SMS be announced; it is initialised again
        (behind the command in flight, which is left to its own answer or deadline). What
        waits in the queue fails: an AT+CMGS in text mode would send its PDU's hex as a
        text to the number "<length>".

        ``echoed``: the command in flight came back as an echo, so the modem reset without a
        word (SIMCom's autobauding ones print no RDY) and takes that command in text mode:
        it fails too, a send cancelled with Escape before its prompt takes the PDU."""
        if self.status.state != READY or self._lost:
            return  # initialising already, or waiting for a PIN or a retry
        log.warn("modem: {line!r} unasked: initialising it again", line=_shown(line))
        self._stop_poll()
        self._set(INITIALISING, detail="the modem restarted")
        error = ModemError(None, "the modem restarted")
        if echoed:
            if self.phase == WAIT_PROMPT:
                self._write(ESC)
            self._fail_all(error)  # then a settling pause: its answers answer nothing
        else:
            queued, self._queue = list(self._queue), deque()
            for command in queued:
                command.deferred.errback(error)
        defer.Deferred.fromCoroutine(self._initialise())

    def _urc_pdu(self, urc: str, hex_text: str, length: int) -> None:
        _, stored = self._handle_pdu(hex_text, length, urc)
        if not self.need_ack:
            return
        if stored is None:
            self._ack(True)
        else:
            stored.addCallback(self._ack)

    def _ack(self, stored: bool) -> None:
        """AT+CNMA for a +CMT / +CDS; AT+CNMA=2 (RP-ERROR: the network sends it again) for
        an SMS that could not be stored. The network waits for it: before anything queued."""
        if self._lost:
            return
        d: defer.Deferred[list[str]] = defer.Deferred()
        line = "AT+CNMA" if stored else "AT+CNMA=2"
        self._queue.appendleft(_Command(line, self.command_timeout_s, d))
        d.addErrback(self._ack_failed)
        self._next()

    def _ack_failed(self, failure: Failure) -> None:
        """TS 27.005 3.4.4: a modem whose +CMT/+CDS was not acknowledged in time switches
        routing off (+CNMI <mt> and <ds> 0: no SMS or report announced any more) and answers
        the late AT+CNMA with an error; routing is switched on again."""
        log.warn("modem: AT+CNMA: {e}", e=failure.getErrorMessage())
        if self.ready:
            defer.Deferred.fromCoroutine(self._optional(CNMI))

    def _handle_pdu(
        self, hex_text: str, length: int | None, where: str, index: int | None = None
    ) -> tuple[bool, defer.Deferred[bool] | None]:
        """Decode and hand over one PDU: True when an SMS went to ``on_deliver`` with its
        SIM ``index`` (its listener then releases it: ``delete``), False when the caller
        deletes it now (a report, an unreadable PDU, a listener that failed); and the
        Deferred of its store when it made a message whole."""
        try:
            message = decode(hex_text, tpdu_length=length)
        except PduError as e:
            self.bad_pdus += 1
            log.warn(
                "modem: {where}: unreadable PDU ({e}): {pdu}", where=where, e=e, pdu=hex_text[:400]
            )
            return False, None
        try:
            if isinstance(message, StatusReport):
                self.on_report(
                    DeliveryReport(
                        message.reference,
                        message.recipient,
                        message.delivered,
                        message.status,
                        message.at,
                        message.final,
                    )
                )
                return False, None
            if message.silent:
                log.info("modem: {where}: a short message type 0 discarded", where=where)
                return False, None
            if message.ports is not None and message.encoding == "8bit":
                # WAP push, MMS notices, OTA settings: data for a handset's application,
                # Latin-1 junk to a person
                log.info(
                    "modem: {where}: an 8-bit message to port {port} from {sender} dropped",
                    where=where,
                    port=message.ports[0],
                    sender=message.sender,
                )
                return False, None
            stored = self.on_deliver(message, index)
            return index is not None, stored
        except Exception:
            # the listener's fault, not the modem's: the line goes on being read
            log.failure("modem: {where}: a listener failed", where=where)
            return False, None

    async def _read_stored(self, index: int) -> None:
        try:
            lines = await self.command(f"AT+CMGR={index}")
        except ModemError as e:
            log.warn("modem: reading message {i}: {e}", i=index, e=e)
            return
        for done in self._stored_lines(lines, "+CMGR", f"message {index}", index=index):
            await self._delete(done)

    def read_all(self) -> defer.Deferred[None]:
        """Read every stored message again (one whose store failed waits there)."""
        return defer.Deferred.fromCoroutine(self._read_all())

    async def _read_all(self) -> None:
        try:
            lines = await self.command("AT+CMGL=4", timeout=self.send_timeout_s)
        except ModemError as e:
            log.warn("modem: reading the stored messages: {e}", e=e)
            return
        for index in self._stored_lines(lines, "+CMGL", "stored messages"):
            await self._delete(index)

    def delete(self, index: int) -> None:
        """Delete a stored message: what a listener handed one with its index calls once it
        has the whole message (failures are logged; the message is then read again)."""
        defer.Deferred.fromCoroutine(self._delete(index))

    def _stored_lines(
        self, lines: list[str], head: str, where: str, *, index: int | None = None
    ) -> list[int]:
        """The messages of an AT+CMGR (``index``) / AT+CMGL answer handed over; the indexes
        to delete now (a message handed over with its index waits for its release)."""
        indexes = []
        for i, line in enumerate(lines):
            if not line.startswith(head + ":"):
                continue
            fields = line.partition(":")[2].split(",")
            length = _last_int(line.partition(":")[2])
            stat = _int(fields[1] if head == "+CMGL" and len(fields) > 1 else fields[0])
            if stat in (2, 3):
                continue  # a message stored to be sent (not ours): neither read nor deleted
            at = _int(fields[0]) if head == "+CMGL" else index
            pdu = lines[i + 1] if i + 1 < len(lines) else ""
            if stat is None or not re.fullmatch(r"[0-9A-Fa-f]+", pdu):
                # A text-mode answer (a modem that reset by itself) or a PDU line lost: what
                # is stored was not read, so it stays on the SIM for the next reading.
                log.warn("modem: {where}: no PDU after {line!r}", where=where, line=line[:80])
                continue
            kept, _ = self._handle_pdu(pdu, length, where, at)
            if at is not None and not kept:
                indexes.append(at)
        return indexes

    async def _delete(self, index: int) -> None:
        try:
            await self.command(f"AT+CMGD={index}")
        except ModemError as e:
            log.warn("modem: deleting message {i}: {e}", i=index, e=e)

    # ---- initialisation ----------------------------------------------------------------

    async def _initialise(self) -> None:
        self._set(INITIALISING, detail="")
        try:
            await self._sync()
            await self.command("ATE0")
            await self.command("AT+CMEE=1")
            if not await self._unlock():
                return
            await self.command("AT+CMGF=0")
            self.need_ack = await self._phase2()
            await self._optional('AT+CPMS="SM","SM","SM"')
            await self.command(CNMI)
            await self._signal()
            await self._optional("AT+COPS=3,0")
            await self._operator()
            lines = await self.command("AT+CMGL=4", timeout=self.send_timeout_s)
        except ModemError as e:
            if self._lost:
                return
            self._set(
                ERROR, detail=f"initialisation failed: {e}; trying again in {self.retry_init_s:g} s"
            )
            self._retry = self.clock.callLater(self.retry_init_s, self._restart)
            return
        if self._lost:
            return
        self._set(READY, detail="")
        self._pin_tried = False
        self._poll = task.LoopingCall(self._poll_signal)
        self._poll.clock = self.clock
        self._poll.start(self.signal_interval_s, now=False).addErrback(
            lambda f: log.failure("modem: signal poll", f)
        )
        for index in self._stored_lines(lines, "+CMGL", "stored messages"):
            defer.Deferred.fromCoroutine(self._delete(index))

    def _restart(self) -> None:
        """Initialise again (no command is in flight: a settling pause may be running)."""
        self._retry = None
        self._stop_poll()
        if not self._lost:
            defer.Deferred.fromCoroutine(self._initialise())

    async def _sync(self) -> None:
        """AT until the modem answers OK (a modem just powered up may miss the first; one
        left waiting for a PDU by a stop mid-send takes Escape, then a moment, first)."""
        for attempt in range(3):
            if attempt:
                self._write(ESC)
                await task.deferLater(self.clock, SETTLE_S, lambda: None)
            try:
                await self.command("AT", timeout=min(self.command_timeout_s, 2.0))
                return
            except ModemError:
                if attempt == 2:
                    raise

    async def _unlock(self) -> bool:
        """The SIM ready (the PIN entered when asked and configured), else the state says why.

        The PIN is entered at most once per connection; a SIM still asking after it (some
        take a moment) is asked again a second later, never given the PIN twice, nor by the
        retry of an initialisation that failed after it (a wrong PIN a modem refused with
        another code than 16 would otherwise lock the SIM after three retries). Once ready,
        the PIN was right: a modem that restarts by itself is given it again.
        """
        entered = False
        for _ in range(10):
            try:
                lines = await self.command("AT+CPIN?")
            except ModemError as e:
                if e.code == 10:
                    self._set(ERROR, sim="absent", detail="no SIM card in the modem")
                    return False
                if e.code != 14:  # 14: SIM busy, still starting
                    raise
                lines = []
            answer = next(
                (x.partition(":")[2].strip() for x in lines if x.startswith("+CPIN:")), ""
            )
            # SIM PIN2 / SIM PUK2: only after a failed PIN2 operation (this driver does
            # none), and TS 27.007 8.3 recommends the MT not block on them: SMS still work
            if answer in ("READY", "SIM PIN2", "SIM PUK2"):
                self._set(INITIALISING, sim="ready")
                return True
            if answer == "SIM PUK":
                self._set(PIN_REQUIRED, sim="puk", detail="the SIM is locked: it needs its PUK")
                return False
            if answer not in ("SIM PIN", ""):
                raise ModemError(None, f"unexpected SIM state {_shown(answer)!r}")
            if answer == "SIM PIN" and not entered:
                if self._pin_tried:
                    self._set(
                        PIN_REQUIRED,
                        sim="pin",
                        detail="the SIM still asks for its PIN after [modem] pin;"
                        " not entered again",
                    )
                    return False
                if not self.pin:
                    self._set(
                        PIN_REQUIRED, sim="pin", detail="the SIM asks for its PIN: set [modem] pin"
                    )
                    return False
                entered = self._pin_tried = True
                try:
                    await self.command(f"AT+CPIN={self.pin}")
                except ModemError as e:
                    if e.code in (16, 12):
                        # Never entered again by itself: three wrong PINs lock the SIM (PUK).
                        self.on_pin_refused()
                        self.pin = ""
                        self._set(
                            PIN_REQUIRED,
                            sim="pin",
                            detail="the SIM refused [modem] pin; not tried again",
                        )
                        return False
                    raise
                continue
            await task.deferLater(self.clock, 1.0, lambda: None)
        raise ModemError(None, "the SIM did not become ready")

    async def _phase2(self) -> bool:
        try:
            lines = await self.command("AT+CSMS?")
        except ModemError:
            return False
        answer = next((x.partition(":")[2] for x in lines if x.startswith("+CSMS:")), "")
        return _int(answer.split(",")[0]) == 1

    async def _optional(self, line: str) -> None:
        try:
            await self.command(line)
        except ModemError as e:
            log.info("modem: {line}: {e} (going on)", line=line, e=e)

    async def _signal(self) -> None:
        lines = await self.command("AT+CSQ")
        answer = next((x.partition(":")[2] for x in lines if x.startswith("+CSQ:")), "")
        rssi = _int(answer.split(",")[0])
        self._set(self.status.state, signal_dbm=rssi_dbm(rssi) if rssi is not None else None)

    async def _operator(self) -> None:
        try:
            lines = await self.command("AT+COPS?")
        except ModemError as e:
            log.info("modem: AT+COPS?: {e}", e=e)
            return
        answer = next((x.partition(":")[2] for x in lines if x.startswith("+COPS:")), "")
        match = re.search(r'"([^"]*)"', answer)
        self._set(self.status.state, operator=_shown(match.group(1)) if match else "")

    def _poll_signal(self) -> None:
        """The signal and the network (a roaming or re-registered modem changes operator)."""
        if not self.ready:
            return
        d = defer.Deferred.fromCoroutine(self._signal())
        d.addErrback(lambda f: log.info("modem: AT+CSQ: {e}", e=f.getErrorMessage()))
        defer.Deferred.fromCoroutine(self._operator())

    # ---- helpers ----------------------------------------------------------------------

    def _set(self, state: str, **changes: Any) -> None:
        old = self.status
        values: dict[str, Any] = {
            "state": state,
            "sim": old.sim,
            "signal_dbm": old.signal_dbm,
            "operator": old.operator,
            "detail": old.detail,
        }
        values.update(changes)
        self.status = ModemStatus(**values)
        if self.status != old:
            if self.status.state != old.state:
                log.info("modem: {state} {detail}", state=state, detail=self.status.detail)
            self.on_status(self.status)

    def _write(self, data: bytes) -> None:
        transport: Any = self.transport
        if transport is not None and not self._lost:
            transport.write(data)

    def _stop_timers(self) -> None:
        for call in (self._timer, self._retry):
            if call is not None and call.active():
                call.cancel()
        self._retry = None
        self._stop_poll()

    def _stop_poll(self) -> None:
        if self._poll is not None and self._poll.running:
            self._poll.stop()
        self._poll = None


def _error_of(line: str) -> ModemError:
    kind, _, rest = line.partition(":")
    code = _int(rest.strip())
    table = CME_TEXTS if kind == "+CME ERROR" else CMS_TEXTS
    if code is None:
        return ModemError(None, f"{kind}: {_shown(rest.strip())}")
    return ModemError(code, f"{kind}: {table.get(code, 'error')}")


def _cmgs_reference(lines: list[str]) -> int:
    for line in lines:
        if line.startswith("+CMGS:"):
            value = _int(line.partition(":")[2].split(",")[0])
            if value is not None:
                return value
    raise ModemError(None, "the modem sent the SMS but named no message reference")


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def _last_int(text: str) -> int | None:
    return _int(text.rsplit(",", 1)[-1])


def _stored_index(text: str) -> int | None:
    """+CMTI: "SM",3 -> 3."""
    return _last_int(text)


class GsmModemService(service.Service):
    """The modem of ``[modem]``: kept open through a SerialLink, re-initialised on replug.

    ``on_sms`` hears every whole inbound message, ``on_report`` every delivery report;
    ``send_sms`` is refused at once unless the modem is ready.
    """

    name = "modem"

    def __init__(
        self,
        reactor: Any,
        settings: ModemSettings,
        health: HealthReporter | None = None,
        *,
        clock: Any = None,
        command_timeout_s: float = 10.0,
        send_timeout_s: float = SEND_S,
        signal_interval_s: float = 60.0,
        retry_init_s: float = 30.0,
        reassembly_timeout_s: float = 600.0,
        reread_s: float = 60.0,
        backoff: tuple[float, ...] = BACKOFF,
    ) -> None:
        self.reactor = reactor
        self.clock: Any = clock if clock is not None else reactor
        self.settings = settings
        self.health = health
        # may return a Deferred: the SMS leaves the SIM only once it fired
        self.on_sms: Callable[[ReceivedSms], object] = lambda sms: None
        self.on_report: Callable[[DeliveryReport], None] = lambda report: None
        self._timeouts = (command_timeout_s, send_timeout_s, signal_interval_s, retry_init_s)
        self._pin = settings.pin
        self._reference = 0
        self._status = ModemStatus(ABSENT, detail=f"{settings.device} not open")
        self.reread_s = reread_s
        self._reread: Any = None
        self.reassembly = Reassembly(
            self.clock,
            self._received,
            release=self._release,
            retry=self._retry_later,
            timeout_s=reassembly_timeout_s,
        )
        self.link = SerialLink(
            reactor,
            settings.device,
            self._new_modem,
            baudrate=settings.baudrate,
            name="modem",
            clock=self.clock,
            backoff=backoff,
        )

    @property
    def modem(self) -> GsmModem | None:
        protocol = self.link.protocol
        return protocol if isinstance(protocol, GsmModem) else None

    def startService(self) -> None:
        super().startService()
        self.link.startService()
        self._report()  # absent with the open's error, or initialising

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        self.reassembly.stop()
        if self._reread is not None and self._reread.active():
            self._reread.cancel()
        self._reread = None
        return self.link.stopService()

    def status(self) -> ModemStatus:
        if self.modem is None:
            detail = self.link.last_error or f"{self.settings.device} not open"
            return ModemStatus(ABSENT, detail=detail)
        return self._status

    def send_sms(self, number: str, text: str) -> defer.Deferred[tuple[int, ...]]:
        """Send one message (in as many parts as it needs); the parts' message references,
        which the delivery reports name. ModemError at once when the modem is not ready."""
        modem = self.modem
        if modem is None or not modem.ready:
            state = self.status()
            return defer.fail(ModemError(None, f"the modem is not ready ({state.state})"))
        self._reference = (self._reference + 1) % 256
        return defer.Deferred.fromCoroutine(
            modem.send_sms(number, text, reference=self._reference, smsc=self.settings.smsc)
        )

    def _new_modem(self) -> GsmModem:
        command_s, send_s, signal_s, retry_s = self._timeouts
        return GsmModem(
            self.clock,
            pin=self._pin,
            on_deliver=self.reassembly.add,
            on_report=lambda report: self.on_report(report),
            on_status=self._status_changed,
            on_pin_refused=self._pin_refused,
            command_timeout_s=command_s,
            send_timeout_s=send_s,
            signal_interval_s=signal_s,
            retry_init_s=retry_s,
        )

    def _received(self, sms: ReceivedSms) -> object:
        return self.on_sms(sms)

    def _retry_later(self) -> None:
        """A message's store failed: it stays on the SIM, read again in ``reread_s``."""
        if self._reread is None or not self._reread.active():
            self._reread = self.clock.callLater(self.reread_s, self._read_again)

    def _read_again(self) -> None:
        self._reread = None
        modem = self.modem
        if modem is not None and modem.ready:
            modem.read_all()
        # else: the next connection's initialisation reads the SIM (AT+CMGL=4)

    def _release(self, indexes: list[Any]) -> None:
        """A message is out: its parts leave the SIM. With no modem they stay there, are read
        again at the next connection and released then (Reassembly knows them)."""
        modem = self.modem
        if modem is None:
            return
        for index in indexes:
            modem.delete(index)

    def _pin_refused(self) -> None:
        self._pin = ""  # not entered again on a replug either: a third wrong PIN locks the SIM

    def _status_changed(self, status: ModemStatus) -> None:
        self._status = status
        self._report()

    def _report(self) -> None:
        if self.health is None:
            return
        status = self.status()
        state = {
            READY: health_states.OK,
            INITIALISING: health_states.STARTING,
            ABSENT: health_states.DOWN,
        }.get(status.state, health_states.DEGRADED)
        self.health.report("modem", state, f"{status.state}: {status.detail}".rstrip(": "))

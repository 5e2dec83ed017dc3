"""A simulated GSM modem for PtyLink: the AT commands of SMS in PDU mode, strict as a real one.

It is never kinder than a modem: it echoes until ATE0, answers plain ERROR until
AT+CMEE=1, refuses everything that needs the SIM until the PIN is entered (and locks the
SIM after three wrong PINs), refuses PDU commands in text mode (the default, as on many
modems), refuses an AT+CMGS whose length does not match its PDU with +CMS ERROR: 304, and
answers ERROR to any command it does not know.

Tests and the demo drive it: ``deliver`` (an inbound SMS, in parts as needed, announced
with +CMTI or sent directly with +CMT as AT+CNMI asked), ``sent`` (every part it was asked
to send, decoded), delivery reports for each part that asked for one, and faults on demand:
``fail_next`` (+CME/+CMS ERROR), ``mute_next`` (silence), ``deliver_pdu`` (any PDU, any
announced length) and ``on_command`` (e.g. pull the plug when a command arrives).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from twisted.internet.protocol import Protocol

from drivers.serial.gsm.pdu import (
    PduError,
    Submit,
    decode_submit,
    encode_deliver,
    encode_status_report,
    join_text,
)

MAX_COMMAND = 600  # bytes of one command line; a PDU after the prompt may be longer
MAX_PDU = 2 * 200
CHINA = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class SentPart:
    """One AT+CMGS the simulator accepted, with the reference it answered."""

    reference: int
    submit: Submit
    pdu: str


class SimulatedModem(Protocol):
    def __init__(
        self,
        clock: Any,
        *,
        pin: str = "",
        operator: str = "China Mobile",
        rssi: int = 20,
        smsc: str = "+8613800100500",
        phase2: bool = True,
        report_delay_s: float = 0.05,
        storage: int = 30,
    ) -> None:
        self.clock = clock
        self.pin = pin
        self.operator = operator
        self.rssi = rssi
        self.smsc = smsc
        self.phase2 = phase2  # AT+CSMS? says 1: +CMT and +CDS must be acknowledged
        self.report_delay_s = report_delay_s
        self.storage_size = storage
        self.reports = True  # send a delivery report for each part that asks for one
        self.report_status = 0  # TP-ST of the reports (0: delivered)
        self.on_command: Callable[[str], None] = lambda line: None
        self.sent: list[SentPart] = []
        self.commands: list[str] = []
        self.stored: dict[int, str] = {}  # index -> PDU
        self._announced: dict[int, int] = {}  # index -> a length other than the PDU's own
        # index -> <stat>: 0 received unread (the default), 1 read, 2 unsent, 3 sent
        self.stat: dict[int, int] = {}
        self.unacked = 0  # +CMT / +CDS not yet acknowledged with AT+CNMA
        self.connected = False
        self._later: list[Any] = []  # reports not sent yet
        self._reset()
        # [command prefix, reply (None: no answer), matching commands still let through]
        self._faults: list[list[Any]] = []
        self._reference = 0
        self._concat = 0

    def _reset(self) -> None:
        self.echo = True
        self.cmee = 0
        self.cmgf = 1
        self.cnmi = (0, 0, 0, 0, 0)
        self.pin_state = "SIM PIN" if self.pin else "READY"
        self.pin_attempts = 3
        self._buffer = b""
        self._prompt_length: int | None = None

    # ---- what tests do ---------------------------------------------------------------

    def fail_next(self, prefix: str, reply: str = "+CME ERROR: 100", *, after: int = 0) -> None:
        """The next command starting with ``prefix`` (after ``after`` such commands went
        through) is answered ``reply`` instead."""
        self._faults.append([prefix, reply, after])

    def mute_next(self, prefix: str, *, after: int = 0) -> None:
        """The next command starting with ``prefix`` (after ``after``) gets no answer."""
        self._faults.append([prefix, None, after])

    def write_raw(self, data: bytes) -> None:
        """Bytes as they are onto the line (noise, broken lines, unsolicited junk)."""
        self._write(data)

    def deliver(
        self, sender: str, text: str, *, at: datetime | None = None, direct: bool = False
    ) -> int:
        """An inbound SMS from the network, in as many parts as it needs; the part count."""
        self._concat = (self._concat + 1) % 256
        when = at or datetime.now(CHINA).replace(microsecond=0)
        pdus = encode_deliver(sender, text, when, reference=self._concat, smsc=self.smsc)
        for pdu in pdus:
            self.deliver_pdu(pdu, direct=direct)
        return len(pdus)

    def deliver_pdu(self, pdu: str, *, length: int | None = None, direct: bool = False) -> None:
        """Any PDU (SMSC first), announced with ``length`` (default: its true TPDU length)."""
        if length is None:
            length = _tpdu_length(pdu)
        if direct or self.cnmi[1] == 2:
            self._urc(f"+CMT: ,{length}", pdu)
            if self.phase2:
                self.unacked += 1
        elif self.cnmi[1] == 1:
            index = self._store(pdu, length)
            if index is not None:
                self._urc(f'+CMTI: "SM",{index}')
        else:
            self._store(pdu, length)

    def send_report(self, reference: int, recipient: str, status: int = 0) -> None:
        now = datetime.now(CHINA).replace(microsecond=0)
        pdu = encode_status_report(reference, recipient, now, now, status, smsc=self.smsc)
        length = _tpdu_length(pdu)
        if self.cnmi[3] == 1:
            self._urc(f"+CDS: {length}", pdu)
            if self.phase2:
                self.unacked += 1
        elif self.cnmi[3] == 2:
            index = self._store(pdu)
            if index is not None:
                self._urc(f'+CDSI: "SM",{index}')

    def sent_texts(self) -> list[tuple[str, str]]:
        """(number, text) of each whole message sent, its parts joined in order."""
        out: list[tuple[str, str]] = []
        groups: dict[tuple[str, int], dict[int, str]] = {}
        for part in self.sent:
            concat = part.submit.concat
            if concat is None:
                out.append((part.submit.number, join_text([part.submit.text])))
                continue
            group = groups.setdefault((part.submit.number, concat.reference), {})
            group[concat.sequence] = part.submit.text
            if len(group) == concat.total:
                text = join_text([group[n] for n in sorted(group)])
                out.append((part.submit.number, text))
                del groups[part.submit.number, concat.reference]
        return out

    # ---- the line --------------------------------------------------------------------

    def connectionMade(self) -> None:
        """Powered up: the modem's settings are back to their defaults; the SIM asks for its
        PIN again (a locked SIM stays locked, and keeps its count of wrong PINs)."""
        self.connected = True
        pin_state, attempts = self.pin_state, self.pin_attempts
        self._reset()
        if pin_state == "SIM PUK":
            self.pin_state = pin_state
        self.pin_attempts = attempts

    def connectionLost(self, reason: Any = None) -> None:
        self.connected = False
        for call in self._later:
            if call.active():
                call.cancel()
        self._later = []

    def dataReceived(self, data: bytes) -> None:
        for byte in data:
            self._byte(bytes((byte,)))

    def _byte(self, b: bytes) -> None:
        if self._prompt_length is not None:
            if b in (b"\x1a", b"\x1b"):
                pdu = self._buffer.decode("ascii", "replace").strip()
                self._buffer = b""
                length, self._prompt_length = self._prompt_length, None
                if b == b"\x1a":
                    self._submit(length, pdu)
                else:
                    self._reply("OK")  # cancelled
            elif len(self._buffer) < MAX_PDU + 16:
                self._buffer += b
            return
        if self.echo:
            self._write(b)
        if b == b"\r":
            line = self._buffer.decode("ascii", "replace").strip()
            self._buffer = b""
            if line:
                self._command(line)
        elif b < b" ":
            return  # line feeds, a stray Escape and other control characters
        elif len(self._buffer) < MAX_COMMAND:
            self._buffer += b
        else:
            self._buffer = b""
            self._reply("ERROR")

    def _command(self, line: str) -> None:
        self.commands.append(line)
        self.on_command(line)
        for i, fault in enumerate(self._faults):
            prefix, reply, after = fault
            if line.upper().startswith(prefix.upper()):
                if after > 0:
                    fault[2] -= 1
                    break
                del self._faults[i]
                if reply is not None:
                    self._reply(reply)
                return
        upper = line.upper()
        if not upper.startswith("AT"):
            self._reply("ERROR")
            return
        body = line[2:]
        handler, args = self._route(body)
        if handler is None:
            self._reply("ERROR")
            return
        handler(args)

    def _route(self, body: str) -> tuple[Callable[[str], None] | None, str]:
        upper = body.upper()
        simple = {
            "": lambda a: self._reply("OK"),
            "E0": lambda a: self._set_echo(False),
            "E1": lambda a: self._set_echo(True),
            "+CPIN?": self._cpin_query,
            "+CSQ": self._csq,
            "+COPS?": self._cops,
            "+CSMS?": self._csms,
            "+CNMA": self._cnma,
            "+CPMS?": self._cpms_query,
        }
        if upper in simple:
            return simple[upper], ""
        match = re.fullmatch(r"(\+[A-Z]+)=(.*)", body, re.IGNORECASE)
        if match is None:
            return None, ""
        name, args = match.group(1).upper(), match.group(2)
        table: dict[str, Callable[[str], None]] = {
            "+CMEE": self._cmee,
            "+CPIN": self._cpin,
            "+CMGF": self._cmgf,
            "+CPMS": self._cpms,
            "+CNMI": self._cnmi,
            "+COPS": self._cops_format,
            "+CMGS": self._cmgs,
            "+CMGR": self._cmgr,
            "+CMGD": self._cmgd,
            "+CMGL": self._cmgl,
        }
        return table.get(name), args

    # ---- commands ---------------------------------------------------------------------

    def _set_echo(self, on: bool) -> None:
        self.echo = on
        self._reply("OK")

    def _cmee(self, args: str) -> None:
        if args not in ("0", "1", "2"):
            self._reply("ERROR")
            return
        self.cmee = int(args)
        self._reply("OK")

    def _cpin_query(self, args: str) -> None:
        self._reply(f"+CPIN: {self.pin_state}", "OK")

    def _cpin(self, args: str) -> None:
        given = args.strip('"')
        if self.pin_state == "READY":
            self._cme(3)
        elif self.pin_state == "SIM PUK":
            self._cme(12)
        elif given == self.pin:
            self.pin_state = "READY"
            self.pin_attempts = 3  # a right PIN gives the SIM its three tries back
            self._reply("OK")
        else:
            self.pin_attempts -= 1
            if self.pin_attempts == 0:
                self.pin_state = "SIM PUK"
            self._cme(16)

    def _sim_ready(self) -> bool:
        if self.pin_state == "READY":
            return True
        self._cme(11 if self.pin_state == "SIM PIN" else 12)
        return False

    def _cmgf(self, args: str) -> None:
        if args not in ("0", "1"):
            self._reply("ERROR")
            return
        self.cmgf = int(args)
        self._reply("OK")

    def _csms(self, args: str) -> None:
        self._reply(f"+CSMS: {1 if self.phase2 else 0},1,1,1", "OK")

    def _cpms_query(self, args: str) -> None:
        if self._sim_ready():
            used, size = len(self.stored), self.storage_size
            self._reply(f'+CPMS: "SM",{used},{size},"SM",{used},{size},"SM",{used},{size}', "OK")

    def _cpms(self, args: str) -> None:
        if not self._sim_ready():
            return
        stores = [a.strip().strip('"').upper() for a in args.split(",")]
        if not stores or any(s not in ("SM", "ME", "MT") for s in stores) or len(stores) > 3:
            self._cms(302)
            return
        used, size = len(self.stored), self.storage_size
        self._reply(f"+CPMS: {used},{size},{used},{size},{used},{size}", "OK")

    def _cnmi(self, args: str) -> None:
        values = args.split(",")
        if len(values) != 5 or not all(v.isdigit() for v in values):
            self._cms(302)
            return
        mode, mt, bm, ds, bfr = (int(v) for v in values)
        if mode > 3 or mt > 3 or ds > 2 or bfr > 1:
            self._cms(302)
            return
        self.cnmi = (mode, mt, bm, ds, bfr)
        self._reply("OK")

    def _csq(self, args: str) -> None:
        self._reply(f"+CSQ: {self.rssi},99", "OK")

    def _cops_format(self, args: str) -> None:
        if args.replace(" ", "") in ("3,0", "3,1", "3,2"):
            self._reply("OK")
        else:
            self._cme(4)

    def _cops(self, args: str) -> None:
        if self._sim_ready():
            self._reply(f'+COPS: 0,0,"{self.operator}",7', "OK")

    def _cnma(self, args: str) -> None:
        if self.unacked <= 0:
            self._cms(340)  # no +CNMA acknowledgement expected
            return
        self.unacked -= 1
        self._reply("OK")

    def _pdu_mode(self) -> bool:
        if not self._sim_ready():
            return False
        if self.cmgf != 0:
            self._cms(302)
            return False
        return True

    def _cmgs(self, args: str) -> None:
        if not self._pdu_mode():
            return
        if not args.isdigit() or not 7 <= int(args) <= 164:
            self._cms(304)
            return
        self._prompt_length = int(args)
        self._buffer = b""
        self._write(b"\r\n> ")

    def _submit(self, length: int, pdu: str) -> None:
        if len(pdu) > MAX_PDU:
            self._cms(304)
            return
        try:
            submit = decode_submit(pdu, tpdu_length=length)
        except PduError:
            self._cms(304)
            return
        self._reference = (self._reference + 1) % 256
        reference = self._reference
        self.sent.append(SentPart(reference, submit, pdu))
        self._reply(f"+CMGS: {reference}", "OK")
        if submit.request_report and self.reports:
            status = self.report_status
            call = self.clock.callLater(
                self.report_delay_s, self.send_report, reference, submit.number, status
            )
            self._later.append(call)

    def _cmgr(self, args: str) -> None:
        if not self._pdu_mode():
            return
        index = int(args) if args.isdigit() else -1
        pdu = self.stored.get(index)
        if pdu is None:
            self._cms(321)
            return
        length = self._announced.get(index, _tpdu_length(pdu))
        stat = self.stat.get(index, 0)
        self.stat[index] = 1 if stat == 0 else stat  # read now
        self._reply(f"+CMGR: {stat},,{length}", pdu, "OK")

    def _cmgd(self, args: str) -> None:
        if not self._pdu_mode():
            return
        index = int(args.split(",")[0]) if args.split(",")[0].isdigit() else -1
        if index not in self.stored:
            self._cms(321)
            return
        del self.stored[index]
        self.stat.pop(index, None)
        self._reply("OK")

    def _cmgl(self, args: str) -> None:
        if not self._pdu_mode():
            return
        if args not in ("0", "1", "2", "3", "4"):
            self._cms(302)
            return
        lines = []
        for index, pdu in sorted(self.stored.items()):
            stat = self.stat.get(index, 0)
            if args != "4" and stat != int(args):
                continue
            length = self._announced.get(index, _tpdu_length(pdu))
            lines += [f"+CMGL: {index},{stat},,{length}", pdu]
            self.stat[index] = 1 if stat == 0 else stat
        self._reply(*lines, "OK")

    # ---- output -----------------------------------------------------------------------

    def _store(self, pdu: str, length: int | None = None) -> int | None:
        for index in range(1, self.storage_size + 1):
            if index not in self.stored:
                self.stored[index] = pdu
                self._announced.pop(index, None)
                if length is not None and length != _tpdu_length(pdu):
                    self._announced[index] = length
                return index
        return None

    def _cme(self, code: int) -> None:
        self._reply(f"+CME ERROR: {code}" if self.cmee else "ERROR")

    def _cms(self, code: int) -> None:
        self._reply(f"+CMS ERROR: {code}")  # 27.005: +CMS ERROR whatever AT+CMEE says

    def _reply(self, *lines: str) -> None:
        self._write(b"".join(b"\r\n" + line.encode("utf-8") + b"\r\n" for line in lines))

    def _urc(self, *lines: str) -> None:
        self._reply(*lines)

    def _write(self, data: bytes) -> None:
        transport: Any = self.transport
        if transport is not None and self.connected:
            transport.write(data)


def _tpdu_length(pdu: str) -> int:
    """The octets after the SMSC address (what +CMGR, +CMT and AT+CMGS count)."""
    return len(pdu) // 2 - 1 - int(pdu[:2], 16)

"""SMS in PDU mode (3GPP TS 23.040 / 23.038): SMS-SUBMIT out, SMS-DELIVER and STATUS-REPORT in.

Written here rather than taken from PyPI: smspdudecoder only decodes (no SMS-SUBMIT) and
needs bitstring and pytz; python-gsmmodem(-new)'s pdu module had its last release in 2021,
comes with a threaded, blocking modem class, and fails on hostile PDUs with IndexError and
friends. The codec is small: the GSM alphabet tables, septet packing, semi-octets and the
concatenation header. Its vectors are checked against the spec's examples and against
those two libraries (tests/unit/test_gsm_pdu.py).

Every PDU from the modem is attacker-controlled (anyone can send the box an SMS): each
malformed one raises ``PduError`` (a ValueError) with a clear text, never IndexError.
A PDU's hex always starts with the SMSC address (``00``: the SIM's own), as AT+CMGS takes
and AT+CMGR, +CMT and +CDS give it.

An SMS-DELIVER whose sender is readable is never lost for the rest: compressed text (TS
23.042, which no handset sends and this codec does not inflate) comes as
``COMPRESSED_TEXT`` followed by the raw user data in hex, ``encoding`` "compressed"; an
impossible SMSC timestamp (month 13, a non-digit, a zone past 14 hours) gives the time it
was decoded (UTC), ``sent_at_valid`` False. Port-addressed parts (IEI 0x04/0x05: WAP push,
MMS notices) keep their ``ports`` for the modem to drop the 8-bit ones (not for people).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

_log = Logger()

# the text of a compressed message (TS 23.042), its user data's hex after it
COMPRESSED_TEXT = "[compressed message: not readable]"

# ---- GSM 03.38 default alphabet and its extension table --------------------------------

_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
_ESC = 0x1B
_TO_SEPTETS: dict[str, tuple[int, ...]] = {c: (i,) for i, c in enumerate(_BASIC) if i != _ESC}
_TO_SEPTETS.update({c: (_ESC, code) for code, c in _EXTENSION.items()})

assert len(_BASIC) == 128

SINGLE_GSM7 = 160  # septets in one message
PART_GSM7 = 153  # septets in one part of a concatenated message (the header takes 7)
SINGLE_UCS2 = 70  # UTF-16 code units in one message
PART_UCS2 = 67  # UTF-16 code units in one part (the header takes 6 octets of 140)
MAX_PARTS = 255
MAX_NUMBER_DIGITS = 20

# first octet of an SMS-SUBMIT: MTI 01, VPF 10 (relative validity), +SRR, +UDHI
_SUBMIT = 0x11
_SRR = 0x20
_UDHI = 0x40
_VALIDITY = 0xAA  # relative validity period: 4 days
_TON_INTERNATIONAL = 0x91
_TON_UNKNOWN = 0x81
_TON_ALPHANUMERIC = 5
_SEMI_OCTETS = "0123456789*#abc"


class PduError(ValueError):
    """A PDU that cannot be encoded or decoded; the text says what is wrong."""


@dataclass(frozen=True)
class SubmitPart:
    """One AT+CMGS: the PDU's hex (SMSC included) and the TPDU length the command names."""

    hex: str
    tpdu_length: int


@dataclass(frozen=True)
class Concat:
    """A concatenation header: part ``sequence`` (1-based) of ``total`` under ``reference``."""

    reference: int
    total: int
    sequence: int


@dataclass(frozen=True)
class Deliver:
    """An inbound SMS-DELIVER (one part of a message when ``concat`` is set).

    ``text`` of a UCS2 part may end or start with half of a surrogate pair when the sender
    split one across parts; ``Reassembly`` joins the halves.
    """

    sender: str
    text: str
    sent_at: datetime
    smsc: str = ""
    concat: Concat | None = None
    encoding: str = "gsm7"  # gsm7, ucs2, 8bit or compressed (text: COMPRESSED_TEXT + hex)
    pid: int = 0  # TP-PID: 0x40 is a "short message type 0", to be discarded
    ports: tuple[int, int] | None = None  # (destination, source): application port addressing
    sent_at_valid: bool = True  # False: the SMSC timestamp was impossible; sent_at is decode time

    @property
    def silent(self) -> bool:
        """A short message type 0 (a network's or an operator's ping): TS 23.040 9.2.3.9
        has the mobile acknowledge it and discard its contents."""
        return self.pid == 0x40


@dataclass(frozen=True)
class StatusReport:
    """An SMS-STATUS-REPORT: what became of the message the modem numbered ``reference``."""

    reference: int
    recipient: str
    sent_at: datetime  # when the SMSC took the message
    at: datetime  # when it was delivered, or when the SMSC gave up or last tried
    status: int  # TP-ST
    smsc: str = ""

    @property
    def delivered(self) -> bool:
        return self.status < 0x20

    @property
    def final(self) -> bool:
        """False while the SMSC is still trying (a temporary error, 0x20-0x3F)."""
        return not 0x20 <= self.status < 0x40


@dataclass(frozen=True)
class Submit:
    """An SMS-SUBMIT read back (the simulated modem's view of what the driver sent)."""

    number: str
    text: str
    request_report: bool
    concat: Concat | None
    encoding: str
    smsc: str = ""


@dataclass(frozen=True)
class ReceivedSms:
    """A whole inbound message: its parts joined, or what arrived of them (``complete`` False)."""

    sender: str
    text: str
    sent_at: datetime
    parts: int = 1  # the parts the message had (as its header said)
    complete: bool = True
    missing: tuple[int, ...] = ()  # the parts that never came (1-based)
    sent_at_valid: bool = True  # False: the SMSC timestamp was impossible (sent_at: received)


# ---- encoding ---------------------------------------------------------------------------


def gsm7_septets(text: str) -> list[int] | None:
    """The text in the default alphabet (an escape septet before each extension character),
    or None when a character is not in it."""
    out: list[int] = []
    for ch in text:
        septets = _TO_SEPTETS.get(ch)
        if septets is None:
            return None
        out.extend(septets)
    return out


def encode_submit(
    number: str,
    text: str,
    *,
    reference: int,
    request_report: bool = True,
    smsc: str = "",
) -> list[SubmitPart]:
    """The AT+CMGS PDUs of one message: GSM 7-bit when every character fits, else UCS2, in
    several parts with a concatenation header (8-bit ``reference``) when too long.

    ``number``: ``+`` and digits (international) or digits (sent as dialled). ``smsc``
    empty: the SIM's own SMSC.
    """
    destination = _encode_address(number, "recipient")
    smsc_octets = _encode_smsc(smsc)
    if not 0 <= reference <= 255:
        raise PduError(f"concatenation reference {reference} is not 0-255")
    if text == "":
        raise PduError("the message is empty")
    chunks, encoding = _split(text)
    total = len(chunks)
    if total > MAX_PARTS:
        raise PduError(f"the message needs {total} parts; at most {MAX_PARTS} can be joined")
    parts = []
    for sequence, chunk in enumerate(chunks, 1):
        first = _SUBMIT | (_SRR if request_report else 0) | (_UDHI if total > 1 else 0)
        dcs, udl, user_data = _user_data(chunk, encoding, reference, total, sequence)
        tpdu = bytes((first, 0x00)) + destination + bytes((0x00, dcs, _VALIDITY, udl)) + user_data
        parts.append(SubmitPart((smsc_octets + tpdu).hex().upper(), len(tpdu)))
    return parts


def encode_deliver(
    sender: str,
    text: str,
    sent_at: datetime,
    *,
    reference: int = 0,
    smsc: str = "",
) -> list[str]:
    """The SMS-DELIVER PDUs of one message as a network hands them to a modem (for the
    simulated modem and tests). ``sender`` may be a number or an alphanumeric name."""
    if sender and not sender.lstrip("+").isdigit():
        septets = gsm7_septets(sender)
        if septets is None or len(sender) > 11:
            raise PduError(f"sender {sender!r} is not an alphanumeric address")
        packed = _pack7(septets, 0)
        origin = bytes((math.ceil(len(septets) * 7 / 4), 0xD0)) + packed
    else:
        origin = _encode_address(sender, "sender")
    smsc_octets = _encode_smsc(smsc)
    chunks, encoding = _split(text)
    total = len(chunks)
    out = []
    for sequence, chunk in enumerate(chunks, 1):
        first = 0x04 | (_UDHI if total > 1 else 0)  # MTI 00, no more messages to send
        dcs, udl, user_data = _user_data(chunk, encoding, reference & 0xFF, total, sequence)
        tpdu = (
            bytes((first,))
            + origin
            + bytes((0x00, dcs))
            + _encode_timestamp(sent_at)
            + bytes((udl,))
            + user_data
        )
        out.append((smsc_octets + tpdu).hex().upper())
    return out


def encode_status_report(
    reference: int,
    recipient: str,
    sent_at: datetime,
    at: datetime,
    status: int,
    *,
    smsc: str = "",
) -> str:
    """An SMS-STATUS-REPORT PDU (for the simulated modem and tests)."""
    tpdu = (
        bytes((0x06, reference & 0xFF))  # MTI 10, no more messages
        + _encode_address(recipient, "recipient")
        + _encode_timestamp(sent_at)
        + _encode_timestamp(at)
        + bytes((status & 0xFF,))
    )
    return (_encode_smsc(smsc) + tpdu).hex().upper()


def _user_data(
    chunk: Any, encoding: str, reference: int, total: int, sequence: int
) -> tuple[int, int, bytes]:
    """One part's TP-DCS, TP-UDL and TP-UD: a concatenation header when there are several
    parts, then the septets packed after its fill bits (gsm7) or the UTF-16BE octets."""
    udh = bytes((5, 0x00, 3, reference, total, sequence)) if total > 1 else b""
    if encoding == "gsm7":
        fill = (7 - len(udh) * 8 % 7) % 7
        udl = (len(udh) * 8 + fill) // 7 + len(chunk)
        return 0x00, udl, udh + _pack7(list(chunk), fill)
    user_data = udh + bytes(chunk)
    return 0x08, len(user_data), user_data


def _split(text: str) -> tuple[list[Any], str]:
    """The text cut into parts: septet lists (gsm7) or UTF-16BE byte strings (ucs2)."""
    septets = gsm7_septets(text)
    if septets is not None:
        if len(septets) <= SINGLE_GSM7:
            return [septets], "gsm7"
        chunks: list[Any] = []
        start = 0
        while start < len(septets):
            end = min(start + PART_GSM7, len(septets))
            # never end a part between an escape and the character it introduces
            if end < len(septets) and _escape_open(septets, start, end):
                end -= 1
            chunks.append(septets[start:end])
            start = end
        return chunks, "gsm7"
    units = text.encode("utf-16-be")
    if len(units) <= SINGLE_UCS2 * 2:
        return [units], "ucs2"
    chunks = []
    start = 0
    while start < len(units):
        end = min(start + PART_UCS2 * 2, len(units))
        # never end a part between the two halves of a surrogate pair (emoji and the like)
        if end < len(units) and 0xD8 <= units[end - 2] <= 0xDB:
            end -= 2
        chunks.append(units[start:end])
        start = end
    return chunks, "ucs2"


def _escape_open(septets: list[int], start: int, end: int) -> bool:
    """True when septets[end - 1] is an escape (not itself the second half of one)."""
    i = start
    while i < end:
        if septets[i] == _ESC:
            if i == end - 1:
                return True
            i += 2
        else:
            i += 1
    return False


def _pack7(septets: list[int], fill_bits: int) -> bytes:
    acc = 0
    bits = fill_bits
    out = bytearray()
    for septet in septets:
        acc |= septet << bits
        bits += 7
        while bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8
    if bits > 0:
        out.append(acc & 0xFF)
    return bytes(out)


def _encode_address(number: str, what: str) -> bytes:
    international = number.startswith("+")
    digits = number[1:] if international else number
    if not digits or not digits.isascii() or not digits.isdigit():
        raise PduError(f"{what} {number!r} is not a phone number (+ and digits, or digits)")
    if len(digits) > MAX_NUMBER_DIGITS:
        raise PduError(f"{what} {number!r} has more than {MAX_NUMBER_DIGITS} digits")
    ton = _TON_INTERNATIONAL if international else _TON_UNKNOWN
    return bytes((len(digits), ton)) + _semi_octets(digits)


def _encode_smsc(smsc: str) -> bytes:
    if not smsc:
        return b"\x00"
    address = _encode_address(smsc, "SMSC")
    return bytes((len(address) - 1,)) + address[1:]


def _semi_octets(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes(int(digits[i + 1] + digits[i], 16) for i in range(0, len(digits), 2))


def _encode_timestamp(when: datetime) -> bytes:
    offset = when.utcoffset() or timedelta(0)
    quarters = int(offset.total_seconds() // 900)
    sign = 0x08 if quarters < 0 else 0
    quarters = abs(quarters)
    fields = (when.year % 100, when.month, when.day, when.hour, when.minute, when.second)
    octets = bytes(((v % 10) << 4) | (v // 10) for v in fields)
    return octets + bytes((((quarters % 10) << 4) | (quarters // 10) | sign,))


# ---- decoding ---------------------------------------------------------------------------


class _Reader:
    """The PDU's octets with a cursor: every read past the end is a PduError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise PduError(
                f"the PDU ends inside the {what}"
                f" (needs {n} octets at {self.pos}, has {len(self.data)})"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def octet(self, what: str) -> int:
        return self.take(1, what)[0]

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


def _octets(hex_text: str) -> bytes:
    text = hex_text.strip()
    if len(text) % 2:
        raise PduError(f"the PDU has an odd number of hex digits ({len(text)})")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise PduError("the PDU is not hexadecimal") from None


def decode(hex_text: str, *, tpdu_length: int | None = None) -> Deliver | StatusReport:
    """An inbound PDU (SMSC address first), as AT+CMGR, +CMT or +CDS give it.

    ``tpdu_length``: the length the modem announced; a PDU of another length is refused.
    """
    reader = _Reader(_octets(hex_text))
    smsc = _read_smsc(reader)
    if tpdu_length is not None and tpdu_length != len(reader.data) - reader.pos:
        raise PduError(
            f"the modem announced {tpdu_length} octets"
            f" but the PDU has {len(reader.data) - reader.pos}"
        )
    first = reader.octet("first octet")
    kind = first & 0x03
    if kind in (0x00, 0x03):  # TS 23.040 9.2.3.1: a reserved type is read as a DELIVER
        return _deliver(reader, first, smsc)
    if kind == 0x02:
        return _status_report(reader, smsc)
    raise PduError(f"not an SMS-DELIVER or SMS-STATUS-REPORT (message type {kind})")


def decode_deliver(hex_text: str, *, tpdu_length: int | None = None) -> Deliver:
    message = decode(hex_text, tpdu_length=tpdu_length)
    if not isinstance(message, Deliver):
        raise PduError("not an SMS-DELIVER")
    return message


def decode_status_report(hex_text: str, *, tpdu_length: int | None = None) -> StatusReport:
    message = decode(hex_text, tpdu_length=tpdu_length)
    if not isinstance(message, StatusReport):
        raise PduError("not an SMS-STATUS-REPORT")
    return message


def decode_submit(hex_text: str, *, tpdu_length: int | None = None) -> Submit:
    """An SMS-SUBMIT as AT+CMGS takes it (the simulated modem reads what the driver sent)."""
    reader = _Reader(_octets(hex_text))
    smsc = _read_smsc(reader)
    if tpdu_length is not None and tpdu_length != len(reader.data) - reader.pos:
        raise PduError(
            f"AT+CMGS named {tpdu_length} octets but the PDU has {len(reader.data) - reader.pos}"
        )
    first = reader.octet("first octet")
    if first & 0x03 != 0x01:
        raise PduError(f"not an SMS-SUBMIT (message type {first & 0x03})")
    reader.octet("message reference")
    number = _read_address(reader, "recipient")
    reader.octet("protocol identifier")
    dcs = reader.octet("data coding scheme")
    vpf = (first >> 3) & 0x03
    reader.take({0: 0, 2: 1}.get(vpf, 7), "validity period")
    text, concat, encoding, _ = _read_user_data(reader, first, dcs)
    return Submit(number, text, bool(first & _SRR), concat, encoding, smsc)


def _deliver(reader: _Reader, first: int, smsc: str) -> Deliver:
    sender = _read_address(reader, "sender")
    pid = reader.octet("protocol identifier")
    dcs = reader.octet("data coding scheme")
    raw_time = reader.take(7, "SMSC timestamp")
    try:
        sent_at, valid = _timestamp(raw_time, "SMSC timestamp"), True
    except PduError:
        # the sender and the text are still good: the time it came, flagged
        sent_at, valid = datetime.now(UTC).replace(microsecond=0), False
    text, concat, encoding, ports = _read_user_data(reader, first, dcs)
    return Deliver(sender, text, sent_at, smsc, concat, encoding, pid, ports, valid)


def _status_report(reader: _Reader, smsc: str) -> StatusReport:
    reference = reader.octet("message reference")
    recipient = _read_address(reader, "recipient")
    sent_at = _read_timestamp(reader, "SMSC timestamp")
    at = _read_timestamp(reader, "discharge time")
    status = reader.octet("status")
    # TP-PI and what it announces (PID, DCS, user data) are optional and unused here.
    return StatusReport(reference, recipient, sent_at, at, status, smsc)


def _read_smsc(reader: _Reader) -> str:
    length = reader.octet("SMSC address length")
    if length == 0:
        return ""
    if length > 11:
        raise PduError(f"SMSC address length {length} is more than 11 octets")
    body = _Reader(reader.take(length, "SMSC address"))
    ton = body.octet("SMSC address type")
    return _read_digits(body.rest(), (length - 1) * 2, ton, "SMSC address", odd_ok=True)


def _read_address(reader: _Reader, what: str) -> str:
    length = reader.octet(f"{what} length")  # in semi-octets (digits)
    if length > MAX_NUMBER_DIGITS:
        raise PduError(f"{what} length {length} is more than {MAX_NUMBER_DIGITS} digits")
    ton = reader.octet(f"{what} type")
    raw = reader.take((length + 1) // 2, what)
    if (ton >> 4) & 0x07 == _TON_ALPHANUMERIC:
        return _decode_gsm7(_unpack7(raw, 0, length * 4 // 7, what), what)
    return _read_digits(raw, length, ton, what)


def _read_digits(raw: bytes, count: int, ton: int, what: str, *, odd_ok: bool = False) -> str:
    nibbles: list[int] = []
    for octet in raw:
        nibbles.extend((octet & 0x0F, octet >> 4))
    if odd_ok and nibbles and nibbles[-1] == 0x0F:
        count = min(count, len(nibbles) - 1)
    digits = []
    for i, nibble in enumerate(nibbles[:count]):
        if nibble == 0x0F:
            raise PduError(f"bad semi-octet F at digit {i + 1} of the {what}")
        digits.append(_SEMI_OCTETS[nibble])
    prefix = "+" if (ton >> 4) & 0x07 == 1 else ""
    return prefix + "".join(digits)


def _read_timestamp(reader: _Reader, what: str) -> datetime:
    return _timestamp(reader.take(7, what), what)


def _timestamp(raw: bytes, what: str) -> datetime:
    values = []
    for i, octet in enumerate(raw[:6]):
        low, high = octet & 0x0F, octet >> 4
        if low > 9 or high > 9:
            raise PduError(f"bad semi-octet {octet:02X} in the {what} (field {i + 1})")
        values.append(low * 10 + high)
    zone = raw[6]
    if zone >> 4 > 9:
        raise PduError(f"bad semi-octet {zone:02X} in the {what}'s time zone")
    quarters = (zone & 0x07) * 10 + (zone >> 4)
    if quarters > 14 * 4:
        raise PduError(f"time zone of {quarters} quarter hours in the {what}")
    offset = timedelta(minutes=15 * quarters) * (-1 if zone & 0x08 else 1)
    year, month, day, hour, minute, second = values
    try:
        century = 1900 if year >= 90 else 2000  # the spec's own examples are from 1999
        return datetime(century + year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError as e:
        raise PduError(f"impossible {what} ({e})") from None


def _alphabet(dcs: int) -> str:
    group = dcs >> 4
    if group <= 0x07:  # general data coding (00xx) and automatic deletion (01xx)
        if dcs & 0x20:
            return "compressed"
        return {0: "gsm7", 1: "8bit", 2: "ucs2", 3: "gsm7"}[(dcs >> 2) & 0x03]
    if group in (0x0C, 0x0D):  # message waiting, discard / store, default alphabet
        return "gsm7"
    if group == 0x0E:  # message waiting, store, UCS2
        return "ucs2"
    if group == 0x0F:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"  # reserved groups: the spec says assume the default alphabet


def _read_user_data(
    reader: _Reader, first: int, dcs: int
) -> tuple[str, Concat | None, str, tuple[int, int] | None]:
    encoding = _alphabet(dcs)
    udl = reader.octet("user data length")
    data = reader.rest()
    if encoding == "gsm7":
        needed = math.ceil(udl * 7 / 8)
        if udl > SINGLE_GSM7:
            raise PduError(f"user data length {udl} septets is more than {SINGLE_GSM7}")
    else:
        needed = udl
        if udl > 140:
            raise PduError(f"user data length {udl} octets is more than 140")
    if len(data) != needed:
        raise PduError(f"user data length {udl} needs {needed} octets, the PDU has {len(data)}")
    concat = None
    ports = None
    header_octets = 0
    if first & _UDHI:
        if not data:
            raise PduError("the user data header is announced but there is no user data")
        header_octets = data[0] + 1
        if header_octets > len(data):
            raise PduError(
                f"the user data header ({header_octets} octets)"
                f" runs past the user data ({len(data)})"
            )
        concat, ports = _read_header(data[1:header_octets])
    if encoding == "gsm7":
        fill = (7 - header_octets * 8 % 7) % 7 if header_octets else 0
        skip = (header_octets * 8 + fill) // 7
        if skip > udl:
            raise PduError("the user data header is longer than the user data")
        septets = _unpack7(data[header_octets:], fill, udl - skip, "user data")
        return _decode_gsm7(septets, "user data"), concat, encoding, ports
    body = data[header_octets:]
    if encoding == "ucs2":
        if len(body) % 2:
            raise PduError(f"UCS2 text of an odd number of octets ({len(body)})")
        return body.decode("utf-16-be", "surrogatepass"), concat, encoding, ports
    if encoding == "compressed":
        return f"{COMPRESSED_TEXT} {body.hex().upper()}", concat, encoding, ports
    return body.decode("latin-1"), concat, encoding, ports


def _read_header(header: bytes) -> tuple[Concat | None, tuple[int, int] | None]:
    """The information elements of a user data header: concatenation and port addressing
    are kept."""
    concat = None
    ports = None
    pos = 0
    while pos < len(header):
        if pos + 2 > len(header):
            raise PduError("an information element runs past the user data header")
        iei, length = header[pos], header[pos + 1]
        value = header[pos + 2 : pos + 2 + length]
        if len(value) != length:
            raise PduError(f"information element {iei:02X} runs past the user data header")
        pos += 2 + length
        if iei == 0x04 and length == 2:
            ports = (value[0], value[1])
            continue
        if iei == 0x05 and length == 4:
            ports = ((value[0] << 8) | value[1], (value[2] << 8) | value[3])
            continue
        if iei == 0x00 and length == 3:
            reference, total, sequence = value
        elif iei == 0x08 and length == 4:
            reference, total, sequence = (value[0] << 8) | value[1], value[2], value[3]
        else:
            continue
        if total >= 1 and 1 <= sequence <= total:  # else the spec says ignore the element
            concat = Concat(reference, total, sequence)
    return concat, ports


def _unpack7(data: bytes, fill_bits: int, count: int, what: str) -> list[int]:
    if fill_bits + 7 * count > len(data) * 8:
        raise PduError(f"the {what} ends inside septet {count}")
    bits = int.from_bytes(data, "little")
    return [(bits >> (fill_bits + 7 * i)) & 0x7F for i in range(count)]


def _decode_gsm7(septets: list[int], what: str) -> str:
    out = []
    escaped = False
    for septet in septets:
        if escaped:
            # TS 23.038 6.2.1.1: a code the extension table lacks shows as the default
            # alphabet's character; a second escape (another table, not defined) as a space
            out.append(_EXTENSION.get(septet, " " if septet == _ESC else _BASIC[septet]))
            escaped = False
        elif septet == _ESC:
            escaped = True
        else:
            out.append(_BASIC[septet])
    return "".join(out)


# ---- reassembly -------------------------------------------------------------------------


def join_text(pieces: list[str]) -> str:
    """Texts of parts joined: a surrogate pair a sender split across parts becomes one
    character again; a half with no other half becomes U+FFFD."""
    joined = "".join(pieces)
    return joined.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")


@dataclass
class _Pending:
    sender: str
    total: int
    sent_at: datetime
    parts: dict[int, str] = field(default_factory=dict)
    timer: Any = None
    tokens: list[Any] = field(default_factory=list)  # where its parts are kept (SIM indexes)
    volatile: bool = False  # a part is kept nowhere else (a direct +CMT)
    sent_at_valid: bool = True


class Reassembly:
    """Parts of concatenated messages in, whole messages out (``deliver``).

    A message whose parts do not all arrive within ``timeout_s`` of its first is delivered
    with what came, ``complete`` False; at most ``max_pending`` messages wait at once (the
    oldest is delivered incomplete to make room), so a flood of first parts is bounded.

    A part may come with a ``token`` (its index on the SIM): the parts stay stored until
    their message is stored by ``deliver``, then ``release`` gets the tokens (the modem
    deletes them). ``deliver`` may return a Deferred (the inbox's database write): the
    tokens are released only once it fired; when it fails they stay on the SIM and ``retry``
    is called (the modem reads the SIM again later), so a database that is down or a full
    disk loses nothing. A part read again while its message is being stored is ignored; a
    message read again after it was stored (a replug or a failed deletion before the
    deletion went through) is released, not delivered twice (remembered for ``timeout_s``,
    keyed by sender, SMSC timestamp and text, or concatenation reference).
    """

    def __init__(
        self,
        clock: Any,
        deliver: Callable[[ReceivedSms], object],
        *,
        release: Callable[[list[Any]], None] = lambda tokens: None,
        retry: Callable[[], None] = lambda: None,
        timeout_s: float = 600.0,
        max_pending: int = 64,
    ) -> None:
        self.clock = clock
        self.deliver = deliver
        self.release = release
        self.retry = retry
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self._pending: dict[tuple[str, int, int], _Pending] = {}
        # recently stored messages: key -> (when, the parts it had)
        self._done: dict[Hashable, tuple[float, frozenset[int]]] = {}
        self._storing: set[Hashable] = set()  # messages whose delivery has not fired yet
        self._held: set[Any] = set()  # the tokens of those

    def add(self, part: Deliver, token: Any = None) -> defer.Deferred[bool] | None:
        """One part in; the Deferred of its message's store when this part completed it
        (True: stored), None when it waits or was already stored."""
        if token is not None and token in self._held:
            return None  # read again while its message is being stored
        concat = part.concat
        self._forget_old()
        if concat is None or concat.total == 1:
            digest = hashlib.sha256(part.text.encode("utf-8", "surrogatepass")).hexdigest()
            single = ("single", part.sender, part.sent_at.isoformat(), digest)
            if single in self._storing:
                return None
            if single in self._done:
                self._release([token])  # read again after it was stored
                return None
            sms = ReceivedSms(
                part.sender,
                join_text([part.text]),
                part.sent_at,
                sent_at_valid=part.sent_at_valid,
            )
            return self._hand(single, sms, [token], frozenset({1}))
        key = (part.sender, concat.reference, concat.total)
        if key in self._storing:
            return None
        done = self._done.get(key)
        if done is not None and concat.sequence in done[1]:
            self._release([token])  # read again after its message went out
            return None
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self.max_pending:
                self._flush(next(iter(self._pending)))
            pending = _Pending(
                part.sender, concat.total, part.sent_at, sent_at_valid=part.sent_at_valid
            )
            pending.timer = self.clock.callLater(self.timeout_s, self._flush, key)
            self._pending[key] = pending
        pending.parts.setdefault(concat.sequence, part.text)  # a repeated part counts once
        if token is None:
            pending.volatile = True
        elif token not in pending.tokens:
            pending.tokens.append(token)
        if concat.sequence == 1:
            pending.sent_at = part.sent_at
            pending.sent_at_valid = part.sent_at_valid
        if len(pending.parts) == pending.total:
            return self._flush(key)
        return None

    def _hand(
        self, key: Hashable, sms: ReceivedSms, tokens: list[Any], parts: frozenset[int]
    ) -> defer.Deferred[bool]:
        """``deliver`` one message; its tokens released once that fired, kept if it failed."""
        kept = [t for t in tokens if t is not None]
        self._storing.add(key)
        self._held.update(kept)

        def stored(_: object) -> bool:
            self._storing.discard(key)
            self._held.difference_update(kept)
            self._done[key] = (self.clock.seconds(), parts)
            self._release(kept)
            return True

        def failed(failure: Any) -> bool:
            self._storing.discard(key)
            self._held.difference_update(kept)
            _log.warn(
                "SMS from {sender} not stored ({e}): {where}",
                sender=sms.sender,
                e=failure.getErrorMessage(),
                where="kept on the SIM, read again later" if kept else "not kept",
            )
            if kept:
                self.retry()
            return False

        return defer.maybeDeferred(self.deliver, sms).addCallbacks(stored, failed)

    def pending(self) -> int:
        return len(self._pending)

    def stop(self) -> None:
        """The service stops: a message whose parts are all still stored waits there for the
        next start; one with a part kept nowhere else is delivered as it is."""
        for key, pending in list(self._pending.items()):
            if pending.volatile:
                self._flush(key)
            else:
                if pending.timer is not None and pending.timer.active():
                    pending.timer.cancel()
                del self._pending[key]

    def _flush(self, key: tuple[str, int, int]) -> defer.Deferred[bool] | None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return None
        if pending.timer is not None and pending.timer.active():
            pending.timer.cancel()
        numbers = range(1, pending.total + 1)
        missing = tuple(n for n in numbers if n not in pending.parts)
        text = join_text([pending.parts[n] for n in numbers if n in pending.parts])
        sms = ReceivedSms(
            pending.sender,
            text,
            pending.sent_at,
            parts=pending.total,
            complete=not missing,
            missing=missing,
            sent_at_valid=pending.sent_at_valid,
        )
        return self._hand(key, sms, pending.tokens, frozenset(pending.parts))

    def _release(self, tokens: list[Any]) -> None:
        kept = [t for t in tokens if t is not None]
        if kept:
            self.release(kept)

    def _forget_old(self) -> None:
        horizon = self.clock.seconds() - self.timeout_s
        for key in [k for k, (when, _) in self._done.items() if when < horizon]:
            del self._done[key]
        while len(self._done) > 4 * self.max_pending:
            del self._done[next(iter(self._done))]

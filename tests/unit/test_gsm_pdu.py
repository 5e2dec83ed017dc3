"""The SMS PDU codec: known vectors, round trips, splitting, hostile PDUs, reassembly.

Vectors marked "checked" were decoded, when written, by two other implementations
(python-gsmmodem-new 0.13's pdu module and smspdudecoder 2.2) with the same sender,
text, time, zone and concatenation header; they are literals here so this test needs
neither library.
"""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation; full-width digits are a case)

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from twisted.internet import task

from drivers.serial.gsm.pdu import (
    COMPRESSED_TEXT,
    Concat,
    Deliver,
    PduError,
    Reassembly,
    ReceivedSms,
    StatusReport,
    SubmitPart,
    decode,
    decode_deliver,
    decode_status_report,
    decode_submit,
    encode_deliver,
    encode_status_report,
    encode_submit,
)

CHINA = timezone(timedelta(hours=8))
WHEN = datetime(2026, 12, 7, 10, 25, 34, tzinfo=CHINA)

# The SMS-SUBMIT and SMS-DELIVER of the GSM 03.40 tutorial every codec quotes ("hellohello").
SPEC_SUBMIT = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
SPEC_DELIVER = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"
# checked: an alphanumeric sender in a zone of -05:30
ALNUM_DELIVER = "000414D04374DA1D6EBEC569761900006210203040502A0EC2303BEC1E9775A098CC558301"
# checked: a status report, delivered
STATUS_REPORT = "0006070D91683108108300F0622170010000236221700100502300"
# checked: a two-part Chinese SMS through SMSC +8613800100500, reference 0xA5
CHINESE_PARTS = (
    "0891683108100005F0440D91683119325476F80008622170015243238C050003A5020160A8597DFF0C6211"
    "76848BA253558FD86CA167095230FF0C8BF75E2E5FD967E54E004E0B72696D4130028C228C22FF0160A8597D"
    "FF0C621176848BA253558FD86CA167095230FF0C8BF75E2E5FD967E54E004E0B72696D4130028C228C22FF01"
    "60A8597DFF0C621176848BA253558FD86CA167095230FF0C8BF75E2E5FD967E54E004E0B7269",
    "0891683108100005F0440D91683119325476F800086221700152432320050003A502026D4130028C228C22FF01"
    "8BA2535553F700310032003300340035",
)
CHINESE_TEXT = "您好，我的订单还没有到，请帮忙查一下物流。谢谢！" * 3 + "订单号12345"


def test_spec_vectors() -> None:
    assert encode_submit("+46708251358", "hellohello", reference=0, request_report=False) == [
        SubmitPart(SPEC_SUBMIT, 23)
    ]
    message = decode_deliver(SPEC_DELIVER)
    assert (message.sender, message.text, message.smsc) == (
        "27838890001",
        "hellohello",
        "+27381000015",
    )
    assert message.sent_at == datetime(1999, 3, 29, 15, 16, 59, tzinfo=timezone(timedelta(hours=2)))
    assert message.concat is None and message.encoding == "gsm7"


def test_checked_vectors() -> None:
    alnum = decode_deliver(ALNUM_DELIVER)
    assert (alnum.sender, alnum.text) == ("ChinaMobile", "Balance: 12.50")
    assert alnum.sent_at == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=timezone(-timedelta(hours=5, minutes=30))
    )
    assert encode_deliver("ChinaMobile", "Balance: 12.50", alnum.sent_at) == [ALNUM_DELIVER]

    report = decode_status_report(STATUS_REPORT, tpdu_length=26)
    assert (report.reference, report.recipient, report.status) == (7, "+8613800138000", 0)
    assert report.delivered and report.final
    assert report.sent_at == datetime(2026, 12, 7, 10, 0, 0, tzinfo=CHINA)
    assert report.at == datetime(2026, 12, 7, 10, 0, 5, tzinfo=CHINA)

    parts = [decode_deliver(p) for p in CHINESE_PARTS]
    assert [p.concat for p in parts] == [Concat(0xA5, 2, 1), Concat(0xA5, 2, 2)]
    assert all(p.smsc == "+8613800100500" and p.sender == "+8613912345678" for p in parts)
    assert all(p.sent_at == WHEN and p.encoding == "ucs2" for p in parts)
    assert "".join(p.text for p in parts) == CHINESE_TEXT
    assert encode_deliver(
        "+8613912345678", CHINESE_TEXT, WHEN, reference=0xA5, smsc="+8613800100500"
    ) == list(CHINESE_PARTS)


def test_submit_headers_numbers_and_report_flag() -> None:
    [intl] = encode_submit("+8613800138000", "hello", reference=0)
    assert intl.hex == "0031000D91683108108300F00000AA05E8329BFD06" and intl.tpdu_length == 20
    [national] = encode_submit("10086", "你好", reference=0, request_report=False)
    assert national.hex == "00110005810180F60008AA044F60597D" and national.tpdu_length == 15
    [with_smsc] = encode_submit("10086", "hi", reference=0, smsc="+8613800100500")
    assert with_smsc.hex.startswith("0891683108100005F0")
    assert with_smsc.tpdu_length == len(with_smsc.hex) // 2 - 9


@pytest.mark.parametrize(
    ("text", "encoding", "parts"),
    [
        ("a" * 160, "gsm7", 1),
        ("a" * 161, "gsm7", 2),
        ("a" * 153 * 2, "gsm7", 2),
        ("a" * (153 * 2 + 1), "gsm7", 3),
        ("€" * 80, "gsm7", 1),  # 160 septets: each € is an escape and a septet
        ("€" * 81, "gsm7", 2),
        ("Hi {€} [~] ^|\\ ok @£$¥ ΔΦΓΛΩΠΨΣΘΞ ÄÖÑÜ§¿äöñüà\n\r", "gsm7", 1),
        ("你" * 70, "ucs2", 1),
        ("你" * 71, "ucs2", 2),
        ("你" * 67 * 3, "ucs2", 3),
        ("a" * 159 + "你", "ucs2", 3),
        ("😀" * 35, "ucs2", 1),  # 70 UTF-16 units
        ("😀" * 36, "ucs2", 2),
        ("x" + "😀" * 40, "ucs2", 2),
        ("中文😀" * 30, "ucs2", 2),
    ],
)
def test_round_trip(text: str, encoding: str, parts: int) -> None:
    encoded = encode_submit("+8613912345678", text, reference=200)
    assert len(encoded) == parts
    decoded = [decode_submit(p.hex, tpdu_length=p.tpdu_length) for p in encoded]
    for i, submit in enumerate(decoded, 1):
        assert submit.encoding == encoding and submit.number == "+8613912345678"
        assert submit.concat == (Concat(200, parts, i) if parts > 1 else None)
        # no part ends inside a surrogate pair or an escape sequence
        assert all(not 0xD800 <= ord(c) <= 0xDFFF for c in submit.text)
        units = len(submit.text.encode("utf-16-be")) // 2
        assert units <= (70 if parts == 1 else 67) or encoding == "gsm7"
    assert "".join(s.text for s in decoded) == text
    inbound = [decode_deliver(h) for h in encode_deliver("+8613912345678", text, WHEN, reference=9)]
    assert "".join(d.text for d in inbound) == text


def test_a_part_never_ends_between_an_escape_and_its_character() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the € would straddle septets 153 and 154
    parts = [decode_submit(p.hex) for p in encode_submit("10086", text, reference=1)]
    assert [p.text for p in parts] == ["a" * 152, "€" + "b" * 10]


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("", "not a phone number"),
        ("+", "not a phone number"),
        ("138 0013 8000", "not a phone number"),
        ("10086\r\nAT+CMGD=1,4", "not a phone number"),
        ("１３８００１３８０００", "not a phone number"),  # full-width digits
        ("1" * 21, "more than 20 digits"),
    ],
)
def test_bad_numbers_refused(number: str, why: str) -> None:
    with pytest.raises(PduError, match=why):
        encode_submit(number, "hi", reference=0)


def test_other_encode_refusals() -> None:
    with pytest.raises(PduError, match="empty"):
        encode_submit("10086", "", reference=0)
    with pytest.raises(PduError, match="reference"):
        encode_submit("10086", "hi", reference=256)
    with pytest.raises(PduError, match="at most 255"):
        encode_submit("10086", "你" * 67 * 256, reference=0)
    with pytest.raises(PduError, match="SMSC"):
        encode_submit("10086", "hi", reference=0, smsc="smsc")


@pytest.mark.parametrize(
    ("pdu", "length", "why"),
    [
        ("0", None, "odd number of hex digits"),
        ("zz", None, "not hexadecimal"),
        ("", None, "ends inside the SMSC address length"),
        ("00", None, "ends inside the first octet"),
        (SPEC_DELIVER, 35, "announced 35 octets but the PDU has 28"),
        (SPEC_DELIVER[:-2], None, "user data length 10 needs 9 octets"),
        (SPEC_DELIVER + "00", None, "user data length 10 needs 9 octets, the PDU has 10"),
        ("0C" + "91" * 12, None, "more than 11 octets"),
        ("0001", None, "not an SMS-DELIVER or SMS-STATUS-REPORT"),
        # a sender "1F2" (a fill nibble inside the number)
        (
            "00040391F1F2000062217001524323" + "00",
            None,
            "bad semi-octet F at digit 2 of the sender",
        ),
        # UDHI set: a header of 9 octets in 3 octets of user data
        ("0044039121430000622170015243230308" + "0000", None, "runs past the user data"),
        # an information element longer than its header
        (
            "00440391214300086221700152432304" + "03000504" + "",
            None,
            "runs past the user data header",
        ),
        ("000403912143000862217001524323" + "03414243", None, "odd number of octets"),
        ("000403912143000062217001524323A1" + "00" * 141, None, "more than 160"),
        ("00040C91", None, "ends inside the sender"),
    ],
)
def test_hostile_pdus_raise_pdu_error(pdu: str, length: int | None, why: str) -> None:
    with pytest.raises(PduError, match=why):
        decode(pdu, tpdu_length=length)


def test_every_truncation_and_mutation_is_a_pdu_error_or_a_message() -> None:
    samples = [SPEC_DELIVER, ALNUM_DELIVER, STATUS_REPORT, *CHINESE_PARTS]
    for sample in samples:
        for end in range(0, len(sample) - 1, 2):
            with pytest.raises(PduError):
                decode(sample[:end])
    rng = random.Random(19)
    for _ in range(3000):
        data = bytearray.fromhex(rng.choice(samples))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            message = decode(data.hex())
        except PduError:
            continue
        assert isinstance(message, Deliver | StatusReport)


def test_a_surrogate_pair_split_by_the_sender_is_joined() -> None:
    # a sender that cut an emoji in half across two parts: each part decodes, the whole is one
    emoji = "😀".encode("utf-16-be")
    first = _ucs2_part(b"\x00A" + emoji[:2], 1)
    second = _ucs2_part(emoji[2:] + b"\x00B", 2)
    delivered: list[ReceivedSms] = []
    joiner = Reassembly(task.Clock(), delivered.append)
    joiner.add(decode_deliver(first))
    joiner.add(decode_deliver(second))
    assert [m.text for m in delivered] == ["A😀B"]


def _ucs2_part(body: bytes, sequence: int) -> str:
    header = bytes((5, 0, 3, 77, 2, sequence))
    user_data = header + body
    tpdu = (
        bytes.fromhex("4403912143" + "0008" + "62217001524323")
        + bytes((len(user_data),))
        + user_data
    )
    return "00" + tpdu.hex()


def test_reassembly_order_duplicates_timeout_and_bound() -> None:
    clock = task.Clock()
    out: list[ReceivedSms] = []
    joiner = Reassembly(clock, out.append, timeout_s=60, max_pending=2)
    parts = [
        decode_deliver(h) for h in encode_deliver("+8613900000001", "你" * 150, WHEN, reference=5)
    ]
    assert len(parts) == 3
    joiner.add(parts[2])
    joiner.add(parts[0])
    joiner.add(parts[0])  # a part the network sent twice
    assert out == [] and joiner.pending() == 1
    joiner.add(parts[1])
    assert [(m.text, m.parts, m.complete) for m in out] == [("你" * 150, 3, True)]

    # parts lost: after the timeout what came is delivered, marked incomplete
    lost = [
        decode_deliver(h) for h in encode_deliver("+8613900000002", "好" * 150, WHEN, reference=6)
    ]
    joiner.add(lost[0])
    joiner.add(lost[2])
    clock.advance(59)
    assert len(out) == 1
    clock.advance(1)
    assert (out[1].text, out[1].complete, out[1].missing) == ("好" * 83, False, (2,))
    assert joiner.pending() == 0

    # the same reference from two senders is two messages; past max_pending the oldest goes
    for sender in ("+1", "+2", "+3"):
        joiner.add(Deliver(sender, "x", WHEN, concat=Concat(9, 2, 1)))
    assert [m.sender for m in out[2:]] == ["+1"] and out[2].missing == (2,)
    assert joiner.pending() == 2
    joiner.stop()
    assert joiner.pending() == 0 and len(out) == 5
    assert clock.getDelayedCalls() == []


def test_single_messages_pass_straight_through() -> None:
    out: list[ReceivedSms] = []
    Reassembly(task.Clock(), out.append).add(decode_deliver(SPEC_DELIVER))
    assert out == [ReceivedSms("27838890001", "hellohello", decode_deliver(SPEC_DELIVER).sent_at)]


def test_status_report_states() -> None:
    sent = datetime(2026, 12, 7, 10, 0, tzinfo=CHINA)
    for status, delivered, final in (
        (0x00, True, True),
        (0x30, False, False),
        (0x41, False, True),
        (0x60, False, True),
    ):
        report = decode(encode_status_report(3, "10086", sent, sent, status))
        assert isinstance(report, StatusReport)
        assert (report.delivered, report.final) == (delivered, final)


def test_reassembly_releases_stored_parts_once_their_message_is_out() -> None:
    clock = task.Clock()
    out: list[ReceivedSms] = []
    released: list[list[object]] = []
    joiner = Reassembly(clock, out.append, release=released.append, timeout_s=60)
    first, second, third = (
        decode_deliver(h) for h in encode_deliver("+8613900000003", "你" * 150, WHEN, reference=7)
    )
    joiner.add(first, token=4)
    joiner.add(first, token=4)  # read again after a replug
    assert (out, released) == ([], [])
    joiner.stop()  # every part still on the SIM: nothing delivered, nothing deleted
    assert (out, released, joiner.pending()) == ([], [], 0)

    joiner.add(first, token=4)  # read again at the next start
    joiner.add(second, token=5)
    joiner.add(third, token=9)
    assert [m.text for m in out] == ["你" * 150] and released == [[4, 5, 9]]
    joiner.add(second, token=5)  # its delete went astray: released again, not delivered
    assert len(out) == 1 and released[-1] == [5]

    # a part that comes after its message was given up is a message of its own
    lost = [decode_deliver(h) for h in encode_deliver("+8613900000004", "好" * 150, WHEN)]
    joiner.add(lost[0], token=1)
    clock.advance(60)
    assert (out[-1].missing, released[-1]) == ((2, 3), [1])
    joiner.add(lost[1])  # a direct +CMT: kept nowhere else
    assert joiner.pending() == 1

    # so it is delivered when the service stops
    joiner.stop()
    assert (out[-1].text, out[-1].missing, len(released)) == ("好" * 67, (1, 3), 3)
    single = decode_deliver(SPEC_DELIVER)
    joiner.add(single, token=3)
    assert out[-1].text == "hellohello" and released[-1] == [3]


def test_escapes_the_extension_table_lacks() -> None:
    # "a", ESC "€", ESC 0x41 (no extension character: the default alphabet's "A", TS 23.038
    # 6.2.1.1), ESC ESC (a further table, none defined: a space), "B"
    message = decode("00040391214300006221700152432308E14D7913DC6C84")
    assert isinstance(message, Deliver)
    assert message.text == "a€A B"


def test_a_reserved_message_type_is_read_as_a_deliver() -> None:
    reserved = SPEC_DELIVER[:16] + "07" + SPEC_DELIVER[18:]  # TP-MTI 11 instead of 00
    assert decode_deliver(reserved).text == "hellohello"


def test_septets_after_a_header_start_past_its_fill_bit() -> None:
    # worked by hand from TS 23.040 9.2.3.24 (not by this codec): a 6-octet header is 48
    # bits, one fill bit makes 49 (7 septets), so "H" (1001000) sits in bits 1-7 of the next
    # octet (0x90) and "i" (1101001) in bits 0-6 of the one after (0x69); UDL 7 + 2 septets
    hand = "00440391214300006221700152432309" + "050003010201" + "9069"
    message = decode_deliver(hand)
    assert (message.text, message.concat) == ("Hi", Concat(1, 2, 1))
    [first, _] = encode_submit("10086", "Hi" + "@" * 159, reference=1)  # "@" is septet 0
    assert first.hex.startswith("00710005810180F60000AA" + "A0" + "050003010201" + "9069")


def test_the_protocol_identifier_is_kept() -> None:
    assert not decode_deliver(SPEC_DELIVER).silent
    type_0 = SPEC_DELIVER[:34] + "40" + SPEC_DELIVER[36:]  # TP-PID 0x40
    assert (decode_deliver(type_0).pid, decode_deliver(type_0).silent) == (0x40, True)


@pytest.mark.parametrize(
    "stamp",
    [
        "62317001524323",  # month 13
        "6221700152A423",  # a semi-octet A in the seconds
        "622170015243A0",  # one in the zone
        "6221700152439E",  # a zone of 69 quarter hours
    ],
)
def test_an_impossible_smsc_timestamp_keeps_the_message_with_the_time_received(
    stamp: str,
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    message = decode_deliver("0004039121430000" + stamp + "0AE8329BFD4697D9EC37")
    assert (message.sender, message.text, message.sent_at_valid) == ("+123", "hellohello", False)
    assert before <= message.sent_at <= datetime.now(UTC)
    joined: list[Any] = []
    Reassembly(task.Clock(), joined.append).add(message)
    assert (joined[0].text, joined[0].sent_at_valid) == ("hellohello", False)
    # a good one is flagged valid
    assert decode_deliver(SPEC_DELIVER).sent_at_valid


def test_compressed_text_comes_as_a_marked_placeholder_with_its_bytes() -> None:
    message = decode_deliver("0004039121430020622170015243230300A1FF")
    assert (message.sender, message.encoding) == ("+123", "compressed")
    assert message.text == COMPRESSED_TEXT + " 00A1FF"


def test_port_addressed_parts_keep_their_ports() -> None:
    # a WAP push: 8-bit, IEI 0x05 destination 2948 (0x0B84), source 9200 (0x23F0)
    wap = "0044039121430004622170015243230A" + "060504" + "0B8423F0" + "01060A"
    message = decode_deliver(wap)
    assert (message.ports, message.encoding) == ((2948, 9200), "8bit")
    assert decode_deliver(SPEC_DELIVER).ports is None

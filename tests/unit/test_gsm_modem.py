"""The GSM modem driver against SimulatedModem through a real pseudo-terminal (PtyLink).

The bytes run in the real reactor (a pty is a real fd); the driver's timers (command
deadlines, the signal poll, the re-initialisation, the serial link's backoff) run on a
task.Clock the test advances, so silence and a replug are exercised without waiting.
"""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation; full-width digits are a case)

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from twisted.internet import defer, task
from twisted.internet import reactor as _reactor
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from drivers.health import DEGRADED, DOWN, OK, LastReports
from drivers.serial.gsm.modem import (
    READY,
    SETTLE_S,
    GsmModem,
    GsmModemService,
    ModemError,
    ModemSettings,
    ModemStatus,
    rssi_dbm,
)
from drivers.serial.gsm.pdu import (
    COMPRESSED_TEXT,
    encode_deliver,
    encode_status_report,
    encode_submit,
)
from drivers.serial.sim.gsm_modem import SimulatedModem
from drivers.serial.sim.pty import PtyLink
from tests.support.tmp import temp_dir

COMMAND_S = 5.0
SEND_S = 20.0
RETRY_S = 30.0
CHINA = timezone(timedelta(hours=8))
CUSTOMER = "+8613912345678"
# 3 UCS2 parts; the emoji (a surrogate pair) straddles the end of the first part (67 units)
REPLY = (
    "您好，您的订单已发出，" * 6
    + "😀"
    + "预计明天送达，快递单号 SF1234567890。如有问题请回复本短信。" * 2
)
REACTOR: Any = _reactor  # typed loosely: mypy reads its interfaces without zope's plugin
INBOUND = "你好，我的订单还没有到，请帮忙查一下物流。谢谢！" * 3


async def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Let the real reactor run (the pty's bytes) until ``condition`` holds."""
    deadline = REACTOR.seconds() + timeout
    while not condition():
        if REACTOR.seconds() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await task.deferLater(REACTOR, 0.005, lambda: None)


class ModemRig:
    """A SimulatedModem plugged in on a PtyLink and the driver's service on its device."""

    def __init__(
        self, test: unittest.TestCase, *, sim_pin: str = "1234", pin: str = "1234", **sim: Any
    ) -> None:
        self.test = test
        self.clock = task.Clock()
        self.path = temp_dir(test)
        self.device = self.path / "ttyGSM"
        self.sim = SimulatedModem(REACTOR, pin=sim_pin, **sim)
        self.links = [PtyLink.open(REACTOR, self.sim, self.device)]
        self.health = LastReports()
        self.service = GsmModemService(
            REACTOR,
            ModemSettings(str(self.device), pin=pin),
            self.health,
            clock=self.clock,
            command_timeout_s=COMMAND_S,
            send_timeout_s=SEND_S,
            retry_init_s=RETRY_S,
            backoff=(1.0,),
        )
        self.sms: list[Any] = []
        self.reports: list[Any] = []
        self.service.on_sms = self.sms.append
        self.service.on_report = self.reports.append
        self.service.startService()
        test.addCleanup(self.stop)

    def stop(self) -> defer.Deferred[None]:
        d = self.service.stopService()
        for link in self.links:
            link.unplug()
        return d

    def state(self) -> str:
        return self.service.status().state

    async def ready(self) -> None:
        await until(
            lambda: self.state() == "ready", f"the modem ready (is {self.service.status()})"
        )

    def replug(self, sim: SimulatedModem) -> None:
        self.sim = sim
        self.links.append(PtyLink.open(REACTOR, sim, self.device))

    def health_state(self) -> str:
        report = self.health.get("modem")
        assert report is not None
        return report.state


async def failure_of(d: defer.Deferred[Any]) -> ModemError:
    try:
        await d
    except ModemError as e:
        return e
    raise AssertionError("the deferred did not fail")


class GsmModemTests(unittest.TestCase):
    async def test_pin_multipart_chinese_send_reports_and_inbound(self) -> None:
        rig = ModemRig(self, operator="中国移动 China Mobile")
        # a message that arrived while the box was down waits on the SIM
        stored = encode_deliver(CUSTOMER, "还在吗？", datetime(2026, 12, 7, 8, 0, tzinfo=CHINA))[0]
        rig.sim.stored[1] = stored
        # and a message stored to be sent (someone's draft): not ours to read or delete
        draft = encode_submit("10086", "CXYE", reference=0)[0].hex
        rig.sim.stored[2], rig.sim.stat[2] = draft, 2
        await rig.ready()
        self.assertIn("AT+CPIN=1234", rig.sim.commands)
        self.assertEqual(rig.sim.cmgf, 0)
        status = rig.service.status()
        self.assertEqual(
            (status.sim, status.signal_dbm, status.operator),
            ("ready", -73, "中国移动 China Mobile"),
        )
        self.assertEqual(rig.health_state(), OK)
        await until(
            lambda: len(rig.sms) == 1 and 1 not in rig.sim.stored,
            "the stored message read and deleted",
        )
        self.assertEqual(rig.sms[0].text, "还在吗？")
        self.assertEqual(rig.sim.stored, {2: draft})
        modem = rig.service.modem
        assert modem is not None
        self.assertEqual(modem.bad_pdus, 0)
        self.assertEqual(rig.sms[0].sent_at, datetime(2026, 12, 7, 8, 0, tzinfo=CHINA))

        references = await rig.service.send_sms(CUSTOMER, REPLY)
        self.assertEqual(len(references), 3)
        self.assertEqual(rig.sim.sent_texts(), [(CUSTOMER, REPLY)])
        parts = [p.submit for p in rig.sim.sent]
        self.assertEqual([p.concat.sequence for p in parts if p.concat], [1, 2, 3])
        self.assertTrue(all(p.request_report and p.encoding == "ucs2" for p in parts))
        self.assertEqual(parts[0].text[-1], "，")  # the emoji went whole into the second part
        self.assertTrue(parts[1].text.startswith("😀"))

        await until(lambda: len(rig.reports) == 3, "three delivery reports")
        self.assertEqual(sorted(r.reference for r in rig.reports), sorted(references))
        self.assertTrue(all(r.delivered and r.recipient == CUSTOMER for r in rig.reports))
        await until(lambda: rig.sim.unacked == 0, "the reports acknowledged (AT+CNMA)")

        self.assertEqual(rig.sim.deliver(CUSTOMER, INBOUND), 2)
        await until(lambda: len(rig.sms) == 2, "the inbound message")
        self.assertEqual(rig.sms[1].text, INBOUND)
        self.assertEqual(
            (rig.sms[1].parts, rig.sms[1].complete, rig.sms[1].sender), (2, True, CUSTOMER)
        )
        await until(lambda: list(rig.sim.stored) == [2], "the parts deleted from the SIM")

        rig.sim.deliver("10086", "余额 12.50 元", direct=True)  # +CMT, acknowledged
        await until(
            lambda: len(rig.sms) == 3 and rig.sim.unacked == 0, "a direct +CMT acknowledged"
        )
        self.assertEqual((rig.sms[2].sender, rig.sms[2].text), ("10086", "余额 12.50 元"))

        rig.sim.rssi = 5
        rig.sim.operator = "China Unicom"
        rig.clock.advance(60)  # the periodic AT+CSQ and AT+COPS?
        await until(
            lambda: (
                (rig.service.status().signal_dbm, rig.service.status().operator)
                == (-103, "China Unicom")
            ),
            "the signal and the operator polled again",
        )

    async def test_missing_pin_then_wrong_pin_is_not_tried_again(self) -> None:
        rig = ModemRig(self, pin="")
        await until(lambda: rig.state() == "pin_required", "pin_required")
        self.assertIn("[modem] pin", rig.service.status().detail)
        self.assertEqual(rig.health_state(), DEGRADED)
        refused = await failure_of(rig.service.send_sms(CUSTOMER, "hi"))
        self.assertIn("not ready", refused.text)
        self.assertEqual(rig.sim.sent, [])

        wrong = ModemRig(self, pin="9999")
        await until(lambda: wrong.state() == "pin_required", "pin_required")
        self.assertIn("refused", wrong.service.status().detail)
        self.assertEqual(wrong.sim.pin_attempts, 2)
        # replugged (the modem power-cycles, the SIM asks again): the PIN is not entered again
        wrong.links[0].unplug()
        await until(lambda: wrong.state() == "absent", "absent")
        wrong.replug(wrong.sim)
        wrong.clock.advance(1.0)
        await until(
            lambda: wrong.sim.commands.count("AT+CPIN?") == 2 and wrong.state() == "pin_required",
            "asked again",
        )
        self.assertEqual(wrong.sim.pin_attempts, 2)
        self.assertEqual(wrong.sim.commands.count("AT+CPIN=9999"), 1)

    async def test_cme_error_in_init_and_mid_send_returns_to_idle(self) -> None:
        rig = ModemRig(self)
        rig.sim.fail_next("AT+CNMI", "+CME ERROR: 100")
        await until(lambda: rig.state() == "error", "the failed initialisation")
        self.assertIn("unknown error", rig.service.status().detail)
        rig.clock.advance(RETRY_S)
        await rig.ready()

        rig.sim.fail_next("AT+CMGS", "+CME ERROR: 30", after=1)  # the second part is refused
        error = await failure_of(rig.service.send_sms(CUSTOMER, INBOUND))
        self.assertEqual(error.code, 30)
        self.assertIn("no network service", error.text)
        self.assertEqual(len(rig.sim.sent), 1)
        self.assertEqual(rig.state(), "ready")
        await rig.service.send_sms(CUSTOMER, "第二次")
        self.assertEqual(rig.sim.sent_texts()[-1], (CUSTOMER, "第二次"))

    async def test_silence_times_out_back_to_idle_and_the_next_send_works(self) -> None:
        rig = ModemRig(self)
        await rig.ready()
        rig.sim.mute_next("AT+CMGS")
        pending = rig.service.send_sms(CUSTOMER, "hello")
        await until(lambda: any(c.startswith("AT+CMGS") for c in rig.sim.commands), "the AT+CMGS")
        rig.clock.advance(COMMAND_S)  # no "> " prompt within the deadline
        error = await failure_of(pending)
        self.assertIsNone(error.code)
        self.assertIn("no answer", error.text)
        modem = rig.service.modem
        assert modem is not None
        self.assertEqual(modem.phase, "settling")  # a late answer would answer nothing
        again = rig.service.send_sms(CUSTOMER, "hello again")
        rig.clock.advance(SETTLE_S)
        self.assertEqual(modem.phase, "wait_prompt")
        await again
        self.assertEqual(rig.sim.sent_texts(), [(CUSTOMER, "hello again")])
        self.assertEqual(modem.phase, "idle")

    async def test_three_silences_in_a_row_initialise_the_modem_again(self) -> None:
        rig = ModemRig(self)
        await rig.ready()
        inits = rig.sim.commands.count("ATE0")

        def sends() -> int:
            return sum(c.startswith("AT+CMGS") for c in rig.sim.commands)

        for n in range(3):
            rig.sim.mute_next("AT+CMGS")
            expected = sends() + 1
            pending = rig.service.send_sms(CUSTOMER, f"try {n}")
            rig.clock.advance(SETTLE_S)  # after the first, each waits out the last one's silence
            await until(lambda: sends() == expected, "the AT+CMGS")  # noqa: B023 (awaited here)
            rig.clock.advance(COMMAND_S)
            await failure_of(pending)
        self.assertEqual(rig.state(), "initialising")  # from scratch, at once
        refused = await failure_of(rig.service.send_sms(CUSTOMER, "meanwhile"))
        self.assertIn("not ready", refused.text)
        rig.clock.advance(SETTLE_S)
        await rig.ready()
        self.assertEqual(rig.sim.commands.count("ATE0"), inits + 1)
        await rig.service.send_sms(CUSTOMER, "back")
        self.assertEqual(rig.sim.sent_texts(), [(CUSTOMER, "back")])

    async def test_a_part_waits_on_the_sim_until_its_message_is_whole(self) -> None:
        rig = ModemRig(self)
        await rig.ready()
        first, second = encode_deliver(CUSTOMER, INBOUND, datetime(2026, 12, 7, 9, 0, tzinfo=CHINA))
        rig.sim.deliver_pdu(first)
        await until(lambda: rig.sim.stat.get(1) == 1, "the first part read")
        self.assertEqual((list(rig.sim.stored), rig.sms), ([1], []))  # read, kept on the SIM
        # unplugged and plugged back (or ccboxd restarted): the part is read again, once
        rig.links[0].unplug()
        await until(lambda: rig.state() == "absent", "absent")
        rig.replug(rig.sim)
        rig.clock.advance(1.0)
        await rig.ready()
        rig.sim.deliver_pdu(second)
        await until(
            lambda: len(rig.sms) == 1 and not rig.sim.stored, "the message, then the deletes"
        )
        self.assertEqual((rig.sms[0].text, rig.sms[0].complete), (INBOUND, True))
        # a part read again after its message went out (its delete was lost) is only deleted
        rig.sim.deliver_pdu(first)
        await until(lambda: not rig.sim.stored, "the stray part deleted")
        self.assertEqual(len(rig.sms), 1)

    async def test_a_failed_store_keeps_the_sms_on_the_sim_and_the_next_read_stores_it_once(
        self,
    ) -> None:
        rig = ModemRig(self)
        await rig.ready()
        stored: list[Any] = []
        writes: list[defer.Deferred[None]] = []

        def store(sms: Any) -> defer.Deferred[None]:
            d: defer.Deferred[None] = defer.Deferred()
            writes.append(d)
            d.addCallback(lambda _: stored.append(sms))
            return d

        rig.service.on_sms = store
        commands: list[str] = []
        rig.sim.on_command = commands.append
        at = datetime(2026, 12, 7, 9, 0, tzinfo=CHINA)
        rig.sim.deliver(CUSTOMER, "数据库挂了也别丢", at=at)
        rig.sim.deliver(CUSTOMER, INBOUND)  # two parts
        await until(lambda: len(writes) == 2, "both messages handed over")
        # while the database writes, the SIM keeps them; a read of the SIM hands nothing over
        modem = rig.service.modem
        assert modem is not None
        await modem.read_all()
        self.assertIn("AT+CMGL=4", commands)
        self.assertEqual((len(writes), len(rig.sim.stored)), (2, 3))
        writes[0].errback(OSError("disk full"))
        writes[1].errback(OSError("database down"))
        await modem.command("AT")  # anything the failures queued went before this
        self.assertEqual((stored, len(rig.sim.stored)), ([], 3))  # nothing deleted
        # the SIM is read again reread_s later: handed over once more; stored now
        rig.clock.advance(rig.service.reread_s)
        await until(lambda: len(writes) == 4, "the messages handed over again")
        writes[2].callback(None)
        writes[3].callback(None)
        await until(lambda: not rig.sim.stored, "both deleted once stored")
        self.assertEqual(sorted(s.text for s in stored), sorted(["数据库挂了也别丢", INBOUND]))
        # a message read again after it was stored (its delete lost) is not stored twice
        rig.sim.deliver(CUSTOMER, "数据库挂了也别丢", at=at)
        await until(lambda: not rig.sim.stored, "the repeat deleted")
        self.assertEqual(len(writes), 4)

    async def test_a_direct_sms_is_acknowledged_only_once_stored(self) -> None:
        rig = ModemRig(self, phase2=True)
        await rig.ready()
        outcomes = [defer.fail(OSError("database down")), defer.succeed(None)]
        stored: list[Any] = []

        def store(sms: Any) -> defer.Deferred[None]:
            d = outcomes.pop(0)
            return d.addCallback(lambda _: stored.append(sms))

        rig.service.on_sms = store
        commands: list[str] = []
        rig.sim.on_command = commands.append
        rig.sim.deliver(CUSTOMER, "直接来的", direct=True)
        await until(lambda: "AT+CNMA=2" in commands, "the refusal (RP-ERROR)")
        rig.sim.deliver(CUSTOMER, "直接来的", direct=True)  # the network sends it again
        await until(lambda: commands.count("AT+CNMA") == 1, "the acknowledgement")
        self.assertEqual([s.text for s in stored], ["直接来的"])

    async def test_wap_push_is_dropped_and_unreadable_texts_still_come_with_their_sender(
        self,
    ) -> None:
        rig = ModemRig(self)
        await rig.ready()
        wap = "0044039121430004622170015243230A" + "060504" + "0B8423F0" + "01060A"
        compressed = "0004039121430020622170015243230300A1FF"
        bad_time = "000403912143000062317001524323" + "0AE8329BFD4697D9EC37"
        for pdu in (wap, compressed, bad_time):
            rig.sim.deliver_pdu(pdu)
        await until(lambda: len(rig.sms) == 2 and not rig.sim.stored, "read and deleted")
        self.assertEqual(
            [(s.sender, s.text, s.sent_at_valid) for s in rig.sms],
            [("+123", COMPRESSED_TEXT + " 00A1FF", True), ("+123", "hellohello", False)],
        )

    async def test_wrong_lengths_and_line_noise(self) -> None:
        rig = ModemRig(self)
        await rig.ready()
        modem = rig.service.modem
        assert modem is not None
        part = encode_submit(CUSTOMER, "hello", reference=0)[0]
        error = await failure_of(modem.command(f"AT+CMGS={part.tpdu_length + 1}", pdu=part.hex))
        self.assertEqual(error.code, 304)
        self.assertEqual(rig.sim.sent, [])

        good = encode_deliver(CUSTOMER, "第一条", datetime(2026, 12, 7, 9, 0, tzinfo=CHINA))[0]
        rig.sim.deliver_pdu(good, length=len(good) // 2)  # announced one octet too long
        await until(
            lambda: modem.bad_pdus == 1 and not rig.sim.stored, "the bad PDU dropped and deleted"
        )
        self.assertEqual(rig.sms, [])

        rig.sim.write_raw(b'\x00\x00noise\r\n+CMTI: "SM",bogus\r\n+CMT: x\r\nZZ\r\n' + b"A" * 5000)
        rig.sim.write_raw(b"\r\n+CDS: 25\r\n0006\r\n")  # a report PDU cut short
        rig.sim.deliver(CUSTOMER, "第二条")
        await until(lambda: len(rig.sms) == 1, "the next message")
        self.assertEqual(rig.sms[0].text, "第二条")
        await rig.service.send_sms(CUSTOMER, "ok")
        self.assertEqual(rig.state(), "ready")

    async def test_unplug_mid_send_then_replug(self) -> None:
        rig = ModemRig(self)
        await rig.ready()

        def pull_the_plug(line: str) -> None:
            if line.startswith("AT+CMGS"):  # the modem took the command, then the cable goes
                REACTOR.callLater(0, rig.links[0].unplug)

        rig.sim.on_command = pull_the_plug
        rig.sim.mute_next("AT+CMGS")  # no prompt: the send is surely in flight when it goes
        error = await failure_of(rig.service.send_sms(CUSTOMER, "lost"))
        self.assertIn("unplugged", error.text)
        await until(lambda: rig.state() == "absent" and rig.health_state() == DOWN, "absent")
        refused = await failure_of(rig.service.send_sms(CUSTOMER, "too early"))
        self.assertIn("absent", refused.text)

        rig.replug(SimulatedModem(REACTOR, pin="1234"))
        rig.clock.advance(1.0)  # the serial link's backoff
        await rig.ready()
        await rig.service.send_sms(CUSTOMER, "发送成功")
        self.assertEqual(rig.sim.sent_texts(), [(CUSTOMER, "发送成功")])


def test_rssi_in_dbm() -> None:
    assert [rssi_dbm(r) for r in (0, 1, 20, 31, 99, 32)] == [-113, -111, -73, -51, None, None]


class LineProtocolTests(unittest.TestCase):
    """GsmModem's command phases byte by byte, on a StringTransport and a driven clock."""

    def setUp(self) -> None:
        self.clock = task.Clock()
        self.reports: list[Any] = []
        self.parts: list[Any] = []
        self.modem = GsmModem(
            self.clock,
            on_report=self.reports.append,
            on_deliver=lambda part, index: self.parts.append(part),
            command_timeout_s=COMMAND_S,
            send_timeout_s=SEND_S,
        )
        self.transport = StringTransport()
        # connected, without running the initialisation
        self.modem.transport = self.transport  # type: ignore[assignment]

    def feed(self, text: str) -> None:
        self.modem.dataReceived(text.encode("ascii"))

    def test_unsolicited_lines_between_a_command_and_its_answer(self) -> None:
        answer = self.modem.command("AT+CSQ")
        self.assertEqual(self.transport.value(), b"AT+CSQ\r")
        report = encode_status_report(
            9,
            CUSTOMER,
            datetime(2026, 12, 7, 9, 0, tzinfo=CHINA),
            datetime(2026, 12, 7, 9, 1, tzinfo=CHINA),
            0,
        )
        self.feed(
            '\r\n+CMTI: "SM",3\r\n\r\n+CSQ: 20,99\r\n\r\n+CDS: 26\r\n'
            + report
            + "\r\nRING\r\n\r\nOK\r\n"
        )
        self.assertEqual(self.successResultOf(answer), ["+CSQ: 20,99"])
        self.assertEqual([(r.reference, r.delivered) for r in self.reports], [(9, True)])
        # the +CMTI's message is read once the command is over
        self.assertTrue(self.transport.value().endswith(b"AT+CMGR=3\r"))
        self.assertEqual(self.modem.phase, "wait_result")

    def test_the_pdu_goes_after_the_prompt_and_the_reference_comes_back(self) -> None:
        part = encode_submit(CUSTOMER, "hello", reference=0)[0]
        answer = self.modem.command(f"AT+CMGS={part.tpdu_length}", pdu=part.hex)
        self.assertEqual(self.modem.phase, "wait_prompt")
        self.transport.clear()
        self.feed("\r\n> ")
        self.assertEqual(self.transport.value(), part.hex.encode() + b"\x1a")
        self.assertEqual(self.modem.phase, "wait_sent")
        self.clock.advance(COMMAND_S)  # the send's own, longer deadline applies now
        self.feed("\r\n+CMGS: 7\r\n\r\nOK\r\n")
        self.assertEqual(self.successResultOf(answer), ["+CMGS: 7"])
        self.assertEqual(self.modem.phase, "idle")

    def test_unsolicited_lines_around_the_prompt(self) -> None:
        part = encode_submit(CUSTOMER, "hello", reference=0)[0]
        answer = self.modem.command(f"AT+CMGS={part.tpdu_length}", pdu=part.hex)
        sent = datetime(2026, 12, 7, 9, 0, tzinfo=CHINA)
        report = encode_status_report(9, CUSTOMER, sent, sent, 0)
        inbound = encode_deliver(CUSTOMER, "第一条", sent)[0]
        self.transport.clear()
        # a report and an SMS come before the prompt, the prompt in the same read as a URC
        self.feed(f'\r\n+CDS: {len(report) // 2 - 1}\r\n{report}\r\n\r\n+CMTI: "SM",4\r\n\r\n> ')
        self.assertEqual(self.transport.value(), part.hex.encode() + b"\x1a")
        self.assertEqual([r.reference for r in self.reports], [9])
        # another SMS, sent directly, while the send is under way
        self.feed(f"\r\n+CMT: ,{len(inbound) // 2 - 1}\r\n{inbound}\r\n\r\n+CMGS: 7\r\n\r\nOK\r\n")
        self.assertEqual(self.successResultOf(answer), ["+CMGS: 7"])
        self.assertEqual([p.text for p in self.parts], ["第一条"])
        # the announced message is read once the send is over, the PDU line never a command's
        self.assertEqual(self.transport.value(), part.hex.encode() + b"\x1a" + b"AT+CMGR=4\r")

    def test_a_send_waits_as_long_as_the_network_may_take(self) -> None:
        modem = GsmModem(self.clock)  # the default deadlines
        modem.transport = StringTransport()  # type: ignore[assignment]
        answer = modem.command("AT+CMGS=20", pdu="00" * 21)
        modem.dataReceived(b"\r\n> ")
        self.clock.advance(119.0)  # Quectel's AT+CMGS: up to 120 s, as the network takes
        self.assertNoResult(answer)
        modem.dataReceived(b"\r\n+CMGS: 3\r\n\r\nOK\r\n")
        self.assertEqual(self.successResultOf(answer), ["+CMGS: 3"])

    def test_a_stored_message_not_read_stays_on_the_sim(self) -> None:
        pdu = encode_deliver(CUSTOMER, "第一条", datetime(2026, 12, 7, 9, 0, tzinfo=CHINA))[0]
        for answer in (
            # a modem back in text mode, the text hex digits by chance
            '+CMGR: "REC UNREAD","+8613912345678",,"26/12/07,09:00:00+32"\r\n1234',
            "+CMGR: 0,,23",  # the PDU line lost
        ):
            self.setUp()  # a fresh modem
            self.feed('\r\n+CMTI: "SM",3\r\n')
            self.assertEqual(self.transport.value(), b"AT+CMGR=3\r")
            self.feed(f"\r\n{answer}\r\n\r\nOK\r\n")
            self.assertEqual(self.transport.value(), b"AT+CMGR=3\r", answer)  # no AT+CMGD
        # one that was read and cannot be decoded is deleted (its hex is in the log)
        self.feed('\r\n+CMTI: "SM",4\r\n')
        self.feed(f"\r\n+CMGR: 0,,{len(pdu) // 2}\r\n{pdu}\r\n\r\nOK\r\n")
        self.assertTrue(self.transport.value().endswith(b"AT+CMGD=4\r"))
        self.assertEqual((self.modem.bad_pdus, self.parts), (1, []))

    def test_an_acknowledgement_too_late_switches_routing_on_again(self) -> None:
        self.modem.status = ModemStatus(READY)
        self.modem.need_ack = True  # phase 2+: +CDS needs AT+CNMA
        sent = datetime(2026, 12, 7, 9, 0, tzinfo=CHINA)
        report = encode_status_report(9, CUSTOMER, sent, sent, 0)
        self.feed(f"\r\n+CDS: {len(report) // 2 - 1}\r\n{report}\r\n")
        self.assertEqual(self.transport.value(), b"AT+CNMA\r")
        self.feed("\r\nOK\r\n")  # in time: nothing more
        self.assertEqual(self.transport.value(), b"AT+CNMA\r")
        self.transport.clear()
        self.feed(f"\r\n+CDS: {len(report) // 2 - 1}\r\n{report}\r\n")
        # too late: the modem switched routing off and expects no acknowledgement any more
        self.feed("\r\n+CMS ERROR: 340\r\n")
        self.assertEqual(self.transport.value(), b"AT+CNMA\rAT+CNMI=2,1,0,1,0\r")
        self.feed("\r\nOK\r\n")
        self.assertEqual([r.reference for r in self.reports], [9, 9])
        self.assertEqual(self.modem.phase, "idle")

    def test_a_short_message_type_0_is_discarded(self) -> None:
        pdu = encode_deliver(CUSTOMER, "ping", datetime(2026, 12, 7, 9, 0, tzinfo=CHINA))[0]
        silent = pdu[:22] + "40" + pdu[24:]  # TP-PID 0x40 (TS 23.040 9.2.3.9)
        self.feed('\r\n+CMTI: "SM",5\r\n')
        self.feed(f"\r\n+CMGR: 0,,{len(silent) // 2 - 1}\r\n{silent}\r\n\r\nOK\r\n")
        self.assertEqual(self.transport.value(), b"AT+CMGR=5\rAT+CMGD=5\r")  # read, deleted
        self.feed("\r\nOK\r\n")
        self.feed(f"\r\n+CMT: ,{len(silent) // 2 - 1}\r\n{silent}\r\n")
        self.feed(f"\r\n+CMT: ,{len(pdu) // 2 - 1}\r\n{pdu}\r\n")
        self.assertEqual([p.text for p in self.parts], ["ping"])  # only the ordinary one
        self.assertEqual(self.modem.bad_pdus, 0)

    def test_a_late_answer_never_ends_a_send_before_its_prompt(self) -> None:
        part = encode_submit(CUSTOMER, "hello", reference=0)[0]
        answer = self.modem.command(f"AT+CMGS={part.tpdu_length}", pdu=part.hex)
        self.transport.clear()
        self.feed("\r\n+CMGS: 7\r\n\r\nOK\r\n")  # the answer of a send given up on
        self.assertNoResult(answer)
        self.assertEqual(self.modem.phase, "wait_prompt")
        self.feed("\r\n> ")
        self.assertEqual(self.transport.value(), part.hex.encode() + b"\x1a")
        self.feed("\r\n+CMGS: 8\r\n\r\nOK\r\n")
        self.assertEqual(self.successResultOf(answer), ["+CMGS: 8"])
        # an error before the prompt still fails the send
        failed = self.modem.command(f"AT+CMGS={part.tpdu_length}", pdu=part.hex)
        self.feed("\r\n+CMS ERROR: 304\r\n")
        self.assertEqual(self.failureResultOf(failed, ModemError).value.code, 304)

    def test_no_prompt_escapes_the_modem_and_fails_the_send(self) -> None:
        answer = self.modem.command("AT+CMGS=20", pdu="00" * 21)
        self.clock.advance(COMMAND_S)
        self.assertTrue(self.transport.value().endswith(b"\x1b"))
        error = self.failureResultOf(answer, ModemError).value
        self.assertIn("no answer to AT+CMGS", str(error))
        # the late answer comes while the next command waits: it answers nothing
        self.transport.clear()
        later = self.modem.command("AT+CSQ")
        self.feed("\r\n+CMGS: 99\r\n\r\nOK\r\n")
        self.assertEqual(self.transport.value(), b"")
        self.clock.advance(SETTLE_S)
        self.assertEqual(self.transport.value(), b"AT+CSQ\r")
        self.feed("\r\n+CSQ: 12,99\r\n\r\nOK\r\n")
        self.assertEqual(self.successResultOf(later), ["+CSQ: 12,99"])
        self.assertEqual(self.modem.phase, "idle")

    def test_an_endless_line_is_dropped_and_the_command_still_answered(self) -> None:
        answer = self.modem.command("AT+CSQ")
        self.feed("A" * 5000)
        self.feed("\r\n+CSQ: 31,99\r\nOK\r\n")
        self.assertEqual(self.successResultOf(answer), ["+CSQ: 31,99"])

    def test_a_listener_that_fails_does_not_stop_the_line(self) -> None:
        pdu = encode_deliver(CUSTOMER, "第一条", datetime(2026, 12, 7, 9, 0, tzinfo=CHINA))[0]
        urc = f"\r\n+CMT: ,{len(pdu) // 2 - 1}\r\n{pdu}\r\n"

        def broken(part: Any, index: int | None) -> None:
            raise RuntimeError("the inbox fell over")

        kept = self.modem.on_deliver
        self.modem.on_deliver = broken
        self.feed(urc)
        self.modem.on_deliver = kept
        self.feed(urc)
        self.assertEqual([p.text for p in self.parts], ["第一条"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_a_modem_that_restarts_by_itself_is_initialised_again(self) -> None:
        for restart in ("RDY", "+CPIN: SIM PIN"):
            self.setUp()  # a fresh modem, ready
            self.modem.status = ModemStatus(READY)
            self.feed(f"\r\n{restart}\r\n")
            self.assertEqual(self.modem.status.state, "initialising", restart)
            self.assertEqual(self.transport.value(), b"AT\r", restart)
            # what else the rebooting modem says meanwhile starts no second initialisation
            self.feed("\r\n+CPIN: READY\r\n\r\nRDY\r\n\r\nOK\r\n")
            self.assertEqual(self.transport.value(), b"AT\rATE0\r", restart)
            self.modem.connectionLost()  # ends this initialisation (its timers)
        # a send queued when it restarted never reaches the modem in text mode, where
        # AT+CMGS=20 would send the PDU's hex as a text to the number 20
        self.setUp()
        self.modem.status = ModemStatus(READY)
        busy = self.modem.command("AT+CSQ")
        queued = self.modem.command("AT+CMGS=20", pdu="00" * 21)
        self.feed("\r\nRDY\r\n")
        self.assertIn("restarted", str(self.failureResultOf(queued, ModemError).value))
        self.clock.advance(COMMAND_S)  # the command in flight has its answer or deadline
        self.failureResultOf(busy, ModemError)
        self.clock.advance(SETTLE_S)
        self.assertEqual(self.transport.value(), b"AT+CSQ\rAT\r")
        self.modem.connectionLost()

    def test_bytes_that_are_not_utf8_and_control_characters_in_the_modem_text(self) -> None:
        done = defer.Deferred.fromCoroutine(self.modem._operator())
        self.modem.dataReceived(b'\r\n+COPS: 0,0,"\xff\xfeCMCC\x1b[2J\x07",7\r\n\r\nOK\r\n')
        self.successResultOf(done)
        self.assertEqual(self.modem.status.operator, "\ufffd\ufffdCMCC[2J")
        self.assertEqual(self.modem.phase, "idle")

    def test_an_echo_says_the_modem_reset_without_a_word(self) -> None:
        self.modem.status = ModemStatus(READY)
        part = encode_submit(CUSTOMER, "hello", reference=0)[0]
        answer = self.modem.command(f"AT+CMGS={part.tpdu_length}", pdu=part.hex)
        self.transport.clear()
        # ATE0 and PDU mode forgotten: the command comes back, then text mode's prompt
        self.feed(f"AT+CMGS={part.tpdu_length}\r\r\n> ")
        self.assertEqual(self.transport.value(), b"\x1b")  # cancelled, the PDU never given
        self.assertIn("restarted", str(self.failureResultOf(answer, ModemError).value))
        self.assertEqual(self.modem.status.state, "initialising")
        self.clock.advance(SETTLE_S)
        self.assertEqual(self.transport.value(), b"\x1bAT\r")
        self.modem.connectionLost()

    def test_the_pin_is_not_entered_again_by_a_retry_on_the_same_connection(self) -> None:
        self.modem.pin = "1234"
        first = defer.Deferred.fromCoroutine(self.modem._unlock())
        self.feed("\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n")
        self.feed("\r\n+CME ERROR: 100\r\n")  # a wrong PIN refused with another code than 16
        self.failureResultOf(first, ModemError)  # the initialisation fails, tried again later
        retry = defer.Deferred.fromCoroutine(self.modem._unlock())
        self.feed("\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n")
        self.assertIs(self.successResultOf(retry), False)
        self.assertEqual(self.transport.value().count(b"AT+CPIN=1234\r"), 1)
        self.assertEqual((self.modem.status.state, self.modem.status.sim), ("pin_required", "pin"))
        self.assertIn("not entered again", self.modem.status.detail)

    def test_a_sim_asking_for_pin2_or_puk2_still_does_sms(self) -> None:
        for answer, ready in (("SIM PIN2", True), ("SIM PUK2", True), ("SIM PUK", False)):
            self.setUp()  # a fresh modem
            unlocked = defer.Deferred.fromCoroutine(self.modem._unlock())
            self.assertEqual(self.transport.value(), b"AT+CPIN?\r")
            self.feed(f"\r\n+CPIN: {answer}\r\n\r\nOK\r\n")
            self.assertIs(self.successResultOf(unlocked), ready, answer)
            self.assertEqual(self.modem.status.sim, "ready" if ready else "puk", answer)

    def test_commands_with_line_breaks_or_ctrl_z_are_refused(self) -> None:
        for line in ("AT+CPIN=1234\rAT+CMGD=1,4", "AT\x1a"):
            self.failureResultOf(self.modem.command(line), ModemError)
        self.assertEqual(self.transport.value(), b"")


def test_modem_config_is_checked() -> None:
    from appliance import config

    ok = config.parse(
        "[modem]\ndevice = /dev/serial/by-id/usb-Quectel-if02\npin = 1234\nsmsc = +8613800100500\n"
    )
    assert ok.modem == config.ModemConfig(
        "/dev/serial/by-id/usb-Quectel-if02", 115200, "1234", "+8613800100500"
    )
    assert config.parse("").modem.device == ""
    with pytest.raises(config.ConfigError) as refused:
        config.parse("[modem]\ndevice = ttyUSB2\nbaudrate = 1234\npin = 12\nsmsc = SMSC\n")
    assert [p.split(" = ")[0] for p in refused.value.problems] == [
        "[modem] device",
        "[modem] baudrate",
        "[modem] pin",
        "[modem] smsc",
    ]


def test_the_simulated_modem_is_as_strict_as_a_real_one() -> None:
    sim = SimulatedModem(task.Clock(), pin="1234")
    line = StringTransport()
    sim.makeConnection(line)

    def say(command: str) -> str:
        line.clear()
        sim.dataReceived(command.encode() + b"\r")
        return line.value().decode()

    assert say("AT") == "AT\r\r\nOK\r\n"  # echo until ATE0
    assert say("ATE0") == "ATE0\r\r\nOK\r\n"
    assert say("AT+CMGL=4") == "\r\nERROR\r\n"  # the SIM wants its PIN; plain ERROR before CMEE
    assert say("AT+CMEE=1") == "\r\nOK\r\n"
    assert say("AT+CMGL=4") == "\r\n+CME ERROR: 11\r\n"
    assert say("AT+CPIN=0000") == "\r\n+CME ERROR: 16\r\n"
    assert say("AT+CPIN=1234") == "\r\nOK\r\n"
    assert say("AT+CMGS=20") == "\r\n+CMS ERROR: 302\r\n"  # text mode until AT+CMGF=0
    assert say("AT+CMGF=0") == "\r\nOK\r\n"
    assert say("AT+FOO") == "\r\nERROR\r\n"
    assert say("ATD10086;") == "\r\nERROR\r\n"
    part = encode_submit(CUSTOMER, "hello", reference=0)[0]
    assert say(f"AT+CMGS={part.tpdu_length - 1}") == "\r\n> "
    line.clear()
    sim.dataReceived(part.hex.encode() + b"\x1a")
    assert line.value() == b"\r\n+CMS ERROR: 304\r\n" and sim.sent == []
    say(f"AT+CMGS={part.tpdu_length}")
    line.clear()
    sim.dataReceived(part.hex.encode() + b"\x1a")
    assert line.value() == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"
    assert sim.sent_texts() == [(CUSTOMER, "hello")]
    sim.connectionMade()  # powered up again: the SIM asks again, and three wrong PINs lock it
    say("ATE0")
    say("AT+CMEE=1")
    assert [say("AT+CPIN=0000") for _ in range(3)] == ["\r\n+CME ERROR: 16\r\n"] * 3
    assert say("AT+CPIN?") == "\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n"


def test_a_modem_not_plugged_in_is_absent_with_the_reason() -> None:
    health = LastReports()
    service = GsmModemService(
        task.Clock(), ModemSettings("/nonexistent/ttyGSM"), health, clock=task.Clock()
    )
    service.startService()
    status = service.status()
    assert status.state == "absent" and "/nonexistent/ttyGSM" in status.detail
    report = health.get("modem")
    assert report is not None and report.state == DOWN and "/nonexistent/ttyGSM" in report.detail
    failure = service.send_sms(CUSTOMER, "hi")
    error: list[Any] = []
    failure.addErrback(error.append)
    assert "not ready (absent)" in str(error[0].value)
    service.stopService()

"""Caller ID is the caller's to choose: what a trunk sends is normalised where it enters
ccboxd (drivers/asterisk/caller_id.py), on the FastAGI path (the calls row) and on the AMI
path (the call model's CallStarted), with what was sent kept in the call's events."""

from __future__ import annotations

from twisted.internet import reactor
from twisted.trial import unittest

from appliance.master import ApplianceMaster
from drivers.asterisk.callmodel import CallStarted
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.service import SwitchSimulator
from drivers.asterisk.simulator.traffic import run_call
from tests.integration.test_daemon_switch import wait_for
from tests.support.acd_rig import master_on_switch

FULL_WIDTH = "13800138000".translate({c: c + 0xFEE0 for c in range(0x30, 0x3A)})  # Chinese IME

# (number sent, name sent) -> (number stored, name stored)
HOSTILE = [
    (('"Bob" <1234>', ""), ("1234", "Bob")),  # name-plus-number in the number field
    (("Bob <+44 20 7946 0000>", "Robert"), ("+442079460000", "Robert")),
    (
        ("<script>alert(1)</script>", '"<img src=x onerror=alert(1)>"'),
        ("", "<img src=x onerror=alert(1)>"),
    ),
    (("+86 (10) 8888-0000", 'O\'Brien "The Boss"'), ("+861088880000", 'O\'Brien "The Boss"')),
    (
        (FULL_WIDTH, "王小明\u202e\u200b"),
        ("13800138000", "王小明"),
    ),  # full width, bidi
    (("13800138000", "Bob\nSmith\x07"), ("13800138000", "Bob Smith")),  # a line break, a bell
    (("unknown", "unknown"), ("", "")),  # Asterisk's word for none: nothing to keep
    (("", ""), ("", "")),
    (("9" * 100, "x" * 1000), ("", "x" * 80)),
    (("13800138000", "Zhang San"), ("13800138000", "Zhang San")),  # as it came: no event
]


class CallerIdTests(unittest.TestCase):
    async def start(self) -> tuple[ApplianceMaster, SwitchSimulator, list[object]]:
        return await master_on_switch(self)

    async def test_hostile_caller_ids_are_stored_normalised_with_the_raw_in_the_events(
        self,
    ) -> None:
        master, sim, published = await self.start()
        for call_id, ((number, name), stored) in enumerate(HOSTILE, start=1):
            script = CallerScript(caller_number=number, caller_name=name, prompt_s=0.05)
            outcome = await run_call(reactor, sim.agi_endpoint, script, "inbound", sim.switch)
            assert outcome is not None

            async def written(call_id: int = call_id) -> bool:
                row = await master.db.calls.get(call_id)
                return row is not None and row["ended_at"] is not None

            await wait_for(written, f"call {call_id}'s row")
            row = await master.db.calls.get(call_id)
            assert row is not None
            self.assertEqual((row["caller_number"], row["caller_name"]), stored, (number, name))
            raw = [
                data["raw"]
                for kind, data in await master.db.calls.events(call_id)
                if kind == "caller_id"
            ]
            if stored == (number, name) or number == name == "unknown":
                self.assertEqual(raw, [])
            else:
                # Asterisk writes "unknown" for a value the trunk left empty; a line break
                # continues the header line, which the header parser marks U+FFFD
                sent = {
                    "number": number or "unknown",
                    "name": (name or "unknown").replace("\n", "\ufffd"),
                }
                self.assertEqual(raw, [{k: v[:256] for k, v in sent.items()}])
            # the AMI side: the channel's caller ID as the call model keeps it
            [started] = [
                e
                for e in published
                if isinstance(e, CallStarted) and e.linkedid == outcome.uniqueid
            ]
            self.assertEqual((started.caller_number, started.caller_name), stored)
            if stored != (number, name) and number != "unknown":
                assert started.caller_id_raw is not None
                self.assertEqual(started.caller_id_raw["name"], name[:256])

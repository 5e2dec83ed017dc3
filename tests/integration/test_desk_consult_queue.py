"""A consultation with a queue from the desk over the switch simulator (acd/desk_control.py):
agent 1001, on a "support" call, consults queue "billing"; billing's free agent (1002) is
rung and answers; then the transfer (the caller ends with 1002) or the three-way call. The
consult is no customer call: billing's books are untouched. The real switch:
tests/asterisk/test_desk_consult_queue.py."""

from __future__ import annotations

from typing import Any

from acd import agent_state as st
from acd.desk_control import DeskControl
from acd.service import ACDError
from drivers.asterisk.simulator.switch import Device
from tests.support.acd_rig import ACDRig, second_queue, wait_for


class DeskConsultQueueTests(ACDRig):
    def members(self, channel: str | None) -> list[str]:
        """Who talks in ``channel``'s bridge (a Local ;1 stands for whom its ;2 is bridged
        with: the simulator keeps the consult's Local pair, Asterisk swaps it out)."""
        ch = self.sim.switch.find(channel or "")
        assert ch is not None and ch.bridge is not None, channel
        names = []
        for m in ch.bridge.members:
            peer = m.local_peer
            if peer is not None and peer.bridge is not None:
                names += [p.name for p in peer.bridge.members if p is not peer]
            else:
                names.append(m.name)
        return sorted(n.split("-")[0] for n in names)

    async def _consulting_billing(
        self, talk_1001: float | None, talk_1002: float | None
    ) -> tuple[Any, DeskControl, Any]:
        """1001 on a support call, consulting queue billing, 1002 answered the consult."""
        master = await self.start(
            {
                "PJSIP/1001": Device(ring_s=0.1, talk_s=talk_1001),
                "PJSIP/1002": Device(ring_s=0.1, talk_s=talk_1002),
            },
            setup=second_queue("billing", "1002", display_name="账务 Billing"),
        )
        desk = DeskControl(master.acd)
        a1001 = self.agent(master, "1001")
        first = await self.a_call_for_billing(master)
        first_caller = a1001.call.channel
        billing = master.acd.queue("billing")
        before = (master.acd.stats[billing.id].offered, master.acd.stats[billing.id].answered)
        with self.assertRaisesRegex(ACDError, "^no queue nope$"):
            await desk.consult(a1001.id, "queue", "nope")
        # support's only agent is 1001 itself: nobody to consult there
        with self.assertRaisesRegex(ACDError, "no agent of queue support is free to consult"):
            await desk.consult(a1001.id, "queue", "support")
        said = await desk.consult(a1001.id, "queue", "billing")
        self.assertEqual(
            said, "calling agent 1002 of queue 账务 Billing: transfer, conference or cancel"
        )
        a1002 = self.agent(master, "1002")
        self.assertEqual((a1002.state, a1002.reason), (st.ON_CALL, "consult"))
        self.assertEqual(desk.status(a1001.id)["consulting"], "queue 账务 Billing: agent 1002")
        # rung straight (ccbox-agents): no FastAGI session, no queue entry for the consult
        await wait_for(
            lambda: any(
                e["Channel"].startswith("PJSIP/1002") for e in self.sim_events("BridgeEnter")
            ),
            "1002 answering the consult",
        )
        self.assertEqual(
            [
                (e.get("Channel", "")[:24], e["DestChannel"][:10])
                for e in self.sim_events("DialBegin")
            ],
            [
                (first_caller[:24], "PJSIP/1001"),
                ("", "Local/1002"),  # the Atxfer's Local pair
                ("Local/1002@ccbox-agents-", "PJSIP/1002"),
            ],
        )
        stats = master.acd.stats[billing.id]
        self.assertEqual((stats.offered, stats.answered), before)
        self.first = first
        return master, desk, a1001

    async def test_consult_a_queue_then_transfer(self) -> None:
        master, desk, a1001 = await self._consulting_billing(talk_1001=40, talk_1002=1.5)
        caller = a1001.call.channel
        self.assertEqual(await desk.complete(a1001.id), "transferred")
        await wait_for(lambda: a1001.reason == "transferred", "the AttendedTransfer", 15)
        self.assertEqual(
            [(e["Result"], e["DestType"]) for e in self.sim_events("AttendedTransfer")],
            [("Success", "Bridge")],
        )
        self.assertEqual(self.members(caller), [caller.split("-")[0], "PJSIP/1002"])
        a1002 = self.agent(master, "1002")
        self.assertIs(a1002.call.channel, caller)  # the ACD's books: 1002 has the call now
        outcome = await self.first  # the caller's Dial returns when 1002 hangs up
        self.assertFalse(outcome.caller_hung_up)
        self.assertEqual(master.acd.violations(), [])

    async def test_consult_a_queue_then_a_three_way_call(self) -> None:
        master, desk, a1001 = await self._consulting_billing(talk_1001=None, talk_1002=None)
        caller = a1001.call.channel
        self.assertEqual(await desk.conference(a1001.id), "three-way call")
        await wait_for(lambda: desk.status(a1001.id)["conference"], "the three-way call")
        self.assertEqual(
            [(e["Result"], e["DestType"]) for e in self.sim_events("AttendedTransfer")],
            [("Success", "Threeway")],
        )
        self.assertEqual(
            self.members(caller), sorted([caller.split("-")[0], "PJSIP/1001", "PJSIP/1002"])
        )
        self.assertEqual(await desk.complete(a1001.id), "transferred")  # 1001 leaves
        await wait_for(lambda: a1001.state != st.ON_CALL, "1001 off the call")
        self.assertEqual(self.members(caller), [caller.split("-")[0], "PJSIP/1002"])
        self.assertEqual(self.agent(master, "1002").state, st.ON_CALL)
        self.assertEqual(master.acd.violations(), [])

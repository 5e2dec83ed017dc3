"""Call control from the desk over the switch simulator (acd/desk_control.py): an agent on
an inbound call puts the caller on hold (the caller hears hold music), resumes, consults a
colleague and transfers; another agent cannot act on that call; click-to-dial rings the
agent's phone first, then the number, with the caller ID asked for."""

from __future__ import annotations

from acd import agent_state as st
from acd.desk_control import DeskControl
from acd.service import ACDError
from drivers.asterisk.simulator.switch import Device
from tests.support.acd_rig import ACDRig, second_queue, wait_for


class DeskControlSwitchTests(ACDRig):
    def members(self, channel: str | None) -> list[str]:
        """Who is in ``channel``'s bridge on the simulated switch."""
        ch = self.sim.switch.find(channel or "")
        assert ch is not None and ch.bridge is not None, channel
        return [m.name for m in ch.bridge.members]

    async def test_hold_resume_consult_and_transfer(self) -> None:
        master = await self.start(
            {
                "PJSIP/1001": Device(ring_s=0.2, talk_s=40),
                "PJSIP/1002": Device(ring_s=0.2, talk_s=1.5),
            },
            setup=second_queue("billing", "1002"),
            moh_class="jazz",  # "support"'s music: what its caller hears on hold too
        )
        desk = DeskControl(master.acd)
        a1001, a1002 = self.agent(master, "1001"), self.agent(master, "1002")
        first = await self.a_call_for_billing(master)
        assert a1001.call is not None
        caller = a1001.call.channel
        with self.assertRaisesRegex(ACDError, "agent 1002 is not on a call"):
            await desk.hold(a1002.id)  # the call is 1001's: 1002 has none to hold
        with self.assertRaisesRegex(ACDError, "not on hold"):
            await desk.resume(a1001.id)

        # the queue's music while the caller waited and rang (Dial m(jazz)) came before
        started, stopped = (
            len(self.sim_events("MusicOnHoldStart")),
            len(self.sim_events("MusicOnHoldStop")),
        )
        self.assertEqual(await desk.hold(a1001.id), "the caller is on hold")
        self.assertEqual(
            [(e["Channel"], e["Class"]) for e in self.sim_events("MusicOnHoldStart")[started:]],
            [(caller, "jazz")],
        )
        self.assertTrue(desk.status(a1001.id)["held"])
        with self.assertRaisesRegex(ACDError, "on hold already"):
            await desk.hold(a1001.id)
        self.assertEqual(await desk.resume(a1001.id), "back with the caller")
        await wait_for(lambda: self.sim_events("Unhold"), "the agent back with the caller")
        self.assertEqual(
            [e["Channel"] for e in self.sim_events("MusicOnHoldStop")[stopped:]], [caller]
        )
        self.assertEqual(a1001.state, st.ON_CALL)
        self.assertEqual(  # the two talk again
            sorted(m.split("-")[0] for m in self.members(caller)),
            [caller.split("-")[0], "PJSIP/1001"],
        )

        said = await desk.consult(a1001.id, "agent", "1002")
        self.assertEqual(said, "calling agent 1002: hang up to complete the transfer")
        self.assertEqual(desk.status(a1001.id)["consulting"], "agent 1002")
        await wait_for(
            lambda: any(
                e["Channel"].startswith("PJSIP/1002") for e in self.sim_events("BridgeEnter")
            ),
            "1002 answering the consult",
        )
        self.assertEqual(await desk.complete(a1001.id), "transferred")
        await wait_for(lambda: a1001.reason == "transferred", "the AttendedTransfer", 15)
        self.assertEqual(
            [(e["Result"], e["DestType"]) for e in self.sim_events("AttendedTransfer")],
            [("Success", "Bridge")],
        )
        outcome = await first  # the caller's Dial returns when 1002 hangs up
        self.assertFalse(outcome.caller_hung_up)
        self.assertEqual(master.acd.violations(), [])

    async def test_click_to_dial_rings_the_agent_then_the_number(self) -> None:
        master = await self.start(
            {
                "PJSIP/1001": Device(ring_s=0.2),
                # the simulator answers by the trunk's device and hangs up by the number's
                "DAHDI/g0": Device(ring_s=0.2),
                "DAHDI/g0/+8613800138000": Device(ring_s=0.2, talk_s=0.5),
            }
        )
        desk = DeskControl(master.acd)
        a1001, a1002 = self.agent(master, "1001"), self.agent(master, "1002")
        with self.assertRaisesRegex(ACDError, "logged out"):
            await desk.dial(a1001.id, "13800138000", ("", "4008001234"))
        master.acd.login(a1001.id)
        with self.assertRaisesRegex(ACDError, "not dialed: .*not a digit"):
            await desk.dial(a1001.id, "555\r\nApplication: System", ("", "4008001234"))
        said = await desk.dial(a1001.id, "+86 138-0013-8000", ("Sales", "4008001234"))
        self.assertEqual(said, "your phone rings: answer it to call +8613800138000")
        self.assertEqual((a1001.state, a1001.reason), (st.ON_CALL, "desk call"))
        await wait_for(lambda: a1001.state == st.AVAILABLE, "the end of the desk call")
        begins = self.sim_events("DialBegin")
        self.assertEqual(
            [e["DestChannel"].split("-")[0] for e in begins], ["PJSIP/1001", "DAHDI/1"]
        )
        # A trunk sends the outgoing leg's connected line as the calling number: the caller
        # ID ccbox-desk-dial set on the agent's channel (the phone itself showed the number).
        trunk_leg = begins[1]
        self.assertEqual(
            (trunk_leg["DestConnectedLineNum"], trunk_leg["DestConnectedLineName"]),
            ("4008001234", "Sales"),
        )
        self.assertEqual(begins[0]["DestCallerIDNum"], "+8613800138000")
        self.assertEqual(desk.status(a1001.id)["last_number"], "+8613800138000")
        self.assertEqual(
            await desk.redial(a1001.id), "your phone rings: answer it to call +8613800138000"
        )
        await wait_for(lambda: a1001.state == st.AVAILABLE, "the end of the redial")
        self.assertEqual(len(self.sim_events("DialBegin")), 4)
        with self.assertRaisesRegex(ACDError, "nothing to redial"):
            await desk.redial(a1002.id)

    async def test_a_desk_call_muted_then_a_three_way_call_with_an_outside_number(self) -> None:
        master = await self.start(
            {
                "PJSIP/1001": Device(ring_s=0.1),
                "DAHDI/g0": Device(ring_s=0.1),  # the trunk: every number
            }
        )
        desk = DeskControl(master.acd)
        a1001 = self.agent(master, "1001")
        master.acd.login(a1001.id)
        await desk.dial(a1001.id, "13800138000", ("", "4008001234"))
        await wait_for(lambda: len(self.sim_events("BridgeEnter")) == 2, "the customer answering")
        agent_leg = self.sim.switch.find(self.sim_events("DialBegin")[0]["DestChannel"])
        assert agent_leg is not None
        self.assertEqual(await desk.mute(a1001.id, True), "muted: the caller does not hear you")
        self.assertEqual(agent_leg.variables["MUTEAUDIO(in)"], "on")
        self.assertTrue(desk.status(a1001.id)["muted"])

        said = await desk.consult(a1001.id, "number", "555-1234")
        self.assertEqual(said, "calling number 5551234: transfer, conference or cancel")
        await wait_for(
            lambda: any(
                e["Channel"].startswith("DAHDI/") and e["BridgeNumChannels"] == "2"
                for e in self.sim_events("BridgeEnter")[2:]
            ),
            "5551234 answering the consult",
        )
        self.assertEqual(await desk.conference(a1001.id), "three-way call")
        await wait_for(lambda: desk.status(a1001.id)["conference"], "the three-way call")
        self.assertEqual(
            [(e["Result"], e["DestType"]) for e in self.sim_events("AttendedTransfer")],
            [("Success", "Threeway")],
        )
        customer = self.sim_events("DialBegin")[1]["DestChannel"]
        self.assertEqual(len(self.members(customer)), 3)
        self.assertIn(agent_leg.name, self.members(customer))
        self.assertEqual(await desk.complete(a1001.id), "transferred")  # 1001 leaves
        await wait_for(lambda: a1001.state == st.AVAILABLE, "1001 free again")
        self.assertEqual(len(self.members(customer)), 2)  # the two others talk on

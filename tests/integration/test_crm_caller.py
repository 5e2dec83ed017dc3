"""The caller's customer over the switch simulator: a VIP customer's call jumps the queue
(its class's [crm] priority) and the call row names its customer."""

from __future__ import annotations

from twisted.internet import defer

from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Device
from tests.support.acd_rig import ACDRig, wait_for

QUICK = Device(ring_s=0.2, talk_s=0.3)


class CallerCustomerTests(ACDRig):
    async def test_a_vip_customer_jumps_the_queue_and_the_call_names_it(self) -> None:
        master = await self.start({"PJSIP/1001": QUICK}, wrapup_s=0)
        customers = master.ivr.customers
        assert customers is not None
        vip = await customers.create("admin", "Wang", ["+86 139 0000 0009"], "vip")
        support = master.acd.queue("support").id
        first = defer.ensureDeferred(self.call(CallerScript("13800000001", prompt_s=0.1)))
        await wait_for(lambda: master.acd.stats[support].offered == 1, "the first caller")
        second = defer.ensureDeferred(self.call(CallerScript("013900000009", prompt_s=0.1)))
        await wait_for(lambda: master.acd.stats[support].offered == 2, "the VIP caller")
        master.acd.login(self.agent(master, "1001").id)
        plain, called = await defer.gatherResults([first, second])
        dialing = [e["CallerIDNum"] for e in self.sim_events("DialBegin")]
        self.assertEqual(dialing, ["013900000009", "13800000001"])
        self.assertEqual((await self.row(master, called.uniqueid))["customer_id"], vip)
        self.assertIsNone((await self.row(master, plain.uniqueid))["customer_id"])

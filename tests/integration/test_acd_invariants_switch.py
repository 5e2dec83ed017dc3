"""The ACD's invariant watch in ccboxd against the switch simulator over AMI: an agent on a
call the switch has is left alone; one the ACD holds on a call the switch does not have is
freed by the watch, with the rule as the reason (acd/invariants.py)."""

from __future__ import annotations

from twisted.internet import defer, reactor, task

from acd import agent_state as st
from acd.invariants import NO_CALL_ON_SWITCH
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Device
from tests.support.acd_rig import ACDRig, wait_for


class InvariantWatchTests(ACDRig):
    async def test_the_daemon_frees_an_agent_on_a_call_the_switch_does_not_have(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.2, talk_s=3)})
        acd = master.acd
        self.assertEqual(acd.watch_s, 5.0)  # the daemon's ACD watches
        acd.invariant_margin_s = 0.5
        a1001 = self.agent(master, "1001")
        acd.login(a1001.id)
        call = defer.ensureDeferred(self.call(CallerScript(prompt_s=0.1)))
        await wait_for(lambda: a1001.state == st.ON_CALL, "agent 1001 to answer")
        await task.deferLater(reactor, 1.0, lambda: None)
        # The switch has 1001's leg (PJSIP/1001-<8 hex> in the AMI call model): no violation.
        self.assertEqual(acd.violations(), [])
        await call
        await wait_for(lambda: a1001.state != st.ON_CALL, "the end of the call")
        if a1001.state == st.WRAP_UP:
            acd.wrapup_done(a1001.id)
        # What the misread replies used to leave behind: the ACD says on a call, the switch
        # has nothing on the phone. The watch (every 5 s) frees the agent.
        acd._enter(a1001, st.ON_CALL)
        await wait_for(lambda: a1001.state == st.AVAILABLE, "the watch to free 1001", 12)
        self.assertEqual(a1001.reason, NO_CALL_ON_SWITCH)
        self.assertEqual(acd.totals()["agents_released"], 1)

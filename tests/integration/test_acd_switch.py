"""The ACD end to end: ccboxd's master and the switch simulator on loopback sockets.

Callers enter over FastAGI, wait on hold, and are connected to the simulated phones of the
agents; AMI tells the ACD the moment a phone answers.
"""

from __future__ import annotations

from twisted.internet import defer, reactor, task

from acd import agent_state as st
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Device
from tests.support.acd_rig import ACDRig, wait_for


class ACDSwitchTests(ACDRig):
    async def test_a_caller_reaches_an_agent_who_answers(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.3, talk_s=0.5)})
        a1001 = self.agent(master, "1001")
        master.acd.login(a1001.id)
        seen: list[str] = []
        master.bus.subscribe(st.AgentStateChanged, lambda e: seen.append(e.new))
        outcome = await self.call(CallerScript(prompt_s=0.1))
        self.assertTrue(outcome.script_hung_up)
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual((row["disposition"], row["agent_id"]), ("completed", a1001.id))
        self.assertEqual(seen[:3], ["ringing", "on_call", "wrap_up"])
        await wait_for(lambda: a1001.state == st.AVAILABLE, "the end of wrap-up")
        stats = master.acd.snapshot()["queues"][0]
        self.assertEqual((stats["answered"], stats["service_level"]), (1, 1.0))
        self.assertLess(stats["avg_wait_s"], 1.0)  # no poll interval between offer and ring
        # (the recording's event follows when its legs are merged: not waited for here)
        kinds = [k for k, _ in await master.db.calls.events(row["id"]) if k != "recording_done"]
        self.assertEqual(
            kinds, ["flow_start", "ivr_step", "queued", "answered", "ivr_step", "hangup"]
        )
        steps = [d for k, d in await master.db.calls.events(row["id"]) if k == "ivr_step"]
        self.assertEqual(
            [(s["node"], s["input"], s["branch"]) for s in steps],
            [
                ("welcome", "timeout", "failed"),
                (f"queue-{master.acd.queue('support').id}", "answered", None),
            ],
        )

    async def test_no_answer_goes_to_the_next_agent(self) -> None:
        master = await self.start(
            {
                "PJSIP/1001": Device(answers=False),
                "PJSIP/1002": Device(ring_s=0.2, talk_s=0.3),
            },
            auto_pause_misses=1,
        )
        a1001, a1002 = self.agent(master, "1001"), self.agent(master, "1002")
        master.acd.login(a1001.id)  # idle longest: offered first
        await task.deferLater(reactor, 0.01, lambda: None)
        master.acd.login(a1002.id)
        outcome = await self.call(CallerScript(prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual((row["disposition"], row["agent_id"]), ("completed", a1002.id))
        self.assertEqual((a1001.state, a1001.reason), (st.PAUSED, "missed_calls"))
        dial_ends = [h for h in self.sim_events("DialEnd")]
        self.assertEqual(
            [(d["DestChannel"].split("-")[0], d["DialStatus"]) for d in dial_ends],
            [("PJSIP/1001", "NOANSWER"), ("PJSIP/1002", "ANSWER")],
        )

    async def test_blacklisted_caller_is_turned_away(self) -> None:
        master = await self.start({})
        outcome = await self.call(CallerScript(caller_number="13666666666", prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(row["disposition"], "blacklisted")
        self.assertIn('STREAM FILE ccbox-blocked ""', outcome.commands)
        self.assertEqual(master.acd.snapshot()["queues"][0]["offered"], 0)

    async def test_caller_abandons_on_hold(self) -> None:
        master = await self.start({})
        outcome = await self.call(CallerScript(prompt_s=0.1, patience_s=1.0))
        self.assertTrue(outcome.caller_hung_up)
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(row["disposition"], "abandoned")
        stats = master.acd.snapshot()["queues"][0]
        self.assertEqual((stats["abandoned"], stats["waiting"]), (1, 0))
        await defer.succeed(None)

"""The queue_log of real calls: ccboxd's master and the switch simulator on loopback sockets.

Callers enter over FastAGI and wait; an agent's phone answers and hangs up first, another
waits for the caller to hang up, a third caller gives up on hold. The file's lines are read
back with the unit test's parser (held to Asterisk's format table) and checked against the
moments the ACD published: hold time is the wait, call time the talk.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from twisted.internet import defer

from acd import agent_state as st
from acd.queue_events import QueueCallStep
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Device
from tests.support import acd_rig
from tests.support.acd_rig import ACDRig, wait_for
from tests.support.tmp import temp_dir
from tests.unit.test_queue_log import Line, read


class QueueLogSwitchTests(ACDRig):
    def setUp(self) -> None:
        super().setUp()
        self.path = Path(temp_dir(self)) / "queue_log"
        plain = acd_rig.simulated_switch

        def with_queue_log(test: Any, devices: Any = None) -> Any:
            sim, config = plain(test, devices)
            reports = dataclasses.replace(config.reports, queue_log=str(self.path))
            return sim, dataclasses.replace(config, reports=reports)

        self.patch(acd_rig, "simulated_switch", with_queue_log)

    def lines(self, uniqueid: str) -> list[Line]:
        return [x for x in read(self.path) if x.callid == uniqueid]

    async def test_answered_calls_and_an_abandon_are_logged_in_order(self) -> None:
        master = await self.start(
            {
                "PJSIP/1001": Device(ring_s=0.6, talk_s=1.3),  # hangs up first
                "PJSIP/1002": Device(ring_s=0.3),  # waits for the caller to hang up
            }
        )
        steps: dict[str, list[QueueCallStep]] = {}
        master.bus.subscribe(QueueCallStep, lambda e: steps.setdefault(e.uniqueid, []).append(e))
        a1001, a1002 = self.agent(master, "1001"), self.agent(master, "1002")
        master.acd.login(a1001.id)
        agent_hangs_up = await self.call(CallerScript(prompt_s=0.1))
        await wait_for(lambda: a1001.state == st.WRAP_UP, "1001's wrap-up")
        master.acd.logout(a1001.id)
        master.acd.login(a1002.id)
        caller_hangs_up = await self.call(CallerScript(prompt_s=0.1, patience_s=1.5))
        await wait_for(lambda: a1002.state == st.WRAP_UP, "1002's wrap-up")
        master.acd.pause(a1002.id, "break")
        abandoned = await self.call(CallerScript(prompt_s=0.1, patience_s=1.0))
        await defer.ensureDeferred(master.stopService())  # the last lines are written

        first = self.lines(agent_hangs_up.uniqueid)
        self.assertEqual(
            [(x.event, x.queue, x.agent) for x in first],
            [
                ("ENTERQUEUE", "support", "NONE"),
                ("CONNECT", "support", "Agent/1001"),
                ("COMPLETEAGENT", "support", "Agent/1001"),
            ],
        )
        self.assertEqual(first[0].data["callerid"], "13800138000")
        second = self.lines(caller_hangs_up.uniqueid)
        self.assertEqual(
            [(x.event, x.agent) for x in second],
            [("ENTERQUEUE", "NONE"), ("CONNECT", "Agent/1002"), ("COMPLETECALLER", "Agent/1002")],
        )
        for uniqueid, lines, (ring_s, talk_s) in (
            (agent_hangs_up.uniqueid, first, (0.6, 1.3)),
            (caller_hangs_up.uniqueid, second, (0.3, None)),
        ):
            joined, connected, completed = steps[uniqueid]
            enter, connect, complete = lines
            # hold time = the wait, call time = the talk, in app_queue's whole seconds
            hold, talk = int(connect.data["holdtime"]), int(complete.data["calltime"])
            self.assertEqual(hold, int(connected.at) - int(joined.at))
            self.assertEqual(talk, int(completed.at) - int(connected.at))
            self.assertEqual(
                (connect.time - enter.time, complete.time - connect.time), (hold, talk)
            )
            self.assertEqual(complete.data["holdtime"], connect.data["holdtime"])
            self.assertLess(abs(connected.at - joined.at - ring_s), 0.5)
            if talk_s is not None:
                self.assertLess(abs(completed.at - connected.at - talk_s), 0.5)
            # the agent's leg, as AMI's DialEnd named it
            self.assertEqual(connect.data["bridged_uniqueid"], connected.detail)
            self.assertRegex(connect.data["bridged_uniqueid"], r"^[0-9]+\.[0-9]+$")
        gone = self.lines(abandoned.uniqueid)
        self.assertEqual([x.event for x in gone], ["ENTERQUEUE", "ABANDON"])
        self.assertEqual(int(gone[1].data["waittime"]), gone[1].time - gone[0].time)
        events = [x.event for x in read(self.path)]
        self.assertEqual(events[0], "QUEUESTART")
        self.assertEqual(events.count("ADDMEMBER"), 2)
        self.assertIn("PAUSEALL", events)

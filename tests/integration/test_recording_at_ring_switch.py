"""A waiting caller costs the switch no capture (issue 21): the recorder decides when the
call enters the queue, and the MixMonitor starts from the caller's session only just before
it dials the offered agent's phone, once per call. End to end: ccboxd's master against the
switch simulator, a caller held with no agent logged in, then an agent logging in."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from twisted.internet import defer, reactor, task

from appliance.db import model
from drivers.asterisk.simulator.agi_caller import CallerScript, CallOutcome
from drivers.asterisk.simulator.switch import Device
from recorder.service import LiveCall
from tests.support.acd_rig import wait_for
from tests.support.recording_rig import RecordingRig, window_peaks

HOLD_S = 0.6  # how long the caller waits with nobody to take it


def _execs(outcome: CallOutcome) -> list[str]:
    """The EXEC applications the caller's session ran, in order."""
    return [c.split()[1] for c in outcome.commands if c.startswith("EXEC ")]


class _AtRingRig(RecordingRig):
    async def _waiting(self, master: Any) -> tuple[defer.Deferred[CallOutcome], LiveCall]:
        """A caller in the queue with no agent logged in, held ``HOLD_S``: (its outcome to
        come, its live call). Nothing of a capture is on its channel meanwhile."""
        outcome = defer.ensureDeferred(self.call(CallerScript(prompt_s=0.1)))
        await wait_for(lambda: master.recorder.live, "the caller in the queue")
        [live] = master.recorder.live.values()
        await wait_for(lambda: len(master.acd.calls) == 1, "the caller waiting")
        await task.deferLater(reactor, HOLD_S, lambda: None)
        self.assert_no_capture(live)
        return outcome, live

    def assert_no_capture(self, live: LiveCall) -> None:
        channel = self.sim.switch.find(live.channel)
        assert channel is not None
        self.assertIsNone(channel.monitor)
        self.assertEqual(self.sim_events("MixMonitorStart"), [])
        self.assertEqual(self.sim_events("MixMonitorMute"), [])
        self.assertFalse(live.started)

    def event_order(self, *names: str) -> list[str]:
        """The simulator's events of these kinds, in the order it sent them."""
        return [e["Event"] for e in map(dict, self.recorded) if e.get("Event") in names]

    async def audit(self, master: Any) -> list[tuple[str, str, str]]:
        a = model.audit_log
        rows = await master.db.run(
            lambda c: c.execute(sa.select(a.c.actor, a.c.action, a.c.target).order_by(a.c.id)).all()
        )
        return [tuple(row) for row in rows]


class CaptureAtRingTests(_AtRingRig):
    async def test_a_recorded_caller_has_no_capture_until_its_ring(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.3, talk_s=2.0)})
        done, live = await self._waiting(master)
        self.assertIsNotNone(live.plan)  # decided: recorded, from the ring
        self.assertEqual(
            master.recorder.status(live.call_id) | {"paused_ms": 0},
            {
                "call_id": live.call_id,
                "recording": True,
                "started": False,
                "reason": "policy",
                "skipped": "",
                "paused": False,
                "paused_ms": 0,
            },
        )
        master.acd.login(self.agent(master, "1001").id)
        outcome = await done
        execs = _execs(outcome)
        self.assertEqual(execs.count("MixMonitor"), 1)
        self.assertEqual(execs[execs.index("MixMonitor") + 1], "Dial")  # just before the ring
        self.assertEqual(
            self.event_order("MixMonitorStart", "DialBegin", "BridgeEnter")[:2],
            ["MixMonitorStart", "DialBegin"],
        )
        self.assertEqual(self.sim_events("MixMonitorMute"), [])  # a recording: never muted
        # the recorded file is the talk, as when the agent was free at once: the caller
        # (left) speaks from 0 to 1.5 s, the agent (right) from 1.4 s
        rec = await self.recording(master, live.call_id)
        self.assertEqual((rec.reason, rec.paused_ms), ("policy", 0))
        self.assertTrue(1900 <= rec.duration_ms <= 2200, rec.duration_ms)
        peaks = window_peaks(str(master.config.recording_dir / rec.path))
        self.assertTrue(all(a > 1000 and b == 0 for a, b in peaks[:13]), peaks)
        self.assertTrue(all(a == 0 and b > 1000 for a, b in peaks[17:19]), peaks)

    async def test_a_caller_not_recorded_gets_its_standby_at_the_ring(self) -> None:
        master = await self.start(
            {"PJSIP/1001": Device(ring_s=0.3, talk_s=2.0)}, record_calls=False
        )
        done, live = await self._waiting(master)
        self.assertEqual((live.plan, live.skipped), (None, "queue_policy"))
        master.acd.login(self.agent(master, "1001").id)
        await wait_for(lambda: self.sim_events("BridgeEnter"), "the agent answering")
        self.assertIsNotNone(live.standby)
        # muted from its start, before the agent is rung
        self.assertEqual(
            self.event_order("MixMonitorStart", "MixMonitorMute", "DialBegin"),
            ["MixMonitorStart", "MixMonitorMute", "DialBegin"],
        )
        await task.deferLater(reactor, 0.3, lambda: None)
        status = await master.recorder.start_on_demand(live.call_id, "sue")
        self.assertEqual((status["recording"], status["started"]), (True, True))
        self.assertEqual(
            [(m["Direction"], m["State"]) for m in self.sim_events("MixMonitorMute")],
            [("both", "1"), ("both", "0")],  # "record now" unmuted the standby
        )
        await done
        rec = await self.recording(master, live.call_id)
        self.assertEqual(rec.reason, "on_demand")
        peaks = window_peaks(str(master.config.recording_dir / rec.path))
        self.assertEqual(peaks[:2], [(0, 0)] * 2)  # silence until "record now"
        self.assertTrue(all(a > 1000 and b == 0 for a, b in peaks[6:13]), peaks)

    async def test_record_now_while_the_caller_waits(self) -> None:
        master = await self.start(
            {"PJSIP/1001": Device(ring_s=0.3, talk_s=2.0)}, record_calls=False
        )
        done, live = await self._waiting(master)
        status = await master.recorder.start_on_demand(live.call_id, "sue", "10.0.0.9")
        self.assertEqual(
            (status["recording"], status["started"], status["reason"], status["skipped"]),
            (True, False, "on_demand", ""),
        )
        self.assert_no_capture(live)  # still nothing on the switch: the ring starts it
        events = dict(await master.db.calls.events(live.call_id))
        self.assertEqual(events["recording_skipped"], {"reason": "queue_policy"})
        self.assertEqual(events["recording_started"], {"reason": "on_demand", "by": "sue"})
        self.assertEqual(
            await self.audit(master), [("sue", "recording.start", f"call:{live.call_id}")]
        )
        master.acd.login(self.agent(master, "1001").id)
        await done
        self.assertEqual(len(self.sim_events("MixMonitorStart")), 1)
        self.assertEqual(self.sim_events("MixMonitorMute"), [])  # started unmuted
        self.assertNotIn("mixmonitormute", self.sim.manager.actions)
        rec = await self.recording(master, live.call_id)
        self.assertEqual((rec.reason, rec.paused_ms), ("on_demand", 0))
        peaks = window_peaks(str(master.config.recording_dir / rec.path))
        self.assertTrue(all(a > 1000 and b == 0 for a, b in peaks[:13]), peaks)  # all of it

    async def test_a_pause_while_the_caller_waits_mutes_the_start(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.3, talk_s=2.0)})
        done, live = await self._waiting(master)
        paused_at = time.monotonic()
        status = await master.recorder.pause(live.call_id, "alice")
        self.assertEqual((status["paused"], status["started"]), (True, False))
        self.assertNotIn("mixmonitormute", self.sim.manager.actions)  # no capture to mute
        await task.deferLater(reactor, 0.5, lambda: None)  # paused, still waiting
        login_at = time.monotonic()
        master.acd.login(self.agent(master, "1001").id)
        await wait_for(lambda: self.sim_events("BridgeEnter"), "the agent answering")
        # muted right after its start, before the agent was rung
        self.assertEqual(
            self.event_order("MixMonitorStart", "MixMonitorMute", "DialBegin"),
            ["MixMonitorStart", "MixMonitorMute", "DialBegin"],
        )
        self.assertEqual(
            [(m["Direction"], m["State"]) for m in self.sim_events("MixMonitorMute")],
            [("both", "1")],
        )
        await task.deferLater(reactor, 0.5, lambda: None)  # half a second of the talk
        status = await master.recorder.resume(live.call_id, "alice")
        resumed_at = time.monotonic()
        self.assertFalse(status["paused"])
        self.assertEqual(
            [(m["Direction"], m["State"]) for m in self.sim_events("MixMonitorMute")],
            [("both", "1"), ("both", "0")],
        )
        await done
        rec = await self.recording(master, live.call_id)
        # the file's paused time: from the capture's start at the ring, not the request
        self.assertLessEqual(abs(rec.paused_ms - (resumed_at - login_at) * 1000), 150)
        self.assertLess(rec.paused_ms, (resumed_at - paused_at - 0.4) * 1000)
        peaks = window_peaks(str(master.config.recording_dir / rec.path))
        self.assertEqual(peaks[:4], [(0, 0)] * 4)  # the talk's first half second: muted
        self.assertTrue(all(a > 1000 and b == 0 for a, b in peaks[7:13]), peaks)

    async def test_a_pause_and_resume_while_waiting_never_reach_the_switch(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.3, talk_s=0.5)})
        done, live = await self._waiting(master)
        await master.recorder.pause(live.call_id, "alice")
        status = await master.recorder.resume(live.call_id, "alice")
        self.assertEqual((status["paused"], status["started"]), (False, False))
        master.acd.login(self.agent(master, "1001").id)
        await done
        self.assertEqual(len(self.sim_events("MixMonitorStart")), 1)
        self.assertNotIn("mixmonitormute", self.sim.manager.actions)
        rec = await self.recording(master, live.call_id)
        self.assertEqual(rec.paused_ms, 0)  # closed before the file began
        kinds = [k for k, _ in await master.db.calls.events(live.call_id)]
        self.assertEqual(
            [k for k in kinds if k.startswith("recording_")],
            ["recording_paused", "recording_resumed", "recording_done"],
        )

    async def test_a_re_offer_after_no_answer_starts_no_second_capture(self) -> None:
        master = await self.start(
            {
                "PJSIP/1001": Device(answers=False, ring_s=5),
                "PJSIP/1002": Device(ring_s=0.3, talk_s=1.0),
            }
        )
        done, live = await self._waiting(master)
        master.acd.login(self.agent(master, "1001").id)
        await wait_for(
            lambda: [e for e in self.sim_events("DialEnd") if e.get("DialStatus") == "NOANSWER"],
            "agent 1001 not answering",
            8,
        )
        self.assertTrue(live.started)
        master.acd.login(self.agent(master, "1002").id)
        outcome = await done
        execs = _execs(outcome)
        self.assertGreaterEqual(execs.count("Dial"), 2)
        self.assertEqual(execs.count("MixMonitor"), 1)
        self.assertEqual(len(self.sim_events("MixMonitorStart")), 1)
        rec = await self.recording(master, live.call_id)
        self.assertEqual(rec.agent_id, self.agent(master, "1002").id)
        self.assertTrue(900 <= rec.duration_ms <= 1200, rec.duration_ms)

    async def test_a_full_disk_at_entry(self) -> None:
        """Nothing is decided to record and nothing starts at the ring; "record now" while
        the caller still waits records it once the disk has room again."""
        master = await self.start({"PJSIP/1001": Device(ring_s=0.3, talk_s=1.0)})
        room = [False]

        async def has_room() -> bool:
            return room[0]

        self.patch(master.recorder.guard, "has_room", has_room)
        first_done, first = await self._waiting(master)
        self.assertEqual(first.skipped, "disk_full")
        master.acd.login(self.agent(master, "1001").id)
        outcome = await first_done
        self.assertNotIn("MixMonitor", _execs(outcome))
        self.assertEqual(self.sim_events("MixMonitorStart"), [])
        self.assertNotIn("mixmonitormute", self.sim.manager.actions)
        events = dict(await master.db.calls.events(first.call_id))
        self.assertEqual(events["recording_skipped"], {"reason": "disk_full"})
        # the next caller finds the disk full too, and waits while agent 1001 wraps up
        await wait_for(lambda: not master.recorder.live, "the first call's end")
        master.acd.logout(self.agent(master, "1001").id)
        second_done, second = await self._waiting(master)
        self.assertEqual(second.skipped, "disk_full")
        room[0] = True
        status = await master.recorder.start_on_demand(second.call_id, "sue")
        self.assertEqual((status["recording"], status["started"]), (True, False))
        await wait_for(lambda: self.agent(master, "1001").state != "on_call", "agent 1001 free", 5)
        master.acd.login(self.agent(master, "1001").id)
        await second_done
        rec = await self.recording(master, second.call_id)
        self.assertEqual(rec.reason, "on_demand")
        self.assertEqual(await master.db.recordings.count(), 1)

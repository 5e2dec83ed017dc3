"""Recording control end to end (ccboxd's master against the switch simulator): the PCI pause
mutes the channel's MixMonitor (the merged file is silent there) and resumes by itself; a
call the policy does not record leaves ``recording_skipped`` and can be recorded on demand
(its standby MixMonitor, started at the agent's ring and muted from its start, is unmuted:
the manager user needs no ``system`` class); the web API checks who may act on which call.
What happens while the caller still waits: test_recording_at_ring_switch.py."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from twisted.internet import defer, reactor, task, threads

from appliance.db import model
from drivers.asterisk.simulator.agi_caller import CallerScript, CallOutcome
from drivers.asterisk.simulator.switch import Device
from recorder.service import ControlError, LiveCall
from tests.support.acd_rig import wait_for
from tests.support.http import Browser
from tests.support.recording_rig import RecordingRig, window_peaks


class _ControlRig(RecordingRig):
    PAUSE_MAX_S = 1

    async def _bridged_call(self, master: Any, talk_s: float) -> tuple[Any, LiveCall]:
        """A caller answered by agent 1001, talking ``talk_s``: (its outcome, its live call)."""
        master.acd.login(self.agent(master, "1001").id)
        outcome = defer.ensureDeferred(self.call(CallerScript(prompt_s=0.1)))
        await wait_for(lambda: self.sim_events("BridgeEnter"), "the agent answering")
        [live] = master.recorder.live.values()
        return outcome, live

    async def _audit(self, master: Any) -> list[tuple[str, str, str]]:
        rows = await master.db.run(
            lambda c: c.execute(
                sa.select(
                    model.audit_log.c.actor, model.audit_log.c.action, model.audit_log.c.target
                ).order_by(model.audit_log.c.id)
            ).all()
        )
        return [tuple(r) for r in rows]


class RecordingControlTests(_ControlRig):
    async def test_pause_silences_both_legs_and_resumes_by_itself(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.2, talk_s=3.0)})
        done, live = await self._bridged_call(master, 3.0)
        await task.deferLater(reactor, 0.5, lambda: None)
        status = await master.recorder.pause(live.call_id, "alice", "10.0.0.9")
        self.assertTrue(status["paused"])
        again = await master.recorder.pause(live.call_id, "alice")  # idempotent
        self.assertTrue(again["paused"])
        mutes = self.sim_events("MixMonitorMute")
        self.assertEqual([(m["Direction"], m["State"]) for m in mutes], [("both", "1")])
        await wait_for(lambda: not live.pause.paused, "the automatic resume", 3)
        self.assertEqual(
            [(m["Direction"], m["State"]) for m in self.sim_events("MixMonitorMute")],
            [("both", "1"), ("both", "0")],
        )
        with self.assertRaises(ControlError) as cm:
            await master.recorder.resume(live.call_id, "alice")
        self.assertEqual(cm.exception.status, 409)
        outcome: CallOutcome = await done
        rec = await self.recording(master)
        self.assertTrue(900 <= rec.paused_ms <= 1200, rec.paused_ms)
        peaks = window_peaks(str(master.config.recording_dir / rec.path))
        # The simulator's conversation: the caller (left) speaks from 0 to 1.5 s, the agent
        # (right) from 1.4 to 3.0 s. The caller alone for 0.5 s, about 1 s of silence on both
        # legs (paused), then the agent alone.
        self.assertTrue(all(left > 1000 and right == 0 for left, right in peaks[:4]), peaks)
        self.assertEqual(peaks[7:13], [(0, 0)] * 6)
        self.assertTrue(all(left == 0 and right > 1000 for left, right in peaks[18:28]), peaks)
        target = f"call:{live.call_id}"
        self.assertEqual(
            await self._audit(master),
            [("alice", "recording.pause", target), ("system", "recording.resume", target)],
        )
        row = await self.row(master, outcome.uniqueid)
        kinds = [k for k, _ in await master.db.calls.events(row["id"])]
        self.assertIn("recording_paused", kinds)
        self.assertIn("recording_resumed", kinds)
        self.assertEqual(kinds.count("recording_paused"), 1)

    async def test_a_queue_that_does_not_record_can_be_recorded_on_demand(self) -> None:
        master = await self.start(
            {"PJSIP/1001": Device(ring_s=0.2, talk_s=2.0)}, record_calls=False
        )
        done, live = await self._bridged_call(master, 2.0)
        self.assertIsNone(live.plan)
        self.assertEqual(live.skipped, "queue_policy")
        with self.assertRaises(ControlError) as cm:
            await master.recorder.pause(live.call_id, "sue")
        self.assertEqual(cm.exception.status, 409)
        await task.deferLater(reactor, 0.3, lambda: None)
        status = await master.recorder.start_on_demand(live.call_id, "sue")
        self.assertEqual((status["recording"], status["reason"]), (True, "on_demand"))
        with self.assertRaises(ControlError) as cm:
            await master.recorder.start_on_demand(live.call_id, "sue")
        self.assertEqual(cm.exception.status, 409)
        outcome: CallOutcome = await done
        [monitor] = [c for c in outcome.commands if c.startswith("EXEC MixMonitor")]
        self.assertIn(",bSr(", monitor)  # the standby capture, started by the session
        self.assertNotIn("mixmonitor", self.sim.manager.actions)  # never the system-class action
        self.assertEqual(self.sim.manager.actions["mixmonitormute"], 2)  # muted, then unmuted
        rec = await self.recording(master)
        self.assertEqual(rec.reason, "on_demand")
        self.assertEqual(rec.paused_ms, 0)
        peaks = window_peaks(str(master.config.recording_dir / rec.path))
        # silence until "record now" (about 0.3 s into the talk), then the simulator's
        # conversation: the caller (left) until 1.5 s, the agent (right) from 1.4 s
        self.assertEqual(peaks[:2], [(0, 0)] * 2)
        self.assertTrue(all(a > 1000 and b == 0 for a, b in peaks[6:14]), peaks)
        self.assertTrue(all(a == 0 and b > 1000 for a, b in peaks[16:19]), peaks)
        row = await self.row(master, outcome.uniqueid)
        events = dict(await master.db.calls.events(row["id"]))
        self.assertEqual(events["recording_skipped"], {"reason": "queue_policy"})
        self.assertEqual(events["recording_started"]["reason"], "on_demand")
        self.assertEqual(
            await self._audit(master), [("sue", "recording.start", f"call:{live.call_id}")]
        )

    async def test_a_standby_capture_never_started_leaves_nothing(self) -> None:
        master = await self.start(
            {"PJSIP/1001": Device(ring_s=0.2, talk_s=0.5)}, record_calls=False
        )
        done, live = await self._bridged_call(master, 0.5)
        self.assertIsNotNone(live.standby)
        outcome: CallOutcome = await done
        self.assertTrue([c for c in outcome.commands if c.startswith("EXEC MixMonitor")])
        await wait_for(lambda: not master.recorder.live, "the call's end")
        await wait_for(lambda: not master.recorder.pending, "the standby legs removed")
        self.assertEqual(await master.db.recordings.count(), 0)
        root = master.config.recording_dir
        self.assertEqual([p for p in root.rglob("*") if p.is_file()], [])

    async def test_a_did_that_does_not_record(self) -> None:
        def no_recording(conn: Any, ids: dict[str, int]) -> None:
            conn.execute(model.dids.insert().values(number="4008001234", record_calls=False))

        master = await self.start({"PJSIP/1001": Device(ring_s=0.2, talk_s=0.5)}, no_recording)
        master.acd.login(self.agent(master, "1001").id)
        outcome = await self.call(CallerScript(prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        events = dict(await master.db.calls.events(row["id"]))
        self.assertEqual(events["recording_skipped"], {"reason": "did_policy"})
        self.assertEqual(self.sim.manager.actions["mixmonitormute"], 1)  # standby: muted
        await task.deferLater(reactor, 0.3, lambda: None)
        self.assertEqual(await master.db.recordings.count(), 0)


class RecordingControlApiTests(_ControlRig):
    async def _browser(self, master: Any, name: str, role: str) -> tuple[Browser, str]:
        user = await master.db.users.add(name, f"{name}-password", role, name)
        if name == "agent1001":
            self.agent(master, "1001").user_id = user.id
        b = Browser(master.web.port_number)
        r = await threads.deferToThread(b.login, name, f"{name}-password")
        self.assertEqual(r.status, 303, r.body[:200])
        token = (await threads.deferToThread(b.get, "/")).csrf()
        return b, token

    async def test_who_may_pause_which_call(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.2, talk_s=3.0)})
        agent, agent_token = await self._browser(master, "agent1001", "agent")
        other, other_token = await self._browser(master, "agent9", "agent")
        qa, qa_token = await self._browser(master, "quinn", "qa")
        sup, sup_token = await self._browser(master, "sue", "supervisor")
        done, live = await self._bridged_call(master, 3.0)

        def post(b: Browser, token: str | None, path: str, body: Any) -> Any:
            return threads.deferToThread(b.post_json, f"/api/recording_control/{path}", body, token)

        r = await post(agent, None, "pause", {})
        self.assertEqual(r.status, 403)  # no CSRF token
        r = await post(qa, qa_token, "pause", {"call_id": live.call_id})
        self.assertEqual(r.status, 403)
        r = await post(other, other_token, "pause", {"call_id": live.call_id})
        self.assertEqual(r.status, 403)  # another agent's call
        r = await post(other, other_token, "pause", {})
        self.assertEqual(r.status, 404)  # on no call
        r = await post(sup, sup_token, "pause", {"call_id": 999999})
        self.assertEqual(r.status, 404)
        r = await post(sup, sup_token, "pause", {"call_id": "1; DROP TABLE calls"})
        self.assertEqual(r.status, 400)
        r = await post(agent, agent_token, "resume", {})
        self.assertEqual((r.status, "not paused" in r.json()["error"]), (409, True), r.body)
        r = await post(agent, agent_token, "pause", {})
        self.assertEqual((r.status, r.json()["paused"]), (200, True))
        r = await threads.deferToThread(
            sup.get, f"/api/recording_control/status?call_id={live.call_id}"
        )
        self.assertEqual((r.status, r.json()["paused"], r.json()["reason"]), (200, True, "policy"))
        r = await post(sup, sup_token, "resume", {"call_id": live.call_id})
        self.assertEqual((r.status, r.json()["paused"]), (200, False))
        r = await post(sup, sup_token, "start", {"call_id": live.call_id})
        self.assertEqual(r.status, 409)  # recorded already
        await done
        actions = [(a, act) for a, act, _ in await self._audit(master)]
        self.assertEqual(actions, [("agent1001", "recording.pause"), ("sue", "recording.resume")])

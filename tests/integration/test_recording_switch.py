"""Every answered call leaves a stereo recording: MixMonitor started from the call's session
with literal leg paths (bridged audio only), the legs merged once Asterisk has closed them
(the channel's Hangup), the file indexed, the legs removed."""

from __future__ import annotations

import wave

from twisted.internet import reactor, task

from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Device
from tests.support.acd_rig import ACDRig


class RecordingTests(ACDRig):
    async def test_an_answered_call_is_recorded_in_stereo(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.2, talk_s=1.0)})
        master.acd.login(self.agent(master, "1001").id)
        outcome = await self.call(CallerScript(prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        [monitor] = [c for c in outcome.commands if c.startswith("EXEC MixMonitor")]
        self.assertNotIn("${", monitor)
        root = master.config.recording_dir
        self.assertIn(f'"{root}/legs/', monitor)
        self.assertIn(",br(", monitor)
        for _ in range(200):
            if await master.db.recordings.count():
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        events = dict(await master.db.calls.events(row["id"]))
        done = events["recording_done"]
        path = root / done["path"]
        with wave.open(str(path)) as w:
            self.assertEqual((w.getnchannels(), w.getframerate()), (2, 8000))
            seconds = w.getnframes() / 8000
        self.assertTrue(0.9 <= seconds <= 1.15, seconds)  # the talk time
        self.assertEqual(done["talk_over"], 1.0)  # the simulator's two tones overlap
        self.assertEqual(list((root / "legs").rglob("*.*law")), [])  # legs removed

    async def test_a_call_nobody_answers_leaves_no_recording(self) -> None:
        master = await self.start({}, max_wait_s=1, overflow_kind="hangup")
        outcome = await self.call(CallerScript(prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        await task.deferLater(reactor, 0.5, lambda: None)
        self.assertEqual(await master.db.recordings.count(), 0)
        self.assertNotIn("recording_done", dict(await master.db.calls.events(row["id"])))

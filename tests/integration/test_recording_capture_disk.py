"""A disk that fills up stops new recordings with an alarm, never a call: on a real 2 MB tmpfs
(mounted for the test, unmounted at cleanup) as the recording root, with ``min_free_mb=1``."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet import reactor

from appliance import health
from appliance.config import RecordingConfig
from appliance.health import HealthRegistry
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Device
from recorder import postprocess
from recorder.disk_guard import DiskGuard, RecordingAlarm
from tests.support import acd_rig
from tests.support.acd_rig import ACDRig, wait_for


def small_disk(test: Any) -> Path:
    """A 2 MB tmpfs, unmounted when the test ends."""
    where = Path(tempfile.mkdtemp(prefix="ccbox-disk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], check=True)
    test.addCleanup(lambda: (subprocess.run(["umount", str(where)], check=True), where.rmdir()))
    return where


def fill(disk: Path) -> Path:
    """Leave less than 1 MB free."""
    hog = disk / "hog"
    with hog.open("wb") as f:
        f.write(b"\0" * (1536 * 1024))
        f.flush()
        os.fsync(f.fileno())
    return hog


class DiskGuardTests(ACDRig):
    async def test_the_alarm_rises_and_clears_with_the_free_space(self) -> None:
        disk = small_disk(self)
        registry, alarms = HealthRegistry(), []
        guard = DiskGuard(reactor, disk / "recordings", 1, registry, alarms.append)
        self.addCleanup(guard.stop)
        self.assertTrue(await guard.has_room())
        self.assertEqual((alarms, registry.parts()), ([], []))
        hog = fill(disk)
        self.assertFalse(await guard.has_room())
        [part] = registry.parts()
        self.assertEqual((part.name, part.state), ("recorder", health.DEGRADED))
        self.assertIn("MB free", part.detail)
        self.assertIn("min_free_mb = 1", part.detail)
        self.assertEqual(alarms, [RecordingAlarm(True, part.detail)])
        self.assertFalse(await guard.has_room())  # still full: one alarm, not two
        self.assertEqual(len(alarms), 1)
        hog.unlink()
        self.assertTrue(await guard.has_room())
        self.assertEqual(registry.parts()[0].state, health.OK)
        self.assertEqual([a.raised for a in alarms], [True, False])


class DiskFullCallTests(ACDRig):
    def setUp(self) -> None:
        super().setUp()
        self.disk = small_disk(self)
        original = acd_rig.simulated_switch

        def on_small_disk(test: Any, devices: Any = None) -> Any:
            sim, config = original(test, devices)
            return sim, dataclasses.replace(
                config,
                recording_dir=self.disk / "recordings",
                recording=RecordingConfig(min_free_mb=1),
            )

        self.patch(acd_rig, "simulated_switch", on_small_disk)

    async def test_a_full_disk_stops_recording_not_the_call(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.2, talk_s=0.5)})
        alarms: list[RecordingAlarm] = []
        master.bus.subscribe(RecordingAlarm, alarms.append)
        master.acd.login(self.agent(master, "1001").id)
        hog = fill(self.disk)
        outcome = await self.call(CallerScript(prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual((row["disposition"], row["agent_id"] is not None), ("completed", True))
        events = dict(await master.db.calls.events(row["id"]))
        self.assertEqual(events["recording_skipped"], {"reason": "disk_full"})
        self.assertFalse([c for c in outcome.commands if "MixMonitor" in c])
        recorder = next(p for p in master.health.parts() if p.name == "recorder")
        self.assertEqual(recorder.state, health.DEGRADED)
        self.assertEqual([a.raised for a in alarms], [True])
        # space is back: the next call is recorded and the alarm clears
        hog.unlink()
        await wait_for(lambda: self.agent(master, "1001").state == "available", "wrap-up", 5)
        outcome = await self.call(CallerScript(prompt_s=0.1))
        await wait_for(lambda: not master.recorder.pending, "the merge")
        await self.row(master, outcome.uniqueid)
        await wait_for(lambda: not master.recorder.pending, "the merge")
        self.assertEqual(await master.db.recordings.count(), 1)
        self.assertEqual([a.raised for a in alarms], [True, False])
        recorder = next(p for p in master.health.parts() if p.name == "recorder")
        self.assertEqual(recorder.state, health.OK)

    async def test_a_merge_that_hits_a_full_disk_keeps_the_legs(self) -> None:
        def full(rx: Path, tx: Path, out: Path, key: bytes | None = None) -> Any:
            raise postprocess.DiskFull(f"{out.name}: No space left on device")

        self.patch(postprocess, "merge", full)
        master = await self.start({"PJSIP/1001": Device(ring_s=0.2, talk_s=0.5)})
        alarms: list[RecordingAlarm] = []
        master.bus.subscribe(RecordingAlarm, alarms.append)
        master.acd.login(self.agent(master, "1001").id)
        outcome = await self.call(CallerScript(prompt_s=0.1))
        await self.row(master, outcome.uniqueid)
        await wait_for(lambda: alarms, "the alarm")
        await wait_for(lambda: not master.recorder.pending, "the merge")
        legs = sorted(p.name[-7:] for p in (self.disk / "recordings" / "legs").rglob("*.ulaw"))
        self.assertEqual(legs, ["rx.ulaw", "tx.ulaw"])
        self.assertEqual(await master.db.recordings.count(), 0)
        self.assertIn("disk full", alarms[0].detail)
        recorder = next(p for p in master.health.parts() if p.name == "recorder")
        self.assertEqual(recorder.state, health.DEGRADED)

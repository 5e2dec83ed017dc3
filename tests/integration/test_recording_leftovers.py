"""Legs left behind (a crash, a stop mid-call, a merge that found the disk full) are found,
merged and indexed late by the recorder, or removed when they were never meant to be kept;
legs still being written, or of a call the recorder is still busy with, are left alone.
Real files, a real thread pool, the migrated SQLite database."""

from __future__ import annotations

import datetime as dt
import os
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
from twisted.internet import defer, reactor
from twisted.trial import unittest

from appliance.config import RecordingConfig
from drivers.audio import g711
from recorder import capture, leftovers
from recorder.service import LiveCall, RecorderService
from recorder.upkeep import RecordingUpkeep
from tests.support.inline_db import inline_db
from tests.support.tmp import temp_dir

HOUR = 3600.0
STARTED = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)


def tone(seconds: float, freq: float) -> bytes:
    n = np.arange(int(seconds * 8000))
    pcm = (np.sin(2 * np.pi * freq * n / 8000) * 6000).astype("<i2").tobytes()
    return g711.ulaw_encode(pcm)


def age(paths: tuple[Path, ...], seconds: float) -> None:
    """Make the files look last written ``seconds`` ago."""
    then = time.time() - seconds
    for path in paths:
        if path.exists():
            os.utime(path, (then, then))


class LeftoverTests(unittest.TestCase):
    def setUp(self) -> defer.Deferred[None]:
        return defer.ensureDeferred(self._setup())

    async def _setup(self) -> None:
        tmp = temp_dir(self)
        self.root = tmp / "recordings"
        self.root.mkdir()
        db_cm = inline_db(tmp / "db.sqlite")
        self.db = db_cm.__enter__()
        self.addCleanup(db_cm.__exit__, None, None, None)
        settings = RecordingConfig(min_free_mb=0)
        self.recorder = RecorderService(reactor, self.db, self.root, settings=settings)
        self.recorder.startService()
        self.addCleanup(self.recorder.stopService)

    async def call(self, uniqueid: str, *events: tuple[str, dict[str, Any]]) -> int:
        call_id = await self.db.calls.start(
            uniqueid,
            uniqueid,
            "inbound",
            STARTED,
            caller_number="13800138000",
            caller_name="Zhang San",
            called_number="4008001234",
            channel="DAHDI/5-1",
            trunk="DAHDI",
        )
        for kind, data in events:
            await self.db.calls.add_event(call_id, kind, STARTED, data)
        return call_id

    def legs(self, call_id: int, uniqueid: str, seconds: float = 2.0) -> capture.Capture:
        plan = capture.plan(self.root, call_id, uniqueid, "ulaw", STARTED)
        plan.rx.parent.mkdir(parents=True, exist_ok=True)
        plan.rx.write_bytes(tone(seconds, 300))
        plan.tx.write_bytes(tone(seconds, 700))
        return plan

    async def test_left_behind_legs_are_merged_and_indexed_late(self) -> None:
        call_id = await self.call("1795353000.1")
        plan = self.legs(call_id, "1795353000.1")
        age((plan.rx, plan.tx), 2 * HOUR)
        self.assertEqual(await self.recorder.recover_leftovers(), 1)
        out = self.root / plan.relative
        with wave.open(str(out)) as w:
            self.assertEqual((w.getnchannels(), w.getnframes()), (2, 16000))
        [(rid,)] = await self.db.run(lambda c: list(c.exec_driver_sql("SELECT id FROM recordings")))
        rec = await self.db.recordings.get(rid)
        assert rec is not None
        self.assertEqual(
            (rec.call_id, rec.path, rec.started_at, rec.duration_ms, rec.reason),
            (call_id, plan.relative, STARTED, 2000, "policy"),
        )
        self.assertEqual((rec.caller_number, rec.channel_number), ("13800138000", 5))
        self.assertEqual((rec.caller_talk_ratio, rec.agent_talk_ratio), (1.0, 1.0))
        events = dict(await self.db.calls.events(call_id))
        self.assertTrue(events["recording_done"]["recovered"])
        self.assertFalse(plan.rx.exists() or plan.tx.exists())  # the legs are gone
        self.assertEqual(await self.recorder.recover_leftovers(), 0)  # once only

    async def test_an_on_demand_recording_keeps_its_reason(self) -> None:
        call_id = await self.call("1795353000.2", ("recording_skipped", {"reason": "policy"}))
        await self.db.calls.add_event(
            call_id, "recording_started", STARTED, {"reason": "on_demand"}
        )
        plan = self.legs(call_id, "1795353000.2")
        age((plan.rx, plan.tx), 2 * HOUR)
        self.assertEqual(await self.recorder.recover_leftovers(), 1)
        [(reason,)] = await self.db.run(
            lambda c: list(c.exec_driver_sql("SELECT reason FROM recordings"))
        )
        self.assertEqual(reason, "on_demand")

    async def test_what_was_never_to_be_kept_is_removed(self) -> None:
        # a standby capture (muted: the policy said no, nobody pressed "record now")
        standby = await self.call("1795353000.3", ("recording_skipped", {"reason": "policy"}))
        a = self.legs(standby, "1795353000.3")
        # legs whose recording is indexed already (their removal failed after the merge)
        merged = await self.call("1795353000.4", ("recording_done", {"path": "x.wav"}))
        b = self.legs(merged, "1795353000.4")
        # legs with no sound at all (never bridged)
        silent = await self.call("1795353000.5")
        c = capture.plan(self.root, silent, "1795353000.5", "ulaw", STARTED)
        c.rx.write_bytes(b"")
        for plan in (a, b, c):
            age((plan.rx, plan.tx), 2 * HOUR)
        self.assertEqual(await self.recorder.recover_leftovers(), 0)
        self.assertEqual(list((self.root / "legs").rglob("*.ulaw")), [])
        count = await self.db.run(
            lambda conn: conn.exec_driver_sql("SELECT count(*) FROM recordings").scalar()
        )
        self.assertEqual(count, 0)

    async def test_legs_of_calls_going_on_are_left_alone(self) -> None:
        # written a minute ago: Asterisk may still be writing them
        fresh_id = await self.call("1795353000.6")
        fresh = self.legs(fresh_id, "1795353000.6")
        age((fresh.rx, fresh.tx), 60)
        # old, but the recorder still knows the call (live, or its merge is under way)
        live_id = await self.call("1795353000.7")
        live = self.legs(live_id, "1795353000.7")
        age((live.rx, live.tx), 2 * HOUR)
        self.recorder.live[live_id] = LiveCall(live_id, "1795353000.7", "DAHDI/5-1")
        # old, but its call row is gone: kept for a person to look at
        orphan = capture.plan(self.root, 999, "1795353000.8", "ulaw", STARTED)
        orphan.rx.write_bytes(tone(1, 300))
        age((orphan.rx,), 2 * HOUR)
        self.assertEqual(await self.recorder.recover_leftovers(), 0)
        for plan in (fresh, live):
            self.assertTrue(plan.rx.exists() and plan.tx.exists())
        self.assertTrue(orphan.rx.exists())

    async def test_the_upkeep_run_recovers_first(self) -> None:
        call_id = await self.call("1795353000.9")
        plan = self.legs(call_id, "1795353000.9")
        age((plan.rx, plan.tx), 2 * HOUR)
        upkeep = RecordingUpkeep(
            reactor,
            self.db,
            self.root,
            RecordingConfig(archive_after_days=0, retention_days=0),
            recover=self.recorder.recover_leftovers,
        )
        upkeep.pool.start()
        self.addCleanup(upkeep.pool.stop)
        self.assertEqual(await upkeep.run_once(), (0, 0))
        self.assertTrue((self.root / plan.relative).exists())


def test_find_lists_only_well_named_legs_not_written_lately(tmp_path: Path) -> None:
    legs = tmp_path / "legs" / "2026" / "12" / "01"
    legs.mkdir(parents=True)
    names = (
        "call7-1795353000.7-rx.ulaw",
        "call7-1795353000.7-tx.ulaw",
        "call8-tx.alaw",  # only one leg: still a call to merge
        "call9-mix.wav",  # MixMonitor's own file: not a leg
        "notes.txt",
        "call10-a b-rx.ulaw",  # not a name capture.plan makes
        "call12-rx.gsm",
    )
    for name in names:
        (legs / name).write_bytes(b"\xff" * 800)
    age(tuple(legs.iterdir()), 2 * HOUR)
    (tmp_path / "legs" / "elsewhere").mkdir()
    (tmp_path / "legs" / "elsewhere" / "call11-rx.ulaw").write_bytes(b"\xff")
    found = {f.call_id: f for f in leftovers.find(tmp_path, time.time() - HOUR)}
    assert sorted(found) == [7, 8]
    seven = found[7].plan
    assert (seven.rx.name, seven.tx.name, seven.relative) == (
        "call7-1795353000.7-rx.ulaw",
        "call7-1795353000.7-tx.ulaw",
        "2026/12/01/call7-1795353000.7.wav",
    )
    assert found[7].bytes == 1600 and found[8].plan.rx.name == "call8-rx.alaw"
    # not written for an hour: nothing yet
    assert leftovers.find(tmp_path, time.time() - 3 * HOUR) == []

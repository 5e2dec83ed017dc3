"""Every answered call leaves a stereo recording: MixMonitor started from the call's session
with literal leg paths (bridged audio only), the legs merged once Asterisk has closed them
(the channel's Hangup), the file indexed, the legs removed."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from twisted.internet import reactor, task

from appliance.config import DahdiConfig
from appliance.db import model
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Device
from tests.support.acd_rig import ACDRig, second_queue

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dahdi"


class RecordingTests(ACDRig):
    async def test_an_answered_call_is_recorded_in_stereo(self) -> None:
        # [dahdi] groups: the call comes in on E1 channel 1 (the simulator's lowest free),
        # in group g0; its row and its recording carry both.
        self.dahdi = DahdiConfig(
            enabled=True,
            proc_root=FIXTURES / "healthy" / "proc" / "dahdi",
            poll_s=300,
            groups=(("g0", tuple(range(1, 16))), ("g1", tuple(range(17, 32)))),
        )
        master = await self.start({"PJSIP/1001": Device(ring_s=0.2, talk_s=3.6)})
        master.acd.login(self.agent(master, "1001").id)
        outcome = await self.call(CallerScript(prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        [monitor] = [c for c in outcome.commands if c.startswith("EXEC MixMonitor")]
        self.assertNotIn("${", monitor)
        root = master.config.recording_dir
        self.assertIn(f'"{root}/legs/', monitor)
        self.assertIn(",bSr(", monitor)  # bridged audio only, the legs kept in step
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
        self.assertTrue(3.5 <= seconds <= 3.75, seconds)  # the talk time: one turn
        # the simulator's conversation: the agent starts 0.1 s before the caller is done,
        # and the caller's voice is held 0.2 s after it (the voice activity's hangover)
        self.assertLessEqual(abs(done["talk_over"] - 0.3 / 3.6), 0.02, done["talk_over"])
        self.assertEqual(list((root / "legs").rglob("*.*law")), [])  # legs removed
        await self.assert_index_row(master, row, done["path"], seconds)

    async def test_a_pri_call_gets_its_trunk_channel_from_chan_dahdi(self) -> None:
        """An E1 PRI call's name has no channel (DAHDI/i1/<caller>-<hex>): the span monitor
        takes it from the DAHDIChannel event the switch sends before the dialplan runs, so
        the row and the recording still carry the trunk group and channel."""
        self.dahdi = DahdiConfig(
            enabled=True,
            proc_root=FIXTURES / "healthy" / "proc" / "dahdi",
            poll_s=300,
            groups=(("g0", tuple(range(1, 16))), ("g1", tuple(range(17, 32)))),
        )
        master = await self.start({"PJSIP/1001": Device(ring_s=0.1, talk_s=0.3)})
        self.sim.switch.pri_spans = True
        master.acd.login(self.agent(master, "1001").id)
        outcome = await self.call(CallerScript(prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        self.assertRegex(row["channel"], r"\ADAHDI/i1/13800138000-[0-9a-f]+\Z")
        self.assertEqual(
            (row["trunk"], row["trunk_group"], row["trunk_channel"]), ("DAHDI", "g0", 1)
        )
        for _ in range(200):
            if await master.db.recordings.count():
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        [rid] = await master.db.run(
            lambda c: c.execute(sa.select(model.recordings.c.id)).scalars().all()
        )
        rec = await master.db.recordings.get(rid)
        assert rec is not None
        self.assertEqual((rec.trunk, rec.trunk_group, rec.channel_number), ("DAHDI", "g0", 1))

    async def assert_index_row(
        self, master: Any, call: dict[str, Any], path: str, seconds: float
    ) -> None:
        """The recording's index row carries the call: agent, queue, numbers, the trunk
        channel, the reason, every metric, the paused time."""
        [rid] = await master.db.run(
            lambda c: c.execute(sa.select(model.recordings.c.id)).scalars().all()
        )
        rec = await master.db.recordings.get(rid)
        assert rec is not None
        self.assertEqual(call["channel"], f"DAHDI/{rec.channel_number}-1")  # the E1 channel
        self.assertEqual(
            (call["trunk"], call["trunk_group"], call["trunk_channel"]), ("DAHDI", "g0", 1)
        )
        self.assertEqual((rec.trunk_group, rec.channel_number), ("g0", 1))
        self.assertEqual(
            (rec.call_id, rec.agent_id, rec.queue_id, rec.path),
            (call["id"], self.agent(master, "1001").id, call["queue_id"], path),
        )
        self.assertIsNotNone(call["queue_id"])
        self.assertEqual(
            (rec.direction, rec.caller_number, rec.caller_name, rec.called_number, rec.trunk),
            ("inbound", "13800138000", "Zhang San", "4008001234", "DAHDI"),
        )
        self.assertEqual((rec.reason, rec.paused_ms, rec.encrypted), ("policy", 0, False))
        self.assertLessEqual(abs(rec.duration_ms - seconds * 1000), 1)
        # one turn of the simulator's conversation (agent_caller.SPEAKING), each voice held
        # 0.2 s after it stops: caller 0-1.7 s, agent 1.4-3.2 s, nobody 3.2-3.6 s
        self.assertLessEqual(abs(rec.talk_over_ratio - 0.3 / 3.6), 0.02, rec.talk_over_ratio)
        self.assertLessEqual(abs(rec.silence_ratio - 0.4 / 3.6), 0.02, rec.silence_ratio)
        self.assertLessEqual(abs(rec.caller_talk_ratio - 1.7 / 3.6), 0.02, rec.caller_talk_ratio)
        self.assertLessEqual(abs(rec.agent_talk_ratio - 1.8 / 3.6), 0.02, rec.agent_talk_ratio)
        self.assertEqual(rec.legs_mismatch_ms, 0)
        self.assertEqual(len(rec.peaks), 200)
        # someone speaks until 3.0 s into the turn, nobody from there to 3.6 s
        at = [int(t / seconds * len(rec.peaks)) for t in (2.95, 3.05, 3.45)]
        self.assertTrue(min(rec.peaks[: at[0]]) > 0, rec.peaks)
        self.assertEqual(max(rec.peaks[at[1] : at[2]]), 0, rec.peaks)

    async def test_a_call_nobody_answers_leaves_no_recording(self) -> None:
        master = await self.start({}, max_wait_s=1, overflow_kind="hangup")
        outcome = await self.call(CallerScript(prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        await task.deferLater(reactor, 0.5, lambda: None)
        self.assertEqual(await master.db.recordings.count(), 0)
        self.assertNotIn("recording_done", dict(await master.db.calls.events(row["id"])))

    async def test_a_callback_is_a_recorded_outbound_call_of_its_own(self) -> None:
        """The agent's phone is originated and dials the customer from its own channel: the
        callback gets its own calls row and a recording, the customer on the left."""
        master = await self.start(
            {
                "PJSIP/1001": Device(ring_s=0.2, talk_s=0.2),
                "Local/13800000001@ccbox-outbound": Device(ring_s=0.2, talk_s=1.0),
            },
            callback_key="5",
            announce_every_s=0,
            wrapup_s=0,
        )
        asker = await self.call(CallerScript("13800000001", digits="5", prompt_s=0.2))
        asked = await self.row(master, asker.uniqueid)
        self.assertEqual(asked["disposition"], "callback")
        agent = self.agent(master, "1001")
        master.acd.login(agent.id)
        for _ in range(300):
            if await master.db.recordings.count():
                break
            await task.deferLater(reactor, 0.05, lambda: None)

        def outbound(conn: Any) -> Any:
            return conn.execute(
                model.calls.select().where(model.calls.c.direction == "outbound")
            ).all()

        [row] = await master.db.run(outbound)
        self.assertNotEqual(row.id, asked["id"])
        self.assertEqual(
            (row.caller_number, row.called_number, row.disposition, row.agent_id),
            ("13800000001", "13800000001", "completed", agent.id),
        )
        self.assertTrue(row.channel.startswith("PJSIP/1001-"), row.channel)
        events = dict(await master.db.calls.events(row.id))
        self.assertEqual(events["callback"]["attempt"], 1)
        done = events["recording_done"]
        rec_id = await master.db.run(
            lambda c: c.execute(sa.select(model.recordings.c.id)).scalar_one()
        )
        rec = await master.db.recordings.get(rec_id)
        assert rec is not None
        self.assertEqual(
            (rec.call_id, rec.path, rec.direction, rec.caller_number, rec.agent_id),
            (row.id, done["path"], "outbound", "13800000001", agent.id),
        )
        # On the agent's channel what it receives (r(), the simulator's first speaker) is
        # the agent: the legs are swapped, so the agent is on the right, the customer (who
        # has not spoken yet in this one-second call) on the left.
        self.assertTrue(900 <= rec.duration_ms <= 1150, rec.duration_ms)
        self.assertEqual((rec.caller_talk_ratio, rec.agent_talk_ratio), (0.0, 1.0))

    async def test_a_blind_transfer_keeps_one_recording_of_the_whole_call(self) -> None:
        """MixMonitor belongs to the caller's channel: after a blind transfer the capture of
        the first queue goes on in the next one, and the call leaves one recording with both
        agents' talk (the hold between them is not recorded: bridged audio only)."""
        master = await self.start(
            {
                "PJSIP/1001": Device(ring_s=0.2, talk_s=30),
                "PJSIP/1002": Device(ring_s=0.2, talk_s=1.0),
            },
            setup=second_queue("billing", "1002"),
        )
        a1001, a1002 = self.agent(master, "1001"), self.agent(master, "1002")
        first = await self.a_call_for_billing(master)
        await task.deferLater(reactor, 1.0, lambda: None)  # a second with the first agent
        self.assertEqual(
            await master.acd.transfer(a1001.id, "queue", "billing"),
            "transferred to queue billing",
        )
        outcome = await first
        self.assertTrue(outcome.redirected)
        for _ in range(300):
            if await master.db.recordings.count():
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        await task.deferLater(reactor, 0.3, lambda: None)  # a second row would be there now
        rows = await master.db.run(lambda c: c.execute(model.recordings.select()).all())
        self.assertEqual(len(rows), 1, rows)
        [rec] = rows
        call = await self.row(master, outcome.uniqueid)
        self.assertEqual(
            (rec.call_id, rec.agent_id, rec.queue_id), (call["id"], a1002.id, call["queue_id"])
        )
        # about 1 s with agent 1001 and 1 s with agent 1002, nothing of the wait between
        self.assertTrue(1800 <= rec.duration_ms <= 2500, rec.duration_ms)
        self.assertEqual(list((master.config.recording_dir / "legs").rglob("*.*law")), [])
        self.assertEqual(len(self.sim_events("MixMonitorStart")), 1)

"""The first caller who had to wait was hung up on a real Asterisk: none of the ccbox-*
sounds were installed, and STREAM FILE's ``result=-1 endpos=0`` for a missing file was
taken for a hangup. Here the simulated switch lacks sounds the queue plays, as that box
did: the caller waits with the switch's music on hold and reaches the agent."""

from __future__ import annotations

from twisted.internet import defer

from acd import agent_state as st
from appliance import health
from drivers.asterisk.agi.missing_sounds import PART
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.sounds import SoundLibrary
from drivers.asterisk.simulator.switch import Device
from ivr.prompt_library import SYSTEM_SOUNDS
from tests.support.acd_rig import ACDRig, wait_for

LACKING = {"ccbox-queue-position", "ccbox-queue-wait", "ccbox-queue-minutes"}


class MissingQueueSoundsTests(ACDRig):
    async def test_a_waiting_caller_without_hold_sounds_reaches_the_agent(self) -> None:
        master = await self.start(
            {"PJSIP/1001": Device(ring_s=0.2, talk_s=2.0)},
            announce_every_s=1,
            announce_position=True,
        )
        library = SoundLibrary()
        library.install_names(sorted(SYSTEM_SOUNDS - LACKING), ("en", "zh"))
        self.sim.switch.sounds = library
        a1001 = self.agent(master, "1001")
        master.acd.login(a1001.id)
        first = defer.ensureDeferred(self.call(CallerScript(prompt_s=0.1)))
        await wait_for(lambda: a1001.state == st.ON_CALL, "agent 1001 on the first call")
        # The second caller must wait about 2 s for the agent, through the announcements.
        second = await self.call(CallerScript(prompt_s=0.1, caller_number="13900139000"))
        await first
        row = await self.row(master, second.uniqueid)
        self.assertEqual((row["disposition"], row["agent_id"]), ("completed", a1001.id))
        self.assertFalse(second.caller_hung_up)
        commands = second.commands
        # The hold is the switch's music on hold, never a sound of ccbox's: nothing to miss.
        self.assertFalse(any("ccbox-hold" in c for c in commands), commands)
        waits = [i for i, c in enumerate(commands) if c == "WAIT FOR DIGIT -1"]
        self.assertGreaterEqual(len(waits), 2, commands)  # before and after announcements
        for i in waits:
            # Every wait has the switch's music: SET MUSIC ON since the last sound opened
            # (opening any sound stops it, main/file.c).
            since = [c for c in commands[:i] if c.startswith(("STREAM FILE", "SAY", "SET MUSIC"))]
            self.assertEqual(since[-1], "SET MUSIC ON default", commands[: i + 1])
        dial = next(i for i, c in enumerate(commands) if c.startswith("EXEC Dial"))
        # The Dial cuts the wait (the recorder's capture may go first, after a NOOP that cuts
        # it) and keeps the music while the agent's phone rings.
        last_wait = max(i for i in waits if i < dial)
        between = [c for c in commands[last_wait + 1 : dial] if not c.startswith("EXEC MixMon")]
        self.assertTrue(between and between[0].startswith("GET FULL VARIABLE ccbox-sync-"))
        self.assertIn(between[1:], ([], ["NOOP"]))
        self.assertTrue(commands[dial].endswith(',tm(default)"'), commands[dial])
        started, stopped = self.sim_events("MusicOnHoldStart"), self.sim_events("MusicOnHoldStop")
        self.assertGreaterEqual(len(started), 2)
        self.assertEqual(len(started), len(stopped))
        parts = {p.name: p for p in master.health.parts()}
        self.assertEqual(parts[PART].state, health.DEGRADED)
        self.assertIn("ccbox-queue-wait", parts[PART].detail)
        assert master.fastagi is not None
        self.assertEqual(master.fastagi.factory.missing_sounds.names.keys() - LACKING, set())
        stats = master.acd.snapshot()["queues"][0]
        self.assertEqual((stats["answered"], stats["abandoned"]), (2, 0))

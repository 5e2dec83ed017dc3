"""SIGTERM under load (an upgrade, ``systemctl restart``): the real ccboxd process against
the switch simulator, with 20 callers in the IVR or waiting in a queue and two talking to
agents. No waiting caller is dropped: each is handed back to the generated dialplan, which
runs ``[ccbox-handoff]`` (the simulator runs it as Asterisk would), and its calls row says
``handed_off``. The bridged calls go on in the switch with their rows open; the next start
adopts them and closes them when they hang up."""

from __future__ import annotations

import dataclasses
import signal
import sqlite3
from contextlib import closing
from functools import partial
from pathlib import Path

import pytest
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.trial import unittest

from appliance.config import ShutdownConfig, load
from appliance.demo import switch_for
from appliance.shutdown import StopReport
from drivers.asterisk.simulator.agi_caller import CallerScript, CallOutcome
from drivers.asterisk.simulator.snapshots import Headers
from drivers.asterisk.simulator.switch import Device
from drivers.asterisk.simulator.traffic import run_call
from tests.conftest import write_config
from tests.integration.test_daemon_restart import Ccboxd, events, rows, seed
from tests.support.acd_rig import ACDRig, wait_for
from tests.support.appliance import migrate_and_seed
from tests.support.tmp import temp_dir

pytestmark = pytest.mark.integration

WAITING = 20
GRACE_S = 3


def kinds(database: Path, number: str) -> list[str]:
    row = rows(database).get(number)
    return [k for k, _ in events(database, row["id"])] if row else []


class SigtermUnderLoadTests(unittest.TestCase):
    async def test_sigterm_hands_waiting_callers_off_and_the_next_start_adopts_the_talks(
        self,
    ) -> None:
        tmp = temp_dir(self)
        conf = write_config(tmp, switch=True)
        text = conf.read_text().replace("grace_s = 20", f"grace_s = {GRACE_S}")
        conf.write_text(text)
        config = load(conf)
        self.assertEqual(config.shutdown.grace_s, GRACE_S)
        migrate_and_seed(config, partial(seed, available=("1001", "1002")))
        database = Path(config.database_url.removeprefix("sqlite:///"))
        sim = switch_for(
            reactor,
            config,
            devices={
                "PJSIP/1001": Device(ring_s=0.2, talk_s=12.0),
                "PJSIP/1002": Device(ring_s=0.2, talk_s=12.0),
            },
        )
        sim.startService()
        self.addCleanup(sim.stopService)
        # What each channel ran in the dialplan after its AGI (by uniqueid).
        ran: dict[str, list[tuple[str, str, str]]] = {}

        def listen(headers: Headers) -> None:
            h = dict(headers)
            if h.get("Event") == "Newexten" and h.get("Context") == "ccbox-handoff":
                ran.setdefault(h["Uniqueid"], []).append(
                    (h["Context"], h["Application"], h["AppData"])
                )

        sim.switch.subscribe(listen)
        first = Ccboxd(conf, tmp / "first")
        self.addCleanup(first.close)
        await first.ready()
        await sim.manager.wait_for_login()

        def place(number: str, prompt_s: float) -> defer.Deferred[CallOutcome | None]:
            script = CallerScript(caller_number=number, prompt_s=prompt_s)
            return defer.ensureDeferred(
                run_call(reactor, sim.agi_endpoint, script, "inbound", sim.switch)
            )

        talking = {n: place(n, 0.1) for n in ("13900000001", "13900000002")}
        for number in talking:
            await wait_for(
                lambda n=number: rows(database).get(n, {}).get("agent_answered_at"),
                f"{number} answered by an agent",
            )
        # Ten wait in the queue (both agents talk); ten are still in the welcome prompt.
        queued = {f"1380000{i:04d}": place(f"1380000{i:04d}", 0.1) for i in range(10)}
        in_ivr = {f"1370000{i:04d}": place(f"1370000{i:04d}", 60.0) for i in range(10)}
        waiting = {**queued, **in_ivr}
        assert len(waiting) == WAITING
        await wait_for(
            lambda: all("queued" in kinds(database, n) for n in queued), "ten callers queued"
        )
        await wait_for(lambda: all(n in rows(database) for n in in_ivr), "ten callers in IVR")
        before = rows(database)
        uniqueids = {n: before[n]["uniqueid"] for n in (*waiting, *talking)}

        stopped = first.signal(signal.SIGTERM)
        await wait_for(lambda: "no new calls" in first.output(), "the stop begins", 10)
        # A call arriving now finds no FastAGI: Asterisk's AGI() fails, the fallback plays.
        fallback: list[str] = []

        def heard(headers: Headers) -> None:
            h = dict(headers)
            if h.get("Event") == "Newexten" and h.get("Application") == "Playback":
                fallback.append(h["AppData"])

        sim.switch.subscribe(heard)
        refused = await run_call(
            reactor,
            TCP4ClientEndpoint(reactor, "127.0.0.1", config.fastagi.port, timeout=2),
            CallerScript(caller_number="13600000000"),
            "inbound",
            sim.switch,
        )
        sim.switch.unsubscribe(heard)
        self.assertIsNone(refused)
        self.assertEqual(fallback, ["ss-noservice"])
        self.assertEqual(await stopped, 0)
        log = first.output()
        self.assertNotIn("Traceback", log)
        self.assertIn(
            f"of {WAITING + 2} calls in progress 0 ended, {WAITING} handed off to the dialplan, "
            "2 left running",
            log,
        )

        # Nobody waiting was dropped: each ran the hand-off (the message, then Hangup).
        outcomes = {n: await d for n, d in waiting.items()}
        dropped = [n for n in waiting if not ran.get(uniqueids[n])]
        self.assertEqual(dropped, [])
        for number in waiting:
            self.assertEqual(
                ran[uniqueids[number]],
                [
                    ("ccbox-handoff", "Answer", ""),
                    ("ccbox-handoff", "Playback", "ccbox-handoff"),
                    ("ccbox-handoff", "Hangup", ""),
                ],
                number,
            )
            outcome = outcomes[number]
            assert outcome is not None
            self.assertFalse(outcome.caller_hung_up, number)
        self.assertEqual(sim.switch.pbx.refusals, [])
        after = rows(database)
        for number in waiting:
            row = after[number]
            self.assertEqual(row["disposition"], "handed_off", number)
            self.assertIsNotNone(row["ended_at"], number)
            self.assertIsNone(row["agent_answered_at"], number)
        # The talks go on in the switch, their rows open, marked as left running.
        for number in talking:
            self.assertTrue(sim.switch.channels[uniqueids[number]].alive)
            self.assertIsNone(after[number]["ended_at"])
            self.assertEqual(kinds(database, number)[-1], "left_running")
            self.assertIsNotNone(after[number]["agent_answered_at"])
        for number in talking:
            self.assertFalse(ran.get(uniqueids[number]))

        second = Ccboxd(conf, tmp / "second")
        self.addCleanup(second.close)
        await second.ready()
        await wait_for(lambda: sim.manager.logins == 2, "the second AMI login", 30)
        for number in talking:
            await wait_for(lambda n=number: "adopted" in kinds(database, n), "the adoption")
        for number, call in talking.items():
            await call  # its session went with the first process...
            await wait_for(
                lambda u=uniqueids[number]: u not in sim.switch.channels, "the talk's end", 30
            )
            await wait_for(
                lambda n=number: rows(database)[n]["ended_at"] is not None,
                "the adopted call's row closed",
            )
            done = rows(database)[number]
            self.assertEqual(done["disposition"], "completed")
            self.assertEqual(done["hangup_cause"], 16)
            self.assertGreater(done["talk_ms"], 11_000)
            self.assertEqual(kinds(database, number)[-1], "hangup")
        self.assertEqual(await second.signal(signal.SIGTERM), 0)
        self.assertIn("2 still up on the switch (adopted), 0 closed", second.output())
        with closing(sqlite3.connect(database)) as conn:
            dispositions = dict(
                conn.execute("SELECT disposition, count(*) FROM calls GROUP BY disposition")
            )
        self.assertEqual(dispositions, {"handed_off": WAITING, "completed": 2})


class RingBeforeTheHandOffTests(ACDRig):
    async def test_a_ring_in_the_grace_ends_before_the_hand_off_and_the_caller_goes_there(
        self,
    ) -> None:
        """An agent free during the grace still gets the waiting caller, but the ring is cut
        to end before the hand-off (the queue says 30 s): unanswered, the caller goes to the
        hand-off then, rather than being left ringing when the process goes."""
        master = await self.start({"PJSIP/1001": Device(answers=False)}, ring_timeout_s=30)
        grace = 8
        master.config = dataclasses.replace(master.config, shutdown=ShutdownConfig(grace_s=grace))
        call = defer.ensureDeferred(self.call(CallerScript(prompt_s=0.1)))
        await wait_for(lambda: len(master.acd.calls) == 1, "the caller in the queue")
        stopping = master.stopService()
        sessions = master.fastagi.factory.sessions if master.fastagi else set()
        await wait_for(lambda: all(s.handoff_due for s in sessions), "the stop begins")
        agent = self.agent(master, "1001")
        master.acd.login(agent.id)
        outcome = await call
        # a ring the stop cut short is no miss of the agent's (no auto-pause, no count)
        self.assertEqual((agent.misses, agent.stats.missed, agent.state), (0, 0, "available"))
        dials = [c for c in outcome.commands if c.startswith("EXEC Dial")]
        self.assertEqual(len(dials), 1, outcome.commands)
        ring_s = int(dials[0].split(",")[1])
        self.assertGreaterEqual(ring_s, 3)
        self.assertLessEqual(ring_s, grace - 2)  # ends a second before the hand-off
        handed = [
            dict(h)
            for h in self.recorded
            if dict(h).get("Event") == "Newexten" and dict(h).get("Context") == "ccbox-handoff"
        ]
        self.assertEqual({h["Uniqueid"] for h in handed}, {outcome.uniqueid})
        self.assertFalse(outcome.caller_hung_up)
        await stopping
        self.assertEqual(
            master.stop_report, StopReport(in_progress=1, ended=0, handed_off=1, left_running=0)
        )
        database = Path(self.config.database_url.removeprefix("sqlite:///"))
        row = rows(database)[CallerScript().caller_number]
        self.assertEqual((row["disposition"], row["agent_id"]), ("handed_off", None))
        self.assertIsNotNone(row["ended_at"])

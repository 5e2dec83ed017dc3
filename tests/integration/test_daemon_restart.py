"""ccboxd killed mid-call (SIGKILL: no clean stop, nothing flushed) and started again, as a
real process against the switch simulator: no calls row stays open. The call still up on
the switch is adopted and finished when it ends; the call that went with the old process
is closed at the last time known of it, as ``daemon_stopped``."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer, reactor, task, threads
from twisted.trial import unittest

from appliance.cli import resolved
from appliance.config import load
from appliance.demo import switch_for
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Device
from drivers.asterisk.simulator.traffic import run_call
from tests.conftest import write_config
from tests.support.acd_rig import wait_for
from tests.support.appliance import migrate_and_seed
from tests.support.daemon import BIN
from tests.support.tmp import temp_dir

pytestmark = pytest.mark.integration


class Ccboxd:
    """ccboxd as a subprocess under a notify socket; started and waited for off the reactor
    (the simulator it talks to runs on the test's reactor)."""

    def __init__(self, conf: Path, tmp: Path) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(tmp / "notify.sock"))
        self.sock.settimeout(60)
        self.log = open(tmp / "ccboxd.log", "w+")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [str(BIN / "ccboxd"), "--config", str(conf)],
            env={"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": str(tmp / "notify.sock")},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def _ready(self) -> None:
        while not self.sock.recv(4096).startswith(b"READY=1"):
            pass

    def ready(self) -> defer.Deferred[None]:
        return threads.deferToThread(self._ready)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def signal(self, sig: int) -> defer.Deferred[int]:
        os.kill(self.proc.pid, sig)
        return threads.deferToThread(self.proc.wait, 60)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
        self.log.close()


def seed(db: Any, available: tuple[str, ...] = ("1001",)) -> None:
    """Agents 1001 and 1002, those ``available`` logged in (available), the other logged
    out; one queue both serve."""
    tech = resolved(db.skills.add("tech")).id
    ids = {}
    for number in ("1001", "1002"):
        ids[number] = resolved(db.agents.add(number, number, "", f"PJSIP/{number}")).id
        resolved(db.agents.set_skill(ids[number], tech, 5))
    resolved(db.queues.add("support", skills={tech: 3}, ring_timeout_s=5, wrapup_s=1))
    now = dt.datetime.now(dt.UTC)
    for number in available:
        resolved(db.acd.save_state(ids[number], "available", "", now))


def rows(path: Path) -> dict[str, dict[str, Any]]:
    with closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        return {r["caller_number"]: dict(r) for r in conn.execute("SELECT * FROM calls")}


def events(path: Path, call_id: int) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(path)) as conn:
        q = "SELECT kind, at FROM call_events WHERE call_id = ? ORDER BY at, id"
        return [(k, a) for k, a in conn.execute(q, (call_id,))]


class KilledMidCallTests(unittest.TestCase):
    async def test_sigkill_mid_call_then_restart_leaves_no_row_open(self) -> None:
        tmp = temp_dir(self)
        conf = write_config(tmp, switch=True)
        config = load(conf)
        migrate_and_seed(config, seed)
        database = Path(config.database_url.removeprefix("sqlite:///"))
        sim = switch_for(
            reactor,
            config,
            devices={"PJSIP/1001": Device(ring_s=0.2, talk_s=14.0)},
        )
        sim.startService()
        self.addCleanup(sim.stopService)
        first = Ccboxd(conf, tmp / "first")
        self.addCleanup(first.close)
        await first.ready()
        await sim.manager.wait_for_login()

        def place(number: str) -> defer.Deferred[Any]:
            script = CallerScript(caller_number=number, prompt_s=0.1)
            return defer.ensureDeferred(
                run_call(reactor, sim.agi_endpoint, script, "inbound", sim.switch)
            )

        talking = place("13800000001")  # agent 1001 answers and talks 14 s
        await wait_for(
            lambda: rows(database).get("13800000001", {}).get("agent_answered_at"),
            "agent 1001's answer on the row",
        )
        holding = place("13800000002")  # no agent free: it holds in the queue
        await wait_for(
            lambda: (
                "queued"
                in [
                    k
                    for k, _ in events(database, rows(database).get("13800000002", {"id": 0})["id"])
                ]
            ),
            "the second caller in the queue",
        )
        await task.deferLater(reactor, 0.5, lambda: None)
        self.assertEqual(await first.signal(signal.SIGKILL), -signal.SIGKILL)
        killed_at = dt.datetime.now(dt.UTC)
        before = rows(database)
        self.assertEqual(
            [(r["ended_at"], r["disposition"]) for r in before.values()], [(None, "")] * 2
        )
        # The held caller went with the old process (Asterisk runs the fallback, hangs up);
        # the answered call is bridged and goes on.
        await holding
        await talking  # its FastAGI session is gone with the process...
        up = before["13800000001"]["uniqueid"]
        self.assertTrue(sim.switch.channels[up].alive)  # ...its channel talks on
        gone = before["13800000002"]["uniqueid"]
        self.assertNotIn(gone, sim.switch.channels)

        second = Ccboxd(conf, tmp / "second")
        self.addCleanup(second.close)
        await second.ready()
        await wait_for(lambda: sim.manager.logins == 2, "the second AMI login", 30)
        await wait_for(
            lambda: rows(database)["13800000002"]["ended_at"] is not None,
            "the held call's row closed",
        )
        held = rows(database)["13800000002"]
        self.assertEqual(held["disposition"], "daemon_stopped")
        held_events = events(database, held["id"])
        self.assertEqual(held_events[-1][0], "hangup")
        # closed at the last time known of it (its last event before the kill), not now
        self.assertEqual(held["ended_at"], held_events[-2][1])
        self.assertLess(held["ended_at"], killed_at.replace(tzinfo=None).isoformat(" "))
        self.assertIsNone(held["agent_answered_at"])

        adopted = rows(database)["13800000001"]
        self.assertIsNone(adopted["ended_at"])  # still up on the switch: adopted, open
        await wait_for(
            lambda: "adopted" in [k for k, _ in events(database, adopted["id"])], "the adoption"
        )
        await wait_for(lambda: up not in sim.switch.channels, "the talk's end", 30)
        await wait_for(
            lambda: rows(database)["13800000001"]["ended_at"] is not None,
            "the adopted call's row closed",
        )
        done = rows(database)["13800000001"]
        self.assertEqual(done["disposition"], "completed")
        self.assertIsNotNone(done["hangup_cause"])
        self.assertGreater(done["talk_ms"], 13_000)
        self.assertLess(done["talk_ms"], 16_000)
        self.assertEqual(events(database, done["id"])[-1][0], "hangup")

        self.assertEqual(await second.signal(signal.SIGTERM), 0)
        self.assertNotIn("Traceback", second.output())
        self.assertIn("1 still up on the switch (adopted), 1 closed", second.output())
        self.assertEqual([r["ended_at"] is not None for r in rows(database).values()], [True, True])


class NoSwitchViewTests(unittest.TestCase):
    async def test_without_an_ami_link_rows_left_open_are_closed_at_start(self) -> None:
        from tests.support.appliance import RunningAppliance

        started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)

        def left_open(db: Any) -> None:
            call = resolved(db.calls.start("1.1", "1.1", "inbound", started))
            resolved(db.calls.add_event(call, "queued", started + dt.timedelta(seconds=3), {}))

        app = await RunningAppliance.start(temp_dir(self), seed=left_open)
        self.addCleanup(app.stop)
        self.assertIsNone(app.master.ami)
        await app.master.call_rows.reconciled
        row = await app.master.db.calls.get(1)
        assert row is not None
        self.assertEqual(
            (row["ended_at"], row["disposition"]),
            (started + dt.timedelta(seconds=3), "daemon_stopped"),
        )

"""The ACD end to end: ccboxd's master and the switch simulator on loopback sockets.

Callers enter over FastAGI, wait on hold, and are connected to the simulated phones of the
agents; AMI tells the ACD the moment a phone answers.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from acd import agent_state as st
from appliance import config as config_mod
from appliance.db import migrate, model
from appliance.db.engine import create_engine
from appliance.master import ApplianceMaster
from drivers.asterisk.simulator.agi_caller import CallerScript, CallOutcome
from drivers.asterisk.simulator.service import SwitchSimulator
from drivers.asterisk.simulator.switch import Device
from drivers.asterisk.simulator.traffic import run_call
from tests.conftest import free_port, write_config
from tests.support.tmp import temp_dir


async def wait_for(predicate: Any, what: str, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await task.deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"timed out waiting for {what}")


class ACDSwitchTests(unittest.TestCase):
    async def start(self, devices: dict[str, Device], **queue: Any) -> ApplianceMaster:
        tmp = temp_dir(self)
        config = config_mod.load(write_config(tmp, switch=True))
        sim = SwitchSimulator(
            reactor,
            ami_port=free_port(),
            ami_username="ccbox",
            ami_secret="s3cret",
            agi_port=config.fastagi.port,
            devices=devices,
        )
        sim.startService()
        self.addCleanup(sim.stopService)
        self.sim = sim
        config = config_mod.Config(
            **{
                **config.__dict__,
                "ami": config_mod.AmiConfig("127.0.0.1", sim.ami_port, "ccbox", "s3cret"),
            }
        )
        engine = create_engine(config.database_url)
        migrate.upgrade(engine)
        with engine.begin() as conn:
            tech = conn.execute(model.skills.insert().values(name="tech")).inserted_primary_key[0]
            now = sa.func.now()
            for number in ("1001", "1002"):
                aid = conn.execute(
                    model.agents.insert().values(
                        number=number, name=number, device=f"PJSIP/{number}", created_at=now
                    )
                ).inserted_primary_key[0]
                conn.execute(
                    model.agent_skills.insert().values(agent_id=aid, skill_id=tech, level=5)
                )
            qid = conn.execute(
                model.queues.insert().values(
                    name="support", created_at=now, wrapup_s=1, ring_timeout_s=2, **queue
                )
            ).inserted_primary_key[0]
            conn.execute(
                model.queue_skills.insert().values(queue_id=qid, skill_id=tech, min_level=3)
            )
            conn.execute(
                model.number_lists.insert().values(
                    number="13666666666", kind="black", created_at=now
                )
            )
        engine.dispose()
        master = ApplianceMaster(config, reactor)
        master.startService()
        await master.ready
        self.addCleanup(master.stopService)
        await wait_for(lambda: master.ami is not None and master.ami.ready, "the AMI login")
        return master

    def agent(self, master: ApplianceMaster, number: str) -> Any:
        return next(a for a in master.acd.agents.values() if a.number == number)

    async def call(self, script: CallerScript) -> CallOutcome:
        outcome = await run_call(reactor, self.sim.agi_endpoint, script, "inbound", self.sim.switch)
        assert outcome is not None
        return outcome

    async def row(self, master: ApplianceMaster, uniqueid: str) -> dict[str, Any]:
        def thd(conn: Any) -> Any:
            return (
                conn.execute(model.calls.select().where(model.calls.c.uniqueid == uniqueid))
                .one()
                ._asdict()
            )

        for _ in range(100):
            row = await master.db.run(thd)
            if row["ended_at"] is not None:
                return row  # type: ignore[no-any-return]
            await task.deferLater(reactor, 0.05, lambda: None)
        raise AssertionError("the calls row was not finished")

    async def test_a_caller_reaches_an_agent_who_answers(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.3, talk_s=0.5)})
        a1001 = self.agent(master, "1001")
        master.acd.login(a1001.id)
        seen: list[str] = []
        master.bus.subscribe(st.AgentStateChanged, lambda e: seen.append(e.new))
        outcome = await self.call(CallerScript(prompt_s=0.1))
        self.assertTrue(outcome.script_hung_up)
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual((row["disposition"], row["agent_id"]), ("completed", a1001.id))
        self.assertEqual(seen[:3], ["ringing", "on_call", "wrap_up"])
        await wait_for(lambda: a1001.state == st.AVAILABLE, "the end of wrap-up")
        stats = master.acd.snapshot()["queues"][0]
        self.assertEqual((stats["answered"], stats["service_level"]), (1, 1.0))
        self.assertLess(stats["avg_wait_s"], 1.0)  # no poll interval between offer and ring
        kinds = [k for k, _ in await master.db.calls.events(row["id"])]
        self.assertEqual(kinds, ["flow_start", "prompt", "queued", "answered", "hangup"])

    async def test_no_answer_goes_to_the_next_agent(self) -> None:
        master = await self.start(
            {
                "PJSIP/1001": Device(answers=False),
                "PJSIP/1002": Device(ring_s=0.2, talk_s=0.3),
            },
            auto_pause_misses=1,
        )
        a1001, a1002 = self.agent(master, "1001"), self.agent(master, "1002")
        master.acd.login(a1001.id)  # idle longest: offered first
        await task.deferLater(reactor, 0.01, lambda: None)
        master.acd.login(a1002.id)
        outcome = await self.call(CallerScript(prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual((row["disposition"], row["agent_id"]), ("completed", a1002.id))
        self.assertEqual((a1001.state, a1001.reason), (st.PAUSED, "missed_calls"))
        dial_ends = [h for h in self.sim_events("DialEnd")]
        self.assertEqual(
            [(d["DestChannel"].split("-")[0], d["DialStatus"]) for d in dial_ends],
            [("PJSIP/1001", "NOANSWER"), ("PJSIP/1002", "ANSWER")],
        )

    def sim_events(self, name: str) -> list[dict[str, str]]:
        return [dict(h) for h in self.recorded if dict(h).get("Event") == name]

    def setUp(self) -> None:
        self.recorded: list[Any] = []
        original = SwitchSimulator.__init__

        def recording_init(sim: SwitchSimulator, *args: Any, **kwargs: Any) -> None:
            original(sim, *args, **kwargs)
            sim.switch.subscribe(self.recorded.append)

        self.patch(SwitchSimulator, "__init__", recording_init)

    async def test_blacklisted_caller_is_turned_away(self) -> None:
        master = await self.start({})
        outcome = await self.call(CallerScript(caller_number="13666666666", prompt_s=0.1))
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(row["disposition"], "blacklisted")
        self.assertIn('STREAM FILE ccbox-blocked ""', outcome.commands)
        self.assertEqual(master.acd.snapshot()["queues"][0]["offered"], 0)

    async def test_caller_abandons_on_hold(self) -> None:
        master = await self.start({})
        outcome = await self.call(CallerScript(prompt_s=0.1, patience_s=1.0))
        self.assertTrue(outcome.caller_hung_up)
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(row["disposition"], "abandoned")
        stats = master.acd.snapshot()["queues"][0]
        self.assertEqual((stats["abandoned"], stats["waiting"]), (1, 0))
        await defer.succeed(None)

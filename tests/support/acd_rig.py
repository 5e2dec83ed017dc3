"""The ACD end to end rig: ccboxd's master and the switch simulator on loopback sockets, a
database seeded with two agents and a queue."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from acd import agent_state as st
from appliance import config as config_mod
from appliance import passwords
from appliance.db import migrate, model
from appliance.db.engine import create_engine
from appliance.master import ApplianceMaster
from drivers.asterisk.simulator.agi_caller import CallerScript, CallOutcome
from drivers.asterisk.simulator.service import SwitchSimulator
from drivers.asterisk.simulator.switch import Device
from drivers.asterisk.simulator.traffic import run_call
from tests.conftest import free_port, write_config
from tests.support.sim_sounds import install_test_sounds
from tests.support.tmp import temp_dir

PIN_1234 = passwords.hash_pin("1234")


async def wait_for(predicate: Any, what: str, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await task.deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"timed out waiting for {what}")


def simulated_switch(
    test: unittest.TestCase, devices: dict[str, Device] | None = None
) -> tuple[SwitchSimulator, config_mod.Config]:
    """A started switch simulator (stopped at cleanup) and a ccboxd config pointing at it."""
    config = config_mod.load(write_config(temp_dir(test), switch=True))
    sim = SwitchSimulator(
        reactor,
        ami_port=free_port(),
        ami_username="ccbox",
        ami_secret="s3cret",
        agi_port=config.fastagi.port,
        devices=devices or {},
    )
    install_test_sounds(sim.switch.sounds)
    sim.startService()
    test.addCleanup(sim.stopService)
    # Whatever ccboxd asked of the dialplan that the simulator could not run as Asterisk
    # would (an application it lacks, a Local form it cannot follow) fails the test.
    test.addCleanup(lambda: test.assertEqual(sim.switch.pbx.refusals, []))
    ami = config_mod.AmiConfig("127.0.0.1", sim.ami_port, "ccbox", "s3cret")
    return sim, config_mod.Config(**{**config.__dict__, "ami": ami})


async def master_on_switch(
    test: unittest.TestCase,
) -> tuple[ApplianceMaster, SwitchSimulator, list[object]]:
    """The master (database migrated) on a started simulator's loopback ports, stopped at
    cleanup, once its AMI client is logged in; the list collects what it publishes."""
    sim, config = simulated_switch(test)
    engine = create_engine(config.database_url)
    migrate.upgrade(engine)
    engine.dispose()
    master, published = await start_master(test, config)
    return master, sim, published


async def start_master(
    test: unittest.TestCase, config: config_mod.Config
) -> tuple[ApplianceMaster, list[object]]:
    """The master on ``config`` (its database migrated), stopped at cleanup, once its AMI
    client is logged in; the list collects what it publishes."""
    master = ApplianceMaster(config, reactor)
    published: list[object] = []
    master.bus.subscribe(object, published.append)
    master.startService()
    # Stopped at cleanup even when it fails to start: a half-started master keeps its
    # database thread, and that thread keeps the test process alive after the last test.
    test.addCleanup(master.stopService)
    await master.ready
    await wait_for(lambda: master.ami is not None and master.ami.ready, "the AMI login")
    return master, published


class ACDRig(unittest.TestCase):
    def setUp(self) -> None:
        self.recorded: list[Any] = []
        original = SwitchSimulator.__init__

        def recording_init(sim: SwitchSimulator, *args: Any, **kwargs: Any) -> None:
            original(sim, *args, **kwargs)
            sim.switch.subscribe(self.recorded.append)

        self.patch(SwitchSimulator, "__init__", recording_init)

    async def start(
        self,
        devices: dict[str, Device],
        setup: Callable[[Any, dict[str, int]], None] | None = None,
        **queue: Any,
    ) -> ApplianceMaster:
        """Agents 1001 and 1002 (skill tech 5, PIN 1234 for 1001), the queue "support"
        (needs tech 3; ``queue`` settings), a black-listed number; ``setup(conn, ids)``
        adds rows (ids: skill "tech", queue "support", agents "1001"/"1002")."""
        self.sim, config = simulated_switch(self, devices)
        dahdi = getattr(self, "dahdi", None)  # a test's [dahdi] (DahdiConfig), if it sets one
        if dahdi is not None:
            config = dataclasses.replace(config, dahdi=dahdi)
        engine = create_engine(config.database_url)
        migrate.upgrade(engine)
        with engine.begin() as conn:
            tech = conn.execute(model.skills.insert().values(name="tech")).inserted_primary_key[0]
            ids: dict[str, int] = {"tech": tech}
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
                ids[number] = aid
            qid = conn.execute(
                model.queues.insert().values(
                    name="support", created_at=now, **{"wrapup_s": 1, "ring_timeout_s": 2, **queue}
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
            ids["support"] = qid
            conn.execute(
                model.agents.update()
                .where(model.agents.c.number == "1001")
                .values(pin_hash=PIN_1234)
            )
            if setup is not None:
                setup(conn, ids)
        engine.dispose()
        self.config = config
        master = ApplianceMaster(config, reactor)
        master.startService()
        self.addCleanup(master.stopService)  # before ready: see master_on_switch
        await master.ready
        await wait_for(lambda: master.ami is not None and master.ami.ready, "the AMI login")
        return master

    def agent(self, master: ApplianceMaster, number: str) -> Any:
        return next(a for a in master.acd.agents.values() if a.number == number)

    async def call(self, script: CallerScript, agi_script: str = "inbound") -> CallOutcome:
        outcome = await run_call(
            reactor, self.sim.agi_endpoint, script, agi_script, self.sim.switch
        )
        assert outcome is not None
        return outcome

    async def a_call_for_billing(self, master: ApplianceMaster) -> defer.Deferred[CallOutcome]:
        """With ``second_queue("billing", "1002")``: agents 1001 and 1002 logged in, a call
        placed and answered by 1001 (serving support); the call's outcome to come."""
        a1001, a1002 = self.agent(master, "1001"), self.agent(master, "1002")
        master.acd.login(a1001.id)
        master.acd.login(a1002.id)
        first = defer.ensureDeferred(self.call(CallerScript(prompt_s=0.1)))
        await wait_for(lambda: a1001.state == st.ON_CALL, "agent 1001 to answer")
        return first

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

    def sim_events(self, name: str) -> list[dict[str, str]]:
        return [dict(h) for h in self.recorded if dict(h).get("Event") == name]


def second_queue(name: str, member: str, **settings: Any) -> Any:
    """A setup adding queue ``name`` served only by agent ``member`` (a direct member whose
    tech skill is removed, so it no longer serves "support")."""

    def setup(conn: Any, ids: dict[str, int]) -> None:
        qid = conn.execute(
            model.queues.insert().values(
                name=name, created_at=sa.func.now(), wrapup_s=1, ring_timeout_s=2, **settings
            )
        ).inserted_primary_key[0]
        ids[name] = qid
        conn.execute(model.queue_members.insert().values(queue_id=qid, agent_id=ids[member]))
        conn.execute(
            model.agent_skills.delete().where(model.agent_skills.c.agent_id == ids[member])
        )
        # Only the member serves it: a skill nobody has.
        skill = conn.execute(
            model.skills.insert().values(name=f"{name}-only")
        ).inserted_primary_key[0]
        conn.execute(model.queue_skills.insert().values(queue_id=qid, skill_id=skill, min_level=1))

    return setup

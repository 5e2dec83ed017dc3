"""A predictive campaign end to end: ccboxd's master and the switch simulator on loopback
sockets (AMI and FastAGI as Asterisk speaks them, strict: any dialplan step the simulator
cannot run as Asterisk would fails the test), 20 simulated agents, a population answering
as real lists do (30% people, busy, congestion, the rest ringing out), times scaled down
(talk lognormal with a mean of 1.5 s, rings of 0.3-0.9 s, no answer after 1 s, no wrap-up)
so that the pacer's warm-up (progressive until it has 50 handle times) and some predictive
dialing fit in about 25 s.

The measured abandon rate (abandoned / answered by a person, from the dial_attempts rows)
stays at or under the campaign's 3% target, and the pacer did dial above 1:1."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from twisted.internet import reactor, task
from twisted.trial import unittest

from acd import agent_state as st
from acd.dialer.events import CampaignFigures, LeadOffered
from appliance import config as config_mod
from appliance.db import migrate, model
from appliance.db.engine import create_engine
from drivers.asterisk.simulator.called_parties import Population
from drivers.asterisk.simulator.switch import Device
from tests.support.acd_rig import simulated_switch, start_master, wait_for
from tests.support.dialer_seed import seed_campaign

AGENTS = 20
PREDICTIVE_S = 6.0


class PredictiveCampaignTest(unittest.TestCase):
    timeout = 120

    async def test_twenty_agents_predictive_abandons_at_most_the_target(self) -> None:
        phones = {f"PJSIP/{3001 + i}": Device(ring_s=0.2) for i in range(AGENTS)}
        sim, config = simulated_switch(self, phones)
        sim.switch.population = Population(
            person=0.30,
            machine=0.0,
            busy=0.10,
            congestion=0.02,
            ring_s=(0.3, 0.9),
            talk_mean_s=1.5,
            talk_sigma=0.5,
            patience_s=5.0,
            seed=16,
        )
        config = config_mod.Config(
            **{
                **config.__dict__,
                "dialer": config_mod.DialerConfig(trunks=(("default", 40),), ring_timeout_s=1),
            }
        )
        engine = create_engine(config.database_url)
        migrate.upgrade(engine)
        _, cid = seed_campaign(
            engine,
            "predictive",
            [str(3001 + i) for i in range(AGENTS)],
            [f"1390000{i:04d}" for i in range(3000)],
            {"wrapup_s": 0, "ring_timeout_s": 5},
            mode="predictive",
            target_abandon_pct=3.0,
            max_dial_level=3.0,
            min_predictive_agents=5,
        )
        engine.dispose()
        master, published = await start_master(self, config)
        assert master.dialer is not None
        for agent in master.acd.agents.values():
            master.acd.login(agent.id)
        run = master.dialer.runs[cid]
        # Progressive until the pacer knows 50 handle times (about 15 s here, later on a
        # loaded machine), then predictive dialing for PREDICTIVE_S.
        await wait_for(lambda: run.pacer.figures()["dial_level"] > 1.0, "predictive pacing", 60)
        await task.deferLater(reactor, PREDICTIVE_S, lambda: None)
        # Stop dialing; let the calls in flight end (talk, rings) before counting.
        await master.db.dialer.set_state(cid, "paused")
        await master.dialer.reload()
        dialer = master.dialer
        await wait_for(lambda: not dialer.lines, "the lines to end", 40)

        def counts(conn: Any) -> dict[str, int]:
            a = model.dial_attempts
            rows = conn.execute(sa.select(a.c.outcome, sa.func.count()).group_by(a.c.outcome))
            return {str(o): int(n) for o, n in rows}

        outcomes = await master.db.run(counts)
        answered = outcomes.get("answered", 0) + outcomes.get("abandoned", 0)
        abandoned = outcomes.get("abandoned", 0)
        rate = 100.0 * abandoned / answered if answered else 100.0
        figures = [e for e in published if isinstance(e, CampaignFigures)]
        levels = [round(f.dial_level, 2) for f in figures]
        print(
            f"\ndialer predictive over the simulator: {outcomes}, abandon {rate:.2f}%, "
            f"dial levels {levels}, occupancy {figures[-1].occupancy:.2f}"
        )
        assert answered >= 40, outcomes  # enough people reached to measure a rate
        assert rate <= 3.0, outcomes
        assert "None" not in outcomes  # every attempt has its outcome
        assert len([e for e in published if isinstance(e, LeadOffered)]) >= answered - abandoned
        last = figures[-1]  # published when the campaign left the running state
        placed = sum(outcomes.values()) - outcomes.get("failed", 0)  # failed: never dialed
        # a round dials one lead at a time: at most one Originate was on its way at the pause
        assert last.state == "paused" and placed - 1 <= last.placed <= placed
        assert max(levels) > 1.0  # it did predict: more lines than idle agents
        assert all(a.state in (st.AVAILABLE, st.WRAP_UP) for a in master.acd.agents.values())
        self.assertEqual(sim.switch.pbx.refusals, [])

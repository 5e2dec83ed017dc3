"""The demo's survey campaign runs: seeded as `ccbox demo` seeds it, started as the
interactive demo starts it (the survey team logged in, the campaign running in the dialer
at once), on ccboxd's master and the switch simulator over loopback sockets, whose called
parties answer as appliance/demo_campaign.py says. Within seconds people are reached and
put through to the team, and the figures the wallboard's tile shows are published."""

from __future__ import annotations

from twisted.trial import unittest

from acd import agent_state as st
from acd.dialer.events import CampaignFigures, LeadConnected
from appliance import config as config_mod
from appliance import demo_campaign, demo_center
from appliance.cli import open_db, resolved
from appliance.db import migrate
from appliance.db.engine import create_engine
from drivers.asterisk.simulator.switch import Device
from tests.support.acd_rig import simulated_switch, start_master, wait_for


class DemoCampaignTest(unittest.TestCase):
    timeout = 60

    async def test_the_demo_survey_dials_and_reaches_the_team(self) -> None:
        phones = {f"PJSIP/{n}": Device(ring_s=0.3) for n in demo_campaign.AGENT_NUMBERS}
        sim, config = simulated_switch(self, phones)
        population = demo_campaign.population(talk_s=1.0, seed=16)
        population.ring_s = (0.3, 1.0)  # the demo's rings, shortened for the test
        sim.switch.population = population
        # no answer within 3 s: the test's lines end soon after it pauses the campaign
        config = config_mod.Config(
            **{**config.__dict__, "dialer": config_mod.DialerConfig(ring_timeout_s=3)}
        )
        engine = create_engine(config.database_url)
        migrate.upgrade(engine)
        engine.dispose()
        db = open_db(config)
        try:
            campaign_id = demo_campaign.seed(db, config.data_dir, demo_center.WRAPUP_S)
        finally:
            resolved(db.stopService())
        assert campaign_id is not None
        master, published = await start_master(self, config)
        self.assertTrue(await demo_campaign.start(master))
        team = [master.acd.agent_by_number(n) for n in sorted(demo_campaign.AGENT_NUMBERS)]
        self.assertTrue(all(a is not None and a.state != st.LOGGED_OUT for a in team))
        self.assertEqual((await master.db.dialer.campaign(campaign_id)).state, "running")  # type: ignore[union-attr]

        def connected() -> int:
            return sum(1 for e in published if isinstance(e, LeadConnected))

        def figures() -> list[CampaignFigures]:
            return [
                e
                for e in published
                if isinstance(e, CampaignFigures) and e.campaign_id == campaign_id and e.placed
            ]

        await wait_for(lambda: connected() >= 2, "two customers put through to the team", 30)
        await wait_for(lambda: bool(figures()), "the figures the wallboard shows", 15)
        last = figures()[-1]
        self.assertEqual((last.name, last.mode, last.state), ("survey", "predictive", "running"))
        self.assertGreaterEqual(last.answered, 2)
        # Paused: no new call; the calls in flight end.
        await master.db.dialer.set_state(campaign_id, "paused")
        dialer = master.dialer
        assert dialer is not None
        await dialer.reload()
        await wait_for(lambda: not dialer.lines, "the lines to end", 30)
        self.assertEqual(sim.switch.pbx.refusals, [])

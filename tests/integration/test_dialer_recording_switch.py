"""A campaign's recording policy decides for its calls, end to end (ccboxd's master, its
recorder and the switch simulator on loopback sockets): ``record = all`` records the call
though the queue that staffs the campaign records nothing; ``none`` does not record it
though that queue records every call (a standby capture only, ``recording_skipped``). Each
call's capture starts on the customer's channel just before the agent is dialed."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from twisted.internet import reactor, task
from twisted.trial import unittest

from appliance import config as config_mod
from appliance.db import migrate, model
from appliance.db.engine import create_engine
from drivers.asterisk.simulator.called_parties import Population
from drivers.asterisk.simulator.switch import Device
from tests.support.acd_rig import simulated_switch, start_master, wait_for
from tests.support.dialer_seed import seed_campaign

ALL, NONE = "13900000001", "13900000002"  # the leads of the two campaigns


class CampaignRecordingTest(unittest.TestCase):
    timeout = 60

    async def test_the_campaigns_policy_decides_not_the_queues(self) -> None:
        phones = {"PJSIP/3001": Device(ring_s=0.2), "PJSIP/3002": Device(ring_s=0.2)}
        sim, config = simulated_switch(self, phones)
        recorded_events: list[Any] = []
        sim.switch.subscribe(recorded_events.append)
        sim.switch.population = Population(
            person=1.0,
            machine=0,
            busy=0,
            congestion=0,
            ring_s=(0.3, 0.3),
            talk_mean_s=1.5,
            talk_sigma=0.01,
            seed=3,
        )
        config = dataclasses.replace(
            config,
            dialer=config_mod.DialerConfig(trunks=(("default", 4),), ring_timeout_s=5),
            recording=dataclasses.replace(config.recording, min_free_mb=1),
        )
        engine = create_engine(config.database_url)
        migrate.upgrade(engine)
        for i, (record_calls, record, lead) in enumerate(
            [(False, "all", ALL), (True, "none", NONE)]
        ):
            seed_campaign(
                engine,
                f"c{i}",
                [str(3001 + i)],
                [lead],
                {"wrapup_s": 0, "record_calls": record_calls},
                mode="progressive",
                record=record,
            )
        engine.dispose()
        master, _ = await start_master(self, config)
        for agent in master.acd.agents.values():
            master.acd.login(agent.id)

        def outcomes(conn: Any) -> list[str | None]:
            a = model.dial_attempts
            return list(conn.execute(sa.select(a.c.outcome)).scalars())

        for _ in range(300):  # both calls placed, answered, talked and hung up
            found = await master.db.run(outcomes)
            if len(found) == 2 and None not in found:
                break
            await task.deferLater(reactor, 0.1, lambda: None)
        self.assertEqual(sorted(await master.db.run(outcomes)), ["answered", "answered"])
        await wait_for(
            lambda: not master.recorder.pending and not master.recorder.live, "the merge", 15
        )

        def recorded(conn: Any) -> tuple[dict[str, str], dict[str, str]]:
            c, r, e = model.calls, model.recordings, model.call_events
            rows = conn.execute(
                sa.select(c.c.caller_number, r.c.path).join(r, r.c.call_id == c.c.id)
            ).all()
            # the trunk group each campaign dials out on, on its calls and its recording
            groups.extend(
                conn.execute(
                    sa.select(c.c.trunk_group, r.c.trunk_group).join(r, r.c.call_id == c.c.id)
                ).all()
            )
            skipped = conn.execute(
                sa.select(c.c.caller_number, e.c.data)
                .join(e, e.c.call_id == c.c.id)
                .where(e.c.kind == "recording_skipped")
            ).all()
            return {n: p for n, p in rows}, {n: d for n, d in skipped}

        groups: list[tuple[str, str]] = []
        paths, skipped = await master.db.run(recorded)
        self.assertEqual([tuple(g) for g in groups], [("default", "default")])
        self.assertEqual(list(paths), [ALL])
        self.assertTrue((config.recording_dir / paths[ALL]).stat().st_size > 0)
        self.assertEqual(list(skipped), [NONE])
        self.assertIn("campaign_policy", skipped[NONE])
        # one capture per call, started as the agent's phone was dialed; the standby muted
        # before the ring, the recording never
        events = [
            (e.get("Event"), e.get("Channel"))
            for e in map(dict, recorded_events)
            if e.get("Event") in ("MixMonitorStart", "MixMonitorMute", "DialBegin")
        ]
        starts = [ch for kind, ch in events if kind == "MixMonitorStart"]
        self.assertEqual(len(starts), 2, events)
        for ch in starts:
            mine = [kind for kind, c in events if c == ch]
            self.assertIn(
                mine,
                (
                    ["MixMonitorStart", "DialBegin"],
                    ["MixMonitorStart", "MixMonitorMute", "DialBegin"],
                ),
            )
        self.assertEqual([k for k, _ in events].count("MixMonitorMute"), 1)

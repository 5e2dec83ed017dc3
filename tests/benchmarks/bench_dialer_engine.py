"""The dialer's pacing through the real engine over the switch simulator, in virtual time.

bench_dialer.py measures the pacers on an abstract floor; this runs the same campaign
through everything the box runs (tests/support/dialer_rig.py): the Dialer and its pacer, the
ACD, the store on SQLite, AMI Originate into the simulator's dialplan, the called parties,
the FastAGI ``dialer`` script, the 2 s offer and the safe-harbor message. 20 agents, 90
virtual minutes per mode (the first minutes are progressive while handle times are learnt),
30% of the numbers answered by a person after 5-20 s, the rest ringing out at 25 s, talk
lognormal (mean 120 s, sigma 0.6), 10 s of wrap-up. Talk occupancy is read from the events
(agent connected to the call's end) over the agents' logged-in time; the engine's own
figure is in the note.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from acd.dialer.events import AttemptEnded, CampaignFigures, LeadConnected
from appliance.cli import resolved
from appliance.db.connector import DBConnector
from appliance.db.dialer_store import NewLead
from drivers.asterisk.simulator.called_parties import Population
from tests.benchmarks.harness import Result
from tests.support.dialer_rig import DialerRig
from tests.support.inline_db import inline_db

AGENTS = 20
MINUTES = 90.0
TARGET = 3.0
STEP_S = 0.1


def seed_center(db: DBConnector, mode: str) -> list[int]:
    """Agents 2001.. on a queue with 10 s of wrap-up and a running campaign, open all day."""
    sales = resolved(db.skills.add("sales")).id
    agents = []
    for i in range(AGENTS):
        number = str(2001 + i)
        agent = resolved(db.agents.add(number, f"Agent {number}", "", f"PJSIP/{number}"))
        resolved(db.agents.set_skill(agent.id, sales, 5))
        agents.append(agent.id)
    queue = resolved(db.queues.add("outbound", skills={sales: 1}, ring_timeout_s=10, wrapup_s=10))
    campaign = resolved(
        db.dialer.create_campaign(
            "bench",
            queue.id,
            mode=mode,
            state="running",
            caller_id_number="4008001234",
            caller_id_name="Acme",
            window_days="mon,tue,wed,thu,fri,sat,sun",
            window_start="00:00",
            window_end="23:59",
            safe_harbor_prompt="safe-harbor",
        )
    )
    leads = [NewLead(number=f"1380{i:07d}") for i in range(int(AGENTS * MINUTES * 2))]
    resolved(db.dialer.add_leads(campaign.id, leads))
    return agents


def floor(mode: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, inline_db(Path(tmp) / "bench.sqlite") as db:
        agents = seed_center(db, mode)
        people = Population(
            person=0.3,
            machine=0.0,
            busy=0.0,
            congestion=0.0,
            ring_s=(5.0, 20.0),
            talk_mean_s=120.0,
            talk_sigma=0.6,
            seed=1,
        )
        rig = DialerRig(db, people, trunks={"default": 200}, ring_timeout_s=25.0)
        rig.start()
        for agent_id in agents:
            rig.acd.login(agent_id)
        start = rig.clock.seconds()
        rig.step(MINUTES * 60, STEP_S)
        end = rig.clock.seconds()
        connected = {e.attempt_id: e.at for e in rig.of(LeadConnected)}
        talk = sum(
            min(e.at, end) - connected[e.attempt_id]
            for e in rig.of(AttemptEnded)
            if e.attempt_id in connected
        )
        ended = {e.attempt_id for e in rig.of(AttemptEnded)}
        talk += sum(end - at for a, at in connected.items() if a not in ended)
        figures = rig.of(CampaignFigures)[-1]
        rig.dialer.stopService()
        resolved(rig.acd.stopService())
        rig.step(30, STEP_S)  # let the calls in flight write their outcomes
        return {
            "occupancy": 100.0 * talk / (AGENTS * (end - start)),
            "abandon": 100.0 * figures.abandoned / figures.answered if figures.answered else 0.0,
            "answered": figures.answered,
            "abandoned": figures.abandoned,
            "engine_occupancy": 100.0 * figures.occupancy,
            "dial_level": figures.dial_level,
        }


def run() -> list[Result]:
    prog, pred = floor("progressive"), floor("predictive")
    name = f"{AGENTS} agents, engine on the switch simulator"
    return [
        Result(
            f"dialer predictive occupancy, {name}",
            pred["occupancy"],
            "% talk",
            f"dialer progressive occupancy, {name}",
            prog["occupancy"],
            better="higher",
            note=(
                f"{pred['occupancy'] - prog['occupancy']:+.1f} points over progressive in "
                f"{MINUTES:.0f} virtual minutes; the engine's own figures "
                f"{pred['engine_occupancy']:.1f}% and {prog['engine_occupancy']:.1f}%"
            ),
        ),
        Result(
            f"dialer predictive abandon, {name}",
            pred["abandon"],
            "% answered",
            "target abandon rate",
            TARGET,
            better="lower",
            note=(
                f"{pred['abandoned']} of {pred['answered']} answered calls; progressive "
                f"abandoned {prog['abandoned']} of {prog['answered']}"
            ),
        ),
    ]

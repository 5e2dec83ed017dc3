"""The dialer's pacing through the real engine over the switch simulator, in virtual time:
``make bench``'s ``dialer predictive occupancy`` and ``dialer predictive abandon``.

This runs the campaign through everything the box runs (tests/support/dialer_rig.py): the
Dialer and its pacer, the ACD, the store on SQLite, AMI Originate into the simulator's
dialplan, the called parties, the FastAGI ``dialer`` script, the 2 s offer and the
safe-harbor message. 30% of the numbers are answered by a person after 5-20 s, the rest
ring out at 25 s; talk lognormal (mean 120 s, sigma 0.6), 10 s of wrap-up. On one database:
day 0, a ccboxd session of 90 virtual minutes dials the campaign progressive (the
baseline); day 2, the campaign is switched to predictive and a new session (a new Dialer,
its pacer warm-started from day 0's stored calls, as after any restart: no peeking at the
calls to come) dials it for 90 minutes. Each session ends as ccboxd stops: the dialer
first, the calls in progress run to their end, then the ACD, then the database. Talk
occupancy is read from the events (agent connected to the call's end) over the agents'
logged-in time; the engine's own figure is in the note. Preview runs on day 4 (each agent's
lead dialed 10 s after it shows), against the same progressive baseline. bench_dialer.py
keeps the pacers on an abstract floor (``dialer floor model ...``) for comparison.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from acd import agent_state as st
from acd.dialer.events import AttemptEnded, CampaignFigures, LeadConnected
from appliance.cli import resolved
from appliance.db.connector import DBConnector
from appliance.db.dialer_store import NewLead
from drivers.asterisk.simulator.called_parties import Population
from tests.benchmarks.harness import Result
from tests.support.dialer_rig import DialerRig
from tests.support.dialer_seed import seed_store_campaign
from tests.support.inline_db import inline_db

# 20 agents: 1.5 to 2 minutes of wall time for the three sessions; 100 agents: about 8
# minutes (83.8% at 0.70% abandoned, progressive 57.6%, preview 49.2%), too long for every
# ``make bench``: CCBOX_BENCH_DIALER_AGENTS=20,100 asks for it.
AGENTS = tuple(int(n) for n in os.environ.get("CCBOX_BENCH_DIALER_AGENTS", "20").split(","))
MINUTES = 90.0
TARGET = 3.0
GOAL_OCCUPANCY, GOAL_POINTS = 80.0, 15.0
STEP_S = 0.1


DAY_S = 86400.0


def seed_center(db: DBConnector, agents: int) -> tuple[list[int], int]:
    """Agents 2001.. on a queue with 10 s of wrap-up and a campaign, open all day, with
    leads enough for both runs; (agent ids, campaign id)."""
    leads = [NewLead(number=f"1380{i:07d}") for i in range(int(agents * MINUTES * 5))]
    ids = seed_store_campaign(db, "bench", agents, leads, wrapup_s=10)
    return [ids[str(2001 + i)] for i in range(agents)], ids["campaign"]


def session(db: DBConnector, agents: list[int], day: int) -> dict[str, Any]:
    """One ccboxd session of ``MINUTES`` on day ``day`` after the rig's start: the dialer
    starts (its pacer warmed from what the earlier days stored), the agents log in, calls
    are placed; then the dialer stops and the calls in progress end before the database
    closes."""
    people = Population(
        person=0.3,
        machine=0.0,
        busy=0.0,
        congestion=0.0,
        ring_s=(5.0, 20.0),
        talk_mean_s=120.0,
        talk_sigma=0.6,
        seed=1 + day,
    )
    rig = DialerRig(db, people, trunks={"default": 10 * len(agents)}, ring_timeout_s=25.0)
    rig.clock.advance(day * DAY_S)
    rig.start()
    for agent_id in agents:
        if rig.acd.agents[agent_id].state == st.LOGGED_OUT:  # not restored from the last day
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
    rig.stop(STEP_S)
    return {
        "occupancy": 100.0 * talk / (len(agents) * (end - start)),
        "abandon": 100.0 * figures.abandoned / figures.answered if figures.answered else 0.0,
        "answered": figures.answered,
        "abandoned": figures.abandoned,
        "engine_occupancy": 100.0 * figures.occupancy,
        "dial_level": figures.dial_level,
    }


def center(agents: int) -> dict[str, dict[str, Any]]:
    """Progressive on day 0, then the same campaign switched to predictive on day 2 (its
    pacer warm-started from day 0's calls, as on a box that dialed before), then preview on
    day 4 (each agent's lead dialed 10 s after it shows)."""
    with tempfile.TemporaryDirectory() as tmp, inline_db(Path(tmp) / "bench.sqlite") as db:
        ids, campaign_id = seed_center(db, agents)
        out = {}
        for day, mode in enumerate(("progressive", "predictive", "preview")):
            resolved(db.dialer.update_campaign(campaign_id, mode=mode))
            out[mode] = session(db, ids, 2 * day)
        return out


def run() -> list[Result]:
    out = []
    for agents in AGENTS:
        t0 = time.perf_counter()
        runs = center(agents)
        prog, pred, preview = runs["progressive"], runs["predictive"], runs["preview"]
        wall = time.perf_counter() - t0
        name = f"{agents} agents, engine on the switch simulator"
        points = pred["occupancy"] - prog["occupancy"]
        met = (
            pred["occupancy"] >= GOAL_OCCUPANCY
            and pred["abandon"] <= TARGET
            and points >= GOAL_POINTS
        )
        out += [
            Result(
                f"dialer preview occupancy, {name}",
                preview["occupancy"],
                "% talk",
                f"dialer progressive occupancy, {name}",
                prog["occupancy"],
                better="higher",
                note=f"abandoned {preview['abandoned']} of {preview['answered']} answered",
            ),
            Result(
                f"dialer predictive occupancy, {name}",
                pred["occupancy"],
                "% talk",
                f"dialer progressive occupancy, {name}",
                prog["occupancy"],
                better="higher",
                note=(
                    f"{points:+.1f} points over progressive, {MINUTES:.0f} virtual minutes "
                    f"each ({wall:.0f} s of wall time for the three); the engine's own figures "
                    f"{pred['engine_occupancy']:.1f}% and {prog['engine_occupancy']:.1f}%; "
                    f"goal (>= {GOAL_OCCUPANCY:.0f}%, abandon <= {TARGET}%, >= "
                    f"{GOAL_POINTS:.0f} points): {'met' if met else 'NOT met'}"
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
    return out

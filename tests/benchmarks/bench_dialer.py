"""The dialer's pacing on an outbound floor in virtual time: talk occupancy and abandons.

tests/support/dialer_floor.py drives the real pacers (acd/dialer/pacing.py) through 8
virtual hours of 20 and 100 agents: answer rate 30% (5-20 s of ringing; no answer rings
out at 25 s), talk lognormal with a mean of 120 s (sigma 0.6), 10 s of wrap-up, an answered
call abandoned when no agent is free within 2 s. Preview, progressive (1:1) and predictive
(the campaign defaults: 3% target, hard backoff, max dial level 3) run on the same seed.
Occupancy is talk time over logged-in time, against progressive in the same run; the
abandon rate is held against the 3% target it must stay under. The issue's entries
(``dialer predictive occupancy``, ``dialer predictive abandon``) come from the real engine
over the switch simulator (bench_dialer_engine.py); these are named ``dialer floor model
...``: the pacers alone, for comparison.
"""

from __future__ import annotations

from tests.benchmarks.harness import Result
from tests.support.dialer_floor import FloorModel, FloorResult

HOURS = 8.0
SEED = 1
TARGET = 3.0
GOAL_OCCUPANCY, GOAL_POINTS = 80.0, 15.0


def floor(mode: str, agents: int) -> FloorResult:
    return FloorModel(mode, agents, seed=SEED).run(HOURS)


def run() -> list[Result]:
    out = []
    for agents in (20, 100):
        preview, progressive, predictive = (
            floor(m, agents) for m in ("preview", "progressive", "predictive")
        )
        occ = {r.mode: 100.0 * r.occupancy for r in (preview, progressive, predictive)}
        points = occ["predictive"] - occ["progressive"]
        met = (
            occ["predictive"] >= GOAL_OCCUPANCY
            and predictive.abandon_pct <= TARGET
            and points >= GOAL_POINTS
        )
        out += [
            Result(
                f"dialer floor model preview occupancy, {agents} agents",
                occ["preview"],
                "% talk",
                f"dialer floor model progressive occupancy, {agents} agents",
                occ["progressive"],
                better="higher",
                note=f"abandoned {preview.abandon_pct:.2f}% of {preview.answered} answered",
            ),
            Result(
                f"dialer floor model predictive occupancy, {agents} agents",
                occ["predictive"],
                "% talk",
                f"dialer floor model progressive occupancy, {agents} agents",
                occ["progressive"],
                better="higher",
                note=(
                    f"{points:+.1f} points over progressive (which abandoned "
                    f"{progressive.abandon_pct:.2f}%); mean dial level "
                    f"{predictive.mean_level:.2f}; goal (>= {GOAL_OCCUPANCY:.0f}%, abandon <= "
                    f"{TARGET}%, >= {GOAL_POINTS:.0f} points): {'met' if met else 'NOT met'}"
                ),
            ),
            Result(
                f"dialer floor model predictive abandon, {agents} agents",
                predictive.abandon_pct,
                "% answered",
                "target abandon rate",
                TARGET,
                better="lower",
                note=f"{predictive.abandoned} of {predictive.answered} answered calls",
            ),
        ]
    return out

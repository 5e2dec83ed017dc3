"""The demo center's day (appliance/demo_center.py): a busy hour the arrivals follow, the
queues every caller path leads to, and teams staffed by Erlang C for 80 % in 20 s."""

from __future__ import annotations

from collections import Counter

from twisted.internet.testing import MemoryReactorClock

from acd.erlang import service_level
from appliance import demo, demo_center
from appliance.demo_center import DAY_SHAPE, TARGET, THRESHOLD_S, Day
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Switch
from drivers.asterisk.simulator.traffic import PoissonTraffic
from ivr.sample_center import CALLER_PATHS


def test_the_day_has_its_busy_hour_at_ten() -> None:
    day = Day(period_s=120, peak_per_s=1.0)
    assert [day.clock(t) for t in (0, 9.99, 10, 25, 119.9, 120)] == [
        "08:00",
        "08:00",
        "09:00",
        "10:00",
        "19:00",
        "08:00",  # and again
    ]
    assert max(DAY_SHAPE) == day.share(25) == 1.0


def test_arrivals_follow_the_day() -> None:
    """Thinning the Poisson arrivals by the day's shape: each hour gets its share."""
    clock = MemoryReactorClock()
    day = Day(period_s=240, peak_per_s=5.0)  # 20 s an hour: 100 callers in the busy one
    hours: Counter[int] = Counter()

    def script(rng: object, n: int) -> CallerScript:
        hours[day.hour(clock.seconds())] += 1
        return CallerScript()

    traffic = PoissonTraffic(
        clock,
        Switch(clock),
        "127.0.0.1",
        9,
        5.0,
        script,
        seed=5,
        max_concurrent=10**6,
        curve=day.share,
    )
    traffic.startService()
    for _ in range(24000):  # fine steps: a step lets at most one caller arrive
        clock.advance(0.01)
    per_hour = [hours[h] for h in range(len(DAY_SHAPE))]  # 100 expected in the busy hour
    assert sum(per_hour) == traffic.summary.offered
    assert 1100 < traffic.thinned + traffic.summary.offered < 1300  # 5 a second, unthinned
    for count, share in zip(per_hour, DAY_SHAPE, strict=True):
        assert abs(count - 100 * share) < 4 * (100 * share) ** 0.5 + 1, per_hour
    assert per_hour[2] > 2.5 * per_hour[-1]  # the peak stands out


def test_every_queue_gets_callers_support_the_most() -> None:
    shares = demo_center.queue_shares(CALLER_PATHS)
    assert set(shares) == {name for name, *_ in demo.QUEUES}
    assert max(shares, key=shares.__getitem__) == "support"
    assert all(share >= 0.04 for share in shares.values()), shares
    assert sum(shares.values()) < 1  # some callers are served by the menus alone


def test_the_roster_staffs_the_busy_hour_by_erlang_c() -> None:
    shares = demo_center.queue_shares(CALLER_PATHS)
    h = demo_center.handle_s(demo.DEMO_TALK_S)
    roster = Counter(demo_center.TEAMS[dept] for _, _, dept, _ in demo.AGENTS)
    for share in DAY_SHAPE:
        plan = demo_center.staffing(demo.DEMO_PEAK_PER_S * share, demo.DEMO_TALK_S, shares)
        for queue, agents in plan.items():
            load = demo.DEMO_PEAK_PER_S * share * shares[queue] * h
            assert service_level(agents, load, h, THRESHOLD_S) >= TARGET
            if agents > 1:  # the fewest that do: one less misses the target
                assert service_level(agents - 1, load, h, THRESHOLD_S) < TARGET
            assert roster[queue] >= agents, (queue, share, plan)

"""Pacing (acd/dialer/pacing.py) on a fake clock: plain floats, the engine's calls made by
hand, and the floor model of ``make bench`` for an hour."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest

from acd.dialer.abandon import AbandonMeter
from acd.dialer.pacing import (
    MIN_ANSWERED,
    PacingSettings,
    PredictivePacer,
    ProgressivePacer,
    make_pacer,
)
from appliance.db.dialer_store import Campaign
from tests.support.dialer_floor import FloorModel

T0 = 1_780_000_000.0


def predictive(
    answer_rate: float = 0.3,
    calls: int = 400,
    talk_end: bool = True,
    meter: AbandonMeter | None = None,
    busy_share: float = 0.0,
    **settings: object,
) -> tuple[PredictivePacer, float]:
    """A predictive pacer that has seen ``calls`` calls end, one after the other (so no
    agent is on a call of its own when it starts): rings of 5-20 s, talk 60-180 s, 10 s of
    wrap-up; the time after the last. Those calls are counted in a meter of their own:
    ``meter`` (the campaign's) comes in after them."""
    pacer = make_pacer("predictive", PacingSettings(**settings), AbandonMeter(), lambda: T0)  # type: ignore[arg-type]
    assert isinstance(pacer, PredictivePacer)
    t = T0 - calls * 300.0
    for i in range(calls):
        pacer.placed(t)
        if math.floor((i + 1) * answer_rate) > math.floor(i * answer_rate):
            ring = 5.0 + (i * 7) % 16
            talk = 60.0 + (i * 37) % 121
            pacer.answered(t + ring, ring)
            pacer.connected(t + ring, 0.0)
            if talk_end:
                pacer.talk_ended(t + ring + talk, talk)
            pacer.handled(t + ring + talk + 10.0, talk + 10.0)
        elif math.floor((i + 1) * busy_share) > math.floor(i * busy_share):
            pacer.unanswered(t + 0.5, "busy")
        else:
            pacer.unanswered(t + 25.0, "no_answer")
        t += 300.0
    if meter is not None:
        pacer.meter = meter
    return pacer, T0


# -- progressive and preview -------------------------------------------------------------


def test_progressive_places_its_ratio_per_idle_agent_less_the_lines_in_flight() -> None:
    def lines(ratio: float, idle: int, in_flight: int) -> int:
        p = make_pacer("progressive", PacingSettings(ratio=ratio), AbandonMeter(), lambda: T0)
        return p.calls_to_place(T0, idle, 7, in_flight)

    assert lines(1.0, 5, 2) == 3
    assert lines(1.0, 2, 5) == 0  # never negative
    assert lines(1.0, 0, 0) == 0
    assert lines(1.5, 4, 1) == 5
    assert lines(2.5, 3, 0) == 7  # 7.5 lines: a whole line is placed or none
    assert lines(1.1, 10, 0) == 11  # 11.000000000000002 is 11, not 12


def test_preview_never_places_a_call_on_its_own() -> None:
    p = make_pacer("preview", PacingSettings(), AbandonMeter(), lambda: T0)
    assert p.mode == "preview"
    assert p.calls_to_place(T0, 20, 0, 0) == 0


def test_every_pacer_counts_answered_and_abandoned_calls_in_the_meter() -> None:
    meter = AbandonMeter()
    p = make_pacer("progressive", PacingSettings(ratio=2.0), meter, lambda: T0)
    for _ in range(40):
        p.placed(T0)
        p.answered(T0, 8.0)
    p.abandoned(T0)
    assert meter.counts_24h(T0) == (40, 1)
    figures = p.figures()
    assert figures["abandon_24h"] == pytest.approx(2.5)
    assert figures["dial_level"] == 2.0


def test_bad_settings_are_refused_each_with_its_reason() -> None:
    with pytest.raises(ValueError) as err:
        PacingSettings(
            ratio=0, backoff="soft", max_dial_level=0.5, tz="Mars/Olympus", window_end="25:00"
        )
    for reason in ("ratio", "backoff", "max dial level", "Mars/Olympus", "window_end"):
        assert reason in str(err.value)
    with pytest.raises(ValueError, match="unknown dialing mode 'turbo'"):
        make_pacer("turbo", PacingSettings(), AbandonMeter(), lambda: T0)


def test_settings_come_from_the_campaign_row() -> None:
    campaign = Campaign(
        1, "survey", "predictive", "running", 1, 1.5, "", "", "mon", "08:30", "17:00",
        "Europe/London", 3, "{}", "[]", "", "all", False, 2.0, "tapered", 2.5, 8, "default",
        "", dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    )  # fmt: skip
    s = PacingSettings.from_campaign(campaign)
    assert (s.ratio, s.target_abandon_pct, s.backoff) == (1.5, 2.0, "tapered")
    assert (s.max_dial_level, s.min_predictive_agents) == (2.5, 8)
    assert (s.window_start, s.window_end, s.tz) == ("08:30", "17:00", "Europe/London")


# -- predictive ---------------------------------------------------------------------------


def test_predictive_acts_as_progressive_until_it_knows_the_handle_times() -> None:
    pacer, now = predictive(calls=20)  # six handled calls: too few to predict from
    assert pacer.calls_to_place(now, 10, 10, 2) == 8
    assert pacer.state == "progressive"


def test_below_min_predictive_agents_it_acts_as_progressive_at_the_campaign_ratio() -> None:
    pacer, now = predictive(min_predictive_agents=5, ratio=1.0)
    assert pacer.calls_to_place(now, 3, 1, 0) == 3  # 4 agents
    assert pacer.state == "progressive"
    pacer, now = predictive(min_predictive_agents=5, ratio=1.0)
    assert pacer.calls_to_place(now, 4, 1, 0) > 4  # 5 agents: predictive
    assert pacer.state == "predictive"


def test_a_low_answer_rate_with_agents_idle_raises_the_dial_level() -> None:
    low, now = predictive(answer_rate=0.15)
    high, _ = predictive(answer_rate=0.5)
    n_low = low.calls_to_place(now, 10, 10, 0)
    n_high = high.calls_to_place(now, 10, 10, 0)
    assert n_high > 10  # more lines than idle agents even at 50%
    assert n_low > n_high
    assert low.dial_level() > high.dial_level() > 1.0
    # with every agent busy on calls it does not know, nothing is placed
    assert high.calls_to_place(now + 1, 0, 20, 0) == 0


def test_the_dial_level_never_passes_max_dial_level() -> None:
    for cap in (1.5, 3.0):
        pacer, now = predictive(answer_rate=0.05, calls=1500, max_dial_level=cap)
        n = pacer.calls_to_place(now, 10, 0, 4)
        assert n == math.floor(cap * 10) - 4  # the risk would allow more: the cap stops it
        assert pacer.dial_level() == pytest.approx(cap)
        assert pacer.calls_to_place(now + 1, 10, 0, 4 + n) == 0
        # answers took 8 agents: more lines than the cap per agent left, none placed, and
        # the level shown stays within the cap
        assert pacer.calls_to_place(now + 2, 2, 0, 4 + n) == 0
        assert pacer.dial_level() == pytest.approx(cap)


def test_lines_in_flight_count_by_their_chance_to_be_answered() -> None:
    pacer, now = predictive()
    for _ in range(6):
        pacer.placed(now - 24.0)  # rung 24 s: past every answer seen, they will not answer
    old = pacer.calls_to_place(now, 6, 0, 6)
    pacer, now = predictive()
    for _ in range(6):
        pacer.placed(now - 1.0)  # just placed
    fresh = pacer.calls_to_place(now, 6, 0, 6)
    assert old > fresh
    assert old > 6  # lines about to ring out do not hold the idle agents back


def test_a_line_past_the_time_busy_lines_end_is_likelier_to_answer() -> None:
    """Nearly half the unanswered lines are busy (back in 0.5 s): a line that has rung 3 s
    is not one of them, so it answers with about 0.3 / (0.3 + 0.7 x 0.56) = 0.44, not 0.3."""
    plain, now = predictive(answer_rate=0.3)
    busy, _ = predictive(answer_rate=0.3, busy_share=0.35)
    for pacer in (plain, busy):
        for _ in range(6):
            pacer.placed(now - 3.0)
    p = busy.answer_rate()
    expected = 6 * p / (p + (1 - p) * 0.56)  # 44% of the unanswered lines were busy
    assert busy.history.answer_chances(now, 6, p)[0] == pytest.approx(expected, rel=0.05)
    assert plain.history.answer_chances(now, 6, plain.answer_rate())[0] == pytest.approx(
        6 * plain.answer_rate(), rel=0.05
    )
    assert busy.calls_to_place(now, 6, 0, 6) < plain.calls_to_place(now, 6, 0, 6)


def test_the_line_that_ended_is_told_by_its_outcome() -> None:
    pacer, now = predictive()
    for age in (24.0, 12.0, 0.5):
        pacer.placed(now - age)
    pacer.unanswered(now, "busy")  # at once: the newest line
    assert pacer.history.ringing == [now - 24.0, now - 12.0]
    pacer.placed(now - 0.2)
    pacer.unanswered(now, "machine")  # answered after a usual ring (12.5 s on average)
    assert pacer.history.ringing == [now - 24.0, now - 0.2]
    pacer.unanswered(now, "no_answer")  # rang out: the oldest
    assert pacer.history.ringing == [now - 0.2]


def test_agents_in_wrap_up_are_counted_as_about_to_be_free() -> None:
    def lines(wrapping: bool) -> int:
        pacer, now = predictive()
        for i in range(8):
            pacer.connected(now - 100.0 - i, 0.0)
            if wrapping:
                pacer.talk_ended(now - 8.0, 92.0 + i)  # 8 s into a 10 s wrap-up
        return pacer.calls_to_place(now, 2, 8, 0)

    assert lines(wrapping=True) > lines(wrapping=False) + 4


def test_a_wrap_up_reported_ahead_counts_until_it_is_over() -> None:
    """acd/dialer/service.py tells handled() at the end of the talk with the queue's
    wrap-up added: the agent is about to free until then, and no longer after."""
    pacer, now = predictive()
    for i in range(8):
        pacer.connected(now - 100.0 - i, 0.0)
    for i in range(8):
        pacer.talk_ended(now - 8.0, 92.0 + i)
        pacer.handled(now - 8.0, 92.0 + i + 10.0)  # free at now + 2
    assert pacer.figures()["mean_handle_s"] > 0
    ahead = pacer.calls_to_place(now, 2, 8, 0)
    pacer, now = predictive()
    for i in range(8):
        pacer.connected(now - 100.0 - i, 0.0)
    talking = pacer.calls_to_place(now, 2, 8, 0)
    assert ahead > talking + 4
    # once the wrap-up is over the agents are the engine's idle ones, not counted twice
    pacer, now = predictive()
    pacer.connected(now - 100.0, 0.0)
    pacer.talk_ended(now - 8.0, 92.0)
    pacer.handled(now - 8.0, 102.0)
    pacer.calls_to_place(now + 3, 3, 0, 0)
    assert pacer.history.wrapping == []


def test_without_talk_ended_it_predicts_from_handle_times() -> None:
    pacer, now = predictive(talk_end=False)
    for i in range(8):
        pacer.connected(now - 185.0 - i, 0.0)  # handle times run from 70 to 190 s
    n = pacer.calls_to_place(now, 2, 8, 0)
    assert pacer.state == "predictive"
    fresh, _ = predictive(talk_end=False)
    for i in range(8):
        fresh.connected(now - 1.0 - i, 0.0)
    assert n > fresh.calls_to_place(now, 2, 8, 0)


def test_abandons_lower_the_risk_and_so_the_lines() -> None:
    pacer, now = predictive()
    before = pacer.calls_to_place(now, 10, 10, 0)
    risk = pacer.risk
    for _ in range(10):
        pacer.answered(now, 10.0)
        pacer.abandoned(now)
    assert pacer.risk < risk * 0.5
    assert pacer.calls_to_place(now + 1, 10, 10, 0) < before


def test_the_risk_climbs_only_while_it_is_what_limits_the_dialing() -> None:
    pacer, now = predictive()
    pacer.calls_to_place(now, 10, 10, 0)  # limited by the risk
    risk = pacer.risk
    pacer.answered(now, 10.0)
    pacer.connected(now, 0.0)
    assert pacer.risk > risk
    capped, now = predictive(answer_rate=0.05, calls=1500, max_dial_level=1.5)
    capped.calls_to_place(now, 10, 0, 0)  # limited by max_dial_level
    risk = capped.risk
    capped.answered(now, 10.0)
    capped.connected(now, 0.0)
    assert capped.risk == risk  # no wind-up while the cap holds it


def test_the_same_events_give_the_same_decisions() -> None:
    a, now = predictive()
    b, _ = predictive()
    assert [a.calls_to_place(now + i, 10 - i, 10 + i, i) for i in range(8)] == [
        b.calls_to_place(now + i, 10 - i, 10 + i, i) for i in range(8)
    ]


# -- backoff -------------------------------------------------------------------------------


def meter_at(now: float, day_pct: float, month_pct: float) -> AbandonMeter:
    """A meter whose 24-hour and 30-day rates read ``day_pct`` and ``month_pct``."""
    m = AbandonMeter()
    # the older days: 1,000 answered at month_pct over the month less the last day
    day_answered = 1000
    month_abandoned = round(month_pct * 20) - round(day_pct * 10)
    m.warm_start(
        now,
        (day_answered, round(day_pct * 10)),
        (2000, round(month_pct * 20)),
    )
    assert m.rate_24h(now) == pytest.approx(day_pct)
    assert m.rate_30d(now) == pytest.approx(month_pct)
    assert month_abandoned >= 0
    return m


def test_hard_backoff_drops_to_one_line_per_idle_agent_while_either_window_is_over() -> None:
    for day, month, backing_off in ((3.5, 2.0, True), (2.0, 3.5, True), (2.9, 2.9, False)):
        pacer, now = predictive(meter=meter_at(T0, day, month), backoff="hard")
        n = pacer.calls_to_place(now, 10, 10, 3)
        assert (pacer.state == "backoff") is backing_off, (day, month)
        assert (n == 7) is backing_off
        assert pacer.figures()["backing_off"] == float(backing_off)


def test_a_few_answered_calls_do_not_trigger_a_backoff() -> None:
    meter = AbandonMeter()
    for _ in range(MIN_ANSWERED - 1):
        meter.answered(T0)
    meter.abandoned(T0)  # 2%... of 49 calls; then 2 of 49
    meter.abandoned(T0)
    pacer, now = predictive(meter=meter)
    pacer.calls_to_place(now, 10, 10, 0)
    assert pacer.state == "predictive"


def test_average_backoff_slows_down_gradually_while_the_mean_is_over() -> None:
    # 24 h at 4%, 30 d at 2.5%: the mean 3.25% is over the target; hard would stop
    pacer, now = predictive(meter=meter_at(T0, 4.0, 2.5), backoff="average")
    free, _ = predictive(meter=meter_at(T0, 1.0, 1.0), backoff="average")
    risk = free.risk
    n_free = free.calls_to_place(now, 10, 10, 0)
    n = pacer.calls_to_place(now, 10, 10, 0)
    assert pacer.state == "predictive"
    assert pacer.risk == pytest.approx(risk * 3.0 / 3.25)
    assert n <= n_free
    pacer.answered(now, 10.0)
    pacer.connected(now, 0.0)
    assert pacer.risk == pytest.approx(risk * 3.0 / 3.25)  # no climbing while over
    pacer.calls_to_place(now + 5, 10, 10, 0)  # the next recompute scales it again
    mean = (pacer.meter.rate_24h(now + 5) + pacer.meter.rate_30d(now + 5)) / 2  # one more call
    assert pacer.risk == pytest.approx(risk * 3.0 / 3.25 * 3.0 / mean)
    # the mean alone counts: 24 h at 3.5% and 30 d at 2% average 2.75%, under
    under, _ = predictive(meter=meter_at(T0, 3.5, 2.0), backoff="average")
    under.calls_to_place(now, 10, 10, 0)
    assert (under.state, under.risk) == ("predictive", risk)


def at_local(hhmm: str, tz: str = "Asia/Shanghai") -> float:
    h, m = map(int, hhmm.split(":"))
    return dt.datetime(2026, 12, 7, h, m, tzinfo=ZoneInfo(tz)).timestamp()


def test_tapered_allows_twice_the_target_at_the_window_start_and_the_target_at_its_end() -> None:
    pacer, _ = predictive(backoff="tapered", window_start="09:00", window_end="21:00")
    assert pacer.tapered_limit(at_local("08:00")) == pytest.approx(6.0)
    assert pacer.tapered_limit(at_local("09:00")) == pytest.approx(6.0)
    assert pacer.tapered_limit(at_local("15:00")) == pytest.approx(4.5)
    assert pacer.tapered_limit(at_local("21:00")) == pytest.approx(3.0)
    assert pacer.tapered_limit(at_local("23:30")) == pytest.approx(3.0)
    # in the campaign's zone: 15:00 in London is 23:00 in Shanghai
    london, _ = predictive(backoff="tapered", tz="Europe/London")
    assert london.tapered_limit(at_local("15:00", "Europe/London")) == pytest.approx(4.5)
    # a window across midnight (20:00-02:00): 23:00 is half-way
    night, _ = predictive(backoff="tapered", window_start="20:00", window_end="02:00")
    assert night.tapered_limit(at_local("23:00")) == pytest.approx(4.5)


def test_tapered_backs_off_late_in_the_day_at_a_rate_it_allowed_early() -> None:
    for when, backing_off in (("10:00", False), ("20:30", True)):
        now = at_local(when)
        meter = meter_at(now, 4.0, 2.0)
        pacer, _ = predictive(meter=meter, backoff="tapered")
        pacer.calls_to_place(now, 10, 10, 0)
        assert (pacer.state == "backoff") is backing_off, when
    # the 30-day rate must stay under the target all day
    now = at_local("10:00")
    pacer, _ = predictive(meter=meter_at(now, 2.0, 3.2), backoff="tapered")
    pacer.calls_to_place(now, 10, 10, 0)
    assert pacer.state == "backoff"


def test_a_progressive_pacer_keeps_its_own_ratio() -> None:
    p = ProgressivePacer(PacingSettings(ratio=1.0), AbandonMeter(), lambda: T0, ratio=2.0)
    assert p.calls_to_place(T0, 3, 0, 0) == 6


# -- the floor model -------------------------------------------------------------------------


def test_busy_lines_and_machines_keep_abandons_under_target_too() -> None:
    """The same floor where 10% of the lines are busy and 10% reach a machine."""
    for seed in (1, 2):
        pred = FloorModel("predictive", 20, seed=seed, busy=0.1, machine=0.1).run(1.0)
        assert pred.answered > 400
        assert pred.abandon_pct <= 3.0, (seed, pred)
        assert pred.occupancy > 0.72, (seed, pred)


def test_predictive_on_a_20_agent_floor_keeps_abandons_under_target_and_agents_busy() -> None:
    """A virtual hour of 20 agents at a 30% answer rate (tests/support/dialer_floor.py),
    four seeds: abandons at or under 3% each time, and talk occupancy far above
    progressive's (the first minutes are progressive while handle times are learnt)."""
    for seed in (1, 2, 3, 4):
        pred = FloorModel("predictive", 20, seed=seed).run(1.0)
        prog = FloorModel("progressive", 20, seed=seed).run(1.0)
        assert pred.answered > 400
        assert pred.abandon_pct <= 3.0, (seed, pred)
        assert prog.abandoned == 0
        assert pred.occupancy > prog.occupancy + 0.10, (seed, pred.occupancy, prog.occupancy)


def test_a_new_pacer_for_changed_settings_keeps_what_the_old_one_learnt() -> None:
    old, now = predictive()
    for _ in range(5):
        old.answered(now, 10.0)
        old.abandoned(now)
    for i in range(3):
        old.placed(now - i)
    meter = AbandonMeter()
    new = make_pacer("predictive", PacingSettings(max_dial_level=2.0), meter, lambda: now, old)
    assert isinstance(new, PredictivePacer)
    assert new.risk == old.risk < 0.03
    assert new.history is old.history
    new.calls_to_place(now, 10, 10, 3)
    assert new.state == "predictive"  # no minutes of learning again
    fresh = make_pacer("predictive", PacingSettings(), meter, lambda: now)
    fresh.calls_to_place(now, 10, 10, 3)
    assert isinstance(fresh, PredictivePacer) and fresh.state == "progressive"
    # what a progressive campaign learnt serves it when it turns predictive
    prog = make_pacer("progressive", PacingSettings(), meter, lambda: now, old)
    turned = make_pacer("predictive", PacingSettings(), meter, lambda: now, prog)
    turned.calls_to_place(now, 10, 10, 3)
    assert isinstance(turned, PredictivePacer) and turned.state == "predictive"
    assert turned.risk == 0.03  # a risk is only carried from predictive to predictive
